//! FastCGI 1.0, as nginx `fastcgi_pass`, Apache `mod_proxy_fcgi`, HAProxy and Caddy speak it.
//!
//! Everything travels in records: an 8-byte header (`version`, `type`, `requestId: u16 BE`,
//! `contentLength: u16 BE`, `paddingLength`, `reserved`), the content, then padding the
//! receiver skips. A request is `BEGIN_REQUEST`, a PARAMS stream of name-value pairs, a STDIN
//! stream (the body); the answer is a STDOUT stream (a CGI response), maybe STDERR, then
//! `END_REQUEST`. A stream is any number of non-empty records closed by an empty one, and
//! its value is the concatenation, however the sender cut it.
//!
//! This module is the codec only: it parses one record or one pair from whatever bytes
//! the reactor has ([`parse_record`], [`parse_name_value`]), reassembles the PARAMS stream
//! into the canonical var form that [`crate::uwsgi`] produces ([`ParamsDecoder`]), and
//! writes the records an application sends ([`encode`]). Which record may come when, request
//! ids and keep-alive are the connection state machine's business, in the reactor.
//!
//! Failure behaviour follows `docs/malformed-input.md` (cases F1-F26); each
//! [`Error`] variant names the case it implements.

use core::ops::Range;

use crate::keys::{self, KeyId};
use crate::request::{http_prefix, Framing, Prefix, Refusal};
pub use crate::uwsgi::{RequestInfo, Var};
use crate::Status;

/// `FCGI_VERSION_1`, the only version there is.
pub const VERSION_1: u8 = 1;

/// Length of a record header, `FCGI_HEADER_LEN`.
pub const HEADER_LEN: usize = 8;

/// The largest content of one record (`contentLength` is a u16).
pub const MAX_CONTENT_LEN: usize = u16::MAX as usize;

/// The request id of management records (`FCGI_NULL_REQUEST_ID`).
pub const NULL_REQUEST_ID: u16 = 0;

/// Bit 0 of [`BeginRequest::flags`], `FCGI_KEEP_CONN`: when set, the web server owns the
/// connection and the application must not close it after `END_REQUEST`.
pub const KEEP_CONN: u8 = 1;

/// Length of the content of `BEGIN_REQUEST`, `END_REQUEST` and `UNKNOWN_TYPE` records.
pub const BODY_LEN: usize = 8;

/// `FCGI_MAX_CONNS`: a `GET_VALUES` name, the most concurrent transport connections the
/// application accepts.
pub const MAX_CONNS: &[u8] = b"FCGI_MAX_CONNS";
/// `FCGI_MAX_REQS`: a `GET_VALUES` name, the most concurrent requests the application accepts.
pub const MAX_REQS: &[u8] = b"FCGI_MAX_REQS";
/// `FCGI_MPXS_CONNS`: a `GET_VALUES` name, `"1"` if the application multiplexes requests
/// on one connection, `"0"` if not.
pub const MPXS_CONNS: &[u8] = b"FCGI_MPXS_CONNS";

/// A record's `type` byte. Types this version does not define are kept as
/// [`RecordType::Unknown`], because a management record of an unknown type must be answered
/// with `UNKNOWN_TYPE` naming it (F4), not refused while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// 1, `FCGI_BEGIN_REQUEST`: starts a request (web server to application).
    BeginRequest,
    /// 2, `FCGI_ABORT_REQUEST`: the client went away (web server to application).
    AbortRequest,
    /// 3, `FCGI_END_REQUEST`: the request is over (application to web server).
    EndRequest,
    /// 4, `FCGI_PARAMS`: stream of name-value pairs, the CGI vars.
    Params,
    /// 5, `FCGI_STDIN`: stream, the request body.
    Stdin,
    /// 6, `FCGI_STDOUT`: stream, the CGI response.
    Stdout,
    /// 7, `FCGI_STDERR`: stream, error text for the web server's log.
    Stderr,
    /// 8, `FCGI_DATA`: stream, the Filter role's file data.
    Data,
    /// 9, `FCGI_GET_VALUES`: management query of name-value pairs with empty values.
    GetValues,
    /// 10, `FCGI_GET_VALUES_RESULT`: management answer to [`RecordType::GetValues`].
    GetValuesResult,
    /// 11, `FCGI_UNKNOWN_TYPE`: management answer to a management type not understood.
    UnknownType,
    /// Any other type byte (0, 12-255).
    Unknown(u8),
}

impl RecordType {
    /// The type of a `type` byte.
    pub const fn from_u8(t: u8) -> Self {
        match t {
            1 => RecordType::BeginRequest,
            2 => RecordType::AbortRequest,
            3 => RecordType::EndRequest,
            4 => RecordType::Params,
            5 => RecordType::Stdin,
            6 => RecordType::Stdout,
            7 => RecordType::Stderr,
            8 => RecordType::Data,
            9 => RecordType::GetValues,
            10 => RecordType::GetValuesResult,
            11 => RecordType::UnknownType,
            t => RecordType::Unknown(t),
        }
    }

