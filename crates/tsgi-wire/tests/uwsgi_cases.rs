//! One test per malformed-input case of `docs/malformed-input.md` that the
//! codec owns (U3-U18, U21-U26), each fed whole and split at every offset (`parse_split`).
//! U1/U2 (EOF) and U27 (timeouts) are the reactor's decisions; what the codec owes them is
//! that every strict prefix of a valid packet is `Partial`, tested first.

mod common;

use common::{kv, pairs, parse_err, parse_err_with, parse_ok, parse_ok_with, Packet};
use tsgi_wire::keys::{self, id};
use tsgi_wire::uwsgi::{
    self, Error, Header, Limits, RequestInfo, HEADER_LEN, MODIFIER_MANAGE_PATH_INFO, MODIFIER_PING,
};
use tsgi_wire::Status;

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn u1_u2_every_strict_prefix_of_a_valid_packet_is_partial() {
    let packets = [
        Packet::get().bytes(),
        Packet::get().var("REQUEST_URI", "/a?b=c").var("CONTENT_LENGTH", "3").body("abc").bytes(),
        Packet::new().var("REQUEST_METHOD", "GET").var("EMPTY", "").bytes(),
    ];
    for packet in packets {
        let n = HEADER_LEN + usize::from(u16::from_le_bytes([packet[1], packet[2]]));
        let mut vars = Vec::new();
        for i in 0..n {
            assert_eq!(uwsgi::parse_request(&packet[..i], &limits(), &mut vars), Ok(Status::Partial), "{i} bytes");
        }
        for i in 0..HEADER_LEN {
            assert_eq!(uwsgi::parse_header(&packet[..i], &limits()), Ok(Status::Partial), "{i} bytes");
        }
        assert!(uwsgi::parse_request(&packet[..n], &limits(), &mut vars).unwrap().is_complete());
    }
}

#[test]
fn worked_example_from_the_protocol_notes() {
    // features.md §1.2: `00 15 00 00 | 0e 00 "REQUEST_METHOD" 03 00 "GET"`.
    let mut packet = vec![0x00, 0x15, 0x00, 0x00, 0x0e, 0x00];
    packet.extend_from_slice(b"REQUEST_METHOD");
    packet.extend_from_slice(&[0x03, 0x00]);
    packet.extend_from_slice(b"GET");
    assert_eq!(packet, Packet::get().bytes());
    let ((header, info, n), vars) = parse_ok(&packet);
    assert_eq!(header, Header { modifier1: 0, datasize: 21, modifier2: 0 });
    assert_eq!(info, RequestInfo { content_length: 0, upgrade: false });
    assert_eq!(n, 25);
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].key_id, id::REQUEST_METHOD);
    assert_eq!((vars[0].key_offset, vars[0].key_len, vars[0].value_offset, vars[0].value_len), (2, 14, 18, 3));
    assert_eq!(kv(&packet, &vars[0]), (&b"REQUEST_METHOD"[..], &b"GET"[..]));
}

#[test]
fn u3_datasize_zero() {
    assert_eq!(parse_err(&Packet::new().bytes()), Error::EmptyVars);
    // Even with bytes after it: they are the body of a request that has no vars.
    assert_eq!(parse_err(&Packet::new().body("GET").bytes()), Error::EmptyVars);
    assert_eq!(uwsgi::parse_vars(&[], &limits(), &mut Vec::new()), Err(Error::EmptyVars));
}

#[test]
fn u4_datasize_over_buffer_size() {
    let limits = Limits { max_vars_block: 4096, ..limits() };
    let packet = Packet::get().pad_to(4097).bytes();
    assert_eq!(parse_err_with(&packet, &limits), Error::VarsTooLarge { size: 4097, limit: 4096 });
    // Decided from the header alone, before the block is read.
    assert_eq!(
        uwsgi::parse_request(&packet[..HEADER_LEN], &limits, &mut Vec::new()),
        Err(Error::VarsTooLarge { size: 4097, limit: 4096 })
    );
}

