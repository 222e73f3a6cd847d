//! Every malformed-input and smuggling case of `reliability.md` §2.3 and §1.5, one row each,
//! named after its source (llhttp test section, gunicorn corpus file, CVE): the exact error,
//! its status, and (through `read_split`) the same answer or `Partial` for every prefix.

mod http_support;

use http_support::{err_with, ok, read_split};
use tsgi_wire::http::{Error, Limits};
use tsgi_wire::Status;

/// A request head: `GET / HTTP/1.1`, `Host: a`, then `fields` (each line with its CRLF)
/// and the empty line.
fn get(fields: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n")
}

/// A POST with `fields`, the empty line, then `body`.
fn post(fields: &str, body: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n{body}")
}

/// A chunked POST whose body is `body`.
fn chunked(body: &str) -> String {
    post("Transfer-Encoding: chunked\r\n", body)
}

fn line(request_line: &str) -> String {
    format!("{request_line}\r\nHost: a\r\n\r\n")
}

fn rows() -> Vec<(&'static str, String, Error)> {
    use Error::*;
    let s = |x: &str| x.to_string();
    vec![
        // Line ends (CVE-2022-32214, CVE-2023-30589, CVE-2025-23167, CVE-2022-35256).
        ("llhttp 'Only LFs present' (CVE-2022-32214)", s("GET / HTTP/1.1\nHost: a\n\n"), BareLf),
        ("CVE-2022-32214: LF between header lines", s("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"), BareLf),
        ("waitress CVE-2019-16785: LF-only empty line", s("GET / HTTP/1.1\r\nHost: a\r\n\n"), BareLf),
        ("gunicorn invalid_field_value_01: LF inside a value", get("X: a\nb\r\n"), BareLf),
        ("LF before the request line", s("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), BareLf),
        ("CVE-2023-30589: CR-only line ends", s("GET / HTTP/1.1\rHost: a\r\r"), BareCr),
        ("CVE-2025-23167: head ended by \\r\\n\\rX", s("GET / HTTP/1.1\r\nHost: a\r\n\rX"), BareCr),
        ("CVE-2022-35256: x:\\rTransfer-Encoding", post("x:\rTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), BareCr),
        ("llhttp 'Empty headers separated by CR'", get("X:\r\rY: 1\r\n"), BareCr),
        ("CVE-2020-8201: CR inside a header name", post("Content\rLength: 5\r\n", "hello"), BareCr),
        (
            "CR inside the target (read as an HTTP/0.9 line end)",
            s("GET /\rx HTTP/1.1\r\nHost: a\r\n\r\n"),
            InvalidVersion,
        ),
        ("CR before the request line", s("\r\rGET / HTTP/1.1\r\n\r\n"), BareCr),
        // White space at line starts.
        (
            "CVE-2024-27982: space before the first header name",
            s("POST / HTTP/1.1\r\n Content-Length: 5\r\nHost: a\r\n\r\nhello"),
            WhitespaceBeforeHeaders,
        ),
        (
            "RFC 9112 §2.2: tab before the first header",
            s("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n"),
            WhitespaceBeforeHeaders,
        ),
        (
            "llhttp 'Invalid OBS fold after chunked value' (CVE-2022-32215)",
            post("Transfer-Encoding: chunked\r\n , identity\r\n", "0\r\n\r\n"),
            ObsFold,
        ),
        ("RFC 9112 §5.2: obs-fold with a tab", get("X: a\r\n\tb\r\n"), ObsFold),
        ("obs-fold of Content-Length", post("Content-Length:\r\n 5\r\n", "hello"), ObsFold),
        // Header names and values.
        ("CVE-2021-22959: space before the colon", post("Content-Length : 5\r\n", "hello"), InvalidHeaderName),
        ("tab before the colon", post("Content-Length\t: 5\r\n", "hello"), InvalidHeaderName),
        ("gunicorn nonascii_01: non-ASCII header name", get("X-\u{e9}: 1\r\n"), InvalidHeaderName),
        ("gunicorn 22: empty header name", get(": x\r\n"), InvalidHeaderName),
        ("header line without a colon", get("X\r\n"), InvalidHeaderName),
        ("header name with a slash", get("X/Y: 1\r\n"), InvalidHeaderName),
        ("gunicorn rfc9110_field_value_ctl: NUL in a value", get("X: a\u{0}b\r\n"), InvalidHeaderValue),
        ("gunicorn rfc9110_field_value_ctl: BEL in a value", get("X: a\u{7}b\r\n"), InvalidHeaderValue),
        ("waitress CVE-2019-16789: DEL in a value", get("X: a\u{7f}b\r\n"), InvalidHeaderValue),
        ("ESC in a value", get("X: \u{1b}[31m\r\n"), InvalidHeaderValue),
        // Methods.
        ("llhttp 'Invalid method': lower case", line("get / HTTP/1.1"), InvalidMethod),
        ("gunicorn invalid/003: mixed case", line("Get / HTTP/1.1"), InvalidMethod),
        ("gunicorn prefix_01: NUL inside the method", line("GE\u{0}T / HTTP/1.1"), InvalidMethod),
        ("gunicorn prefix_02: colon inside the method", line("GET: / HTTP/1.1"), InvalidMethod),
        ("space before the method", line(" GET / HTTP/1.1"), InvalidMethod),
        ("TLS ClientHello on the HTTP port", s("\u{16}\u{3}\u{1}\u{0}\u{a5}\u{1}\u{0}\u{0}"), InvalidMethod),
        ("tab as the method delimiter", line("GET\t/ HTTP/1.1"), InvalidMethod),
        // Request targets (gunicorn rfc9112_target_*).
        ("gunicorn rfc9112_target: * only with OPTIONS", line("GET * HTTP/1.1"), InvalidTarget),
        ("gunicorn rfc9112_target: authority form only with CONNECT", line("GET a.example:80 HTTP/1.1"), InvalidTarget),
        ("gunicorn rfc9112_target: CONNECT with origin form", line("CONNECT / HTTP/1.1"), InvalidTarget),
        ("CONNECT without a port", line("CONNECT a.example HTTP/1.1"), InvalidTarget),
        ("two spaces after the method", line("GET  / HTTP/1.1"), InvalidTarget),
        ("two spaces before the version", line("GET /  HTTP/1.1"), InvalidVersion),
        ("fragment in the target", line("GET /a#b HTTP/1.1"), InvalidTarget),
        ("non-ASCII in the target (llhttp 'Invalid char in url path')", line("GET /\u{ff} HTTP/1.1"), InvalidTarget),
        ("control byte in the target", line("GET /\u{1} HTTP/1.1"), InvalidTarget),
        ("relative target", line("GET a/b HTTP/1.1"), InvalidTarget),
        ("absolute form with userinfo (RFC 9110 §4.2.4)", line("GET http://u@a.example/ HTTP/1.1"), InvalidTarget),
        ("absolute form with another scheme", line("GET ftp://a.example/ HTTP/1.1"), InvalidTarget),
        ("absolute form without a host", line("GET http:///x HTTP/1.1"), InvalidTarget),
        ("absolute form with a bad host", line("GET http://a\"b/ HTTP/1.1"), InvalidHost),
        ("percent sign without hex digits", line("GET /100% HTTP/1.1"), InvalidPercentEncoding),
        ("percent sign with one hex digit", line("GET /a%2 HTTP/1.1"), InvalidPercentEncoding),
        ("percent sign with non-hex digits", line("GET /%zz HTTP/1.1"), InvalidPercentEncoding),
        ("encoded NUL in the path", line("GET /a%00b HTTP/1.1"), InvalidPercentEncoding),
        // Versions (gunicorn version_*, llhttp 'Invalid HTTP version').
        ("HTTP/2.0 request line", line("GET / HTTP/2.0"), InvalidVersion),
        ("HTTP/2 connection preface", s("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), InvalidVersion),
        ("gunicorn version_01: HTTP/1.2", line("GET / HTTP/1.2"), InvalidVersion),
        ("gunicorn version_02: multi-digit minor", line("GET / HTTP/1.10"), InvalidVersion),
        ("multi-digit major", line("GET / HTTP/11.1"), InvalidVersion),
        ("lower-case protocol name", line("GET / http/1.1"), InvalidVersion),
        ("space after the version", line("GET / HTTP/1.1 "), InvalidVersion),
        ("HTTP/0.9 request line (no version)", s("GET /\r\n\r\n"), InvalidVersion),
        (
            "gunicorn pp_01: PROXY protocol line when it is off",
            s("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n"),
            InvalidVersion,
        ),
        // Empty lines before the request line (RFC 9112 §2.2).
        (
            "RFC 9112 §2.2: five empty lines before the request line",
            format!("{}{}", "\r\n".repeat(5), line("GET / HTTP/1.1")),
            TooManyEmptyLines,
        ),
        // Content-Length.
        ("CVE-2018-7159: space inside Content-Length", post("Content-Length: 1 2\r\n", "hello"), InvalidContentLength),
        (
            "gunicorn rfc9112_smuggle_cl_list_form_01: 5, 5",
            post("Content-Length: 5, 5\r\n", "hello"),
            InvalidContentLength,
        ),
        ("waitress GHSA-4f7p-27jc-3c36: +5", post("Content-Length: +5\r\n", "hello"), InvalidContentLength),
        ("negative Content-Length", post("Content-Length: -1\r\n", ""), InvalidContentLength),
        ("hex Content-Length", post("Content-Length: 0x5\r\n", "hello"), InvalidContentLength),
        ("gunicorn prefix_0x: 3 1", post("Content-Length: 3 1\r\n", "abc"), InvalidContentLength),
        ("empty Content-Length", post("Content-Length:\r\n", "hello"), InvalidContentLength),
        (
            "llhttp 'Duplicate Content-Length', same value",
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            DuplicateContentLength,
        ),
        (
            "duplicate Content-Length, different values",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            DuplicateContentLength,
        ),
        (
            "llhttp 'Error on Content-Length overflow': 2^53",
            post("Content-Length: 9007199254740992\r\n", ""),
            ContentLengthOverflow,
        ),
        (
            "llhttp 'Error on Content-Length overflow': past u64",
            post("Content-Length: 18446744073709551616\r\n", ""),
            ContentLengthOverflow,
        ),
        // Transfer-Encoding.
        (
            "llhttp 'POST with Transfer-Encoding and Content-Length'",
            post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"),
            ContentLengthWithTransferEncoding,
        ),
        (
            "gunicorn rfc9112_smuggle_cl_te_chunked_01: CL first",
            post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
            ContentLengthWithTransferEncoding,
        ),
        (
            "CVE-2019-15605: chunked not last",
            post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
            UnsupportedTransferEncoding,
        ),
        (
            "gunicorn chunked_02: chunked, chunked",
            post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            UnsupportedTransferEncoding,
        ),
        (
            "gunicorn chunked_03: gzip, chunked (unknown coding)",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            UnsupportedTransferEncoding,
        ),
        (
            "gunicorn chunked_05: chunkedchunked",
            post("Transfer-Encoding: chunkedchunked\r\n", "0\r\n\r\n"),
            UnsupportedTransferEncoding,
        ),
        ("identity", post("Transfer-Encoding: identity\r\n", ""), UnsupportedTransferEncoding),
        ("empty Transfer-Encoding", post("Transfer-Encoding:\r\n", ""), UnsupportedTransferEncoding),
        (
            "chunked with a parameter",
            post("Transfer-Encoding: chunked;q=1\r\n", "0\r\n\r\n"),
            UnsupportedTransferEncoding,
        ),
        ("chunked with a vertical tab", post("Transfer-Encoding: \u{b}chunked\r\n", "0\r\n\r\n"), InvalidHeaderValue),
        (
            "CVE-2020-8287, gunicorn chunked_04: Transfer-Encoding twice",
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
            DuplicateTransferEncoding,
        ),
        (
            "gunicorn 22: chunked on HTTP/1.0",
            s("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            TransferEncodingOnHttp10,
        ),
        (
            "gunicorn chunked_07, puma#4021: Transfer_Encoding",
            post("Transfer_Encoding: chunked\r\n", "0\r\n\r\n"),
            UnderscoreFramingHeader,
        ),
        (
            "gunicorn 040, CVE-2026-68006: Content_Length",
            post("Content_Length: 5\r\n", "hello"),
            UnderscoreFramingHeader,
        ),
        ("content_length in lower case", post("content_length: 5\r\n", "hello"), UnderscoreFramingHeader),
        // Host (RFC 9112 §3.2).
        ("RFC 9112 §3.2: HTTP/1.1 without Host", s("GET / HTTP/1.1\r\n\r\n"), MissingHost),
        ("RFC 9112 §3.2: Host twice", get("Host: b\r\n"), DuplicateHost),
        ("RFC 9112 §3.2: Host with a space", s("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), InvalidHost),
        ("Host with a slash", s("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), InvalidHost),
        ("Host with userinfo", s("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), InvalidHost),
        (
            "CONNECT with a body",
            s("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 3\r\n\r\nabc"),
            BodyOnConnect,
        ),
        // Expect (RFC 9110 §10.1.1).
        ("RFC 9110 §10.1.1: Expect: foo", get("Expect: foo\r\n"), ExpectationFailed),
        ("Expect: 100-continue with another", get("Expect: 100-continue, foo\r\n"), ExpectationFailed),
        // Chunked bodies.
        ("gunicorn chunked_01: 0x prefix", chunked("0x5\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("gunicorn rfc9112_chunked_size: plus sign", chunked("+5\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("gunicorn rfc9112_chunked_size: minus sign", chunked("-5\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("gunicorn rfc9112_chunked_size: underscore", chunked("5_0\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("gunicorn chunked_09: space after the size", chunked("5 \r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("gunicorn chunked_12: space before ;ext", chunked("5 ;a=b\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("space before the size", chunked(" 5\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("empty chunk size", chunked("\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("chunk size then garbage", chunked("5g\r\nhello\r\n0\r\n\r\n"), InvalidChunkSize),
        ("chunk size of 2^53", chunked("20000000000000\r\n"), ChunkSizeOverflow),
        ("chunk size past u64", chunked("10000000000000000\r\n"), ChunkSizeOverflow),
        (
            "CVE-2021-22960: control byte in an extension",
            chunked("5;a\u{1}=b\r\nhello\r\n0\r\n\r\n"),
            InvalidChunkExtension,
        ),
        ("llhttp 'chunk extensions': space after ;", chunked("5; a=b\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("space around =", chunked("5;a =b\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("unbalanced quote in an extension", chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("extension without a name", chunked("5;=b\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("extension with an empty value", chunked("5;a=\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("empty extension", chunked("5;\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("text after a quoted value", chunked("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n"), InvalidChunkExtension),
        ("bare LF after the chunk size", chunked("5\nhello\r\n0\r\n\r\n"), BareLf),
        ("bare CR after the chunk size", chunked("5\rhello\r\n0\r\n\r\n"), BareCr),
        ("bare LF after an extension", chunked("5;a=b\nhello\r\n0\r\n\r\n"), BareLf),
        (
            "llhttp 'Invalid chunk data terminator': data too long",
            chunked("5\r\nhelloXX\r\n0\r\n\r\n"),
            ChunkDataNotTerminated,
        ),
        ("chunk data followed by a bare LF", chunked("5\r\nhello\n0\r\n\r\n"), ChunkDataNotTerminated),
        ("chunk data followed by CR only", chunked("5\r\nhello\r0\r\n\r\n"), BareCr),
        ("trailer with a space before the colon", chunked("0\r\nX : y\r\n\r\n"), InvalidTrailer),
        ("trailer without a colon", chunked("0\r\nX\r\n\r\n"), InvalidTrailer),
        ("trailer with a NUL", chunked("0\r\nX: a\u{0}\r\n\r\n"), InvalidTrailer),
        ("trailer obs-fold", chunked("0\r\nX: a\r\n b\r\n\r\n"), ObsFold),
        ("trailer ended by a bare LF", chunked("0\r\nX: y\n\r\n"), BareLf),
        ("CVE-2025-23167 in trailers: \\r\\n\\rX", chunked("0\r\nX: y\r\n\rX"), BareCr),
        ("last chunk ended by a bare LF", chunked("0\n\r\n"), BareLf),
    ]
}

#[test]
fn every_case_is_refused_with_its_error_at_every_cut() {
    let mut names = std::collections::HashSet::new();
    for (name, bytes, want) in rows() {
        assert!(names.insert(name), "row {name} listed twice");
        let got = err_with(bytes.as_bytes(), &Limits::default());
        // `String` holds the bytes as UTF-8; rows with non-ASCII say so in their names.
        assert_eq!(got, want, "row {name}");
    }
}

#[test]
fn non_ascii_rows_use_the_raw_bytes() {
    // The rows above are UTF-8 strings; these are the same cases as raw latin-1 bytes.
    let cases: [(&[u8], Error); 3] = [
        (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", Error::InvalidTarget),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-\xe9: 1\r\n\r\n", Error::InvalidHeaderName),
        (b"GET / HTTP/1.1\r\nHost: \xe9\r\n\r\n", Error::InvalidHost),
    ];
    for (bytes, want) in cases {
        assert_eq!(err_with(bytes, &Limits::default()), want);
    }
}

#[test]
fn statuses_and_codes() {
    let statuses: Vec<u16> = rows().iter().map(|(_, _, e)| e.status()).collect();
    assert!(statuses.iter().all(|&s| s == 400 || s == 417), "{statuses:?}");
    assert_eq!(Error::ExpectationFailed.status(), 417);
    let mut codes = std::collections::HashSet::new();
    for (_, _, e) in rows() {
        assert!(e.code().starts_with("http_"), "{}", e.code());
        codes.insert(e.code());
        assert_eq!(e.limit_option(), None);
        // Display never echoes the request: static text only.
        assert!(e.to_string().starts_with("HTTP"), "{e}");
    }
    // Every variant that is not a limit (those are in http_limits.rs) has a row.
    assert_eq!(codes.len(), 29, "distinct codes: {codes:?}");
}

#[test]
fn a_head_refused_never_yields_a_second_request() {
    // The smuggled request after a refused head is never parsed: the error is final
    // whatever follows, including a complete, valid request.
    let smuggled = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    for (name, bytes, want) in rows() {
        let buf = format!("{bytes}{smuggled}");
        match read_split(buf.as_bytes(), &Limits::default()) {
            Err(e) => assert_eq!(e, want, "row {name} with a request after it"),
            // The only rows that pass here are chunked bodies whose error is in bytes the
            // following request completes differently; there are none.
            Ok(other) => panic!("row {name}: {other:?}"),
        }
    }
}

#[test]
fn lenient_cases_that_are_accepted() {
    // CVE-2019-15606: trailing white space is trimmed, not part of the value.
    let r = ok(post("Content-Length: 5 \t\r\n", "hello").as_bytes());
    assert_eq!((r.var("CONTENT_LENGTH").as_deref(), r.body.as_slice()), (Some("5"), &b"hello"[..]));
    let r = ok(b"GET / HTTP/1.1\r\nHost: a\t\r\n\r\n");
    assert_eq!(r.var("HTTP_HOST").as_deref(), Some("a"));
    // Up to four empty lines before the request line are skipped (RFC 9112 §2.2).
    let buf = format!("{}GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\r\n".repeat(4));
    let r = ok(buf.as_bytes());
    assert_eq!(r.end, buf.len());
    // Transfer-Encoding names are case-insensitive.
    let r = ok(post("Transfer-Encoding: Chunked\r\n", "0\r\n\r\n").as_bytes());
    assert_eq!(r.body, b"");
    // gunicorn rfc9110_trailer_forbidden_*: framing fields in trailers are read and dropped.
    let buf = chunked("3\r\nabc\r\n0\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n");
    let r = ok(buf.as_bytes());
    assert_eq!((r.body.as_slice(), r.end), (&b"abc"[..], buf.len()));
    assert_eq!(r.var("HTTP_HOST").as_deref(), Some("a"));
    // HTTP/1.0 ignores Expect (RFC 9110 §10.1.1).
    let r = ok(b"GET / HTTP/1.0\r\nExpect: foo\r\n\r\n");
    assert!(!r.head.expect_continue);
}

#[test]
fn missing_last_chunk_stays_partial() {
    // The peer closes before the last chunk: never complete, so the reactor's EOF is an
    // abort of a truncated body, not a request.
    let buf = chunked("5\r\nhello\r\n");
    assert_eq!(read_split(buf.as_bytes(), &Limits::default()), Ok(Status::Partial));
    let buf = chunked("5\r\nhello\r\n0\r\n");
    assert_eq!(read_split(buf.as_bytes(), &Limits::default()), Ok(Status::Partial));
}