    /// The `type` byte; `from_u8(t).as_u8() == t` for every `t`.
    pub const fn as_u8(self) -> u8 {
        match self {
            RecordType::BeginRequest => 1,
            RecordType::AbortRequest => 2,
            RecordType::EndRequest => 3,
            RecordType::Params => 4,
            RecordType::Stdin => 5,
            RecordType::Stdout => 6,
            RecordType::Stderr => 7,
            RecordType::Data => 8,
            RecordType::GetValues => 9,
            RecordType::GetValuesResult => 10,
            RecordType::UnknownType => 11,
            RecordType::Unknown(t) => t,
        }
    }

    /// `true` for the management types the spec defines (9-11), which travel with
    /// [`NULL_REQUEST_ID`]. An unknown type is management or not by its request id alone.
    pub const fn is_management(self) -> bool {
        matches!(self, RecordType::GetValues | RecordType::GetValuesResult | RecordType::UnknownType)
    }
}

/// The role of a `BEGIN_REQUEST`. Unknown roles are kept, because the answer to one is an
/// `END_REQUEST` with [`ProtocolStatus::UnknownRole`] (F11), not a parse error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 1, `FCGI_RESPONDER`: a CGI-like request and response.
    Responder,
    /// 2, `FCGI_AUTHORIZER`: allow (200) or deny.
    Authorizer,
    /// 3, `FCGI_FILTER`: like a responder, plus a DATA stream after STDIN.
    Filter,
    /// Any other role number.
    Unknown(u16),
}

impl Role {
    /// The role of a `role` field.
    pub const fn from_u16(role: u16) -> Self {
        match role {
            1 => Role::Responder,
            2 => Role::Authorizer,
            3 => Role::Filter,
            r => Role::Unknown(r),
        }
    }

    /// The `role` field; `from_u16(r).as_u16() == r` for every `r`.
    pub const fn as_u16(self) -> u16 {
        match self {
            Role::Responder => 1,
            Role::Authorizer => 2,
            Role::Filter => 3,
            Role::Unknown(r) => r,
        }
    }
}

/// `protocolStatus` of an `END_REQUEST`. Only sent, never parsed, so there is no catch-all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProtocolStatus {
    /// 0, `FCGI_REQUEST_COMPLETE`: normal end.
    RequestComplete = 0,
    /// 1, `FCGI_CANT_MPX_CONN`: refusing a second concurrent request on a connection (F12).
    CantMpxConn = 1,
    /// 2, `FCGI_OVERLOADED`: refusing for lack of a resource, such as a worker (F13).
    Overloaded = 2,
    /// 3, `FCGI_UNKNOWN_ROLE`: refusing a role this server does not play (F11).
    UnknownRole = 3,
}

/// Limits applied to the PARAMS stream. Each is a server option shared with uwsgi; the
/// error that enforces it names the option so the log line tells the operator what to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest PARAMS stream, counted in wire bytes (the concatenated content of the PARAMS
    /// records, length fields included, as uwsgi's `buffer-size` counts its vars block;
    /// option `buffer-size`). Default 65536 (64 KiB): nginx puts all params in one record,
    /// so it never sends more than 65535.
    pub max_params_bytes: u32,
    /// Most pairs in one request (option `max-vars`). Default 1000.
    pub max_vars: u32,
    /// Largest request body (option `limit-post`); 0 means no limit. Default 0.
    pub max_body: u64,
}

/// Default of [`Limits::max_params_bytes`], 64 KiB.
pub const DEFAULT_MAX_PARAMS_BYTES: u32 = 64 * 1024;
/// Default of [`Limits::max_vars`].
pub const DEFAULT_MAX_VARS: u32 = 1000;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_params_bytes: DEFAULT_MAX_PARAMS_BYTES, max_vars: DEFAULT_MAX_VARS, max_body: 0 }
    }
}

/// An 8-byte record header (the version is always [`VERSION_1`], so it is not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// The record's type.
    pub record_type: RecordType,
    /// Which request the record belongs to; [`NULL_REQUEST_ID`] for management records.
    pub request_id: u16,
    /// Bytes of content after the header.
    pub content_length: u16,
    /// Bytes of padding after the content, skipped (F3).
    pub padding_length: u8,
}

impl RecordHeader {
    /// Header + content + padding: the bytes the whole record takes on the wire (at most
    /// 8 + 65535 + 255, so it cannot overflow).
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.content_length) + usize::from(self.padding_length)
    }
}

/// The content of a `BEGIN_REQUEST` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeginRequest {
    /// What the web server asks the application to do.
    pub role: Role,
    /// Flag bits; only [`KEEP_CONN`] is defined, the others are kept as sent.
    pub flags: u8,
}

impl BeginRequest {
    /// `true` if [`KEEP_CONN`] is set: the connection stays open after `END_REQUEST` (F24).
    pub fn keep_conn(&self) -> bool {
        self.flags & KEEP_CONN != 0
    }
}

