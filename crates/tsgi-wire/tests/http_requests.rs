//! Well-formed requests: the vars they map to, their body and framing, and the flags the
//! reactor acts on. Every one is also read at every prefix (`ok` goes through `read_split`).

mod http_support;

use http_support::ok;
use tsgi_wire::http::{self, BodyFraming, HeadVars, Limits};
use tsgi_wire::keys::{self, id};
use tsgi_wire::Status;

#[test]
fn get() {
    let r = ok(
        b"GET /hello?name=world&x=%41 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(
        r.lines(),
        [
            "REQUEST_METHOD=GET",
            "REQUEST_URI=/hello?name=world&x=%41",
            "PATH_INFO=/hello",
            "QUERY_STRING=name=world&x=%41",
            "SERVER_PROTOCOL=HTTP/1.1",
            "HTTP_HOST=example.com:8080",
            "HTTP_USER_AGENT=curl/8",
            "HTTP_ACCEPT=*/*",
        ]
    );
    let h = &r.head;
    assert_eq!((h.minor_version, h.is_head, h.body, h.keep_alive), (1, false, BodyFraming::None, true));
    assert_eq!((h.expect_continue, h.upgrade), (false, false));
    assert_eq!(r.end, h.len);
}

#[test]
fn key_ids_are_the_known_ones() {
    let mut out = HeadVars::new();
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: c=1\r\nX-Custom: y\r\nContent-Type: text/plain\r\n\r\n";
    let Ok(Status::Complete(_)) = http::parse_head(buf, &Limits::default(), &mut out) else { panic!() };
    let ids: Vec<u16> = out.vars.iter().map(|v| v.key_id).collect();
    let want = [
        id::REQUEST_METHOD,
        id::REQUEST_URI,
        id::PATH_INFO,
        keys::lookup(b"QUERY_STRING"),
        keys::lookup(b"SERVER_PROTOCOL"),
        keys::lookup(b"HTTP_HOST"),
        keys::lookup(b"HTTP_COOKIE"),
        keys::UNKNOWN,
        keys::lookup(b"CONTENT_TYPE"),
    ];
    assert_eq!(ids, want);
    assert!(want.iter().filter(|&&k| k != keys::UNKNOWN).count() == 8);
}

#[test]
fn post_with_content_length() {
    let buf = b"POST /submit HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2";
    let r = ok(buf);
    assert_eq!(r.head.body, BodyFraming::Length(7));
    assert_eq!(r.body, b"a=1&b=2");
    assert_eq!(r.end, buf.len());
    assert_eq!(r.var("CONTENT_TYPE").as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(r.var("CONTENT_LENGTH").as_deref(), Some("7"));
    assert_eq!(r.var("HTTP_CONTENT_LENGTH"), None);
    assert_eq!(r.var("HTTP_CONTENT_TYPE"), None);
    // Content-Length: 0 is a body of length 0, kept as such.
    let r = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.head.body, r.body.len()), (BodyFraming::Length(0), 0));
    // Leading zeros are digits.
    let r = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc");
    assert_eq!(r.body, b"abc");
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let buf = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value;flag;q=\"quoted \\\" text; with semicolon\"\r\nhello\r\n\
        1A\r\nabcdefghijklmnopqrstuvwxyz\r\n\
        0000;last\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n";
    let r = ok(buf);
    assert_eq!(r.head.body, BodyFraming::Chunked);
    assert_eq!(r.body, b"helloabcdefghijklmnopqrstuvwxyz");
    assert_eq!(r.end, buf.len());
    // The environ says the body has no declared length.
    assert_eq!(r.var("CONTENT_LENGTH"), None);
    assert_eq!(r.var("HTTP_TRANSFER_ENCODING").as_deref(), Some("chunked"));
    // Trailers never become vars.
    assert_eq!(r.var("HTTP_X_CHECKSUM"), None);
}

