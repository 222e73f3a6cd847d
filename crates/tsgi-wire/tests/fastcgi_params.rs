//! FastCGI name-value pairs and the PARAMS stream: length forms (F14), huge claims and
//! truncation (F15), pairs and length fields cut across records (F16), limits at N and
//! N + 1 (F17), empty names (F18), the request checks shared with uwsgi, and the canonical
//! vars of a FastCGI request equal to those of the same request over uwsgi. Every stream
//! is fed whole, cut at every offset, byte by byte and (when short) cut twice (`feed_split`).

mod common;

use common::fastcgi::{feed_split, push_len4, Canon, Params};
use common::{nginx_get, pairs, parse_ok};
use tsgi_wire::fastcgi::{self, Error, Limits, ParamsDecoder};
use tsgi_wire::keys::{self, id};
use tsgi_wire::Status;

fn ok(p: &Params) -> Canon {
    ok_with(p, &Limits::default())
}

fn ok_with(p: &Params, limits: &Limits) -> Canon {
    match feed_split(p.bytes(), limits) {
        Ok((_, canon)) => canon,
        Err(e) => panic!("expected a request, got {e:?} ({e})"),
    }
}

fn err(p: &Params) -> Error {
    err_with(p, &Limits::default())
}

fn err_with(p: &Params, limits: &Limits) -> Error {
    match feed_split(p.bytes(), limits) {
        Ok(got) => panic!("expected an error, got {got:?}"),
        Err(e) => e,
    }
}

fn names_values(canon: &Canon) -> Vec<(&[u8], &[u8])> {
    canon.iter().map(|(_, n, v)| (n.as_slice(), v.as_slice())).collect()
}

#[test]
fn parse_name_value_one_pair() {
    let buf = b"\x0e\x03REQUEST_METHODGETrest";
    let Ok(Status::Complete((n, v, used))) = fastcgi::parse_name_value(buf) else { panic!() };
    assert_eq!((&buf[n], &buf[v], used), (&b"REQUEST_METHOD"[..], &b"GET"[..], 19));
    for i in 0..19 {
        assert_eq!(fastcgi::parse_name_value(&buf[..i]), Ok(Status::Partial), "prefix {i}");
    }
    assert_eq!(fastcgi::parse_name_value(b"\x00\x01x"), Err(Error::EmptyName));
    assert_eq!(fastcgi::parse_name_value(b"\x00"), Err(Error::EmptyName));
    assert_eq!(fastcgi::parse_name_value(b"\x80\x00\x00\x00\x00"), Err(Error::EmptyName));
    // A claim of 2^31 - 1 is Partial, and borrows: nothing to allocate.
    assert_eq!(fastcgi::parse_name_value(b"\xff\xff\xff\xff\x01abc"), Ok(Status::Partial));
    assert_eq!(fastcgi::parse_name_value(b"\x01\xff\xff\xff\xffa"), Ok(Status::Partial));
}

/// F14: 1-byte lengths below 128, 4-byte at and above, and 4-byte forms of small lengths,
/// at every length boundary.
#[test]
fn f14_length_forms_at_the_boundaries() {
    for len in [0usize, 1, 127, 128, 255, 256, 4096, 65535] {
        let value = vec![b'v'; len];
        let name = vec![b'N'; len.max(1)];
        let p = Params::get().nv(&name, &value).nv4("X_SMALL", "1").nv4(&name, "");
        let canon = if len <= 256 { ok(&p) } else { fastcgi_whole(&p) };
        assert_eq!(
            names_values(&canon)[1..],
            [(&name[..], &value[..]), (&b"X_SMALL"[..], &b"1"[..]), (&name[..], &b""[..])],
            "length {len}"
        );
    }
    // The high bit of B3 is the flag, not part of the length.
    let mut raw = Vec::new();
    raw.extend_from_slice(b"\x01");
    push_len4(&mut raw, 3);
    assert_eq!(&raw[1..], b"\x80\x00\x00\x03");
    let canon = ok(&Params::get().raw(&raw).raw("Kabc"));
    assert_eq!(names_values(&canon)[1], (&b"K"[..], &b"abc"[..]));
}

/// Whole and cut at every seventh offset, with `buffer-size` 1 MiB: for the big fixtures.
fn fastcgi_whole(p: &Params) -> Canon {
    // Room for a 65535-byte name and a 65535-byte value.
    let limits = Limits { max_params_bytes: 1 << 20, ..Limits::default() };
    let whole = common::fastcgi::feed_pieces(&limits, [p.bytes()]).expect("ok");
    for i in (0..=p.bytes().len()).step_by(7) {
        let (a, b) = p.bytes().split_at(i);
        assert_eq!(common::fastcgi::feed_pieces(&limits, [a, b]).as_ref(), Ok(&whole), "cut at {i}");
    }
    whole.1
}

