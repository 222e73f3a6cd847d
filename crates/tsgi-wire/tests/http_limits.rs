//! Every limit at N (passes) and N + 1 (refused with its status and option), at small
//! limits with every prefix checked, and at the defaults on the whole input.

mod http_support;

use http_support::{err_with, ok_with, read_request};
use tsgi_wire::http::{self, Error, HeadVars, Limits};
use tsgi_wire::Status;

/// A request line of exactly `n` bytes (without CRLF): `GET /aaa… HTTP/1.1`.
fn request_line(n: usize) -> String {
    format!("GET /{} HTTP/1.1", "a".repeat(n - 14))
}

/// A head of exactly `n` bytes: request line, Host, one padding field, empty line.
fn head_of(n: usize) -> String {
    let head = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "p".repeat(n - 32));
    assert_eq!(head.len(), n);
    head
}

/// A head with `n` header fields (Host and `n - 1` others).
fn head_with_fields(n: usize) -> String {
    let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 1..n {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    head + "\r\n"
}

/// A chunked POST with `body` after the head.
fn chunked(body: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
}

fn check(e: Error, status: u16, option: &str) {
    assert_eq!(e.status(), status, "{e:?}");
    assert_eq!(e.limit_option(), Some(option), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("--{option}")), "{text}");
}

#[test]
fn request_line_at_n_and_n_plus_one() {
    for n in [14, 15, 64, 100] {
        let limits = Limits { max_request_line: n as u32, ..Limits::default() };
        ok_with(format!("{}\r\nHost: a\r\n\r\n", request_line(n)).as_bytes(), &limits);
        if n > 14 {
            ok_with(format!("{}\r\nHost: a\r\n\r\n", request_line(n - 1)).as_bytes(), &limits);
        }
        let e = err_with(format!("{}\r\nHost: a\r\n\r\n", request_line(n + 1)).as_bytes(), &limits);
        assert_eq!(e, Error::RequestLineTooLong { limit: n as u32 });
        check(e, 414, "http-max-request-line");
    }
}

#[test]
fn request_line_is_refused_before_its_end_arrives() {
    let limits = Limits { max_request_line: 64, ..Limits::default() };
    let line = request_line(200);
    let mut out = HeadVars::new();
    assert_eq!(http::parse_head(&line.as_bytes()[..64], &limits, &mut out), Ok(Status::Partial));
    assert_eq!(
        http::parse_head(&line.as_bytes()[..65], &limits, &mut out),
        Err(Error::RequestLineTooLong { limit: 64 })
    );
}

#[test]
fn head_bytes_at_n_and_n_plus_one() {
    for n in [40, 41, 255, 256, 1000] {
        let limits = Limits { max_head_bytes: n as u32, ..Limits::default() };
        ok_with(head_of(n).as_bytes(), &limits);
        let e = err_with(head_of(n + 1).as_bytes(), &limits);
        assert_eq!(e, Error::HeadTooLarge { limit: n as u32 });
        check(e, 431, "http-max-head");
        // Empty lines skipped before the request line are not part of the head.
        ok_with(format!("\r\n\r\n{}", head_of(n)).as_bytes(), &limits);
    }
    // A request line longer than the head limit is a head too large.
    let limits = Limits { max_head_bytes: 50, max_request_line: 1000, ..Limits::default() };
    assert_eq!(err_with(request_line(60).as_bytes(), &limits), Error::HeadTooLarge { limit: 50 });
    // A body after the head does not count.
    let limits = Limits { max_head_bytes: 60, ..Limits::default() };
    let buf = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{}", "b".repeat(100));
    assert_eq!(ok_with(buf.as_bytes(), &limits).body.len(), 100);
}

#[test]
fn header_count_at_n_and_n_plus_one() {
    for n in [1, 2, 32, 33, 100] {
        let limits = Limits { max_headers: n as u32, ..Limits::default() };
        ok_with(head_with_fields(n).as_bytes(), &limits);
        let e = err_with(head_with_fields(n + 1).as_bytes(), &limits);
        assert_eq!(e, Error::TooManyHeaders { limit: n as u32 });
        check(e, 431, "http-max-headers");
    }
    // Dropped fields count: they are in the head.
    let limits = Limits { max_headers: 2, ..Limits::default() };
    let buf = "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nProxy: p\r\n\r\n";
    assert_eq!(err_with(buf.as_bytes(), &limits), Error::TooManyHeaders { limit: 2 });
}

#[test]
fn content_length_body_at_n_and_n_plus_one() {
    for n in [0u64, 1, 10, 65536] {
        let limits = Limits { max_body: n.max(1), ..Limits::default() };
        let n = n.max(1);
        let at = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {n}\r\n\r\n{}", "b".repeat(n as usize));
        assert_eq!(read_request(at.as_bytes(), &limits).map(|s| s.is_complete()), Ok(true));
        // Refused with the head, before any body byte arrives.
        let over = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n", n + 1);
        let e = err_with(over.as_bytes(), &limits);
        assert_eq!(e, Error::BodyTooLarge { length: n + 1, limit: n });
        check(e, 413, "limit-post");
    }
    // 0 is no limit.
    let buf = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740991\r\n\r\n";
    assert_eq!(read_request(buf.as_bytes(), &Limits::default()), Ok(Status::Partial));
}