#[test]
fn u5_key_length_past_the_block() {
    // A key length one past what is left.
    let packet = Packet::get().len_field(5).raw("ABCD").bytes();
    assert_eq!(parse_err(&packet), Error::KeyOverrun);
    // The shape of CVE-2020-11984: a proxy wrote a 65536+n length as n into a 16-bit
    // field, so the lengths no longer tile the block; the first length that lands on key
    // bytes reads as a huge key length.
    let wrapped = Packet::get().len_field(0x4141).raw("AAAA").len_field(0).bytes();
    assert_eq!(parse_err(&wrapped), Error::KeyOverrun);
    // Key length 0xffff in a small block.
    assert_eq!(parse_err(&Packet::get().len_field(u16::MAX).bytes()), Error::KeyOverrun);
}

#[test]
fn u5_half_a_key_length_field_is_key_overrun() {
    // One byte left where the next pair's key length should be.
    assert_eq!(parse_err(&Packet::get().raw([1]).bytes()), Error::KeyOverrun);
    assert_eq!(parse_err(&Packet::get().raw([0]).bytes()), Error::KeyOverrun);
}

#[test]
fn u6_value_length_past_the_block() {
    let packet = Packet::get().len_field(1).raw("K").len_field(4).raw("abc").bytes();
    assert_eq!(parse_err(&packet), Error::ValueOverrun);
    let packet = Packet::get().len_field(1).raw("K").len_field(u16::MAX).raw("abc").bytes();
    assert_eq!(parse_err(&packet), Error::ValueOverrun);
}

#[test]
fn u6_value_length_field_cut_or_missing_is_value_overrun() {
    // Exactly one byte of the value-length field left.
    assert_eq!(parse_err(&Packet::get().len_field(1).raw("K").raw([0]).bytes()), Error::ValueOverrun);
    // The block ends right after a key.
    assert_eq!(parse_err(&Packet::get().len_field(1).raw("K").bytes()), Error::ValueOverrun);
    // Same, as the only pair.
    assert_eq!(parse_err(&Packet::new().len_field(14).raw("REQUEST_METHOD").bytes()), Error::ValueOverrun);
}

#[test]
fn u7_empty_key() {
    assert_eq!(parse_err(&Packet::get().var("", "x").bytes()), Error::EmptyKey);
    assert_eq!(parse_err(&Packet::new().var("", "").var("REQUEST_METHOD", "GET").bytes()), Error::EmptyKey);
    // A zero key length is refused before looking for the value that should follow.
    assert_eq!(parse_err(&Packet::get().len_field(0).bytes()), Error::EmptyKey);
}

#[test]
fn u8_empty_values_accepted_even_last() {
    let packet = Packet::get().var("CONTENT_TYPE", "").var("CONTENT_LENGTH", "").var("QUERY_STRING", "").bytes();
    let ((_, info, _), vars) = parse_ok(&packet);
    assert_eq!(info.content_length, 0);
    assert_eq!(vars.len(), 4);
    for var in &vars[1..] {
        assert_eq!(var.value_len, 0);
    }
    // The last value ends exactly at the end of the block.
    let last = vars.last().unwrap();
    assert_eq!(last.value_offset as usize, packet.len() - HEADER_LEN);
}

#[test]
fn u9_too_many_vars() {
    let limits = Limits { max_vars: 3, ..limits() };
    let three = Packet::get().var("A", "1").var("B", "2");
    assert_eq!(parse_ok_with(&three.clone().bytes(), &limits).1.len(), 3);
    assert_eq!(parse_err_with(&three.var("C", "3").bytes(), &limits), Error::TooManyVars { limit: 3 });
}

#[test]
fn u10_duplicates_with_the_same_value_are_accepted() {
    let packet = Packet::get()
        .var("REQUEST_URI", "/x")
        .var("CONTENT_LENGTH", "5")
        .var("REQUEST_METHOD", "GET")
        .var("REQUEST_URI", "/x")
        .var("CONTENT_LENGTH", "5")
        .bytes();
    let ((_, info, _), vars) = parse_ok(&packet);
    assert_eq!(info.content_length, 5);
    let ids: Vec<_> = vars.iter().map(|v| v.key_id).collect();
    assert_eq!(
        ids,
        [
            id::REQUEST_METHOD,
            id::REQUEST_URI,
            id::CONTENT_LENGTH,
            id::REQUEST_METHOD,
            id::REQUEST_URI,
            id::CONTENT_LENGTH
        ]
    );
}

