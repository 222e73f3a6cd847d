//! Arbitrary bytes as an HTTP/1.1 request: the head, then a chunked body if the head says
//! so. Input: one byte choosing the limits, a u16 LE cut point, then the bytes
//! (scripts/fuzz.sh seeds a chunked POST).
//!
//! Invariants: the head parsed from any prefix answers `Partial` or what the whole answers
//! (same error, or same head and vars); a complete head lies within the input, every var
//! within the block with the key id of its name, and the head obeys the limits; a chunked
//! body decoded whole, cut in two at the cut point, and byte by byte gives the same data,
//! end and error, with every data range inside its input and nothing consumed past the end.
#![no_main]

use tsgi_wire::http::{self, BodyFraming, ChunkedDecoder, Error, Head, HeadVars, Limits};
use tsgi_wire::{keys, Status};

fn limits(cfg: u8) -> Limits {
    Limits {
        max_request_line: [8192, 16, 64][usize::from(cfg % 3)],
        max_head_bytes: [16384, 48, 200][usize::from((cfg >> 2) % 3)],
        max_headers: [100, 1, 3][usize::from((cfg >> 4) % 3)],
        max_body: [0, 5][usize::from((cfg >> 6) & 1)],
        max_chunk_extension: [4096, 3][usize::from(cfg >> 7)],
    }
}

type Parsed = Result<Status<(Head, Vec<(Vec<u8>, Vec<u8>)>)>, Error>;

fn parse(buf: &[u8], limits: &Limits, out: &mut HeadVars) -> Parsed {
    Ok(match http::parse_head(buf, limits, out)? {
        Status::Complete(head) => {
            assert!(head.len <= buf.len());
            assert!(head.minor_version <= 1);
            if let Some(host) = &head.host {
                assert!(host.end <= out.block.len());
            }
            let pairs = out
                .vars
                .iter()
                .map(|v| {
                    let (name, value) = out.pair(v);
                    assert_eq!(v.key_id, keys::lookup(name));
                    assert!(!keys::is_dropped(v.key_id));
                    (name.to_vec(), value.to_vec())
                })
                .collect::<Vec<_>>();
            assert!(pairs.len() >= 5 && pairs.len() <= 5 + limits.max_headers as usize);
            Status::Complete((head, pairs))
        }
        Status::Partial => Status::Partial,
    })
}

/// Decodes `pieces` in order: the body and the bytes taken once done.
fn decode(limits: &Limits, pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<usize>), Error> {
    let mut d = ChunkedDecoder::new(limits);
    let mut body = Vec::new();
    let mut taken = 0;
    for piece in pieces {
        let mut input = *piece;
        loop {
            let r = d.decode(input);
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    assert_eq!(d.decode(b"x"), Err(e), "a failed decoder repeats its error");
                    return Err(e);
                }
            };
            assert!(r.consumed <= input.len() && r.data.start <= r.data.end && r.data.end <= r.consumed);
            assert!(r.consumed == input.len() || !r.data.is_empty() || r.done);
            body.extend_from_slice(&input[r.data.clone()]);
            input = &input[r.consumed..];
            taken += r.consumed;
            if r.done {
                assert_eq!(d.body_len(), body.len() as u64);
                if limits.max_body != 0 {
                    assert!(body.len() as u64 <= limits.max_body);
                }
                return Ok((body, Some(taken)));
            }
            if input.is_empty() {
                break;
            }
        }
    }
    Ok((body, None))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [cfg, c0, c1, ref buf @ ..] = *data else { return };
    let limits = limits(cfg);
    let cut = usize::from(u16::from_le_bytes([c0, c1])) % (buf.len() + 1);
    let mut out = HeadVars::new();

    let whole = parse(buf, &limits, &mut out);
    let prefix = parse(&buf[..cut], &limits, &mut out);
    assert!(prefix == Ok(Status::Partial) || prefix == whole, "prefix of {cut} bytes: {prefix:?}, whole: {whole:?}");
    if let Err(e) = &whole {
        assert!(matches!(e.status(), 400 | 413 | 414 | 417 | 431));
    }

    let Ok(Status::Complete((head, _))) = whole else { return };
    if head.body != BodyFraming::Chunked {
        return;
    }
    let rest = &buf[head.len..];
    let once = decode(&limits, &[rest]);
    let at = cut % (rest.len() + 1);
    assert_eq!(decode(&limits, &[&rest[..at], &rest[at..]]), once, "body cut at {at}");
    let bytes: Vec<&[u8]> = rest.chunks(1).collect();
    assert_eq!(decode(&limits, &bytes), once, "body byte by byte");
});