/// F15: a 4-byte length claiming 2^31 - 1 is refused with the limit error as soon as the
/// lengths are read, before any byte of the pair is stored.
#[test]
fn f15_huge_claim_hits_the_limit_without_allocating() {
    let mut decoder = ParamsDecoder::new(Limits::default());
    assert_eq!(decoder.feed(Params::get().bytes()), Ok(Status::Partial));
    let stored = decoder.block().len();
    assert_eq!(decoder.feed(b"\x01\xff\xff\xff\xffK"), Err(Error::ParamsTooLarge { limit: 65536 }));
    assert!(decoder.block().len() <= stored + 6);
    assert_eq!(err(&Params::get().raw(b"\xff\xff\xff\xff\x01")), Error::ParamsTooLarge { limit: 65536 });
    assert_eq!(err(&Params::get().raw(b"\x01\xff\xff\xff\xffK")), Error::ParamsTooLarge { limit: 65536 });
    // Claims under the limit but past the end of the stream are truncation.
    assert_eq!(err(&Params::get().raw(b"\x01\x05Kabc")), Error::TruncatedParams);
    assert_eq!(err(&Params::get().raw(b"\x09\x00ABC")), Error::TruncatedParams);
    // A length field cut by the end of the stream.
    assert_eq!(err(&Params::get().raw(b"\x01\x80\x00")), Error::TruncatedParams);
    assert_eq!(err(&Params::get().raw(b"\x81")), Error::TruncatedParams);
    assert_eq!(err(&Params::get().raw(b"\x01")), Error::TruncatedParams);
}

/// F16: a pair cut across two records, a length field cut across records, at every offset
/// (what `feed_split` does), shown explicitly for the two cases the brief names.
#[test]
fn f16_pair_and_length_field_across_records() {
    let p = Params::get().nv4("HTTP_X_A", vec![b'a'; 300]).nv("QUERY_STRING", "q=1");
    let s = p.bytes();
    let pieces = |cuts: &[usize]| {
        let mut out = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&s.len())) {
            out.push(&s[start..c]);
            start = c;
        }
        common::fastcgi::feed_pieces(&Limits::default(), out)
    };
    let whole = pieces(&[]).expect("ok");
    // 19 is where the second pair starts: cut inside its 4-byte name length, then inside its value.
    assert_eq!(pieces(&[19 + 2]).as_ref(), Ok(&whole));
    assert_eq!(pieces(&[19 + 1, 19 + 3, 19 + 6, 19 + 100]).as_ref(), Ok(&whole));
    assert_eq!(names_values(&whole.1)[1].1, &[b'a'; 300][..]);
    feed_split(s, &Limits::default()).expect("ok");
}

/// F17: the stream's bytes at `buffer-size` and one past, however cut.
#[test]
fn f17_params_bytes_limit_at_n_and_n_plus_1() {
    for limit in [200u32, 1000, 65536] {
        let limits = Limits { max_params_bytes: limit, ..Limits::default() };
        let at = Params::get().pad_to(limit as usize);
        let over = Params::get().pad_to(limit as usize + 1);
        let ok = common::fastcgi::feed_pieces(&limits, [at.bytes()]);
        assert!(ok.is_ok(), "{limit}: {ok:?}");
        let e = common::fastcgi::feed_pieces(&limits, [over.bytes()]).unwrap_err();
        assert_eq!(e, Error::ParamsTooLarge { limit });
        if limit <= 1000 {
            assert!(feed_split(at.bytes(), &limits).is_ok());
            assert_eq!(err_with(&over, &limits), Error::ParamsTooLarge { limit });
            // Bytes past the limit after a complete stream's worth of pairs: the same error.
            assert_eq!(err_with(&at.clone().raw("x"), &limits), Error::ParamsTooLarge { limit });
        }
    }
    assert_eq!(Limits::default().max_params_bytes, 64 * 1024);
    let e = Error::ParamsTooLarge { limit: 65536 };
    assert_eq!((e.status(), e.limit_option(), e.code()), (Some(431), Some("buffer-size"), "fastcgi_params_too_large"));
    assert_eq!(e.to_string(), "FastCGI params are over buffer-size 65536 bytes (raise --buffer-size)");
}