#[test]
fn u11_conflicting_duplicates() {
    let cases = [
        (Packet::get().var("REQUEST_METHOD", "POST"), id::REQUEST_METHOD),
        (Packet::get().var("REQUEST_URI", "/a").var("REQUEST_URI", "/b"), id::REQUEST_URI),
        (Packet::get().var("CONTENT_LENGTH", "5").var("CONTENT_LENGTH", "6"), id::CONTENT_LENGTH),
        // Byte for byte: the same number spelt differently still conflicts.
        (Packet::get().var("CONTENT_LENGTH", "5").var("CONTENT_LENGTH", "05"), id::CONTENT_LENGTH),
        (Packet::get().var("CONTENT_LENGTH", "").var("CONTENT_LENGTH", "0"), id::CONTENT_LENGTH),
        // A third copy that differs, after two that agree.
        (Packet::get().var("REQUEST_URI", "/a").var("REQUEST_URI", "/a").var("REQUEST_URI", "/b"), id::REQUEST_URI),
    ];
    for (packet, key) in cases {
        assert_eq!(parse_err(&packet.bytes()), Error::ConflictingDuplicate { key });
    }
    // The first conflicting key in wire order is the one reported.
    let two = Packet::get()
        .var("REQUEST_URI", "/a")
        .var("CONTENT_LENGTH", "1")
        .var("CONTENT_LENGTH", "2")
        .var("REQUEST_URI", "/b");
    assert_eq!(parse_err(&two.bytes()), Error::ConflictingDuplicate { key: id::CONTENT_LENGTH });
}

