//! Arbitrary bytes as a FastCGI PARAMS stream. Input: one byte choosing the limits, three
//! u16 LE cut points, then the stream (scripts/fuzz.sh seeds `REQUEST_METHOD=GET`).
//!
//! Invariants: the stream cut into records at the cut points, and byte by byte, decodes to
//! what it decodes to in one record (same error, or same info and pairs); a failed decoder
//! repeats its error, a finished one refuses more (F22); the block never passes the limit;
//! `parse_name_value` agrees with the decoder on the pairs, and each prefix of the stream
//! answers `Partial` or what the whole answers.
#![no_main]

use tsgi_wire::fastcgi::{self, Error, Limits, ParamsDecoder, RequestInfo};
use tsgi_wire::{keys, Status};

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn limits(cfg: u8) -> Limits {
    Limits {
        max_params_bytes: [65536, 16, 100, 1000][usize::from(cfg & 3)],
        max_vars: [1000, 1, 3, 8][usize::from((cfg >> 2) & 3)],
        max_body: [0, 10][usize::from((cfg >> 4) & 1)],
    }
}

/// Feeds each non-empty piece as one record's content, then the empty end record.
fn decode<'a>(limits: &Limits, pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<(RequestInfo, Pairs), Error> {
    let mut d = ParamsDecoder::new(*limits);
    for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
        let fed = d.feed(piece);
        assert!(d.block().len() <= limits.max_params_bytes as usize);
        match fed {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(_)) => panic!("non-empty content answered Complete"),
            Err(e) => {
                assert_eq!((d.feed(b"x"), d.feed(b"")), (Err(e), Err(e)), "a failed decoder repeats its error");
                return Err(e);
            }
        }
    }
    let info = match d.feed(b"")? {
        Status::Complete(info) => info,
        Status::Partial => panic!("the end record answered Partial"),
    };
    assert_eq!(d.info(), Some(info));
    assert!(d.vars().len() <= limits.max_vars as usize);
    let mut pairs = Vec::new();
    for v in d.vars() {
        let (name, value) = d.pair(v);
        assert_eq!(v.key_id, keys::lookup(name));
        pairs.push((name.to_vec(), value.to_vec()));
    }
    assert_eq!(d.feed(b"x"), Err(Error::ParamsAfterEnd));
    Ok((info, pairs))
}

/// Reads `stream` pair by pair with `parse_name_value`: the pairs, and whether it stopped
/// early, on an empty name or on a pair cut short.
fn walk(stream: &[u8]) -> (Pairs, bool) {
    let mut pairs = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        match fastcgi::parse_name_value(&stream[pos..]) {
            Ok(Status::Complete((name, value, n))) => {
                assert!(matches!(name.start, 2 | 5 | 8) && !name.is_empty());
                assert!(name.end == value.start && value.end == n && n <= stream.len() - pos);
                pairs.push((stream[pos..][name].to_vec(), stream[pos..][value].to_vec()));
                pos += n;
            }
            Ok(Status::Partial) => return (pairs, true),
            Err(e) => {
                assert_eq!(e, Error::EmptyName);
                return (pairs, true);
            }
        }
    }
    (pairs, false)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [cfg, a0, a1, b0, b1, c0, c1, ref stream @ ..] = *data else { return };
    let limits = limits(cfg);
    let mut cuts = [[a0, a1], [b0, b1], [c0, c1]].map(|c| usize::from(u16::from_le_bytes(c)) % (stream.len() + 1));
    cuts.sort_unstable();
    let [a, b, c] = cuts;

    let whole = decode(&limits, [stream]);
    let pieces = [&stream[..a], &stream[a..b], &stream[b..c], &stream[c..]];
    assert_eq!(decode(&limits, pieces), whole, "cut at {cuts:?}");
    assert_eq!(decode(&limits, stream.chunks(1)), whole, "byte by byte");

    let first = fastcgi::parse_name_value(stream);
    match fastcgi::parse_name_value(&stream[..a]) {
        Ok(Status::Partial) => {
            if let Ok(Status::Complete((_, _, n))) = first {
                assert!(a < n, "prefix of {a} bytes is Partial, but the pair is {n} bytes");
            }
        }
        prefix => assert_eq!(prefix, first, "prefix of {a} bytes"),
    }

    let (pairs, stopped) = walk(stream);
    match &whole {
        Ok((_, decoded)) => assert!(!stopped && pairs == *decoded, "decoder and parse_name_value disagree"),
        // A pair cut short or an empty name: parse_name_value stops there too.
        Err(Error::EmptyName | Error::TruncatedParams) => assert!(stopped, "{whole:?}, but parse_name_value read it all"),
        // The rest are limits and request checks, answered with a status; never a framing error.
        Err(e) => assert!(e.status().is_some(), "{e:?}"),
    }
});
