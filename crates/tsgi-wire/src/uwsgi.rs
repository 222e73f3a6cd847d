//! The uwsgi protocol, as nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi` and lighttpd speak it.
//!
//! A request is a 4-byte header (`modifier1: u8`, `datasize: u16 LE`, `modifier2: u8`), then
//! `datasize` bytes of vars (`u16 LE key length, key, u16 LE value length, value`, repeated,
//! no terminator), then the body, whose length is the `CONTENT_LENGTH` var and nothing else.
//! One request per connection: whatever follows the body is never parsed.
//!
//! Failure behaviour follows `docs/malformed-input.md` (cases U1-U27); each
//! [`Error`] variant names the case it implements.

use crate::keys::{self, KeyId};
use crate::request::{http_prefix, Framing, Prefix, Refusal};
use crate::Status;

/// Length of the packet header.
pub const HEADER_LEN: usize = 4;

/// The protocol's ceiling for the vars block (`datasize` is a u16).
pub const MAX_VARS_BLOCK: usize = u16::MAX as usize;

/// modifier1 of an ordinary WSGI-style request (what nginx sends by default).
pub const MODIFIER_WSGI: u8 = 0;
/// modifier1 30: like 0, but the server strips `SCRIPT_NAME` from the front of `PATH_INFO`.
pub const MODIFIER_MANAGE_PATH_INFO: u8 = 30;
/// modifier1 100: a ping (`uwsgi --ping`, health checks), answered with a pong header
/// (modifier1 100, datasize 0, modifier2 1). It carries no vars.
pub const MODIFIER_PING: u8 = 100;

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
    /// The request asks to switch protocols (a WebSocket handshake, CONNECT), by the rule
    /// the HTTP codec applies to a head (`http::Head::upgrade`), read from the vars a proxy
    /// sends: `REQUEST_METHOD` is `CONNECT`, or `SERVER_PROTOCOL` is `HTTP/1.1` (its last
    /// value), an `HTTP_CONNECTION` value holds the token `upgrade` (any case) and an
    /// `HTTP_UPGRADE` var is there. Whether the connection can become a tunnel is the
    /// reactor's business (a uwsgi request with a body cannot; FastCGI never can).
    pub upgrade: bool,
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
    /// U5: a key length runs past the end of the block (what a proxy's 16-bit wrap looks
    /// like), or a pair starts with one byte left: half a key-length field.
    KeyOverrun,
    /// U6: a value length runs past the end of the block, or the block ends after a key,
    /// with its value-length field missing or cut in half.
    ValueOverrun,
    /// U7: a zero-length key.
    EmptyKey,
    /// U9: more vars than `max-vars` (refused when pair `max-vars + 1` starts).
    TooManyVars {
        /// The configured limit.
        limit: u32,
    },
    /// U11: `CONTENT_LENGTH`, `REQUEST_METHOD` or `REQUEST_URI` given twice with different
    /// values (byte for byte: `5` and `05` differ). Two parties that pick different copies
    /// disagree on the request, which is how requests get smuggled.
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
        match self {
            Error::TruncatedHeader | Error::TruncatedVars | Error::LooksLikeHttp => None,
            Error::EmptyVars
            | Error::KeyOverrun
            | Error::ValueOverrun
            | Error::EmptyKey
            | Error::TooManyVars { .. }
            | Error::ConflictingDuplicate { .. }
            | Error::InvalidContentLength
            | Error::ContentLengthOverflow
            | Error::MissingMethod
            | Error::InvalidMethod => Some(400),
            Error::VarsTooLarge { .. } => Some(431),
            Error::BodyTooLarge { .. } => Some(413),
            Error::UnsupportedModifier { .. } => Some(501),
        }
    }

    /// The server option that raises the limit this error enforces, if it is a limit
    /// (`"buffer-size"`, `"max-vars"`, `"limit-post"`).
    pub fn limit_option(&self) -> Option<&'static str> {
        match self {
            Error::VarsTooLarge { .. } => Some("buffer-size"),
            Error::TooManyVars { .. } => Some("max-vars"),
            Error::BodyTooLarge { .. } => Some("limit-post"),
            _ => None,
        }
    }

    /// A stable, machine-readable name (`"uwsgi_vars_too_large"`, ...), used as the log
    /// code and in the JavaScript error table.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TruncatedHeader => "uwsgi_truncated_header",
            Error::TruncatedVars => "uwsgi_truncated_vars",
            Error::EmptyVars => "uwsgi_empty_vars",
            Error::VarsTooLarge { .. } => "uwsgi_vars_too_large",
            Error::KeyOverrun => "uwsgi_key_overrun",
            Error::ValueOverrun => "uwsgi_value_overrun",
            Error::EmptyKey => "uwsgi_empty_key",
            Error::TooManyVars { .. } => "uwsgi_too_many_vars",
            Error::ConflictingDuplicate { .. } => "uwsgi_conflicting_duplicate",
            Error::InvalidContentLength => "uwsgi_invalid_content_length",
            Error::ContentLengthOverflow => "uwsgi_content_length_overflow",
            Error::BodyTooLarge { .. } => "uwsgi_body_too_large",
            Error::UnsupportedModifier { .. } => "uwsgi_unsupported_modifier",
            Error::LooksLikeHttp => "uwsgi_looks_like_http",
            Error::MissingMethod => "uwsgi_missing_method",
            Error::InvalidMethod => "uwsgi_invalid_method",
        }
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::ConflictingDuplicate { key } => Error::ConflictingDuplicate { key },
            Refusal::MissingMethod => Error::MissingMethod,
            Refusal::InvalidMethod => Error::InvalidMethod,
            Refusal::InvalidContentLength => Error::InvalidContentLength,
            Refusal::ContentLengthOverflow => Error::ContentLengthOverflow,
            Refusal::BodyTooLarge { length, limit } => Error::BodyTooLarge { length, limit },
        }
    }
}

