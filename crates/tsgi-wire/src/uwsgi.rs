//! The uwsgi protocol, as nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi` and lighttpd speak it.
//!
//! A request is a 4-byte header (`modifier1: u8`, `datasize: u16 LE`, `modifier2: u8`), then
//! `datasize` bytes of vars (`u16 LE key length, key, u16 LE value length, value`, repeated,
//! no terminator), then the body, whose length is the `CONTENT_LENGTH` var and nothing else.
//! One request per connection: whatever follows the body is never parsed.
//!
//! Failure behaviour follows `shared/research/reliability.md` §2.1 (cases U1-U27); each
//! [`Error`] variant names the case it implements.

use crate::keys::{self, KeyId};
use crate::Status;

/// Length of the packet header.
pub const HEADER_LEN: usize = 4;

/// The protocol's ceiling for the vars block (`datasize` is a u16).
pub const MAX_VARS_BLOCK: usize = u16::MAX as usize;

/// modifier1 of an ordinary WSGI-style request (what nginx sends by default).
pub const MODIFIER_WSGI: u8 = 0;
/// modifier1 30: like 0, but the server strips `SCRIPT_NAME` from the front of `PATH_INFO`.
pub const MODIFIER_MANAGE_PATH_INFO: u8 = 30;

/// Limits applied while parsing. Each is a server option; the error that enforces it
/// names the option so the log line tells the operator what to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest vars block accepted (option `buffer-size`). Default: the protocol maximum,
    /// 65535, so big cookies and tokens never hit uWSGI's 4 KiB surprise.
    pub max_vars_block: u16,
    /// Most vars in one request (option `max-vars`). Default 1000.
    pub max_vars: u32,
    /// Largest request body (option `limit-post`); 0 means no limit. Default 0.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_vars_block: u16::MAX, max_vars: 1000, max_body: 0 }
    }
}

/// The 4-byte packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Selects the kind of request; only [`MODIFIER_WSGI`] and [`MODIFIER_MANAGE_PATH_INFO`] are served.
    pub modifier1: u8,
    /// Length of the vars block that follows the header.
    pub datasize: u16,
    /// Sub-type; ignored for requests.
    pub modifier2: u8,
}

/// One var: where its key and value lie inside the vars block (offsets from the start of
/// the block, not of the packet), and the key's id if it is a well-known CGI name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    /// [`keys::lookup`] of the key; [`keys::UNKNOWN`] when it is not in the table.
    pub key_id: KeyId,
    /// Offset of the key's first byte in the vars block.
    pub key_offset: u32,
    /// Key length (never 0: an empty key is [`Error::EmptyKey`]).
    pub key_len: u16,
    /// Offset of the value's first byte in the vars block.
    pub value_offset: u32,
    /// Value length (may be 0).
    pub value_len: u16,
}

/// What the vars block says about the request as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo {
    /// Body length from `CONTENT_LENGTH` (0 when absent or empty).
    pub content_length: u64,
}

