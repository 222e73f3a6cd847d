//! `parse_request` throughput on three realistic heads: a bare nginx GET (the 14
//! `uwsgi_params`), a 40-var browser request with cookies and a JWT, and a ~10 KiB head
//! (the big-cookie case that overflows uWSGI's 4 KiB default). Plus `keys::lookup` alone.
//!
//! `cargo bench -p tsgi-wire -- --warm-up-time 1 --measurement-time 2` for a quick run.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tsgi_wire::keys;
use tsgi_wire::uwsgi::{self, Limits, HEADER_LEN};

#[path = "../tests/common/mod.rs"]
mod common;

use common::Packet;

/// The 14 `uwsgi_params` nginx sends, as for an https GET.
fn params(p: Packet) -> Packet {
    p.var("QUERY_STRING", "page=2&sort=desc")
        .var("REQUEST_METHOD", "GET")
        .var("CONTENT_TYPE", "")
        .var("CONTENT_LENGTH", "")
        .var("REQUEST_URI", "/api/v1/orders?page=2&sort=desc")
        .var("PATH_INFO", "/api/v1/orders")
        .var("DOCUMENT_ROOT", "/usr/share/nginx/html")
        .var("SERVER_PROTOCOL", "HTTP/1.1")
        .var("REQUEST_SCHEME", "https")
        .var("HTTPS", "on")
        .var("REMOTE_ADDR", "203.0.113.42")
        .var("REMOTE_PORT", "53422")
        .var("SERVER_PORT", "443")
        .var("SERVER_NAME", "shop.example.com")
}

fn nginx_14() -> Packet {
    params(Packet::new())
}

/// 14 params and 26 headers, among them an ~800-byte JWT and ~1 KiB of cookies.
fn browser_40() -> Packet {
    browser(16)
}

/// The 40-var request with its cookie grown to ~8 KiB: a ~10 KiB vars block.
fn big_cookie() -> Packet {
    browser(136)
}

/// The browser request with `cookies` cookies of about 60 bytes each.
fn browser(cookies: usize) -> Packet {
    let jwt = format!(
        "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjEyMyJ9.{}.{}",
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWV9".repeat(5),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c".repeat(6)
    );
    let cookie = (0..cookies).map(|i| format!("c{i:03}={}", "x".repeat(54))).collect::<Vec<_>>().join("; ");
    params(Packet::new())
        .var("HTTP_HOST", "shop.example.com")
        .var("HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .var("HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .var("HTTP_ACCEPT_LANGUAGE", "en-GB,en;q=0.7,de;q=0.3")
        .var("HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd")
        .var("HTTP_CONNECTION", "keep-alive")
        .var("HTTP_COOKIE", cookie)
        .var("HTTP_AUTHORIZATION", jwt)
        .var("HTTP_REFERER", "https://shop.example.com/basket")
        .var("HTTP_ORIGIN", "https://shop.example.com")
        .var("HTTP_CACHE_CONTROL", "no-cache")
        .var("HTTP_PRAGMA", "no-cache")
        .var("HTTP_IF_NONE_MATCH", "W/\"5e15153d-120f\"")
        .var("HTTP_IF_MODIFIED_SINCE", "Tue, 07 Jan 2020 00:00:00 GMT")
        .var("HTTP_X_FORWARDED_FOR", "198.51.100.7, 203.0.113.42")
        .var("HTTP_X_FORWARDED_PROTO", "https")
        .var("HTTP_X_REAL_IP", "198.51.100.7")
        .var("HTTP_X_REQUESTED_WITH", "XMLHttpRequest")
        .var("HTTP_UPGRADE_INSECURE_REQUESTS", "1")
        .var("HTTP_SEC_FETCH_DEST", "empty")
        .var("HTTP_SEC_FETCH_MODE", "cors")
        .var("HTTP_SEC_FETCH_SITE", "same-origin")
        .var("HTTP_SEC_CH_UA", "\"Chromium\";v=\"128\", \"Not;A=Brand\";v=\"24\"")
        .var("HTTP_SEC_CH_UA_MOBILE", "?0")
        .var("HTTP_SEC_CH_UA_PLATFORM", "\"Linux\"")
        .var("HTTP_DNT", "1")
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("uwsgi_parse_request");
    for (name, packet) in
        [("nginx_14_vars", nginx_14()), ("browser_40_vars", browser_40()), ("big_cookie_10k", big_cookie())]
    {
        let bytes = packet.bytes();
        let mut vars = Vec::new();
        // Sanity: the fixture parses, in full.
        let done = uwsgi::parse_request(&bytes, &limits, &mut vars).expect("fixture parses");
        assert!(done.is_complete());
        let label = format!("{name}/{}vars/{}B", vars.len(), bytes.len() - HEADER_LEN);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &bytes, |b, bytes| {
            b.iter(|| uwsgi::parse_request(black_box(bytes), &limits, &mut vars))
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    // Every key of the 40-var request, known and unknown, as the parser meets them.
    let bytes = browser_40().bytes();
    let mut vars = Vec::new();
    uwsgi::parse_request(&bytes, &Limits::default(), &mut vars).expect("fixture parses");
    let block = &bytes[HEADER_LEN..];
    let names: Vec<&[u8]> =
        vars.iter().map(|v| &block[v.key_offset as usize..v.key_offset as usize + usize::from(v.key_len)]).collect();
    let mut group = c.benchmark_group("keys_lookup");
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("browser_40_keys", |b| {
        b.iter(|| names.iter().map(|n| keys::lookup(black_box(n))).fold(0u32, |a, id| a + u32::from(id)))
    });
    group.finish();
}

criterion_group!(benches, parse, lookup);
criterion_main!(benches);