#[test]
fn u12_other_duplicates_are_all_reported_in_wire_order() {
    let packet = Packet::get()
        .var("HTTP_COOKIE", "a=1")
        .var("X_CUSTOM", "1")
        .var("HTTP_COOKIE", "b=2")
        .var("X_CUSTOM", "2")
        .bytes();
    let (_, vars) = parse_ok(&packet);
    let got = pairs(&packet, &vars);
    let want: Vec<(Vec<u8>, Vec<u8>)> = [
        ("REQUEST_METHOD", "GET"),
        ("HTTP_COOKIE", "a=1"),
        ("X_CUSTOM", "1"),
        ("HTTP_COOKIE", "b=2"),
        ("X_CUSTOM", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(vars[1].key_id, keys::lookup(b"HTTP_COOKIE"));
    assert_eq!(vars[2].key_id, keys::UNKNOWN);
}

#[test]
fn u13_non_utf8_keys_and_values() {
    let packet = Packet::get()
        .var("PATH_INFO", b"/caf\xe9/\xff\xfe")
        .var(b"X_\xc3\x28", b"\x80\x81")
        .var("HTTP_COOKIE", b"name=J\xf6rg")
        .bytes();
    let (_, vars) = parse_ok(&packet);
    assert_eq!(kv(&packet, &vars[1]), (&b"PATH_INFO"[..], &b"/caf\xe9/\xff\xfe"[..]));
    assert_eq!(vars[1].key_id, id::PATH_INFO);
    assert_eq!(kv(&packet, &vars[2]), (&b"X_\xc3\x28"[..], &b"\x80\x81"[..]));
    assert_eq!(vars[2].key_id, keys::UNKNOWN);
    assert_eq!(kv(&packet, &vars[3]).1, b"name=J\xf6rg");
}

#[test]
fn u14_keys_that_are_not_cgi_are_data() {
    let odd = ["__proto__", "constructor", "hasOwnProperty", "HTTP_", "toString", "\0", " ", "a b"];
    let packet = odd.iter().fold(Packet::get(), |p, k| p.var(k, "v")).bytes();
    let (_, vars) = parse_ok(&packet);
    assert_eq!(vars.len(), odd.len() + 1);
    for (var, key) in vars[1..].iter().zip(odd) {
        assert_eq!(var.key_id, keys::UNKNOWN);
        assert_eq!(kv(&packet, var).0, key.as_bytes());
    }
}

#[test]
fn u15_content_length_empty_or_absent_is_zero() {
    assert_eq!(parse_ok(&Packet::get().bytes()).0 .1.content_length, 0);
    assert_eq!(parse_ok(&Packet::get().var("CONTENT_LENGTH", "").bytes()).0 .1.content_length, 0);
    assert_eq!(parse_ok(&Packet::get().var("CONTENT_LENGTH", "0").bytes()).0 .1.content_length, 0);
    assert_eq!(parse_ok(&Packet::get().var("CONTENT_LENGTH", "6").body("abcdef").bytes()).0 .1.content_length, 6);
}

#[test]
fn u16_content_length_not_plain_digits() {
    for bad in ["-1", "+5", " 5", "5 ", "1e3", "0x10", "5,5", "12abc", "5\0", "\t5", "５", "1_000", "-0"] {
        let packet = Packet::get().var("CONTENT_LENGTH", bad).bytes();
        assert_eq!(parse_err(&packet), Error::InvalidContentLength, "CONTENT_LENGTH={bad:?}");
    }
    // Leading zeros are still plain digits.
    assert_eq!(parse_ok(&Packet::get().var("CONTENT_LENGTH", "0007").bytes()).0 .1.content_length, 7);
}

#[test]
fn u17_content_length_overflow() {
    for big in ["9007199254740992", "18446744073709551615", "18446744073709551616", "99999999999999999999999999"] {
        let packet = Packet::get().var("CONTENT_LENGTH", big).bytes();
        assert_eq!(parse_err(&packet), Error::ContentLengthOverflow, "CONTENT_LENGTH={big}");
    }
}

#[test]
fn u18_content_length_over_limit_post() {
    let limits = Limits { max_body: 1000, ..limits() };
    let packet = Packet::get().var("CONTENT_LENGTH", "1001").bytes();
    assert_eq!(parse_err_with(&packet, &limits), Error::BodyTooLarge { length: 1001, limit: 1000 });
    // Refused from the head alone: no body byte is needed.
    assert_eq!(packet.len(), HEADER_LEN + 21 + 2 + 14 + 2 + 4);
}

#[test]
fn u21_http_content_length_and_transfer_encoding_never_frame() {
    let packet = Packet::get()
        .var("HTTP_TRANSFER_ENCODING", "chunked")
        .var("HTTP_CONTENT_LENGTH", "not a number")
        .var("CONTENT_LENGTH", "6")
        .var("HTTP_CONTENT_LENGTH", "999")
        .body("abcdef")
        .bytes();
    let ((_, info, n), vars) = parse_ok(&packet);
    assert_eq!(info.content_length, 6);
    assert_eq!(&packet[n..], b"abcdef");
    assert_eq!(vars[1].key_id, keys::lookup(b"HTTP_TRANSFER_ENCODING"));
    assert_eq!(vars[2].key_id, id::HTTP_CONTENT_LENGTH);
    // Without CONTENT_LENGTH there is no body, whatever the HTTP_* copies say.
    let packet = Packet::get().var("HTTP_CONTENT_LENGTH", "10").var("HTTP_TRANSFER_ENCODING", "chunked").bytes();
    assert_eq!(parse_ok(&packet).0 .1.content_length, 0);
}

#[test]
fn u22_unsupported_modifier1() {
    for m in [1u8, 5, 9, 10, 17, 29, 31, 72, 101, 111, 173, 200, 255] {
        let packet = Packet::get().modifier1(m).bytes();
        assert_eq!(parse_err(&packet), Error::UnsupportedModifier { modifier1: m }, "modifier1 {m}");
        // Known from the first byte alone, unless it could start an HTTP method (72 is 'H').
        let first =
            if m.is_ascii_uppercase() { Ok(Status::Partial) } else { Err(Error::UnsupportedModifier { modifier1: m }) };
        assert_eq!(uwsgi::parse_header(&packet[..1], &limits()), first, "modifier1 {m}");
    }
    // Checked before datasize: an unserved modifier with no vars is still 501, not 400.
    assert_eq!(parse_err(&Packet::new().modifier1(101).bytes()), Error::UnsupportedModifier { modifier1: 101 });
}

#[test]
fn a_ping_is_the_bare_header_and_one_with_data_is_refused() {
    let ((header, info, consumed), vars) = parse_ok(&Packet::new().modifier1(MODIFIER_PING).bytes());
    assert_eq!((header.modifier1, header.datasize, info.content_length, consumed), (MODIFIER_PING, 0, 0, 4));
    assert!(vars.is_empty());
    assert_eq!(
        parse_err(&Packet::get().modifier1(MODIFIER_PING).bytes()),
        Error::UnsupportedModifier { modifier1: MODIFIER_PING }
    );
}

#[test]
fn u22_served_modifiers_and_modifier2_ignored() {
    let ((header, _, _), _) = parse_ok(&Packet::get().modifier1(MODIFIER_MANAGE_PATH_INFO).bytes());
    assert_eq!(header.modifier1, 30);
    for m2 in [0u8, 1, 7, 255] {
        let ((header, _, _), _) = parse_ok(&Packet::get().modifier2(m2).bytes());
        assert_eq!((header.modifier1, header.modifier2), (0, m2));
    }
}

#[test]
fn u23_http_request_line_on_a_uwsgi_socket() {
    for line in [
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /form HTTP/1.1\r\n",
        "PUT /x HTTP/1.1\r\n",
        "HEAD / HTTP/1.0\r\n",
        "DELETE /x HTTP/1.1\r\n",
        "OPTIONS * HTTP/1.1\r\n",
        "PATCH /x HTTP/1.1\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\n",
        "TRACE / HTTP/1.1\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "PROPFIND /dav HTTP/1.1\r\n",
        "MKCOL /dav/x HTTP/1.1\r\n",
    ] {
        assert_eq!(parse_err(line.as_bytes()), Error::LooksLikeHttp, "{line:?}");
        // 1-3 bytes: could still be a request line.
        for i in 1..HEADER_LEN {
            assert_eq!(uwsgi::parse_header(&line.as_bytes()[..i], &limits()), Ok(Status::Partial));
        }
    }
    // `GET ` read as a header would be a 21573-byte block, under the default limit: without
    // the check the connection would sit waiting for the rest.
    assert_eq!(u16::from_le_bytes(*b"ET"), 21573);
    assert_eq!(uwsgi::parse_header(b"GET ", &limits()), Err(Error::LooksLikeHttp));
}

#[test]
fn u23_not_http_unless_it_looks_like_a_method() {
    // Upper-case first byte, then something no method has: an unsupported modifier.
    for bytes in [&b"G\x01\x00\x00"[..], b"GE\x00\x00", b"GET\x00", b"A B ", b"get ", b"Get "] {
        assert_eq!(
            parse_err(bytes),
            Error::UnsupportedModifier { modifier1: bytes[0] },
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // And it is known as soon as a byte breaks the pattern.
    assert_eq!(uwsgi::parse_header(b"G", &limits()), Ok(Status::Partial));
    assert_eq!(uwsgi::parse_header(b"G\x01", &limits()), Err(Error::UnsupportedModifier { modifier1: b'G' }));
}

#[test]
fn u24_missing_method() {
    assert_eq!(parse_err(&Packet::new().var("REQUEST_URI", "/").bytes()), Error::MissingMethod);
    // A near miss is not the method.
    assert_eq!(parse_err(&Packet::new().var("request_method", "GET").bytes()), Error::MissingMethod);
    assert_eq!(parse_err(&Packet::new().var("HTTP_REQUEST_METHOD", "GET").bytes()), Error::MissingMethod);
}

#[test]
fn u24_invalid_method() {
    for bad in
        [&b""[..], b"GET /", b" GET", b"GET\r\n", b"G\0T", b"\x7f", b"G\xc3\xa9T", b"GE\tT", b"(GET)", b"GET,POST"]
    {
        let packet = Packet::new().var("REQUEST_METHOD", bad).bytes();
        assert_eq!(parse_err(&packet), Error::InvalidMethod, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn u24_any_token_is_a_method() {
    for ok in ["GET", "get", "M-SEARCH", "PROPFIND", "X", "!#$%&'*+-.^_`|~09azAZ"] {
        let packet = Packet::new().var("REQUEST_METHOD", ok).bytes();
        let (_, vars) = parse_ok(&packet);
        assert_eq!(kv(&packet, &vars[0]).1, ok.as_bytes());
    }
}

#[test]
fn u25_path_info_is_data() {
    for path in [&b"/a\nb"[..], b"/../../etc/passwd", b"//x//y", b"/a\0b", b"/%2e%2e/", b""] {
        let packet = Packet::get().var("SCRIPT_NAME", "/app").var("PATH_INFO", path).bytes();
        let (_, vars) = parse_ok(&packet);
        assert_eq!(kv(&packet, &vars[2]), (&b"PATH_INFO"[..], path));
        assert_eq!(vars[2].key_id, id::PATH_INFO);
    }
}

#[test]
fn u26_uwsgi_magic_vars_are_data() {
    let magic = ["UWSGI_FILE", "UWSGI_SCRIPT", "UWSGI_SETENV", "UWSGI_POSTFILE", "UWSGI_CHDIR", "UWSGI_SCHEME"];
    let packet = magic.iter().fold(Packet::get(), |p, k| p.var(k, "/etc/passwd")).bytes();
    let ((_, info, _), vars) = parse_ok(&packet);
    assert_eq!(info.content_length, 0);
    assert_eq!(vars.len(), magic.len() + 1);
    assert!(vars[1..].iter().all(|v| v.key_id == keys::UNKNOWN));
}

#[test]
fn u20_bytes_after_the_body_are_not_parsed() {
    let second = Packet::get().var("REQUEST_METHOD", "POST").bytes();
    let packet = Packet::get().var("CONTENT_LENGTH", "2").body([&b"hi"[..], &second].concat()).bytes();
    let ((header, info, n), _) = parse_ok(&packet);
    assert_eq!(n, HEADER_LEN + usize::from(header.datasize));
    assert_eq!(info.content_length, 2);
    assert_eq!(&packet[n..n + 2], b"hi");
}

#[test]
fn structural_errors_win_over_meaning() {
    // A conflicting duplicate, then an overrun: the overrun is reported.
    let packet = Packet::get().var("REQUEST_METHOD", "POST").len_field(9).raw("X");
    assert_eq!(parse_err(&packet.bytes()), Error::KeyOverrun);
    // Missing method and a bad CONTENT_LENGTH, then an empty key: EmptyKey.
    let packet = Packet::new().var("CONTENT_LENGTH", "x").var("", "");
    assert_eq!(parse_err(&packet.bytes()), Error::EmptyKey);
    // Bad method and too many vars: TooManyVars.
    let packet = Packet::new().var("REQUEST_METHOD", "G T").var("A", "").var("B", "");
    assert_eq!(parse_err_with(&packet.bytes(), &Limits { max_vars: 2, ..limits() }), Error::TooManyVars { limit: 2 });
    // TooManyVars is decided when pair max_vars + 1 starts, before reading it.
    let packet = Packet::get().var("A", "").len_field(0);
    assert_eq!(parse_err_with(&packet.bytes(), &Limits { max_vars: 2, ..limits() }), Error::TooManyVars { limit: 2 });
}

#[test]
fn meaning_errors_in_documented_order() {
    // Conflict before method.
    let p = Packet::new().var("REQUEST_URI", "/a").var("REQUEST_URI", "/b");
    assert_eq!(parse_err(&p.bytes()), Error::ConflictingDuplicate { key: id::REQUEST_URI });
    // Method before CONTENT_LENGTH.
    let p = Packet::new().var("CONTENT_LENGTH", "x").var("REQUEST_METHOD", "");
    assert_eq!(parse_err(&p.bytes()), Error::InvalidMethod);
    let p = Packet::new().var("CONTENT_LENGTH", "x");
    assert_eq!(parse_err(&p.bytes()), Error::MissingMethod);
    // Method check uses the (agreed) value, whichever copy.
    let p = Packet::new().var("REQUEST_METHOD", "").var("REQUEST_METHOD", "");
    assert_eq!(parse_err(&p.bytes()), Error::InvalidMethod);
}

#[test]
fn parse_vars_enforces_buffer_size_on_its_own() {
    let limits = Limits { max_vars_block: 100, ..limits() };
    let block = Packet::get().pad_to(101).block().to_vec();
    assert_eq!(uwsgi::parse_vars(&block, &limits, &mut Vec::new()), Err(Error::VarsTooLarge { size: 101, limit: 100 }));
    let block = Packet::get().pad_to(100).block().to_vec();
    assert!(uwsgi::parse_vars(&block, &limits, &mut Vec::new()).is_ok());
    // A block no header can announce: size saturates.
    let huge = vec![0u8; 70_000];
    assert_eq!(
        uwsgi::parse_vars(&huge, &Limits::default(), &mut Vec::new()),
        Err(Error::VarsTooLarge { size: u16::MAX, limit: u16::MAX })
    );
}

#[test]
fn parse_vars_clears_the_callers_vec() {
    let packet = Packet::get().var("A", "1").bytes();
    let mut vars = Vec::new();
    uwsgi::parse_vars(&packet[HEADER_LEN..], &limits(), &mut vars).unwrap();
    uwsgi::parse_vars(&packet[HEADER_LEN..], &limits(), &mut vars).unwrap();
    assert_eq!(vars.len(), 2);
}