#[test]
fn http_1_0() {
    let r = ok(b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(r.var("SERVER_PROTOCOL").as_deref(), Some("HTTP/1.0"));
    assert_eq!((r.head.minor_version, r.head.keep_alive, r.head.host.clone()), (0, false, None));
    let r = ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n");
    assert!(r.head.keep_alive);
    let r = ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n");
    assert!(!r.head.keep_alive);
    // HTTP/1.0 ignores Upgrade (RFC 9110 §7.8) and Expect.
    let r = ok(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n");
    assert!(!r.head.upgrade && !r.head.expect_continue);
    // A POST with a length.
    let r = ok(b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(r.body, b"hi");
}

#[test]
fn absolute_form() {
    let r = ok(b"GET http://Example.COM:8080/a%2Fb/c?x=y HTTP/1.1\r\nHost: ignored\r\n\r\n");
    assert_eq!(r.var("REQUEST_URI").as_deref(), Some("http://Example.COM:8080/a%2Fb/c?x=y"));
    assert_eq!(r.var("PATH_INFO").as_deref(), Some("/a/b/c"));
    assert_eq!(r.var("QUERY_STRING").as_deref(), Some("x=y"));
    // RFC 9112 §3.2.2: the target's authority wins over Host, for SERVER_NAME (the head's
    // host) and HTTP_HOST alike.
    assert_eq!(r.var("HTTP_HOST").as_deref(), Some("Example.COM:8080"));
    let mut out = HeadVars::new();
    let buf = b"GET https://a.example HTTP/1.1\r\nHost: b.example\r\n\r\n";
    let Ok(Status::Complete(head)) = http::parse_head(buf, &Limits::default(), &mut out) else { panic!() };
    assert_eq!(&out.block[head.host.clone().unwrap()], b"a.example");
    assert_eq!(out.get(b"HTTP_HOST"), Some(&b"a.example"[..]));
    // The Host field is still checked; a CONNECT keeps its own Host.
    assert!(http::parse_head(b"GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", &Limits::default(), &mut out).is_err());
    assert_eq!(ok(b"CONNECT a:1 HTTP/1.1\r\nHost: b:1\r\n\r\n").var("HTTP_HOST").as_deref(), Some("b:1"));
    assert_eq!(out.get(b"PATH_INFO"), Some(&b"/"[..]));
    assert_eq!(out.get(b"QUERY_STRING"), Some(&b""[..]));
    let r = ok(b"GET HTTP://a?q HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((r.var("PATH_INFO").as_deref(), r.var("QUERY_STRING").as_deref()), (Some("/"), Some("q")));
}

#[test]
fn options_asterisk_and_connect() {
    let r = ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((r.var("REQUEST_URI").as_deref(), r.var("PATH_INFO").as_deref()), (Some("*"), Some("*")));
    let r = ok(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
    assert_eq!(r.var("PATH_INFO").as_deref(), Some(""));
    let h = &r.head;
    assert_eq!((h.upgrade, h.keep_alive, h.body), (true, false, BodyFraming::None));
    let r = ok(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.var("REQUEST_URI").as_deref(), Some("[::1]:443"));
}

#[test]
fn percent_decoding_in_path_info_only() {
    let r = ok(b"GET /caf%C3%A9/%2e%2E/a%20b%2fc%25?q=%20%zz HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.vars[2].1, b"/caf\xc3\xa9/../a b/c%");
    assert_eq!(r.var("QUERY_STRING").as_deref(), Some("q=%20%zz"));
    assert_eq!(r.var("REQUEST_URI").as_deref(), Some("/caf%C3%A9/%2e%2E/a%20b%2fc%25?q=%20%zz"));
    // Not normalised: dot segments and double slashes stay.
    let r = ok(b"GET //a/./b/../c HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.var("PATH_INFO").as_deref(), Some("//a/./b/../c"));
    // Only the first `?` splits.
    let r = ok(b"GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((r.var("PATH_INFO").as_deref(), r.var("QUERY_STRING").as_deref()), (Some("/a"), Some("b?c")));
    let r = ok(b"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.var("QUERY_STRING").as_deref(), Some(""));
}

#[test]
fn header_mapping() {
    let buf = b"GET / HTTP/1.1\r\nhost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX_Forwarded_For: 6.6.6.6\r\n\
        Proxy: http://evil\r\nPROXY: x\r\nx-lower-case: v\r\nCookie: a=1\r\nCookie: b=2\r\nEmpty:\r\n\
        Spaces:   padded value \t \r\nObs: caf\xe9\r\ncontent-type: text/html\r\n\r\n";
    let r = ok(buf);
    assert_eq!(
        r.vars[5..].iter().map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.clone())).collect::<Vec<_>>(),
        [
            ("HTTP_HOST".to_string(), b"a".to_vec()),
            ("HTTP_X_FORWARDED_FOR".to_string(), b"1.2.3.4".to_vec()),
            ("HTTP_X_LOWER_CASE".to_string(), b"v".to_vec()),
            ("HTTP_COOKIE".to_string(), b"a=1".to_vec()),
            ("HTTP_COOKIE".to_string(), b"b=2".to_vec()),
            ("HTTP_EMPTY".to_string(), b"".to_vec()),
            ("HTTP_SPACES".to_string(), b"padded value".to_vec()),
            ("HTTP_OBS".to_string(), b"caf\xe9".to_vec()),
            ("CONTENT_TYPE".to_string(), b"text/html".to_vec()),
        ]
    );
    // Nothing named HTTP_PROXY or with an underscore from the client.
    assert!(r.vars.iter().all(|(n, _)| n != b"HTTP_PROXY"));
}

#[test]
fn keep_alive_upgrade_and_expect() {
    let r = ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(!r.head.keep_alive);
    let r = ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n");
    assert!(!r.head.keep_alive);
    let r = ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n");
    assert!(r.head.keep_alive);
    let r = ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    assert!(!r.head.keep_alive);

    let ws = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let r = ok(ws);
    assert!(r.head.upgrade && r.head.keep_alive);
    assert_eq!(r.var("HTTP_SEC_WEBSOCKET_KEY").as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    // Upgrade without the Connection token, or the token without Upgrade: no upgrade.
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").head.upgrade);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n").head.upgrade);

    let r = ok(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc");
    assert!(r.head.expect_continue);
    assert_eq!(r.var("HTTP_EXPECT").as_deref(), Some("100-Continue"));

    let r = ok(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(r.head.is_head);
    assert!(!ok(b"HEADER / HTTP/1.1\r\nHost: a\r\n\r\n").head.is_head);
}

#[test]
fn methods_are_any_upper_case_token() {
    for m in ["GET", "DELETE", "PATCH", "PROPFIND", "M-SEARCH", "QUERY", "VERSION-CONTROL", "X1"] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(ok(buf.as_bytes()).var("REQUEST_METHOD").as_deref(), Some(m));
    }
}

#[test]
fn host_values() {
    for host in ["", "a", "a.example:8080", "[::1]:80", "xn--caf-dma.example", "a_b.example"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let mut out = HeadVars::new();
        let Ok(Status::Complete(head)) = http::parse_head(buf.as_bytes(), &Limits::default(), &mut out) else {
            panic!("{host}")
        };
        assert_eq!(&out.block[head.host.unwrap()], host.as_bytes());
    }
}

#[test]
fn vars_are_reused_across_requests() {
    let mut out = HeadVars::new();
    let limits = Limits::default();
    let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "x".repeat(1000));
    let Ok(Status::Complete(_)) = http::parse_head(big.as_bytes(), &limits, &mut out) else { panic!() };
    let (cap_block, cap_vars) = (out.block.capacity(), out.vars.capacity());
    let Ok(Status::Complete(_)) = http::parse_head(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n", &limits, &mut out) else {
        panic!()
    };
    assert_eq!((out.block.capacity(), out.vars.capacity()), (cap_block, cap_vars));
    assert_eq!(out.get(b"HTTP_HOST"), Some(&b"b"[..]));
    assert_eq!(out.vars.len(), 6);
}

#[test]
fn many_headers_use_the_heap_path() {
    // Over the 32 fields parsed on the stack.
    let mut buf = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..99 {
        buf.push_str(&format!("X-{i}: {i}\r\n"));
    }
    buf.push_str("\r\n");
    let r = ok(buf.as_bytes());
    assert_eq!(r.vars.len(), 5 + 100);
    assert_eq!(r.var("HTTP_X_98").as_deref(), Some("98"));
}
