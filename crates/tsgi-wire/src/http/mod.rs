//! HTTP/1.1 requests, as `--http-socket` receives them from a client or a proxy.
//!
//! Two pure functions of bytes, for the reactor's connection state machine:
//!
//! - [`parse_head`] reads a request head (request line and header section) and fills
//!   [`HeadVars`] with the same canonical CGI vars the uwsgi and FastCGI codecs produce
//!   (one contiguous block, [`Var`]s with offsets into it and key ids from
//!   [`crate::keys::lookup`]), and answers a [`Head`]: how many bytes the head took, how the
//!   body is framed ([`BodyFraming`]), keep-alive, `Expect: 100-continue`, upgrade.
//! - [`ChunkedDecoder`] decodes a `Transfer-Encoding: chunked` body fed in whatever pieces
//!   arrived, returning the data as ranges of its input, so the caller copies it once.
//!
//! A `Content-Length` body needs no decoder: it is the next `n` bytes.
//!
//! `httparse` tokenises the header fields. Everything it is lenient about, and all the
//! framing semantics, are ours: the request line is read byte by byte here (so that a bad
//! method, target or version is refused as soon as its byte arrives, with its own error),
//! line ends are checked to be CRLF before `httparse` sees them (it takes a bare LF as a
//! line end), and `Content-Length` / `Transfer-Encoding` are interpreted here. Failure
//! behaviour follows `docs/malformed-input.md` (HTTP/1.1): every framing or
//! smuggling case is an [`Error`] with status 400 (a few limits 413/414/431, an unmet
//! expectation 417), after which the reactor answers and closes: no second request is
//! ever read from the same bytes. Each variant's doc names the case it implements (the
//! llhttp test section, the gunicorn corpus file, the CVE).
//!
//! Every parse follows the crate's rule: every prefix of a buffer answers
//! [`crate::Status::Partial`] or what the whole buffer answers, and the chunked decoder
//! gives the same data, end and error however its input is cut.

mod chunked;
mod head;

pub use crate::uwsgi::Var;
pub use chunked::{ChunkedDecoder, Decoded};
pub use head::{parse_head, BodyFraming, Head, HeadVars, MAX_EMPTY_LINES};

/// Limits applied while parsing. Each is a server option; the error that enforces it names
/// the option so the log line tells the operator what to raise. Every limit passes at N and
/// refuses at N + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, in bytes, without its CRLF (option `http-max-request-line`).
    /// Over it: 414 ([`Error::RequestLineTooLong`]). Default 8192, as nginx's
    /// `large_client_header_buffers` and gunicorn's `limit_request_line` allow about 8 KiB.
    pub max_request_line: u32,
    /// Largest head, in bytes, from the first byte of the request line to the end of the
    /// empty line that closes the header section, both included (option `http-max-head`).
    /// Over it: 431 ([`Error::HeadTooLarge`]). Also the cap on a chunked body's trailer
    /// section ([`Error::TrailersTooLarge`]). Default 16384, Node's `maxHeaderSize` since
    /// CVE-2018-12121.
    pub max_head_bytes: u32,
    /// Most header field lines in a head (option `http-max-headers`); dropped fields count.
    /// Over it: 431 ([`Error::TooManyHeaders`]). Default 100, gunicorn's
    /// `limit_request_fields`.
    pub max_headers: u32,
    /// Largest request body (option `limit-post`, shared with uwsgi and FastCGI); 0 means no
    /// limit. A `Content-Length` over it is refused with the head, a chunked body when a
    /// chunk size takes the total over it: 413 ([`Error::BodyTooLarge`]). Default 0.
    pub max_body: u64,
    /// Most chunk-extension bytes on one chunk-size line, from the `;` to the CR (option
    /// `http-max-chunk-extension`). Over it: 413 ([`Error::ChunkExtensionTooLong`], as Node
    /// answers since CVE-2024-22019). Default 4096.
    pub max_chunk_extension: u32,
}

/// Default of [`Limits::max_request_line`].
pub const DEFAULT_MAX_REQUEST_LINE: u32 = 8192;
/// Default of [`Limits::max_head_bytes`].
pub const DEFAULT_MAX_HEAD_BYTES: u32 = 16384;
/// Default of [`Limits::max_headers`].
pub const DEFAULT_MAX_HEADERS: u32 = 100;
/// Default of [`Limits::max_chunk_extension`].
pub const DEFAULT_MAX_CHUNK_EXTENSION: u32 = 4096;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: DEFAULT_MAX_REQUEST_LINE,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body: 0,
            max_chunk_extension: DEFAULT_MAX_CHUNK_EXTENSION,
        }
    }
}