#[test]
fn chunked_body_at_n_and_n_plus_one() {
    let limits = Limits { max_body: 10, ..Limits::default() };
    // 10 bytes in three chunks.
    let r = ok_with(chunked("3\r\nabc\r\n3\r\ndef\r\n4\r\nghij\r\n0\r\n\r\n").as_bytes(), &limits);
    assert_eq!(r.body, b"abcdefghij");
    // 11: refused when the chunk size that passes the limit is read, before its data.
    let e = err_with(chunked("3\r\nabc\r\n3\r\ndef\r\n5\r\n").as_bytes(), &limits);
    assert_eq!(e, Error::BodyTooLarge { length: 11, limit: 10 });
    check(e, 413, "limit-post");
    let e = err_with(chunked("b;x=y\r\n").as_bytes(), &limits);
    assert_eq!(e, Error::BodyTooLarge { length: 11, limit: 10 });
}

#[test]
fn chunk_extension_at_n_and_n_plus_one() {
    // `;` and a name of n - 1 bytes: n extension bytes.
    let ext = |n: usize| format!(";{}", "e".repeat(n - 1));
    for n in [2, 3, 16, 4096] {
        let limits = Limits { max_chunk_extension: n as u32, ..Limits::default() };
        let at = chunked(&format!("5{}\r\nhello\r\n0{}\r\n\r\n", ext(n), ext(n)));
        assert_eq!(ok_with(at.as_bytes(), &limits).body, b"hello");
        let over = chunked(&format!("5{}\r\nhello\r\n0\r\n\r\n", ext(n + 1)));
        let e = err_with(over.as_bytes(), &limits);
        assert_eq!(e, Error::ChunkExtensionTooLong { limit: n as u32 });
        check(e, 413, "http-max-chunk-extension");
        // On the last chunk too.
        let over = chunked(&format!("0{}\r\n\r\n", ext(n + 1)));
        assert_eq!(err_with(over.as_bytes(), &limits), Error::ChunkExtensionTooLong { limit: n as u32 });
    }
    // A quoted value counts, quotes included.
    let limits = Limits { max_chunk_extension: 7, ..Limits::default() };
    ok_with(chunked("1;a=\"b\"\r\nx\r\n0\r\n\r\n").as_bytes(), &limits);
    ok_with(chunked("1;a=\"bc\"\r\nx\r\n0\r\n\r\n").as_bytes(), &limits);
    let e = err_with(chunked("1;a=\"b c\"\r\nx\r\n0\r\n\r\n").as_bytes(), &limits);
    assert_eq!(e, Error::ChunkExtensionTooLong { limit: 7 });
    // Per line: many lines each at the limit pass.
    let limits = Limits { max_chunk_extension: 8, ..Limits::default() };
    let body = format!("{}0;abcdefg\r\n\r\n", "1;abcdefg\r\nx\r\n".repeat(20));
    assert_eq!(ok_with(chunked(&body).as_bytes(), &limits).body.len(), 20);
}

#[test]
fn trailers_at_n_and_n_plus_one() {
    // A trailer section of n bytes: `X: <pad>\r\n` then the final `\r\n`. Its cap is
    // `max_head_bytes`, which the head (56 bytes) must pass too.
    let trailers = |n: usize| format!("X: {}\r\n\r\n", "t".repeat(n - 7));
    for n in [60, 61, 200] {
        let limits = Limits { max_head_bytes: n as u32, ..Limits::default() };
        let r = ok_with(chunked(&format!("1\r\nx\r\n0\r\n{}", trailers(n))).as_bytes(), &limits);
        assert_eq!(r.body, b"x");
        let e = err_with(chunked(&format!("1\r\nx\r\n0\r\n{}", trailers(n + 1))).as_bytes(), &limits);
        assert_eq!(e, Error::TrailersTooLarge { limit: n as u32 });
        check(e, 431, "http-max-head");
    }
}

#[test]
fn defaults_at_n_and_n_plus_one() {
    // The defaults, on whole inputs (the split runs above use small limits).
    let d = Limits::default();
    assert_eq!(
        (d.max_request_line, d.max_head_bytes, d.max_headers, d.max_body, d.max_chunk_extension),
        (8192, 16384, 100, 0, 4096)
    );
    let mut out = HeadVars::new();
    let parse = |buf: &str, out: &mut HeadVars| http::parse_head(buf.as_bytes(), &d, out).map(|s| s.is_complete());
    assert_eq!(parse(&format!("{}\r\nHost: a\r\n\r\n", request_line(8192)), &mut out), Ok(true));
    assert_eq!(
        parse(&format!("{}\r\nHost: a\r\n\r\n", request_line(8193)), &mut out),
        Err(Error::RequestLineTooLong { limit: 8192 })
    );
    assert_eq!(parse(&head_of(16384), &mut out), Ok(true));
    assert_eq!(parse(&head_of(16385), &mut out), Err(Error::HeadTooLarge { limit: 16384 }));
    assert_eq!(parse(&head_with_fields(100), &mut out), Ok(true));
    assert_eq!(parse(&head_with_fields(101), &mut out), Err(Error::TooManyHeaders { limit: 100 }));
}

#[test]
fn field_over_65535_bytes() {
    // Only reachable with the head limit raised past what a Var can describe.
    let limits = Limits { max_head_bytes: 200_000, ..Limits::default() };
    let mut out = HeadVars::new();
    let at = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(65535));
    assert!(http::parse_head(at.as_bytes(), &limits, &mut out).unwrap().is_complete());
    let over = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(65536));
    let e = http::parse_head(over.as_bytes(), &limits, &mut out).unwrap_err();
    assert_eq!(e, Error::FieldTooLong { length: 65536 });
    assert_eq!((e.status(), e.limit_option()), (431, None));
}
