//! Several requests in one buffer, as a pipelining client sends them: each is cut exactly
//! at its end (head, then the body by its framing), never a byte more or less, and an error
//! stops the reading: nothing after it is ever parsed.

mod http_support;

use http_support::{read_request, read_split, Request};
use tsgi_wire::http::{BodyFraming, Error, Limits};
use tsgi_wire::Status;

/// Reads requests off `buf` one after another, as the reactor would on a kept-alive
/// connection: each one, then the rest of the buffer (or the error that stopped it).
fn pipeline(buf: &[u8]) -> (Vec<Request>, Result<usize, Error>) {
    let mut requests = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match read_request(&buf[pos..], &Limits::default()) {
            Ok(Status::Complete(r)) => {
                assert!(r.end > 0 && r.end <= buf.len() - pos);
                pos += r.end;
                requests.push(r);
            }
            Ok(Status::Partial) => return (requests, Ok(buf.len() - pos)),
            Err(e) => return (requests, Err(e)),
        }
    }
    (requests, Ok(0))
}

const GET: &str = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
const POST_CL: &str = "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
const POST_CHUNKED: &str =
    "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
const EMPTY_CHUNKED: &str = "POST /4 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
const ZERO_CL: &str = "POST /5 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";

#[test]
fn each_request_is_cut_at_its_end() {
    let parts = [GET, POST_CL, POST_CHUNKED, GET, EMPTY_CHUNKED, ZERO_CL, POST_CHUNKED, "\r\n", GET];
    let buf = parts.concat();
    let (requests, rest) = pipeline(buf.as_bytes());
    assert_eq!(rest, Ok(0));
    let paths: Vec<String> = requests.iter().map(|r| r.var("PATH_INFO").unwrap()).collect();
    assert_eq!(paths, ["/1", "/2", "/3", "/1", "/4", "/5", "/3", "/1"]);
    // The empty line before the last GET belongs to it (RFC 9112 §2.2).
    let ends: Vec<usize> = requests.iter().map(|r| r.end).collect();
    assert_eq!(
        ends,
        [
            GET.len(),
            POST_CL.len(),
            POST_CHUNKED.len(),
            GET.len(),
            EMPTY_CHUNKED.len(),
            ZERO_CL.len(),
            POST_CHUNKED.len(),
            GET.len() + 2
        ]
    );
    let bodies: Vec<&[u8]> = requests.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(bodies, [&b""[..], b"hello", b"abc", b"", b"", b"", b"abc", b""]);
}

#[test]
fn every_prefix_of_a_pipeline() {
    // Each request read from every prefix of the rest: Partial or itself, never more.
    let buf = [POST_CHUNKED, POST_CL, GET].concat();
    let mut pos = 0;
    for want in [POST_CHUNKED, POST_CL, GET] {
        let r = match read_split(&buf.as_bytes()[pos..], &Limits::default()) {
            Ok(Status::Complete(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r.end, want.len());
        pos += r.end;
    }
}

#[test]
fn a_body_that_looks_like_a_request_is_body() {
    // The smuggling shape: the body carries a request. It is data, and the next request
    // starts after it.
    let inner = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let post = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{inner}", inner.len());
    let buf = format!("{post}{GET}");
    let (requests, rest) = pipeline(buf.as_bytes());
    assert_eq!(rest, Ok(0));
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, inner.as_bytes());
    assert_eq!(requests[1].var("PATH_INFO").as_deref(), Some("/1"));
    // Same in a chunked body.
    let post = format!(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{inner}\r\n0\r\n\r\n",
        inner.len()
    );
    let (requests, rest) = pipeline(format!("{post}{GET}").as_bytes());
    assert_eq!((requests.len(), rest), (2, Ok(0)));
    assert_eq!(requests[0].head.body, BodyFraming::Chunked);
    assert_eq!(requests[0].body, inner.as_bytes());
}

#[test]
fn an_error_stops_the_pipeline() {
    // Request 2 is ambiguous: the reactor answers 400 and closes; request 3 is never read.
    let bad = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let buf = [GET, bad, GET].concat();
    let (requests, rest) = pipeline(buf.as_bytes());
    assert_eq!(requests.len(), 1);
    assert_eq!(rest, Err(Error::ContentLengthWithTransferEncoding));
    // A body error too.
    let bad = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloGET /y HTTP/1.1\r\n\r\n";
    let (requests, rest) = pipeline([GET, bad, GET].concat().as_bytes());
    assert_eq!((requests.len(), rest), (1, Err(Error::ChunkDataNotTerminated)));
}

#[test]
fn a_partial_request_at_the_end_waits() {
    let buf = [GET, POST_CL].concat();
    let cut = &buf.as_bytes()[..buf.len() - 2];
    let (requests, rest) = pipeline(cut);
    assert_eq!(requests.len(), 1);
    assert_eq!(rest, Ok(POST_CL.len() - 2));
}