/// A malformed or refused request. Every variant is answered with a static response of
/// [`Error::status`] and `Connection: close`, then the connection is closed (after the
/// response, draining a bounded amount): nothing after the bytes that failed is parsed.
/// A chunked-body error that comes while the app already runs aborts the request instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// More than [`MAX_EMPTY_LINES`] empty lines (CRLF) before the request line. RFC 9112
    /// §2.2 lets a server skip "at least one"; a stream of them is not a client.
    TooManyEmptyLines,
    /// A LF not preceded by CR, anywhere in the head or in a chunked body's framing
    /// (CVE-2022-32214, llhttp "Only LFs present", waitress CVE-2019-16785). Peers that
    /// disagree on line ends disagree on where headers and requests end.
    BareLf,
    /// A CR not followed by LF (CVE-2023-30589; `\r\n\rX` ending the head, CVE-2025-23167;
    /// `x:\rTransfer-Encoding: chunked`, CVE-2022-35256; llhttp "Headers separated by CR",
    /// "Empty headers separated by CR").
    BareCr,
    /// The method is empty, has a byte outside the token grammar (NUL, `:`, ...), or a
    /// lower-case letter: methods are case-sensitive and not folded, so `get` is not `GET`
    /// (gunicorn `invalid/003`, `prefix_01`; llhttp "Invalid method").
    InvalidMethod,
    /// The request target: a byte outside `!`..`~` (controls, non-ASCII, a second space),
    /// a `#` (a fragment is never sent), or a form the method does not allow: `*` only with
    /// OPTIONS, authority form (`host:port`) only and always with CONNECT, absolute form
    /// only `http`/`https` with a host and no userinfo (gunicorn `rfc9112_target_*`).
    InvalidTarget,
    /// The version is not exactly `HTTP/1.0` or `HTTP/1.1` followed by CRLF (`HTTP/2.0`,
    /// `HTTP/1.10`, `http/1.1`, a trailing space, no version at all: gunicorn `version_*`,
    /// llhttp "Invalid HTTP version").
    InvalidVersion,
    /// The request line is longer than `http-max-request-line`: 414.
    RequestLineTooLong {
        /// The configured limit.
        limit: u32,
    },
    /// The head is larger than `http-max-head` (CVE-2018-12121): 431.
    HeadTooLarge {
        /// The configured limit.
        limit: u32,
    },
    /// More header field lines than `http-max-headers`: 431.
    TooManyHeaders {
        /// The configured limit.
        limit: u32,
    },
    /// A single var name or value of more than 65535 bytes, the most a [`Var`] describes.
    /// Only reachable with `http-max-head` or `http-max-request-line` raised above 64 KiB: 431.
    FieldTooLong {
        /// The length of the name or value.
        length: usize,
    },
    /// White space at the start of the first header line (RFC 9112 §2.2; a space before
    /// `Content-Length`, CVE-2024-27982; llhttp "Unexpected space after start line").
    WhitespaceBeforeHeaders,
    /// A header line starting with white space: obs-fold, which a server must refuse (RFC
    /// 9112 §5.2; CVE-2022-32215; llhttp "Invalid OBS fold after chunked value").
    ObsFold,
    /// A header name that is empty, has a byte outside the token grammar (non-ASCII,
    /// gunicorn `nonascii_*`), or white space before the colon (CVE-2021-22959), or a line
    /// without a colon.
    InvalidHeaderName,
    /// A header value with a control byte other than HTAB (NUL, BEL, DEL: gunicorn
    /// `rfc9110_field_value_ctl_*`, waitress CVE-2019-16789).
    InvalidHeaderValue,
    /// `Content_Length` or `Transfer_Encoding` (any case): a framing header spelt so that
    /// a CGI mapping turns it into the real one (puma#4021, CVE-2026-68006; gunicorn
    /// `chunked_07`, `040`). Other names with `_` are dropped, these are refused.
    UnderscoreFramingHeader,
    /// `Content-Length` given twice, even with the same value (llhttp "Duplicate
    /// Content-Length"; gunicorn `rfc9112_smuggle_cl_*`).
    DuplicateContentLength,
    /// `Content-Length` is empty or not plain ASCII digits: `1 2` (CVE-2018-7159), `+5`
    /// (waitress GHSA-4f7p-27jc-3c36), `5, 5` (a list RFC 9112 §6.3 would let us take as 5:
    /// refused, as gunicorn `rfc9112_smuggle_cl_list_form_01` does).
    InvalidContentLength,
    /// `Content-Length` is 2^53 or more (llhttp "Error on Content-Length overflow").
    ContentLengthOverflow,
    /// Both `Content-Length` and `Transfer-Encoding` (llhttp "POST with Transfer-Encoding
    /// and Content-Length"; gunicorn `rfc9112_smuggle_cl_te_chunked_01`): the classic
    /// smuggling pair.
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` given twice (CVE-2020-8287; gunicorn `chunked_04`).
    DuplicateTransferEncoding,
    /// `Transfer-Encoding` other than exactly `chunked` (any case): `chunked, chunked`,
    /// `gzip, chunked`, `chunked, gzip`, `identity`, `chunkedchunked`, parameters
    /// (CVE-2019-15605; gunicorn `chunked_*`). RFC 9112 would answer an unknown coding
    /// with 501; §2.3 of our notes says 400, one answer for every framing doubt.
    UnsupportedTransferEncoding,
    /// `Transfer-Encoding` on an HTTP/1.0 request, whose framing RFC 9112 §6.1 says to
    /// treat as faulty (gunicorn 22).
    TransferEncodingOnHttp10,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2 requires 400; Node's server does
    /// the same with `requireHostHeader`).
    MissingHost,
    /// `Host` given twice (RFC 9112 §3.2).
    DuplicateHost,
    /// A `Host` value (or an absolute or authority-form target's authority) with a byte a
    /// host and port cannot hold: white space, `/`, `@`, `?`, `#`, quotes, non-ASCII.
    InvalidHost,
    /// A CONNECT request with `Content-Length` or `Transfer-Encoding`: what follows a
    /// CONNECT head is tunnel data, which parties would frame differently.
    BodyOnConnect,
    /// A `%` in the path not followed by two hex digits, or `%00`: PATH_INFO is decoded,
    /// and a NUL in it would cut file names short.
    InvalidPercentEncoding,
    /// An HTTP/1.1 `Expect` other than `100-continue` (RFC 9110 §10.1.1): 417, with a static
    /// body (civetweb#759 echoed the value).
    ExpectationFailed,
    /// The body is larger than `limit-post`: a `Content-Length` over it, or a chunk size
    /// that takes the chunked total over it: 413.
    BodyTooLarge {
        /// The declared length (for chunked bodies: the total so far with this chunk).
        length: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A chunk size that is not hex digits (none at all, `0x5`, `+5`, `-5`, `5_0`, a
    /// space before `;` or CR: gunicorn `chunked_01`, `chunked_09`, `chunked_12`,
    /// `rfc9112_chunked_size_*`; waitress GHSA-4f7p-27jc-3c36).
    InvalidChunkSize,
    /// A chunk size of 2^53 or more.
    ChunkSizeOverflow,
    /// A chunk extension that is not `;name[=token|"quoted"]`: white space, an empty name
    /// or value, an unbalanced quote, a control byte (CVE-2021-22960).
    InvalidChunkExtension,
    /// More chunk-extension bytes on one line than `http-max-chunk-extension`
    /// (CVE-2024-22019): 413, as Node answers.
    ChunkExtensionTooLong {
        /// The configured limit.
        limit: u32,
    },
    /// Chunk data not followed by CRLF (llhttp "Invalid chunk data terminator").
    ChunkDataNotTerminated,
    /// A trailer line that is not `name: value` (empty or non-token name, white space
    /// before the colon or at the start of the line, control bytes).
    InvalidTrailer,
    /// A trailer section larger than `http-max-head`: 431.
    TrailersTooLarge {
        /// The configured limit.
        limit: u32,
    },
}

impl Error {
    /// The status of the static response: 400 for every malformed or ambiguous request,
    /// 413 (body or chunk extension over its limit), 414 (request line), 417 (expectation),
    /// 431 (head, header count, trailers).
    pub fn status(&self) -> u16 {
        match self {
            Error::RequestLineTooLong { .. } => 414,
            Error::HeadTooLarge { .. }
            | Error::TooManyHeaders { .. }
            | Error::FieldTooLong { .. }
            | Error::TrailersTooLarge { .. } => 431,
            Error::BodyTooLarge { .. } | Error::ChunkExtensionTooLong { .. } => 413,
            Error::ExpectationFailed => 417,
            _ => 400,
        }
    }

    /// The server option that raises the limit this error enforces, if it is a limit
    /// (`"http-max-request-line"`, `"http-max-head"`, `"http-max-headers"`, `"limit-post"`,
    /// `"http-max-chunk-extension"`).
    pub fn limit_option(&self) -> Option<&'static str> {
        match self {
            Error::RequestLineTooLong { .. } => Some("http-max-request-line"),
            Error::HeadTooLarge { .. } | Error::TrailersTooLarge { .. } => Some("http-max-head"),
            Error::TooManyHeaders { .. } => Some("http-max-headers"),
            Error::BodyTooLarge { .. } => Some("limit-post"),
            Error::ChunkExtensionTooLong { .. } => Some("http-max-chunk-extension"),
            _ => None,
        }
    }

    /// A stable, machine-readable name (`"http_bare_lf"`, ...), used as the log code and in
    /// the JavaScript error table.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TooManyEmptyLines => "http_too_many_empty_lines",
            Error::BareLf => "http_bare_lf",
            Error::BareCr => "http_bare_cr",
            Error::InvalidMethod => "http_invalid_method",
            Error::InvalidTarget => "http_invalid_target",
            Error::InvalidVersion => "http_invalid_version",
            Error::RequestLineTooLong { .. } => "http_request_line_too_long",
            Error::HeadTooLarge { .. } => "http_head_too_large",
            Error::TooManyHeaders { .. } => "http_too_many_headers",
            Error::FieldTooLong { .. } => "http_field_too_long",
            Error::WhitespaceBeforeHeaders => "http_whitespace_before_headers",
            Error::ObsFold => "http_obs_fold",
            Error::InvalidHeaderName => "http_invalid_header_name",
            Error::InvalidHeaderValue => "http_invalid_header_value",
            Error::UnderscoreFramingHeader => "http_underscore_framing_header",
            Error::DuplicateContentLength => "http_duplicate_content_length",
            Error::InvalidContentLength => "http_invalid_content_length",
            Error::ContentLengthOverflow => "http_content_length_overflow",
            Error::ContentLengthWithTransferEncoding => "http_content_length_with_transfer_encoding",
            Error::DuplicateTransferEncoding => "http_duplicate_transfer_encoding",
            Error::UnsupportedTransferEncoding => "http_unsupported_transfer_encoding",
            Error::TransferEncodingOnHttp10 => "http_transfer_encoding_on_http10",
            Error::MissingHost => "http_missing_host",
            Error::DuplicateHost => "http_duplicate_host",
            Error::InvalidHost => "http_invalid_host",
            Error::BodyOnConnect => "http_body_on_connect",
            Error::InvalidPercentEncoding => "http_invalid_percent_encoding",
            Error::ExpectationFailed => "http_expectation_failed",
            Error::BodyTooLarge { .. } => "http_body_too_large",
            Error::InvalidChunkSize => "http_invalid_chunk_size",
            Error::ChunkSizeOverflow => "http_chunk_size_overflow",
            Error::InvalidChunkExtension => "http_invalid_chunk_extension",
            Error::ChunkExtensionTooLong { .. } => "http_chunk_extension_too_long",
            Error::ChunkDataNotTerminated => "http_chunk_data_not_terminated",
            Error::InvalidTrailer => "http_invalid_trailer",
            Error::TrailersTooLarge { .. } => "http_trailers_too_large",
        }
    }
}