/// A malformed or refused record or request. Every variant maps to one behaviour: a
/// static response (`Status:` header on STDOUT, then `END_REQUEST`) when [`Error::status`]
/// is `Some`, or a close without a response (`None`), because the framing cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// F1: the first bytes are an HTTP request line (`GET `, `POST`, ...): an HTTP client or
    /// proxy was pointed at the FastCGI socket.
    LooksLikeHttp,
    /// F1: a record's version byte is not 1.
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// F9: a `BEGIN_REQUEST` whose content is not 8 bytes.
    BeginRequestLength {
        /// The content length received.
        length: usize,
    },
    /// F18: a name-value pair with a zero-length name.
    EmptyName,
    /// F17, F15: the PARAMS stream is over `buffer-size`, or a pair's lengths claim it
    /// would be (refused as soon as the lengths are read, before any byte of the pair is
    /// stored, so a claim of 2^31 - 1 costs nothing).
    ParamsTooLarge {
        /// The configured limit.
        limit: u32,
    },
    /// A single name or value over 65535 bytes, the most a [`Var`] can describe. Only
    /// reachable with `buffer-size` raised above 64 KiB.
    ParamTooLong {
        /// The length of the name or value.
        length: u32,
    },
    /// F17: more pairs than `max-vars` (refused when pair `max-vars + 1` starts).
    TooManyVars {
        /// The configured limit.
        limit: u32,
    },
    /// F15: the PARAMS stream ended (empty PARAMS record) inside a pair: a cut length field,
    /// or a name or value running past the end of the stream.
    TruncatedParams,
    /// F22: PARAMS content after the stream's empty record.
    ParamsAfterEnd,
    /// `CONTENT_LENGTH`, `REQUEST_METHOD` or `REQUEST_URI` given twice with different values
    /// (as uwsgi U11: two parties that pick different copies disagree on the request).
    ConflictingDuplicate {
        /// Which key.
        key: KeyId,
    },
    /// `CONTENT_LENGTH` is not plain ASCII digits (as uwsgi U16).
    InvalidContentLength,
    /// `CONTENT_LENGTH` is 2^53 or more (as uwsgi U17).
    ContentLengthOverflow,
    /// `CONTENT_LENGTH` is over `limit-post` (as uwsgi U18).
    BodyTooLarge {
        /// The declared body length.
        length: u64,
        /// The configured limit.
        limit: u64,
    },
    /// No `REQUEST_METHOD` param (as uwsgi U24).
    MissingMethod,
    /// `REQUEST_METHOD` is empty or has bytes outside the HTTP token grammar (as uwsgi U24).
    InvalidMethod,
}

