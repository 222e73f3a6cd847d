//! The shotgun test: every fixture, valid or not, fed as `buf[..i]` for every `i`. Each
//! prefix must answer `Partial` or exactly what the whole answers (same error, same vars),
//! never a different error and never a panic; and the whole must answer what the fixture
//! expects. `common::parse_split` does the splitting; this file holds the fixture table, a
//! realistic nginx packet, and seeded random mutations of valid packets.

mod common;

use common::{nginx_get, pairs, parse_ok, parse_split, Packet};
use tsgi_wire::keys::{self, id};
use tsgi_wire::uwsgi::{Error, Limits};

/// A named input, the limits to parse it with, and what it must give when whole: the
/// head length, or an error.
struct Fixture {
    name: &'static str,
    bytes: Vec<u8>,
    limits: Limits,
    expect: Result<usize, Error>,
}

impl Fixture {
    fn ok(name: &'static str, p: Packet) -> Self {
        let n = 4 + p.block().len();
        Fixture { name, bytes: p.bytes(), limits: Limits::default(), expect: Ok(n) }
    }

    fn err(name: &'static str, p: Packet, e: Error) -> Self {
        Fixture::raw(name, p.bytes(), e)
    }

    fn raw(name: &'static str, bytes: Vec<u8>, e: Error) -> Self {
        Fixture { name, bytes, limits: Limits::default(), expect: Err(e) }
    }

    fn limits(self, limits: Limits) -> Self {
        Fixture { limits, ..self }
    }
}

fn fixtures() -> Vec<Fixture> {
    let d = Limits::default();
    let (ok, err) = (Fixture::ok, Fixture::err);
    let mut v = vec![
        ok("get", Packet::get()),
        ok("get with body", Packet::get().var("CONTENT_LENGTH", "4").body("abcd")),
        ok("get with trailing packet", Packet::get().body(Packet::get().bytes())),
        ok("nginx", nginx_get()),
        ok("modifier 30", Packet::get().modifier1(30).modifier2(9)),
        ok("empty values", Packet::get().var("A", "").var("B", "")),
        ok("non-utf8", Packet::get().var(b"\xff\xfe", b"\x80")),
        ok("padded 256", Packet::get().pad_to(256)),
        err("datasize 0", Packet::new(), Error::EmptyVars),
        err("over buffer-size", Packet::get().pad_to(300), Error::VarsTooLarge { size: 300, limit: 299 })
            .limits(Limits { max_vars_block: 299, ..d }),
        err("key overrun", Packet::get().len_field(9).raw("ABC"), Error::KeyOverrun),
        err("half key length", Packet::get().raw([3]), Error::KeyOverrun),
        err("value overrun", Packet::get().len_field(1).raw("K").len_field(9), Error::ValueOverrun),
        err("half value length", Packet::get().len_field(1).raw("K").raw([0]), Error::ValueOverrun),
        err("empty key", Packet::get().var("", "x"), Error::EmptyKey),
        err("too many vars", Packet::get().var("A", "").var("B", ""), Error::TooManyVars { limit: 2 })
            .limits(Limits { max_vars: 2, ..d }),
        err(
            "conflicting method",
            Packet::get().var("REQUEST_METHOD", "POST"),
            Error::ConflictingDuplicate { key: id::REQUEST_METHOD },
        ),
        err("bad content length", Packet::get().var("CONTENT_LENGTH", "1e3").body("x"), Error::InvalidContentLength),
        err(
            "content length overflow",
            Packet::get().var("CONTENT_LENGTH", "9007199254740992"),
            Error::ContentLengthOverflow,
        ),
        err(
            "over limit-post",
            Packet::get().var("CONTENT_LENGTH", "11"),
            Error::BodyTooLarge { length: 11, limit: 10 },
        )
        .limits(Limits { max_body: 10, ..d }),
        err("modifier 5", Packet::get().modifier1(5), Error::UnsupportedModifier { modifier1: 5 }),
        err("modifier 'G'", Packet::get().modifier1(b'G'), Error::UnsupportedModifier { modifier1: b'G' }),
        err("missing method", Packet::new().var("REQUEST_URI", "/"), Error::MissingMethod),
        err("invalid method", Packet::new().var("REQUEST_METHOD", "GET /"), Error::InvalidMethod),
    ];
    // The HTTP lines are not built as packets: they are what an HTTP client sends.
    for line in ["GET / HTTP/1.1\r\n\r\n", "POST /x HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n", "OPTIONS * HTTP/1.1\r\n"] {
        v.push(Fixture::raw("http line", line.as_bytes().to_vec(), Error::LooksLikeHttp));
    }
    v
}