impl core::fmt::Display for Error {
    /// One line for the log, worded as the uwsgi and FastCGI ones are. Static text and
    /// numbers only: nothing from the request is echoed, so a log line can never carry a
    /// peer's bytes (terminal escapes, forged lines).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::TooManyEmptyLines => {
                write!(f, "HTTP request has more than {MAX_EMPTY_LINES} empty lines before the request line")
            }
            Error::BareLf => f.write_str("HTTP line ended by a bare LF (CRLF required)"),
            Error::BareCr => f.write_str("HTTP CR not followed by LF"),
            Error::InvalidMethod => f.write_str("HTTP method is empty, not an HTTP token, or not upper case"),
            Error::InvalidTarget => f.write_str("HTTP request target is malformed or not allowed with its method"),
            Error::InvalidVersion => f.write_str("HTTP version is not HTTP/1.0 or HTTP/1.1"),
            Error::RequestLineTooLong { limit } => write!(
                f,
                "HTTP request line is over http-max-request-line {limit} bytes (raise --http-max-request-line)"
            ),
            Error::HeadTooLarge { limit } => {
                write!(f, "HTTP request head is over http-max-head {limit} bytes (raise --http-max-head)")
            }
            Error::TooManyHeaders { limit } => write!(
                f,
                "HTTP request has more than http-max-headers {limit} header fields (raise --http-max-headers)"
            ),
            Error::FieldTooLong { length } => write!(f, "HTTP header name or value of {length} bytes is over 65535"),
            Error::WhitespaceBeforeHeaders => f.write_str("HTTP white space before the first header field"),
            Error::ObsFold => f.write_str("HTTP header line folded (obs-fold), which requests may not use"),
            Error::InvalidHeaderName => {
                f.write_str("HTTP header name is empty, not an HTTP token, or followed by white space")
            }
            Error::InvalidHeaderValue => f.write_str("HTTP header value has a control character"),
            Error::UnderscoreFramingHeader => {
                f.write_str("HTTP Content_Length or Transfer_Encoding header (underscore for hyphen)")
            }
            Error::DuplicateContentLength => f.write_str("HTTP Content-Length given twice"),
            Error::InvalidContentLength => f.write_str("HTTP Content-Length is empty or not plain ASCII digits"),
            Error::ContentLengthOverflow => {
                write!(f, "HTTP Content-Length is over {} (2^53 - 1)", crate::MAX_CONTENT_LENGTH)
            }
            Error::ContentLengthWithTransferEncoding => {
                f.write_str("HTTP request has both Content-Length and Transfer-Encoding")
            }
            Error::DuplicateTransferEncoding => f.write_str("HTTP Transfer-Encoding given twice"),
            Error::UnsupportedTransferEncoding => f.write_str("HTTP Transfer-Encoding is not exactly chunked"),
            Error::TransferEncodingOnHttp10 => f.write_str("HTTP/1.0 request with Transfer-Encoding"),
            Error::MissingHost => f.write_str("HTTP/1.1 request has no Host header"),
            Error::DuplicateHost => f.write_str("HTTP Host given twice"),
            Error::InvalidHost => f.write_str("HTTP Host or target authority is not a valid host and port"),
            Error::BodyOnConnect => f.write_str("HTTP CONNECT request with Content-Length or Transfer-Encoding"),
            Error::InvalidPercentEncoding => {
                f.write_str("HTTP request path has a % not followed by two hex digits, or %00")
            }
            Error::ExpectationFailed => f.write_str("HTTP Expect other than 100-continue"),
            Error::BodyTooLarge { length, limit } => {
                write!(f, "HTTP request body of {length} bytes is over limit-post {limit} (raise --limit-post)")
            }
            Error::InvalidChunkSize => f.write_str("HTTP chunk size is not hex digits"),
            Error::ChunkSizeOverflow => {
                write!(f, "HTTP chunk size is over {} (2^53 - 1)", crate::MAX_CONTENT_LENGTH)
            }
            Error::InvalidChunkExtension => f.write_str("HTTP chunk extension is malformed"),
            Error::ChunkExtensionTooLong { limit } => write!(
                f,
                "HTTP chunk extension is over http-max-chunk-extension {limit} bytes (raise --http-max-chunk-extension)"
            ),
            Error::ChunkDataNotTerminated => f.write_str("HTTP chunk data not followed by CRLF"),
            Error::InvalidTrailer => f.write_str("HTTP trailer field is malformed"),
            Error::TrailersTooLarge { limit } => {
                write!(f, "HTTP trailer section is over http-max-head {limit} bytes (raise --http-max-head)")
            }
        }
    }
}

impl std::error::Error for Error {}