/// A malformed or refused request. Every variant maps to one behaviour: a static
/// response status and close ([`Error::status`] is `Some`), or a close without a
/// response (`None`), because the framing cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// U1: the peer closed after 1-3 header bytes.
    TruncatedHeader,
    /// U2: the peer closed inside the vars block.
    TruncatedVars,
    /// U3: `datasize` is 0, so there is no `REQUEST_METHOD`.
    EmptyVars,
    /// U4: `datasize` is over `buffer-size`. The reactor reads and discards the block, then answers 431.
    VarsTooLarge {
        /// The block's size from the header.
        size: u16,
        /// The configured limit.
        limit: u16,
    },
    /// U5: a key length runs past the end of the block (what a proxy's 16-bit wrap looks like).
    KeyOverrun,
    /// U6: a value length runs past the end of the block, or a length field is cut in half.
    ValueOverrun,
    /// U7: a zero-length key.
    EmptyKey,
    /// U9: more vars than `max-vars`.
    TooManyVars {
        /// The configured limit.
        limit: u32,
    },
    /// U11: `CONTENT_LENGTH`, `REQUEST_METHOD` or `REQUEST_URI` given twice with different values.
    ConflictingDuplicate {
        /// Which key.
        key: KeyId,
    },
    /// U16: `CONTENT_LENGTH` is not plain ASCII digits.
    InvalidContentLength,
    /// U17: `CONTENT_LENGTH` is 2^53 or more.
    ContentLengthOverflow,
    /// U18: `CONTENT_LENGTH` is over `limit-post`.
    BodyTooLarge {
        /// The declared body length.
        length: u64,
        /// The configured limit.
        limit: u64,
    },
    /// U22: modifier1 is not one this server serves.
    UnsupportedModifier {
        /// The modifier1 received.
        modifier1: u8,
    },
    /// U23: the first bytes are an HTTP request line (`GET `, `POST`, ...): an HTTP client
    /// or proxy was pointed at the uwsgi socket.
    LooksLikeHttp,
    /// U24: no `REQUEST_METHOD` var.
    MissingMethod,
    /// U24: `REQUEST_METHOD` is empty or has bytes outside the HTTP token grammar.
    InvalidMethod,
}

impl Error {
    /// The status of the static response to send before closing, or `None` to close
    /// without one (U1, U2, U23: there is nobody sensible to answer).
    pub fn status(&self) -> Option<u16> {
        todo!()
    }

    /// The server option that raises the limit this error enforces, if it is a limit
    /// (`"buffer-size"`, `"max-vars"`, `"limit-post"`).
    pub fn limit_option(&self) -> Option<&'static str> {
        todo!()
    }

    /// A stable, machine-readable name (`"uwsgi_vars_too_large"`, ...), used as the log
    /// code and in the JavaScript error table.
    pub fn code(&self) -> &'static str {
        todo!()
    }
}

impl core::fmt::Display for Error {
    /// One line for the log: what was wrong, the numbers, and the option that raises the
    /// limit where there is one (for example "uwsgi vars block of 70000 bytes is over
    /// buffer-size 65535 (raise --buffer-size)").
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        todo!()
    }
}

/// Parses the 4-byte header at the start of `buf`.
///
/// `Partial` while fewer than 4 bytes are there, except that an HTTP request line is
/// recognised from its first bytes ([`Error::LooksLikeHttp`]). Checks, in this order:
/// HTTP bytes (U23), modifier1 (U22), `datasize` 0 (U3), `datasize` over the limit (U4).
pub fn parse_header(buf: &[u8], limits: &Limits) -> Result<Status<Header>, Error> {
    todo!()
}

/// Parses a complete vars block (exactly `datasize` bytes, header excluded), appending one
/// [`Var`] per pair to `vars` (cleared first), and validates what the request as a whole
/// needs: a valid `REQUEST_METHOD` (U24), no conflicting duplicates of `CONTENT_LENGTH`,
/// `REQUEST_METHOD`, `REQUEST_URI` (U11), a strict `CONTENT_LENGTH` (U15-U17) within
/// `limits.max_body` (U18), at most `limits.max_vars` pairs (U9).
///
/// Duplicate keys are all reported in `vars`, in wire order; merging them (last wins, or
/// joined for `HTTP_*`) is the consumer's business. Values are opaque bytes (U13).
pub fn parse_vars(block: &[u8], limits: &Limits, vars: &mut Vec<Var>) -> Result<RequestInfo, Error> {
    todo!()
}

/// Parses a whole request head from `buf` (header and vars block): `Complete(n)` with
/// `n = 4 + datasize`, the bytes consumed; the body starts at `buf[n..]`.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
    vars: &mut Vec<Var>,
) -> Result<Status<(Header, RequestInfo, usize)>, Error> {
    todo!()
}