/// F17: the pair count at `max-vars` and one past.
#[test]
fn f17_max_vars_at_n_and_n_plus_1() {
    for max in [1u32, 3, 1000] {
        let limits = Limits { max_vars: max, ..Limits::default() };
        let mut at = Params::get();
        for i in 1..max {
            at = at.nv(format!("X{i}"), "");
        }
        let over = at.clone().nv("Y", "");
        assert_eq!(common::fastcgi::feed_pieces(&limits, [at.bytes()]).map(|(_, c)| c.len()), Ok(max as usize));
        assert_eq!(common::fastcgi::feed_pieces(&limits, [over.bytes()]), Err(Error::TooManyVars { limit: max }));
        if max <= 3 {
            ok_with(&at, &limits);
            assert_eq!(err_with(&over, &limits), Error::TooManyVars { limit: max });
            // Refused when pair max + 1 starts, even if it is cut short.
            assert_eq!(err_with(&at.clone().raw([1]), &limits), Error::TooManyVars { limit: max });
        }
    }
    let e = Error::TooManyVars { limit: 1000 };
    assert_eq!((e.status(), e.limit_option()), (Some(400), Some("max-vars")));
}

/// With `buffer-size` raised past 64 KiB a single name or value can outgrow a `Var`.
#[test]
fn param_longer_than_65535_is_refused() {
    let limits = Limits { max_params_bytes: 1 << 20, ..Limits::default() };
    let fits = Params::get().nv("X_BIG", vec![b'b'; 65535]);
    assert!(common::fastcgi::feed_pieces(&limits, [fits.bytes()]).is_ok());
    let big = Params::get().nv("X_BIG", vec![b'b'; 65536]);
    assert_eq!(common::fastcgi::feed_pieces(&limits, [big.bytes()]), Err(Error::ParamTooLong { length: 65536 }));
    // Refused on the lengths alone.
    let head = &big.bytes()[..21 + 1 + 4];
    let mut d = ParamsDecoder::new(limits);
    assert_eq!(d.feed(head), Err(Error::ParamTooLong { length: 65536 }));
}

/// F18: a zero-length name, in either length form, wherever it is.
#[test]
fn f18_empty_name() {
    assert_eq!(err(&Params::get().nv("", "x")), Error::EmptyName);
    assert_eq!(err(&Params::new().nv("", "")), Error::EmptyName);
    assert_eq!(err(&Params::get().nv4("", "x")), Error::EmptyName);
    // Known as soon as the name length is read: the rest of the stream does not matter.
    assert_eq!(err(&Params::get().raw([0])), Error::EmptyName);
    let e = Error::EmptyName;
    assert_eq!((e.status(), e.code()), (Some(400), "fastcgi_empty_name"));
}

#[test]
fn request_checks_shared_with_uwsgi() {
    assert_eq!(err(&Params::new()), Error::MissingMethod);
    assert_eq!(err(&Params::new().nv("QUERY_STRING", "")), Error::MissingMethod);
    assert_eq!(err(&Params::new().nv("REQUEST_METHOD", "")), Error::InvalidMethod);
    assert_eq!(err(&Params::new().nv("REQUEST_METHOD", "G T")), Error::InvalidMethod);
    assert_eq!(
        err(&Params::get().nv("REQUEST_METHOD", "POST")),
        Error::ConflictingDuplicate { key: id::REQUEST_METHOD }
    );
    assert_eq!(
        err(&Params::get().nv("CONTENT_LENGTH", "5").nv("CONTENT_LENGTH", "05")),
        Error::ConflictingDuplicate { key: id::CONTENT_LENGTH }
    );
    assert_eq!(
        err(&Params::get().nv("REQUEST_URI", "/a").nv("REQUEST_URI", "/b")),
        Error::ConflictingDuplicate { key: id::REQUEST_URI }
    );
    assert_eq!(err(&Params::get().nv("CONTENT_LENGTH", "1e3")), Error::InvalidContentLength);
    assert_eq!(err(&Params::get().nv("CONTENT_LENGTH", "9007199254740992")), Error::ContentLengthOverflow);
    let limits = Limits { max_body: 10, ..Limits::default() };
    assert_eq!(
        err_with(&Params::get().nv("CONTENT_LENGTH", "11"), &limits),
        Error::BodyTooLarge { length: 11, limit: 10 }
    );
    let (info, _) =
        feed_split(Params::get().nv("CONTENT_LENGTH", "10").nv("CONTENT_LENGTH", "10").bytes(), &limits).unwrap();
    assert_eq!(info.content_length, 10);
    let (info, _) = feed_split(Params::get().nv("CONTENT_LENGTH", "").bytes(), &limits).unwrap();
    assert_eq!(info.content_length, 0);
    // Structure errors come before meaning errors.
    assert_eq!(err(&Params::new().nv("A", "").raw([0])), Error::EmptyName);
}

