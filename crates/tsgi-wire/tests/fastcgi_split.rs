//! The FastCGI shotgun: a realistic nginx request and seeded random mutations of PARAMS
//! streams and record sequences, each fed whole, cut at every offset and byte by byte
//! (`feed_split`, `drive_split`). Every cut must answer what the whole answers, never a
//! different error and never a panic.

mod common;

use common::fastcgi::{drive_split, feed_split, request, Params};
use common::nginx_get;
use tsgi_wire::fastcgi::Limits;
use tsgi_wire::keys;

/// The pairs of `common::nginx_get`, as nginx's `fastcgi_params` would send them.
fn nginx_params() -> Params {
    let packet = nginx_get().bytes();
    let (_, vars) = common::parse_ok(&packet);
    common::pairs(&packet, &vars).into_iter().fold(Params::new(), |p, (k, v)| p.nv(k, v))
}

#[test]
fn nginx_request_split_at_every_offset() {
    let stream = nginx_params();
    let (info, canon) = feed_split(stream.bytes(), &Limits::default()).expect("ok");
    assert_eq!((info.content_length, canon.len()), (0, 20));
    assert_eq!(canon[1].0, keys::id::REQUEST_METHOD);
    // nginx sends all params in one record; other front-ends cut anywhere.
    for cuts in [vec![], vec![100], vec![1, 50, 51, 52, 300]] {
        let d = drive_split(&request(stream.bytes(), &cuts, b""), &Limits::default());
        assert_eq!(d.params, Some(Ok((info, canon.clone()))));
        assert!(d.stdin_ended && d.stdin.is_empty());
    }
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

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            return;
        }
        let i = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[i] = rng.next() as u8,
            1 => bytes[i] ^= 1 << rng.below(8),
            2 => bytes[i] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)],
            3 => bytes.insert(i, [0, 0x80, 0xff][rng.below(3)]),
            _ => bytes.truncate(i),
        }
    }
}

#[test]
fn random_params_mutations_split_at_every_offset() {
    let seeds = [
        nginx_params(),
        Params::get().nv("CONTENT_LENGTH", "12").nv4("REQUEST_URI", "/").nv("HTTP_X", vec![b'x'; 130]),
    ];
    let limits = [Limits::default(), Limits { max_params_bytes: 200, max_vars: 8, max_body: 5 }];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::BTreeMap::new();
    for round in 0..400 {
        let mut bytes = seeds[round % seeds.len()].bytes().to_vec();
        mutate(&mut rng, &mut bytes);
        let whole = feed_split(&bytes, &limits[(round / 2) % limits.len()]);
        *seen.entry(whole.map_or_else(|e| e.code(), |_| "ok")).or_insert(0) += 1;
    }
    assert!(seen.contains_key("ok"), "{seen:?}");
    assert!(seen.len() >= 6, "{seen:?}");
}

#[test]
fn random_record_mutations_split_at_every_offset() {
    let stream = Params::get().nv("CONTENT_LENGTH", "3").nv("HTTP_HOST", "h");
    let seed = request(stream.bytes(), &[5], b"abc");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut errors = 0;
    for _ in 0..400 {
        let mut bytes = seed.clone();
        mutate(&mut rng, &mut bytes);
        let d = drive_split(&bytes, &Limits::default());
        errors += usize::from(d.error.is_some() || matches!(d.params, Some(Err(_))));
    }
    assert!(errors > 0);
}