impl Error {
    /// The status of the static response to send before `END_REQUEST`, or `None` to close
    /// without one (record framing errors: nobody sensible to answer, F1, F9, F22).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::LooksLikeHttp
            | Error::UnsupportedVersion { .. }
            | Error::BeginRequestLength { .. }
            | Error::ParamsAfterEnd => None,
            Error::EmptyName
            | Error::TooManyVars { .. }
            | Error::TruncatedParams
            | Error::ConflictingDuplicate { .. }
            | Error::InvalidContentLength
            | Error::ContentLengthOverflow
            | Error::MissingMethod
            | Error::InvalidMethod => Some(400),
            Error::ParamsTooLarge { .. } | Error::ParamTooLong { .. } => Some(431),
            Error::BodyTooLarge { .. } => Some(413),
        }
    }

    /// The server option that raises the limit this error enforces, if it is a limit
    /// (`"buffer-size"`, `"max-vars"`, `"limit-post"`).
    pub fn limit_option(&self) -> Option<&'static str> {
        match self {
            Error::ParamsTooLarge { .. } => Some("buffer-size"),
            Error::TooManyVars { .. } => Some("max-vars"),
            Error::BodyTooLarge { .. } => Some("limit-post"),
            _ => None,
        }
    }

    /// A stable, machine-readable name (`"fastcgi_params_too_large"`, ...), used as the log
    /// code and in the JavaScript error table.
    pub fn code(&self) -> &'static str {
        match self {
            Error::LooksLikeHttp => "fastcgi_looks_like_http",
            Error::UnsupportedVersion { .. } => "fastcgi_unsupported_version",
            Error::BeginRequestLength { .. } => "fastcgi_begin_request_length",
            Error::EmptyName => "fastcgi_empty_name",
            Error::ParamsTooLarge { .. } => "fastcgi_params_too_large",
            Error::ParamTooLong { .. } => "fastcgi_param_too_long",
            Error::TooManyVars { .. } => "fastcgi_too_many_vars",
            Error::TruncatedParams => "fastcgi_truncated_params",
            Error::ParamsAfterEnd => "fastcgi_params_after_end",
            Error::ConflictingDuplicate { .. } => "fastcgi_conflicting_duplicate",
            Error::InvalidContentLength => "fastcgi_invalid_content_length",
            Error::ContentLengthOverflow => "fastcgi_content_length_overflow",
            Error::BodyTooLarge { .. } => "fastcgi_body_too_large",
            Error::MissingMethod => "fastcgi_missing_method",
            Error::InvalidMethod => "fastcgi_invalid_method",
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
    /// One line for the log, worded as uwsgi's are. Static text and numbers only: nothing
    /// from the request is echoed, so a log line can never carry a peer's bytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::LooksLikeHttp => f.write_str(
                "HTTP request sent to a FastCGI socket (point an HTTP client at --http-socket, or use fastcgi_pass in nginx)",
            ),
            Error::UnsupportedVersion { version } => {
                write!(f, "FastCGI record version {version} is not supported (only {VERSION_1} is)")
            }
            Error::BeginRequestLength { length } => {
                write!(f, "FastCGI BEGIN_REQUEST content is {length} bytes, not {BODY_LEN}")
            }
            Error::EmptyName => f.write_str("FastCGI param with an empty name"),
            Error::ParamsTooLarge { limit } => {
                write!(f, "FastCGI params are over buffer-size {limit} bytes (raise --buffer-size)")
            }
            Error::ParamTooLong { length } => {
                write!(f, "FastCGI param name or value of {length} bytes is over 65535")
            }
            Error::TooManyVars { limit } => {
                write!(f, "FastCGI request has more than max-vars {limit} params (raise --max-vars)")
            }
            Error::TruncatedParams => f.write_str("FastCGI params stream ended inside a name-value pair"),
            Error::ParamsAfterEnd => f.write_str("FastCGI PARAMS record after the end of the params stream"),
            Error::ConflictingDuplicate { key } => match keys::name(key) {
                Some(name) => write!(f, "FastCGI param {name} given twice with different values"),
                None => write!(f, "FastCGI param with key id {key} given twice with different values"),
            },
            Error::InvalidContentLength => f.write_str("FastCGI CONTENT_LENGTH is not plain ASCII digits"),
            Error::ContentLengthOverflow => {
                write!(f, "FastCGI CONTENT_LENGTH is over {} (2^53 - 1)", crate::MAX_CONTENT_LENGTH)
            }
            Error::BodyTooLarge { length, limit } => write!(
                f,
                "FastCGI request body of {length} bytes is over limit-post {limit} (raise --limit-post)"
            ),
            Error::MissingMethod => f.write_str("FastCGI request has no REQUEST_METHOD param"),
            Error::InvalidMethod => f.write_str("FastCGI REQUEST_METHOD is empty or not an HTTP token"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses the 8-byte record header at the start of `buf`.
///
/// `Partial` while fewer than 8 bytes are there. A version byte other than 1 is refused as
/// soon as it arrives (F1), except that bytes that may start an HTTP request line (`GET `,
/// `POST`, ...: the rule of [`crate::uwsgi::parse_header`]) wait for their fourth byte to
/// be told apart: [`Error::LooksLikeHttp`] makes the clearer log line. Every prefix of a
/// buffer answers `Partial` or what the whole buffer answers. The type, ids and lengths are
/// not judged here: any value is a well-formed header.
pub fn parse_record_header(buf: &[u8]) -> Result<Status<RecordHeader>, Error> {
    let &[version, ..] = buf else {
        return Ok(Status::Partial);
    };
    if version != VERSION_1 {
        return match http_prefix(buf) {
            Prefix::Http => Err(Error::LooksLikeHttp),
            Prefix::Maybe => Ok(Status::Partial),
            Prefix::No => Err(Error::UnsupportedVersion { version }),
        };
    }
    let &[_, record_type, id_hi, id_lo, len_hi, len_lo, padding_length, _reserved, ..] = buf else {
        return Ok(Status::Partial);
    };
    Ok(Status::Complete(RecordHeader {
        record_type: RecordType::from_u8(record_type),
        request_id: u16::from_be_bytes([id_hi, id_lo]),
        content_length: u16::from_be_bytes([len_hi, len_lo]),
        padding_length,
    }))
}

/// Parses one whole record at the start of `buf`: `Complete((header, content, n))` where
/// `buf[content]` is the content and `n` the bytes consumed (header, content and padding);
/// the next record starts at `buf[n..]`.
///
/// `Partial` until the padding is there too, so the caller never has to remember a record
/// half skipped; the padding bytes are never looked at (F3). Header errors come as soon as
/// the header shows them ([`parse_record_header`]).
///
/// ```
/// use tsgi_wire::fastcgi::{self, RecordType};
/// use tsgi_wire::Status;
///
/// // STDIN for request 1, 3 bytes of content, 5 of padding.
/// let buf = b"\x01\x05\x00\x01\x00\x03\x05\x00abc\0\0\0\0\0";
/// assert_eq!(fastcgi::parse_record(&buf[..15]), Ok(Status::Partial));
/// let Ok(Status::Complete((header, content, n))) = fastcgi::parse_record(buf) else { panic!() };
/// assert_eq!((header.record_type, header.request_id, &buf[content], n), (RecordType::Stdin, 1, &b"abc"[..], 16));
/// assert_eq!(fastcgi::parse_record(b"GET / HTTP/1.1\r\n"), Err(fastcgi::Error::LooksLikeHttp));
/// ```
pub fn parse_record(buf: &[u8]) -> Result<Status<(RecordHeader, Range<usize>, usize)>, Error> {
    let header = match parse_record_header(buf)? {
        Status::Complete(header) => header,
        Status::Partial => return Ok(Status::Partial),
    };
    let n = header.total_len();
    if buf.len() < n {
        return Ok(Status::Partial);
    }
    let content = HEADER_LEN..HEADER_LEN + usize::from(header.content_length);
    Ok(Status::Complete((header, content, n)))
}

/// Parses the content of a `BEGIN_REQUEST` record: `role: u16 BE`, `flags`, 5 reserved
/// bytes. Anything but 8 bytes is [`Error::BeginRequestLength`] (F9): a peer that gets this
/// wrong cannot be trusted with the rest of the framing. Unknown roles are returned, not
/// refused (F11 is answered with an `END_REQUEST`).
pub fn parse_begin_request(content: &[u8]) -> Result<BeginRequest, Error> {
    let &[role_hi, role_lo, flags, _, _, _, _, _] = content else {
        return Err(Error::BeginRequestLength { length: content.len() });
    };
    Ok(BeginRequest { role: Role::from_u16(u16::from_be_bytes([role_hi, role_lo])), flags })
}

/// The two lengths at the start of a name-value pair, and the bytes their fields take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PairLens {
    name: u32,
    value: u32,
    /// 2, 5 or 8.
    fields: usize,
}

