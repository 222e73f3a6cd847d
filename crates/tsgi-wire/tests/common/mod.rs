//! Shared by the integration tests: a uwsgi packet builder, and `parse_split`, which parses
//! a packet whole and at every prefix and checks that the prefixes agree with the whole.
#![allow(dead_code)] // each test file uses its own subset

pub mod fastcgi;

use tsgi_wire::uwsgi::{self, Error, Header, Limits, RequestInfo, Var, HEADER_LEN};
use tsgi_wire::Status;

/// What [`uwsgi::parse_request`] gives for a complete head.
pub type Parsed = (Header, RequestInfo, usize);

/// Builds uwsgi packets, well-formed or not. Vars go through [`Packet::var`]; malformed
/// blocks are made with [`Packet::raw`] / [`Packet::len_field`], and a lying header with
/// [`Packet::datasize`].
#[derive(Debug, Clone, Default)]
pub struct Packet {
    modifier1: u8,
    modifier2: u8,
    datasize: Option<u16>,
    block: Vec<u8>,
    body: Vec<u8>,
}

impl Packet {
    /// modifier1 0, modifier2 0, no vars.
    pub fn new() -> Self {
        Packet::default()
    }

    /// A `GET /` with `REQUEST_METHOD` only (21 bytes of vars, the worked example of
    /// features.md §1.2).
    pub fn get() -> Self {
        Packet::new().var("REQUEST_METHOD", "GET")
    }

    /// Appends a well-formed pair. Panics if a length does not fit a u16: a builder bug.
    pub fn var(self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.len_field(u16::try_from(key.len()).expect("key fits a u16"))
            .raw(key)
            .len_field(u16::try_from(value.len()).expect("value fits a u16"))
            .raw(value)
    }

    /// Appends raw bytes to the vars block.
    pub fn raw(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.block.extend_from_slice(bytes.as_ref());
        self
    }

    /// Appends a u16 LE length field to the vars block.
    pub fn len_field(self, n: u16) -> Self {
        self.raw(n.to_le_bytes())
    }

    /// Appends a filler var (`X_PAD`, a run of `p`) so the vars block is exactly `size`
    /// bytes. Needs at least 9 bytes of room (the pair with an empty value).
    pub fn pad_to(self, size: usize) -> Self {
        const OVERHEAD: usize = 2 + 5 + 2;
        let room = size.checked_sub(self.block.len() + OVERHEAD).expect("room for the filler pair");
        let p = self.var("X_PAD", vec![b'p'; room]);
        assert_eq!(p.block.len(), size);
        p
    }

    pub fn modifier1(mut self, m: u8) -> Self {
        self.modifier1 = m;
        self
    }

    pub fn modifier2(mut self, m: u8) -> Self {
        self.modifier2 = m;
        self
    }

    /// Makes the header announce `n` instead of the block's real length.
    pub fn datasize(mut self, n: u16) -> Self {
        self.datasize = Some(n);
        self
    }

    /// Bytes after the vars block (the body, or anything else: the codec must not read them).
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// Header + vars block + body. Panics if the block is over 65535 bytes and no
    /// `datasize` was forced.
    pub fn bytes(&self) -> Vec<u8> {
        let size = self.datasize.unwrap_or_else(|| u16::try_from(self.block.len()).expect("block fits a u16"));
        let mut out = Vec::with_capacity(HEADER_LEN + self.block.len() + self.body.len());
        out.push(self.modifier1);
        out.extend_from_slice(&size.to_le_bytes());
        out.push(self.modifier2);
        out.extend_from_slice(&self.block);
        out.extend_from_slice(&self.body);
        out
    }
}