impl core::fmt::Display for Error {
    /// One line for the log: what was wrong, the numbers, and the option that raises the
    /// limit where there is one (for example "uwsgi vars block of 70000 bytes is over
    /// buffer-size 65535 (raise --buffer-size)").
    ///
    /// Static text and numbers only: nothing from the request is echoed, so a log line can
    /// never carry a peer's bytes (terminal escapes, forged lines).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::TruncatedHeader => {
                f.write_str("uwsgi peer closed inside the 4-byte packet header (truncated header)")
            }
            Error::TruncatedVars => f.write_str("uwsgi peer closed inside the vars block (truncated vars)"),
            Error::EmptyVars => f.write_str("uwsgi vars block is empty (datasize 0), so there is no REQUEST_METHOD"),
            Error::VarsTooLarge { size, limit } => write!(
                f,
                "uwsgi vars block of {size} bytes is over buffer-size {limit} (raise --buffer-size)"
            ),
            Error::KeyOverrun => f.write_str("uwsgi var key length runs past the end of the vars block"),
            Error::ValueOverrun => f.write_str("uwsgi var value length runs past the end of the vars block"),
            Error::EmptyKey => f.write_str("uwsgi var with an empty key"),
            Error::TooManyVars { limit } => {
                write!(f, "uwsgi request has more than max-vars {limit} vars (raise --max-vars)")
            }
            Error::ConflictingDuplicate { key } => match keys::name(key) {
                Some(name) => write!(f, "uwsgi var {name} given twice with different values"),
                None => write!(f, "uwsgi var with key id {key} given twice with different values"),
            },
            Error::InvalidContentLength => f.write_str("uwsgi CONTENT_LENGTH is not plain ASCII digits"),
            Error::ContentLengthOverflow => write!(
                f,
                "uwsgi CONTENT_LENGTH is over {} (2^53 - 1)",
                crate::MAX_CONTENT_LENGTH
            ),
            Error::BodyTooLarge { length, limit } => write!(
                f,
                "uwsgi request body of {length} bytes is over limit-post {limit} (raise --limit-post)"
            ),
            Error::UnsupportedModifier { modifier1 } => write!(
                f,
                "uwsgi modifier1 {modifier1} is not served (only {MODIFIER_WSGI}, {MODIFIER_MANAGE_PATH_INFO} and ping {MODIFIER_PING} are)"
            ),
            Error::LooksLikeHttp => f.write_str(
                "HTTP request sent to a uwsgi socket (point an HTTP client at --http-socket, or use uwsgi_pass in nginx)",
            ),
            Error::MissingMethod => f.write_str("uwsgi request has no REQUEST_METHOD var"),
            Error::InvalidMethod => f.write_str("uwsgi REQUEST_METHOD is empty or not an HTTP token"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses the 4-byte header at the start of `buf`.
///
/// `Partial` while fewer than 4 bytes are there, except that an HTTP request line is
/// recognised from its first bytes ([`Error::LooksLikeHttp`]). Checks, in this order:
/// HTTP bytes (U23), modifier1 (U22), `datasize` 0 (U3), `datasize` over the limit (U4).
///
/// "HTTP bytes" means three upper-case ASCII letters followed by a fourth or a space: the
/// start of every registered method's request line (`GET `, `POST`, `PRI ` of the HTTP/2
/// preface, `PROPFIND`, ...). Such bytes are never a servable header anyway (modifier1
/// 65-90 is no request type we serve), so the rule only picks the clearer of two
/// refusals, and it must: `GET ` read as a header is a 21573-byte `datasize` that is under
/// the default limit, and would otherwise leave the connection waiting for bytes that never
/// come. With 1-3 bytes the answer is `Partial` while they could still start such a
/// line, and [`Error::UnsupportedModifier`] as soon as they cannot and modifier1 is not
/// served; so every prefix of a buffer answers `Partial` or what the whole buffer answers.
pub fn parse_header(buf: &[u8], limits: &Limits) -> Result<Status<Header>, Error> {
    let &[modifier1, ..] = buf else {
        return Ok(Status::Partial);
    };
    match http_prefix(buf) {
        Prefix::Http => return Err(Error::LooksLikeHttp),
        Prefix::Maybe => return Ok(Status::Partial),
        Prefix::No => {}
    }
    if !is_served_modifier(modifier1) {
        return Err(Error::UnsupportedModifier { modifier1 });
    }
    let &[_, size_lo, size_hi, modifier2, ..] = buf else {
        return Ok(Status::Partial);
    };
    let datasize = u16::from_le_bytes([size_lo, size_hi]);
    if modifier1 == MODIFIER_PING {
        // A ping is exactly the 4-byte header; one carrying data is not one we know.
        return if datasize == 0 {
            Ok(Status::Complete(Header { modifier1, datasize, modifier2 }))
        } else {
            Err(Error::UnsupportedModifier { modifier1 })
        };
    }
    if datasize == 0 {
        return Err(Error::EmptyVars);
    }
    if datasize > limits.max_vars_block {
        return Err(Error::VarsTooLarge { size: datasize, limit: limits.max_vars_block });
    }
    Ok(Status::Complete(Header { modifier1, datasize, modifier2 }))
}

/// The modifier1 values served: plain WSGI-style requests, the `SCRIPT_NAME`-stripping
/// variant, and ping. Everything else (spooler, RPC, cache, other languages' plugins) is a
/// uWSGI feature we do not implement.
fn is_served_modifier(modifier1: u8) -> bool {
    matches!(modifier1, MODIFIER_WSGI | MODIFIER_MANAGE_PATH_INFO | MODIFIER_PING)
}

/// Parses a complete vars block (exactly `datasize` bytes, header excluded), appending one
/// [`Var`] per pair to `vars` (cleared first), and validates what the request as a whole
/// needs: a valid `REQUEST_METHOD` (U24), no conflicting duplicates of `CONTENT_LENGTH`,
/// `REQUEST_METHOD`, `REQUEST_URI` (U11), a strict `CONTENT_LENGTH` (U15-U17) within
/// `limits.max_body` (U18), at most `limits.max_vars` pairs (U9); and says whether the
/// request is an upgrade ([`RequestInfo::upgrade`]).
///
/// Duplicate keys are all reported in `vars`, in wire order; merging them (last wins, or
/// joined for `HTTP_*`) is the consumer's business. Values are opaque bytes (U13).
///
/// Errors come in two rounds, so the same block always gives the same error:
///
/// 1. Structure, in wire order while walking the pairs; the first one found wins. Before
///    each pair: [`Error::TooManyVars`] if `max_vars` pairs are already there. A key-length
///    field with only one byte left in the block is [`Error::KeyOverrun`] (the key's
///    length cannot be known, so the key cannot fit); a zero key length is
///    [`Error::EmptyKey`]; a key running past the block is [`Error::KeyOverrun`]. A
///    value-length field that is missing or cut in half after a key, or a value running
///    past the block, is [`Error::ValueOverrun`].
/// 2. Meaning, after the walk: [`Error::ConflictingDuplicate`] (the first key in wire order
///    whose second value differs), then [`Error::MissingMethod`] /
///    [`Error::InvalidMethod`], then [`Error::InvalidContentLength`] /
///    [`Error::ContentLengthOverflow`], then [`Error::BodyTooLarge`].
///
/// An empty block is [`Error::EmptyVars`], as its `datasize` 0 would be in the header, and
/// a block longer than `limits.max_vars_block` is [`Error::VarsTooLarge`] (with `size`
/// saturated at 65535 for a block no uwsgi header can announce), so this function is safe
/// to call on its own. On error, `vars` holds the pairs read so far; it means nothing.
///
/// `HTTP_CONTENT_LENGTH` and `HTTP_TRANSFER_ENCODING` are ordinary vars here: framing comes
/// from `CONTENT_LENGTH` alone (U21). `UWSGI_*` vars are ordinary data too (U26).
pub fn parse_vars(block: &[u8], limits: &Limits, vars: &mut Vec<Var>) -> Result<RequestInfo, Error> {
    vars.clear();
    if block.is_empty() {
        return Err(Error::EmptyVars);
    }
    if block.len() > usize::from(limits.max_vars_block) {
        let size = u16::try_from(block.len()).unwrap_or(u16::MAX);
        return Err(Error::VarsTooLarge { size, limit: limits.max_vars_block });
    }
    let end = block.len();
    let mut framing = Framing::default();
    let mut count: u32 = 0;
    let mut pos = 0;
    // Invariant: pos <= end. Every length is compared with what is left (`end - pos`),
    // never added to `pos` first, so no sum can wrap whatever the length fields say.
    while pos < end {
        if count >= limits.max_vars {
            return Err(Error::TooManyVars { limit: limits.max_vars });
        }
        let key_len = read_len(block, pos).ok_or(Error::KeyOverrun)?;
        pos += 2;
        if key_len == 0 {
            return Err(Error::EmptyKey);
        }
        if key_len > end - pos {
            return Err(Error::KeyOverrun);
        }
        let key_offset = pos;
        pos += key_len;
        let value_len = read_len(block, pos).ok_or(Error::ValueOverrun)?;
        pos += 2;
        if value_len > end - pos {
            return Err(Error::ValueOverrun);
        }
        let value_offset = pos;
        pos += value_len;

        let key_id = keys::lookup(&block[key_offset..key_offset + key_len]);
        framing.see(block, key_id, (value_offset, value_len));
        // The casts cannot truncate: offsets are below `end` <= 65535 and lengths came
        // from u16 fields.
        vars.push(Var {
            key_id,
            key_offset: key_offset as u32,
            key_len: key_len as u16,
            value_offset: value_offset as u32,
            value_len: value_len as u16,
        });
        count += 1;
    }

    framing.finish(block, limits.max_body).map_err(Error::from)
}

/// The u16 LE length field at `block[pos..pos + 2]`, or `None` when fewer than two bytes
/// are left (none, or a field cut in half).
#[inline(always)]
fn read_len(block: &[u8], pos: usize) -> Option<usize> {
    match block.get(pos..)? {
        &[lo, hi, ..] => Some(usize::from(u16::from_le_bytes([lo, hi]))),
        _ => None,
    }
}

/// Parses a whole request head from `buf` (header and vars block): `Complete(n)` with
/// `n = 4 + datasize`, the bytes consumed; the body starts at `buf[n..]`.
///
/// `Partial` until all `n` bytes are there (header errors come as soon as the header
/// shows them, see [`parse_header`]); the vars block is parsed once, whole, by
/// [`parse_vars`]. Every strict prefix of a valid request is `Partial`, which is what
/// lets the reactor call an EOF "truncated" (U1, U2), and every prefix of any buffer is
/// `Partial` or the whole buffer's answer. `vars` is only written once the block is
/// complete. Bytes past `n` are never looked at (U20).
///
/// ```
/// use tsgi_wire::{keys, uwsgi, Status};
///
/// // modifier1 0, datasize 21, modifier2 0; REQUEST_METHOD=GET; then a body byte.
/// let buf = b"\x00\x15\x00\x00\x0e\x00REQUEST_METHOD\x03\x00GETx";
/// let limits = uwsgi::Limits::default();
/// let mut vars = Vec::new();
///
/// assert_eq!(uwsgi::parse_request(&buf[..10], &limits, &mut vars), Ok(Status::Partial));
/// let Ok(Status::Complete((header, info, n))) = uwsgi::parse_request(buf, &limits, &mut vars) else {
///     panic!("a complete head");
/// };
/// assert_eq!((header.datasize, info.content_length, n), (21, 0, 25));
/// assert_eq!(vars[0].key_id, keys::id::REQUEST_METHOD);
/// let block = &buf[uwsgi::HEADER_LEN..n];
/// let value = &block[vars[0].value_offset as usize..][..usize::from(vars[0].value_len)];
/// assert_eq!(value, b"GET");
///
/// assert_eq!(uwsgi::parse_request(b"GET / HTTP/1.1\r\n", &limits, &mut vars), Err(uwsgi::Error::LooksLikeHttp));
/// ```
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
    vars: &mut Vec<Var>,
) -> Result<Status<(Header, RequestInfo, usize)>, Error> {
    let header = match parse_header(buf, limits)? {
        Status::Complete(header) => header,
        Status::Partial => return Ok(Status::Partial),
    };
    if header.modifier1 == MODIFIER_PING {
        vars.clear();
        return Ok(Status::Complete((header, RequestInfo { content_length: 0, upgrade: false }, HEADER_LEN)));
    }
    let n = HEADER_LEN + usize::from(header.datasize);
    let Some(block) = buf.get(HEADER_LEN..n) else {
        return Ok(Status::Partial);
    };
    let info = parse_vars(block, limits, vars)?;
    Ok(Status::Complete((header, info, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_prefix_rule() {
        for http in [&b"GET "[..], b"POST", b"PUT ", b"PRI ", b"HEAD", b"DELE", b"OPTI", b"PATC", b"CONN", b"TRAC"] {
            assert_eq!(http_prefix(http), Prefix::Http, "{http:?}");
            for i in 1..HEADER_LEN {
                assert_eq!(http_prefix(&http[..i]), Prefix::Maybe);
            }
        }
        for not in [&b"\x00"[..], b"G\x00", b"GE ", b"get ", b"G ET", b"GET\t", b"\x1e\x15\x00\x00"] {
            assert_eq!(http_prefix(not), Prefix::No, "{not:?}");
        }
        assert_eq!(http_prefix(b""), Prefix::Maybe);
    }

    #[test]
    fn read_len_is_little_endian_and_needs_two_bytes() {
        assert_eq!(read_len(&[0x34, 0x12], 0), Some(0x1234));
        assert_eq!(read_len(&[0xff, 0xff, 0x01, 0x00], 2), Some(1));
        assert_eq!(read_len(&[0x01], 0), None);
        assert_eq!(read_len(&[0x01, 0x00], 1), None);
        assert_eq!(read_len(&[0x01, 0x00], 2), None);
        assert_eq!(read_len(&[0x01, 0x00], 3), None);
    }

    #[test]
    fn served_modifiers() {
        let served: Vec<u8> = (0..=255).filter(|&m| is_served_modifier(m)).collect();
        assert_eq!(served, [MODIFIER_WSGI, MODIFIER_MANAGE_PATH_INFO, MODIFIER_PING]);
    }
}