impl PairLens {
    /// Fields + name + value, in u64 so that two 31-bit lengths cannot overflow on any target.
    fn total(&self) -> u64 {
        self.fields as u64 + u64::from(self.name) + u64::from(self.value)
    }
}

/// A parsed name-value pair: the name's and the value's ranges in the buffer, and the
/// bytes the pair takes (length fields included).
pub type NameValue = (Range<usize>, Range<usize>, usize);

/// One length field of a name-value pair at `buf[pos..]`: `Complete((len, width))`.
/// High bit clear: the byte is the length (0-127). High bit set: four bytes big-endian,
/// the high bit dropped, `((B3 & 0x7f) << 24) | (B2 << 16) | (B1 << 8) | B0`. A 4-byte
/// form of a small length is accepted (F14): the spec does not forbid it.
#[inline]
fn read_nv_len(buf: &[u8], pos: usize) -> Status<(u32, usize)> {
    match buf.get(pos..) {
        Some(&[b, ..]) if b & 0x80 == 0 => Status::Complete((u32::from(b), 1)),
        Some(&[b3, b2, b1, b0, ..]) => Status::Complete((u32::from_be_bytes([b3 & 0x7f, b2, b1, b0]), 4)),
        _ => Status::Partial,
    }
}

/// Reads both length fields of the pair at the start of `buf`. A zero name length is
/// [`Error::EmptyName`] (F18) as soon as it is read.
fn parse_lens(buf: &[u8]) -> Result<Status<PairLens>, Error> {
    let Status::Complete((name, name_width)) = read_nv_len(buf, 0) else {
        return Ok(Status::Partial);
    };
    if name == 0 {
        return Err(Error::EmptyName);
    }
    let Status::Complete((value, value_width)) = read_nv_len(buf, name_width) else {
        return Ok(Status::Partial);
    };
    Ok(Status::Complete(PairLens { name, value, fields: name_width + value_width }))
}

/// Parses one name-value pair at the start of `buf` (PARAMS or GET_VALUES content):
/// `Complete((name, value, n))` with `buf[name]`, `buf[value]` and `n` bytes consumed.
///
/// `Partial` until the whole pair is there. On a complete record's content (GET_VALUES) a
/// `Partial` means the pair runs past the record: the caller's truncation error. Nothing is
/// allocated, so a length of 2^31 - 1 is merely `Partial`; a stream that must bound what
/// it keeps uses [`ParamsDecoder`]. A zero-length name is [`Error::EmptyName`] (F18).
///
/// ```
/// use tsgi_wire::fastcgi;
/// use tsgi_wire::Status;
///
/// let buf = b"\x04\x80\x00\x00\x03HOSTa.b";
/// let Ok(Status::Complete((name, value, n))) = fastcgi::parse_name_value(buf) else { panic!() };
/// assert_eq!((&buf[name], &buf[value], n), (&b"HOST"[..], &b"a.b"[..], 12));
/// ```
pub fn parse_name_value(buf: &[u8]) -> Result<Status<NameValue>, Error> {
    let lens = match parse_lens(buf)? {
        Status::Complete(lens) => lens,
        Status::Partial => return Ok(Status::Partial),
    };
    let Some(n) = usize::try_from(lens.total()).ok().filter(|&n| n <= buf.len()) else {
        return Ok(Status::Partial);
    };
    // Every sum below is bounded by `n`, which is at most `buf.len()`.
    let name = lens.fields..lens.fields + lens.name as usize;
    let value = name.end..n;
    Ok(Status::Complete((name, value, n)))
}

/// Where a [`ParamsDecoder`] is.
#[derive(Debug, Clone)]
enum State {
    /// Taking PARAMS content.
    Open,
    /// The empty PARAMS record came and the request passed its checks.
    Done(RequestInfo),
    /// An error was returned; every later call returns it again.
    Failed(Error),
}