#[test]
fn duplicates_and_odd_bytes_are_kept_in_wire_order() {
    let canon = ok(&Params::get().nv("HTTP_COOKIE", "a=1").nv("HTTP_COOKIE", "b=2").nv(b"\xff\xfe", b"\x80\x00"));
    assert_eq!(
        names_values(&canon)[1..],
        [(&b"HTTP_COOKIE"[..], &b"a=1"[..]), (b"HTTP_COOKIE", b"b=2"), (b"\xff\xfe", b"\x80\x00")]
    );
    assert_eq!(canon[3].0, keys::UNKNOWN);
}

#[test]
fn decoder_reset_reuses_it() {
    let mut d = ParamsDecoder::new(Limits::default());
    assert_eq!(d.feed(b"\x01"), Ok(Status::Partial));
    assert_eq!(d.feed(b""), Err(Error::TruncatedParams));
    d.reset();
    assert_eq!(d.info(), None);
    assert_eq!(d.feed(Params::get().bytes()), Ok(Status::Partial));
    assert!(matches!(d.feed(b""), Ok(Status::Complete(_))));
    let (block, vars) = d.into_parts();
    assert_eq!(block, Params::get().bytes());
    assert_eq!(vars.len(), 1);
}

#[test]
fn codes_are_stable_unique_snake_case() {
    let all = [
        Error::LooksLikeHttp,
        Error::UnsupportedVersion { version: 0 },
        Error::BeginRequestLength { length: 0 },
        Error::EmptyName,
        Error::ParamsTooLarge { limit: 1 },
        Error::ParamTooLong { length: 65536 },
        Error::TooManyVars { limit: 1 },
        Error::TruncatedParams,
        Error::ParamsAfterEnd,
        Error::ConflictingDuplicate { key: id::CONTENT_LENGTH },
        Error::InvalidContentLength,
        Error::ContentLengthOverflow,
        Error::BodyTooLarge { length: 2, limit: 1 },
        Error::MissingMethod,
        Error::InvalidMethod,
    ];
    let mut codes: Vec<_> = all.iter().map(Error::code).collect();
    for c in &codes {
        assert!(c.starts_with("fastcgi_") && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
    for e in all {
        let line = e.to_string();
        assert!(line.starts_with("FastCGI ") || line.starts_with("HTTP "), "{line}");
        assert!(!line.contains('\n'));
    }
}

/// The canonical vars of a FastCGI request equal those of the same request over uwsgi:
/// same key ids, names, values, order.
#[test]
fn same_request_same_vars_as_uwsgi() {
    let packet = nginx_get().var("CONTENT_LENGTH", "").var("X_BINARY", b"\x00\xff");
    let (_, uvars) = parse_ok(&packet.bytes());
    let uwsgi_pairs = pairs(&packet.bytes(), &uvars);
    let mut p = Params::new();
    for (k, v) in &uwsgi_pairs {
        p = p.nv(k, v);
    }
    let (info, canon) = feed_split(p.bytes(), &Limits::default()).unwrap();
    assert_eq!(info.content_length, 0);
    let uwsgi_canon: Canon =
        uvars.iter().zip(&uwsgi_pairs).map(|(v, (k, val))| (v.key_id, k.clone(), val.clone())).collect();
    assert_eq!(canon, uwsgi_canon);
    assert!(canon.iter().any(|c| c.0 == id::REQUEST_METHOD));
    // And with 4-byte lengths everywhere, and every pair in its own record.
    let mut p4 = Params::new();
    let mut ends = Vec::new();
    for (k, v) in &uwsgi_pairs {
        p4 = p4.nv4(k, v);
        ends.push(p4.bytes().len());
    }
    let mut start = 0;
    let pieces: Vec<&[u8]> = ends
        .iter()
        .map(|&e| {
            let s = &p4.bytes()[start..e];
            start = e;
            s
        })
        .collect();
    let (_, canon4) = common::fastcgi::feed_pieces(&Limits::default(), pieces).unwrap();
    assert_eq!(canon4, uwsgi_canon);
}
