//! The shotgun test: requests (heads and chunked bodies) read at every prefix and, for
//! chunked bodies, decoded cut in two at every offset and byte by byte: always `Partial` or
//! the whole's answer, the same data and the same end. Then seeded random mutations of
//! them, valid or not, under the same rule.

mod http_support;

use http_support::{read_split, Request};
use tsgi_wire::http::{Error, Limits};
use tsgi_wire::Status;

fn fixtures() -> Vec<&'static [u8]> {
    vec![
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\n\r\nGET /a%20b?c=d HTTP/1.1\r\nHost: a.example:8080\r\nUser-Agent: x\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
        b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;a=b;c=\"d;e\\\"f\"\r\nhello\r\n10\r\n0123456789abcdef\r\n0;end\r\nX-Sum: 1\r\nX-Empty:\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n1\r\ny\r\n0\r\n\r\n",
        b"GET http://a.example/p?q HTTP/1.1\r\nHost: b\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost: a\r\nX_Dropped: 1\r\nProxy: p\r\nX-Obs: caf\xe9\r\n\r\n",
    ]
}

#[test]
fn every_fixture_at_every_prefix() {
    for f in fixtures() {
        let r = read_split(f, &Limits::default());
        let Ok(Status::Complete(Request { end, .. })) = r else { panic!("{:?}: {r:?}", String::from_utf8_lossy(f)) };
        assert_eq!(end, f.len(), "{:?}", String::from_utf8_lossy(f));
    }
}

#[test]
fn every_fixture_with_bytes_after_it() {
    // What follows a request never changes it, nor where it ends.
    for f in fixtures() {
        let whole = read_split(f, &Limits::default());
        for tail in [&b"G"[..], b"\r\n", b"GET / HTTP/1.1\r\n\r\n", b"\x00\xff"] {
            let buf = [f, tail].concat();
            assert_eq!(read_split(&buf, &Limits::default()), whole);
        }
    }
}

/// xorshift64*: a small seeded generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn seeded_mutations_keep_the_prefix_rule() {
    // The bytes that matter to framing, inserted or swapped in at random places.
    const SPICE: &[u8] = b"\r\n \t:;=\"\\,0123456789abcdefxX-_%?#/\x00\x7f\xff";
    let small =
        Limits { max_request_line: 40, max_head_bytes: 120, max_headers: 4, max_body: 20, max_chunk_extension: 6 };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for f in fixtures() {
        for _ in 0..60 {
            let mut buf = f.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(buf.len() + 1);
                let spice = SPICE[rng.below(SPICE.len())];
                match rng.below(3) {
                    0 => buf.insert(at, spice),
                    1 if at < buf.len() => buf[at] = spice,
                    _ if at < buf.len() => {
                        buf.remove(at);
                    }
                    _ => buf.push(spice),
                }
            }
            for limits in [Limits::default(), small] {
                let r = read_split(&buf, &limits);
                let key = match &r {
                    Ok(Status::Complete(_)) => "complete".to_string(),
                    Ok(Status::Partial) => "partial".to_string(),
                    Err(e) => e.code().to_string(),
                };
                *outcomes.entry(key).or_default() += 1;
                if let Err(e) = r {
                    assert!(matches!(e.status(), 400 | 413 | 414 | 417 | 431), "{e:?}");
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    // The mutations reach many different answers, not one error over and over.
    assert!(outcomes.len() >= 15, "{outcomes:?}");
    assert!(outcomes.get("complete").copied().unwrap_or(0) > 50, "{outcomes:?}");
}

#[test]
fn an_error_in_a_chunked_body_is_the_same_at_every_cut() {
    let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases = [
        ("5\r\nhelloX", Error::ChunkDataNotTerminated),
        ("5;a=\"b\r\n", Error::InvalidChunkExtension),
        ("1\r\nx\r\n0\r\nBad Name: x\r\n\r\n", Error::InvalidTrailer),
        ("fffffffffffffffffff", Error::ChunkSizeOverflow),
    ];
    for (body, want) in cases {
        assert_eq!(read_split(format!("{head}{body}").as_bytes(), &Limits::default()), Err(want), "{body:?}");
    }
}