/// Reassembles one request's PARAMS stream, fed one record's content at a time, into the
/// canonical var form of [`crate::uwsgi`]: a contiguous block of bytes and [`Var`]s with
/// offsets into it and key ids from [`keys::lookup`]. The same request sent over uwsgi
/// and FastCGI gives the same key ids, names and values in the same order.
///
/// The block is the PARAMS stream itself (the records' contents concatenated, length fields
/// included), so a pair cut across records, or a length field cut across records (F16),
/// is read once the rest arrives, and each byte is copied once. It never grows past
/// [`Limits::max_params_bytes`]: bytes beyond the limit are not stored, and a pair whose
/// lengths claim to end beyond it is refused as soon as the lengths are read (F15, F17).
///
/// Errors come in the order of the stream, so any cut of the same stream into records
/// gives the same error: per pair, [`Error::TooManyVars`] when it starts, [`Error::EmptyName`]
/// once its name length is read, [`Error::ParamsTooLarge`] then [`Error::ParamTooLong`] once
/// both lengths are read; [`Error::ParamsTooLarge`] when the stream's bytes pass the limit;
/// at the end of the stream, [`Error::TruncatedParams`] inside a pair, then the request
/// checks uwsgi makes, in its order ([`crate::uwsgi::parse_vars`], round 2).
///
/// ```
/// use tsgi_wire::fastcgi::{Limits, ParamsDecoder};
/// use tsgi_wire::{keys, Status};
///
/// let mut params = ParamsDecoder::new(Limits::default());
/// // REQUEST_METHOD=GET, cut inside the name, across two PARAMS records.
/// assert_eq!(params.feed(b"\x0e\x03REQUEST_"), Ok(Status::Partial));
/// assert_eq!(params.feed(b"METHODGET"), Ok(Status::Partial));
/// let Ok(Status::Complete(info)) = params.feed(b"") else { panic!() };
/// assert_eq!(info.content_length, 0);
/// assert_eq!(params.vars()[0].key_id, keys::id::REQUEST_METHOD);
/// assert_eq!(params.pair(&params.vars()[0]), (&b"REQUEST_METHOD"[..], &b"GET"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct ParamsDecoder {
    limits: Limits,
    block: Vec<u8>,
    vars: Vec<Var>,
    /// Offset in `block` of the first pair not yet read.
    parsed: usize,
    framing: Framing,
    state: State,
}

impl ParamsDecoder {
    /// A decoder for one request's PARAMS stream. Allocates nothing until fed.
    pub fn new(limits: Limits) -> Self {
        ParamsDecoder {
            limits,
            block: Vec::new(),
            vars: Vec::new(),
            parsed: 0,
            framing: Framing::default(),
            state: State::Open,
        }
    }

    /// Makes the decoder ready for the next request on a kept-alive connection, keeping
    /// its allocations.
    pub fn reset(&mut self) {
        self.block.clear();
        self.vars.clear();
        self.parsed = 0;
        self.framing = Framing::default();
        self.state = State::Open;
    }

    /// Takes the content of the next PARAMS record. Non-empty content: `Partial` (more
    /// records to come) or an error. Empty content, the end of the stream: the request's
    /// checks, `Complete(info)` with the body length. After `Complete`, more content is
    /// [`Error::ParamsAfterEnd`] (F22); after an error, the same error again.
    pub fn feed(&mut self, content: &[u8]) -> Result<Status<RequestInfo>, Error> {
        match self.state {
            State::Open => {}
            State::Done(_) => return Err(Error::ParamsAfterEnd),
            State::Failed(e) => return Err(e),
        }
        let result = if content.is_empty() { self.finish().map(Status::Complete) } else { self.take(content) };
        self.state = match result {
            Ok(Status::Complete(info)) => State::Done(info),
            Ok(Status::Partial) => State::Open,
            Err(e) => State::Failed(e),
        };
        result
    }

    /// Stores what fits under the limit, reads every pair now complete, and only then
    /// reports bytes past the limit, so an error earlier in the stream wins whatever the cut.
    fn take(&mut self, content: &[u8]) -> Result<Status<RequestInfo>, Error> {
        let limit = self.limits.max_params_bytes as usize;
        // `block.len() <= limit` always holds, so the subtraction cannot wrap.
        let room = limit - self.block.len();
        let (fits, over) = content.split_at(content.len().min(room));
        self.block.extend_from_slice(fits);
        self.read_pairs()?;
        if !over.is_empty() {
            return Err(Error::ParamsTooLarge { limit: self.limits.max_params_bytes });
        }
        Ok(Status::Partial)
    }

    /// Reads every complete pair after `parsed`.
    fn read_pairs(&mut self) -> Result<(), Error> {
        while self.parsed < self.block.len() {
            if self.vars.len() as u64 >= u64::from(self.limits.max_vars) {
                return Err(Error::TooManyVars { limit: self.limits.max_vars });
            }
            let lens = match parse_lens(&self.block[self.parsed..])? {
                Status::Complete(lens) => lens,
                Status::Partial => return Ok(()),
            };
            let end = (self.parsed as u64)
                .checked_add(lens.total())
                .filter(|&end| end <= u64::from(self.limits.max_params_bytes))
                .ok_or(Error::ParamsTooLarge { limit: self.limits.max_params_bytes })?;
            for length in [lens.name, lens.value] {
                if length > u32::from(u16::MAX) {
                    return Err(Error::ParamTooLong { length });
                }
            }
            // `end` is at most the limit, a u32, so it fits a usize on every target we build.
            let end = end as usize;
            if end > self.block.len() {
                return Ok(());
            }
            let key_offset = self.parsed + lens.fields;
            let value_offset = key_offset + lens.name as usize;
            let key_id = keys::lookup(&self.block[key_offset..value_offset]);
            self.framing.see(&self.block, key_id, (value_offset, lens.value as usize));
            // The casts cannot truncate: offsets are below the u32 limit and both lengths
            // were checked against u16::MAX above.
            self.vars.push(Var {
                key_id,
                key_offset: key_offset as u32,
                key_len: lens.name as u16,
                value_offset: value_offset as u32,
                value_len: lens.value as u16,
            });
            self.parsed = end;
        }
        Ok(())
    }

