//! Whether a uwsgi request is an upgrade (`RequestInfo::upgrade`): the HTTP codec's rule
//! (`CONNECT`, or HTTP/1.1 with a `Connection` token `upgrade` and an `Upgrade` header), read
//! from the vars nginx sends for the client's head. Each packet is read whole and at every
//! prefix (`parse_ok`); the rule is held to `http::parse_head` on the same heads, and to the
//! FastCGI params decoder, which shares the walk.

mod common;

use common::fastcgi::{feed_split, Params};
use common::{parse_ok, Packet};
use tsgi_wire::http::{self, HeadVars};
use tsgi_wire::{fastcgi, uwsgi, Status};

/// The vars nginx 1.22 sends over `uwsgi_pass` for a WebSocket handshake (`include
/// uwsgi_params`, then every request header as `HTTP_*`), in its order, as captured from
/// the `ws` client through it.
fn websocket_handshake() -> Packet {
    Packet::new()
        .var("QUERY_STRING", "")
        .var("REQUEST_METHOD", "GET")
        .var("CONTENT_TYPE", "")
        .var("CONTENT_LENGTH", "")
        .var("REQUEST_URI", "/ws/chat")
        .var("PATH_INFO", "/ws/chat")
        .var("DOCUMENT_ROOT", "/usr/share/nginx/html")
        .var("SERVER_PROTOCOL", "HTTP/1.1")
        .var("REQUEST_SCHEME", "http")
        .var("REMOTE_ADDR", "127.0.0.1")
        .var("REMOTE_PORT", "51234")
        .var("SERVER_PORT", "8080")
        .var("SERVER_NAME", "localhost")
        .var("HTTP_HOST", "127.0.0.1:8080")
        .var("HTTP_SEC_WEBSOCKET_VERSION", "13")
        .var("HTTP_SEC_WEBSOCKET_KEY", "dGhlIHNhbXBsZSBub25jZQ==")
        .var("HTTP_CONNECTION", "Upgrade")
        .var("HTTP_UPGRADE", "websocket")
        .var("HTTP_SEC_WEBSOCKET_EXTENSIONS", "permessage-deflate; client_max_window_bits")
}

/// `upgrade` of a complete packet, read whole and at every prefix.
fn upgrade(packet: &Packet) -> bool {
    let ((_, info, _), _) = parse_ok(&packet.bytes());
    info.upgrade
}

#[test]
fn nginx_websocket_handshake_is_an_upgrade() {
    let packet = websocket_handshake();
    let ((_, info, n), _) = parse_ok(&packet.bytes());
    assert_eq!(info, uwsgi::RequestInfo { content_length: 0, upgrade: true });
    assert_eq!(n, packet.bytes().len());
    // Bytes after the head (the tunnel's first, once switched) are not the codec's.
    let ((_, info, m), _) = parse_ok(&packet.clone().body(b"\x81\x85early").bytes());
    assert_eq!((info.upgrade, m), (true, n));
}

#[test]
fn a_plain_request_is_not() {
    assert!(!upgrade(&Packet::get()));
    assert!(!upgrade(&Packet::get().var("SERVER_PROTOCOL", "HTTP/1.1").var("HTTP_CONNECTION", "keep-alive")));
}

#[test]
fn connection_is_a_token_list_in_any_case() {
    for connection in
        ["upgrade", "Upgrade", "UPGRADE", "keep-alive, Upgrade", " upgrade ,close", "a,,upgrade", "\tupgrade\t"]
    {
        let packet = Packet::get()
            .var("SERVER_PROTOCOL", "HTTP/1.1")
            .var("HTTP_CONNECTION", connection)
            .var("HTTP_UPGRADE", "websocket");
        assert!(upgrade(&packet), "{connection:?}");
    }
    for connection in ["", "keep-alive", "upgrades", "up grade", "upgrade-x", "\"upgrade\"", "close;upgrade"] {
        let packet = Packet::get()
            .var("SERVER_PROTOCOL", "HTTP/1.1")
            .var("HTTP_CONNECTION", connection)
            .var("HTTP_UPGRADE", "websocket");
        assert!(!upgrade(&packet), "{connection:?}");
    }
}

#[test]
fn repeated_connection_vars_are_one_list() {
    let packet = Packet::get()
        .var("SERVER_PROTOCOL", "HTTP/1.1")
        .var("HTTP_CONNECTION", "keep-alive")
        .var("HTTP_CONNECTION", "Upgrade")
        .var("HTTP_UPGRADE", "websocket");
    assert!(upgrade(&packet));
}

#[test]
fn connection_and_upgrade_are_both_needed() {
    let base = || Packet::get().var("SERVER_PROTOCOL", "HTTP/1.1");
    assert!(!upgrade(&base().var("HTTP_UPGRADE", "websocket")));
    assert!(!upgrade(&base().var("HTTP_CONNECTION", "Upgrade")));
    // An Upgrade header counts by being there, as in an HTTP head.
    assert!(upgrade(&base().var("HTTP_CONNECTION", "Upgrade").var("HTTP_UPGRADE", "")));
    // Near misses of the names are other vars.
    assert!(!upgrade(&base().var("HTTP_CONNECTION", "Upgrade").var("HTTP_UPGRADE_", "websocket")));
    assert!(!upgrade(&base().var("http_connection", "Upgrade").var("HTTP_UPGRADE", "websocket")));
}