#[test]
fn every_fixture_split_at_every_offset() {
    for f in fixtures() {
        let (whole, _) = parse_split(&f.bytes, &f.limits);
        assert_eq!(whole.map(|(_, _, n)| n), f.expect, "fixture {}", f.name);
    }
}

#[test]
fn nginx_packet_parses_with_the_right_key_ids() {
    let packet = nginx_get().bytes();
    let ((header, info, n), vars) = parse_ok(&packet);
    assert_eq!((header.modifier1, header.modifier2), (0, 0));
    assert_eq!(n, packet.len());
    assert_eq!(info.content_length, 0);
    let names = [
        "QUERY_STRING",
        "REQUEST_METHOD",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "REQUEST_URI",
        "PATH_INFO",
        "DOCUMENT_ROOT",
        "SERVER_PROTOCOL",
        "REQUEST_SCHEME",
        "HTTPS",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "SERVER_PORT",
        "SERVER_NAME",
        "HTTP_HOST",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
        "HTTP_X_CUSTOM",
        "HTTP_COOKIE",
        "HTTP_COOKIE",
    ];
    assert_eq!(vars.len(), names.len());
    for (var, name) in vars.iter().zip(names) {
        let want = if name == "HTTP_X_CUSTOM" { keys::UNKNOWN } else { keys::lookup(name.as_bytes()) };
        assert_eq!(var.key_id, want, "{name}");
        assert_eq!(keys::name(var.key_id), (want != keys::UNKNOWN).then_some(name));
    }
    // All 14 uwsgi_params and the standard headers are known keys.
    assert_eq!(vars.iter().filter(|v| v.key_id != keys::UNKNOWN).count(), names.len() - 1);
    assert_eq!(vars[1].key_id, id::REQUEST_METHOD);
    assert_eq!(vars[3].key_id, id::CONTENT_LENGTH);
    assert_eq!(vars[4].key_id, id::REQUEST_URI);
    assert_eq!(vars[5].key_id, id::PATH_INFO);
    let got = pairs(&packet, &vars);
    assert_eq!(got[4], (b"REQUEST_URI".to_vec(), b"/u/path?q=1".to_vec()));
    assert_eq!(got[19], (b"HTTP_COOKIE".to_vec(), b"b=2".to_vec()));
}

/// xorshift64*: a seeded, dependency-free source of test mutations.
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
fn random_mutations_split_at_every_offset() {
    let seeds = [
        nginx_get().bytes(),
        Packet::get().var("CONTENT_LENGTH", "12").var("REQUEST_URI", "/").body("hello world!").bytes(),
    ];
    let limits = [Limits::default(), Limits { max_vars_block: 200, max_vars: 8, max_body: 5 }];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::BTreeMap::new();
    for round in 0..3000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[i] = rng.next() as u8,
                1 => bytes[i] ^= 1 << rng.below(8),
                2 => bytes[i] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)],
                _ => {
                    bytes.truncate(i.max(4));
                }
            }
        }
        // A mutated packet may announce more bytes than it has; those fixtures are
        // Partial whole, which parse_split refuses, so pad them with zeros until complete.
        let announced = 4 + usize::from(u16::from_le_bytes([bytes[1], bytes[2]]));
        if bytes.len() < announced {
            bytes.resize(announced, 0);
        }
        let (whole, _) = parse_split(&bytes, &limits[round % limits.len()]);
        *seen.entry(whole.map_or_else(|e| e.code(), |_| "ok")).or_insert(0) += 1;
    }
    // The mutations reach both accepted requests and most kinds of refusal.
    assert!(seen.contains_key("ok"), "{seen:?}");
    assert!(seen.len() >= 8, "{seen:?}");
}