    /// The end of the stream: no pair may be left half read (F15), then the request checks.
    fn finish(&mut self) -> Result<RequestInfo, Error> {
        if self.parsed != self.block.len() {
            return Err(Error::TruncatedParams);
        }
        Ok(self.framing.finish(&self.block, self.limits.max_body)?)
    }

    /// `Some(info)` once the stream ended and the request passed its checks.
    pub fn info(&self) -> Option<RequestInfo> {
        match self.state {
            State::Done(info) => Some(info),
            _ => None,
        }
    }

    /// The PARAMS stream so far, up to the limit; the [`Var`] offsets point into it.
    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// The pairs read so far, in wire order, duplicates included. Complete only once
    /// [`ParamsDecoder::feed`] answered `Complete`.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// Name and value of `var`, one of [`ParamsDecoder::vars`].
    pub fn pair(&self, var: &Var) -> (&[u8], &[u8]) {
        let name = var.key_offset as usize;
        let value = var.value_offset as usize;
        (&self.block[name..name + usize::from(var.key_len)], &self.block[value..value + usize::from(var.value_len)])
    }

    /// The block and vars, for handing the request over without a copy.
    pub fn into_parts(self) -> (Vec<u8>, Vec<Var>) {
        (self.block, self.vars)
    }
}

/// Writing the records an application sends. Each function measures what it will write,
/// reserves it, then writes once; nothing is written when an error is returned.
///
/// Records are not padded: padding is the sender's option ("should", spec §3.3) meant to
/// help receivers align, every front-end skips whatever `paddingLength` says, and leaving it
/// out saves up to 7 bytes per record and a fill. Streams are cut into records of
/// [`MAX_CONTENT_LEN`] (65535) bytes, the most one can hold.
pub mod encode {
    use super::{ProtocolStatus, RecordType, BODY_LEN, HEADER_LEN, MAX_CONTENT_LEN, NULL_REQUEST_ID, VERSION_1};