#[test]
fn only_http_1_1_upgrades() {
    for (protocol, want) in [
        ("HTTP/1.1", true),
        ("HTTP/1.0", false),
        ("HTTP/2.0", false),
        ("http/1.1", false),
        ("HTTP/1.1 ", false),
        ("", false),
    ] {
        let packet = Packet::get()
            .var("SERVER_PROTOCOL", protocol)
            .var("HTTP_CONNECTION", "upgrade")
            .var("HTTP_UPGRADE", "websocket");
        assert_eq!(upgrade(&packet), want, "{protocol:?}");
    }
    let packet = Packet::get().var("HTTP_CONNECTION", "upgrade").var("HTTP_UPGRADE", "websocket");
    assert!(!upgrade(&packet), "no SERVER_PROTOCOL");
    // Given twice, the last one counts: it is the one the app sees.
    let twice = |first: &str, last: &str| {
        Packet::get()
            .var("SERVER_PROTOCOL", first)
            .var("HTTP_CONNECTION", "upgrade")
            .var("HTTP_UPGRADE", "websocket")
            .var("SERVER_PROTOCOL", last)
    };
    assert!(upgrade(&twice("HTTP/1.0", "HTTP/1.1")));
    assert!(!upgrade(&twice("HTTP/1.1", "HTTP/1.0")));
}

#[test]
fn connect_is_always_an_upgrade() {
    assert!(upgrade(&Packet::new().var("REQUEST_METHOD", "CONNECT")));
    assert!(upgrade(&Packet::new().var("REQUEST_METHOD", "CONNECT").var("SERVER_PROTOCOL", "HTTP/1.0")));
    assert!(!upgrade(&Packet::new().var("REQUEST_METHOD", "connect")));
}

#[test]
fn a_body_does_not_change_the_answer() {
    // The codec says what the vars ask for; the reactor does not tunnel a request with a body.
    let packet = Packet::new()
        .var("REQUEST_METHOD", "GET")
        .var("CONTENT_LENGTH", "5")
        .var("SERVER_PROTOCOL", "HTTP/1.1")
        .var("HTTP_CONNECTION", "Upgrade")
        .var("HTTP_UPGRADE", "websocket")
        .body("hello");
    let ((_, info, _), _) = parse_ok(&packet.bytes());
    assert_eq!(info, uwsgi::RequestInfo { content_length: 5, upgrade: true });
}

#[test]
fn a_refused_request_is_refused_whatever_it_asks() {
    let packet = websocket_handshake().var("CONTENT_LENGTH", "x");
    let mut vars = Vec::new();
    assert_eq!(
        uwsgi::parse_request(&packet.bytes(), &uwsgi::Limits::default(), &mut vars),
        Err(uwsgi::Error::ConflictingDuplicate { key: tsgi_wire::keys::id::CONTENT_LENGTH })
    );
}

/// A head's method, version and header fields.
type Case = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// The heads of the HTTP rule's cases, and the vars nginx would make of each.
const CASES: &[Case] = &[
    ("GET", "HTTP/1.1", &[("Connection", "Upgrade"), ("Upgrade", "websocket")]),
    ("GET", "HTTP/1.1", &[("Connection", "keep-alive, upgrade"), ("Upgrade", "h2c")]),
    ("GET", "HTTP/1.1", &[("Connection", "close"), ("Connection", "UPGRADE"), ("Upgrade", "x")]),
    ("GET", "HTTP/1.1", &[("Connection", "Upgrade"), ("Upgrade", "")]),
    ("GET", "HTTP/1.1", &[("Connection", "Upgrade")]),
    ("GET", "HTTP/1.1", &[("Upgrade", "websocket")]),
    ("GET", "HTTP/1.1", &[("Connection", "upgrades"), ("Upgrade", "websocket")]),
    ("GET", "HTTP/1.0", &[("Connection", "Upgrade"), ("Upgrade", "websocket")]),
    ("POST", "HTTP/1.1", &[("Connection", "Upgrade"), ("Upgrade", "websocket")]),
    ("GET", "HTTP/1.1", &[]),
];

#[test]
fn the_same_answer_as_the_http_codec_for_the_same_head() {
    let connect: [Case; 2] = [("CONNECT", "HTTP/1.1", &[]), ("CONNECT", "HTTP/1.0", &[])];
    for &(method, version, headers) in CASES.iter().chain(&connect) {
        let target = if method == "CONNECT" { "example.com:443" } else { "/ws" };
        let mut head = format!("{method} {target} {version}\r\nHost: example.com\r\n");
        let mut packet = Packet::new().var("REQUEST_METHOD", method).var("SERVER_PROTOCOL", version);
        for &(name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
            packet = packet.var(format!("HTTP_{}", name.to_ascii_uppercase()), value);
        }
        head.push_str("\r\n");
        let mut out = HeadVars::new();
        let Ok(Status::Complete(parsed)) = http::parse_head(head.as_bytes(), &http::Limits::default(), &mut out) else {
            panic!("{head:?} is a valid head");
        };
        assert_eq!(upgrade(&packet), parsed.upgrade, "{head:?}");
    }
}

#[test]
fn fastcgi_params_say_the_same() {
    // One walk decides it for both protocols; FastCGI has no tunnel, its reactor ignores it.
    for &(method, version, headers) in CASES {
        let mut params = Params::new().nv("REQUEST_METHOD", method).nv("SERVER_PROTOCOL", version);
        let mut packet = Packet::new().var("REQUEST_METHOD", method).var("SERVER_PROTOCOL", version);
        for &(name, value) in headers {
            let var = format!("HTTP_{}", name.to_ascii_uppercase());
            params = params.nv(&var, value);
            packet = packet.var(&var, value);
        }
        let (info, _) = feed_split(params.bytes(), &fastcgi::Limits::default()).expect("valid params");
        assert_eq!(info.upgrade, upgrade(&packet), "{method} {version} {headers:?}");
    }
}