/// Parses `bytes` whole, then every prefix `bytes[..i]`, and checks that each prefix is
/// `Partial` or exactly the whole's answer (same error, same vars), and that a valid head
/// is `Partial` for every prefix shorter than it. Returns the whole's answer and vars.
/// Panics (the test fails) if the whole buffer is `Partial`: every fixture is complete.
pub fn parse_split(bytes: &[u8], limits: &Limits) -> (Result<Parsed, Error>, Vec<Var>) {
    let mut vars = Vec::new();
    let whole = match uwsgi::parse_request(bytes, limits, &mut vars) {
        Ok(Status::Complete(parsed)) => Ok(parsed),
        Ok(Status::Partial) => panic!("the whole fixture ({} bytes) is Partial", bytes.len()),
        Err(e) => Err(e),
    };
    // Reused across prefixes, dirty, as the reactor reuses its Vec.
    let mut scratch = vec![Var { key_id: 99, key_offset: 1, key_len: 1, value_offset: 1, value_len: 1 }];
    for i in 0..bytes.len() {
        match uwsgi::parse_request(&bytes[..i], limits, &mut scratch) {
            Ok(Status::Partial) => {
                if let Ok((_, _, n)) = whole {
                    assert!(i < n, "prefix of {i} bytes is Partial, but the head is {n} bytes");
                }
            }
            Ok(Status::Complete(parsed)) => {
                assert_eq!(Ok(parsed), whole, "prefix of {i} bytes");
                assert_eq!(scratch, vars, "vars of prefix of {i} bytes");
            }
            Err(e) => assert_eq!(Err(e), whole, "prefix of {i} bytes"),
        }
    }
    (whole, vars)
}

/// [`parse_split`] with default limits, expecting success.
pub fn parse_ok(bytes: &[u8]) -> (Parsed, Vec<Var>) {
    parse_ok_with(bytes, &Limits::default())
}

/// [`parse_split`], expecting success.
pub fn parse_ok_with(bytes: &[u8], limits: &Limits) -> (Parsed, Vec<Var>) {
    match parse_split(bytes, limits) {
        (Ok(parsed), vars) => (parsed, vars),
        (Err(e), _) => panic!("expected a request, got {e:?} ({e})"),
    }
}

/// [`parse_split`] with default limits, expecting an error.
pub fn parse_err(bytes: &[u8]) -> Error {
    parse_err_with(bytes, &Limits::default())
}

/// [`parse_split`], expecting an error.
pub fn parse_err_with(bytes: &[u8], limits: &Limits) -> Error {
    match parse_split(bytes, limits) {
        (Ok(parsed), _) => panic!("expected an error, got {parsed:?}"),
        (Err(e), _) => e,
    }
}

/// Key and value of `var` in a packet's bytes (header included).
pub fn kv<'a>(packet: &'a [u8], var: &Var) -> (&'a [u8], &'a [u8]) {
    let block = &packet[HEADER_LEN..];
    let k = var.key_offset as usize;
    let v = var.value_offset as usize;
    (&block[k..k + usize::from(var.key_len)], &block[v..v + usize::from(var.value_len)])
}

/// All pairs of a parsed packet, as owned byte strings, in wire order.
pub fn pairs(packet: &[u8], vars: &[Var]) -> Vec<(Vec<u8>, Vec<u8>)> {
    vars.iter().map(|v| kv(packet, v)).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

/// What nginx sends for `GET /u/path?q=1` from curl with a custom header and two cookie
/// lines (features.md §1.8): the 14 `uwsgi_params` in their file order (`HTTPS` present,
/// as for an https server), then the client headers as `HTTP_*`, one `HTTP_COOKIE` per
/// line as nginx < 1.23 does.
pub fn nginx_get() -> Packet {
    Packet::new()
        .var("QUERY_STRING", "q=1")
        .var("REQUEST_METHOD", "GET")
        .var("CONTENT_TYPE", "")
        .var("CONTENT_LENGTH", "")
        .var("REQUEST_URI", "/u/path?q=1")
        .var("PATH_INFO", "/u/path")
        .var("DOCUMENT_ROOT", "/usr/share/nginx/html")
        .var("SERVER_PROTOCOL", "HTTP/1.1")
        .var("REQUEST_SCHEME", "https")
        .var("HTTPS", "on")
        .var("REMOTE_ADDR", "127.0.0.1")
        .var("REMOTE_PORT", "53422")
        .var("SERVER_PORT", "443")
        .var("SERVER_NAME", "")
        .var("HTTP_HOST", "example.com")
        .var("HTTP_USER_AGENT", "curl/7.88.1")
        .var("HTTP_ACCEPT", "*/*")
        .var("HTTP_X_CUSTOM", "1")
        .var("HTTP_COOKIE", "a=1")
        .var("HTTP_COOKIE", "b=2")
}