    /// A GET_VALUES_RESULT whose pairs do not fit one record (65535 bytes of content).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecordTooLarge {
        /// The content length the pairs need.
        pub length: usize,
    }

    impl core::fmt::Display for RecordTooLarge {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "FastCGI record content of {} bytes is over {MAX_CONTENT_LEN}", self.length)
        }
    }

    impl std::error::Error for RecordTooLarge {}

    /// Appends a record header. `content_length` is the caller's promise of what follows.
    pub fn record_header(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, content_length: u16) {
        let [id_hi, id_lo] = request_id.to_be_bytes();
        let [len_hi, len_lo] = content_length.to_be_bytes();
        out.extend_from_slice(&[VERSION_1, record_type.as_u8(), id_hi, id_lo, len_hi, len_lo, 0, 0]);
    }

    /// How many bytes [`stream`] appends for `data_len` bytes of data: one header per
    /// started 65535 bytes, none for empty data.
    pub fn stream_len(data_len: usize) -> usize {
        data_len.div_ceil(MAX_CONTENT_LEN) * HEADER_LEN + data_len
    }

    /// Appends `data` as records of `record_type` for `request_id`, at most 65535 bytes of
    /// content each. Empty `data` appends nothing: an empty record would end the stream
    /// (F26), which only [`end_stream`] does.
    pub fn stream(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, data: &[u8]) {
        out.reserve(stream_len(data.len()));
        for chunk in data.chunks(MAX_CONTENT_LEN) {
            // `chunks` never yields more than MAX_CONTENT_LEN bytes, so this cannot truncate.
            record_header(out, record_type, request_id, chunk.len() as u16);
            out.extend_from_slice(chunk);
        }
    }

    /// Frames data already appended to `out` as [`stream`] would, without copying it in
    /// the usual case: the caller reserved [`HEADER_LEN`] bytes at `start`, appended the
    /// data after them, and this fills in the header. Empty data removes the reserved bytes
    /// (F26); data over 65535 bytes is re-cut into several records.
    ///
    /// ```
    /// use tsgi_wire::fastcgi::{encode, RecordType, HEADER_LEN};
    ///
    /// let mut out = vec![0; HEADER_LEN];
    /// out.extend_from_slice(b"hi");
    /// encode::frame_in_place(&mut out, RecordType::Stdout, 1, 0);
    /// assert_eq!(out, b"\x01\x06\x00\x01\x00\x02\x00\x00hi");
    /// ```
    pub fn frame_in_place(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, start: usize) {
        let len = out.len() - start - HEADER_LEN;
        if len == 0 {
            out.truncate(start);
        } else if len <= MAX_CONTENT_LEN {
            let [id_hi, id_lo] = request_id.to_be_bytes();
            let [len_hi, len_lo] = (len as u16).to_be_bytes();
            out[start..start + HEADER_LEN].copy_from_slice(&[
                VERSION_1,
                record_type.as_u8(),
                id_hi,
                id_lo,
                len_hi,
                len_lo,
                0,
                0,
            ]);
        } else {
            let data = out.split_off(start + HEADER_LEN);
            out.truncate(start);
            stream(out, record_type, request_id, &data);
        }
    }

    /// [`stream`] on STDOUT: part of the CGI response.
    pub fn stdout(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
        stream(out, RecordType::Stdout, request_id, data);
    }

    /// [`stream`] on STDERR: text for the web server's error log.
    pub fn stderr(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
        stream(out, RecordType::Stderr, request_id, data);
    }

    /// Appends the empty record that ends a stream of `record_type` (STDOUT before
    /// `END_REQUEST`; STDERR optionally).
    pub fn end_stream(out: &mut Vec<u8>, record_type: RecordType, request_id: u16) {
        record_header(out, record_type, request_id, 0);
    }

    /// Appends `END_REQUEST`: `appStatus` (the exit code, 0 for success) and the
    /// protocol status.
    pub fn end_request(out: &mut Vec<u8>, request_id: u16, app_status: u32, protocol_status: ProtocolStatus) {
        out.reserve(HEADER_LEN + BODY_LEN);
        record_header(out, RecordType::EndRequest, request_id, BODY_LEN as u16);
        out.extend_from_slice(&app_status.to_be_bytes());
        out.extend_from_slice(&[protocol_status as u8, 0, 0, 0]);
    }

    /// Appends `UNKNOWN_TYPE` naming a management type this application does not know (F4).
    pub fn unknown_type(out: &mut Vec<u8>, record_type: u8) {
        out.reserve(HEADER_LEN + BODY_LEN);
        record_header(out, RecordType::UnknownType, NULL_REQUEST_ID, BODY_LEN as u16);
        out.extend_from_slice(&[record_type, 0, 0, 0, 0, 0, 0, 0]);
    }

    /// Bytes of one length field for `len`: 1 below 128, else 4.
    fn nv_len_width(len: usize) -> usize {
        if len < 0x80 {
            1
        } else {
            4
        }
    }

    /// Appends a length field in its minimal form; `len` is at most 65535 (checked by the
    /// caller), so the 4-byte form's high bit is free for the flag.
    fn push_nv_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
        }
    }

    /// Appends one `GET_VALUES_RESULT` record (request id 0) holding `pairs`, the values
    /// of the names asked for that this application knows (F5). The pairs must fit one
    /// record: the spec has no continuation for management records.
    pub fn get_values_result(out: &mut Vec<u8>, pairs: &[(&[u8], &[u8])]) -> Result<(), RecordTooLarge> {
        let mut length: usize = 0;
        for (name, value) in pairs {
            length = [nv_len_width(name.len()), nv_len_width(value.len()), name.len(), value.len()]
                .into_iter()
                .try_fold(length, usize::checked_add)
                .unwrap_or(usize::MAX);
        }
        let content_length = u16::try_from(length).map_err(|_| RecordTooLarge { length })?;
        out.reserve(HEADER_LEN + length);
        record_header(out, RecordType::GetValuesResult, NULL_REQUEST_ID, content_length);
        for (name, value) in pairs {
            push_nv_len(out, name.len());
            push_nv_len(out, value.len());
            out.extend_from_slice(name);
            out.extend_from_slice(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_type_and_role_round_trip() {
        for t in 0..=255u8 {
            assert_eq!(RecordType::from_u8(t).as_u8(), t);
            assert_eq!(matches!(RecordType::from_u8(t), RecordType::Unknown(_)), t == 0 || t > 11);
        }
        for r in [0u16, 1, 2, 3, 4, 0xffff] {
            assert_eq!(Role::from_u16(r).as_u16(), r);
        }
        let management: Vec<u8> = (0..=255).filter(|&t| RecordType::from_u8(t).is_management()).collect();
        assert_eq!(management, [9, 10, 11]);
    }

    #[test]
    fn nv_len_forms() {
        assert_eq!(read_nv_len(&[0x7f], 0), Status::Complete((127, 1)));
        assert_eq!(read_nv_len(&[0x80, 0, 0, 0x80], 0), Status::Complete((128, 4)));
        assert_eq!(read_nv_len(&[0x80, 0, 0, 1], 0), Status::Complete((1, 4)));
        assert_eq!(read_nv_len(&[0xff, 0xff, 0xff, 0xff], 0), Status::Complete((0x7fff_ffff, 4)));
        assert_eq!(read_nv_len(&[0x80, 0, 0], 0), Status::Partial);
        assert_eq!(read_nv_len(&[1], 1), Status::Partial);
        assert_eq!(read_nv_len(&[1], 2), Status::Partial);
    }
}
