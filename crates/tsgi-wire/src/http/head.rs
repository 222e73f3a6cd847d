//! The request head: request line, header section, and the canonical vars built from them.

use core::ops::Range;

use super::{Error, Limits};
use crate::keys;
use crate::uwsgi::Var;
use crate::Status;

/// Most empty lines (CRLF) skipped before a request line. RFC 9112 §2.2 asks a server to
/// skip at least one (old clients sent a CRLF after a POST body); one more is
/// [`Error::TooManyEmptyLines`].
pub const MAX_EMPTY_LINES: usize = 4;

/// Header fields parsed without touching the heap; a head with more allocates their
/// `httparse` slots once per call.
const STACK_HEADERS: usize = 32;

/// How the body after a head is framed (RFC 9112 §6.3, requests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body, the next request (if the
    /// connection is kept alive) starts right after the head. Also every CONNECT request.
    None,
    /// `Content-Length: n`: the body is the next `n` bytes (`0` is possible).
    Length(u64),
    /// `Transfer-Encoding: chunked`: feed the bytes after the head to a
    /// [`super::ChunkedDecoder`]; it says where the body ends.
    Chunked,
}

/// What the reactor needs to know about a parsed head, beyond its vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Bytes the head took: skipped empty lines, the request line, the header fields and the
    /// empty line that ends them. The body, or the next request, starts at `buf[len..]`.
    pub len: usize,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (no other version is accepted).
    pub minor_version: u8,
    /// The method is `HEAD`: the response carries no body.
    pub is_head: bool,
    /// How the body is framed.
    pub body: BodyFraming,
    /// Whether the connection may carry another request after this one: on HTTP/1.1 unless
    /// `Connection: close`; on HTTP/1.0 only with `Connection: keep-alive` (and no `close`).
    /// Always `false` for CONNECT.
    pub keep_alive: bool,
    /// HTTP/1.1 `Expect: 100-continue` (any case): send `100 Continue` before reading the
    /// body, once the request is not refused. Never set on HTTP/1.0, whose expectations are
    /// ignored (RFC 9110 §10.1.1). Any other expectation is [`Error::ExpectationFailed`].
    pub expect_continue: bool,
    /// The bytes after the request (after its body, if any) may not be HTTP: an HTTP/1.1
    /// request with a `Connection: upgrade` token and an `Upgrade` header (a WebSocket
    /// handshake), or any CONNECT request. The reactor switches protocols only if the app
    /// answers 101 (or 2xx for CONNECT); otherwise it closes after the response.
    pub upgrade: bool,
    /// Where the host the client asked for lies in [`HeadVars::block`]: the authority of an
    /// absolute-form or authority-form target, which RFC 9112 §3.2.2 says wins over `Host`,
    /// else the `Host` value (possibly empty); `None` for an HTTP/1.0 request without
    /// either. The reactor derives `SERVER_NAME` and `SERVER_PORT` from it.
    pub host: Option<Range<usize>>,
}

/// The canonical vars of a request head: a block of bytes and [`Var`]s with offsets into
/// it, the form [`crate::uwsgi::parse_vars`] and [`crate::fastcgi::ParamsDecoder`] produce.
/// Keep one per connection: [`parse_head`] clears and refills it, reusing its allocations.
///
/// The vars, in this order: `REQUEST_METHOD`, `REQUEST_URI` (the target as sent),
/// `PATH_INFO` (the target's path, percent-decoded; an absolute-form target loses scheme
/// and authority, an empty path is `/`; `*` for `OPTIONS *`, empty for CONNECT),
/// `QUERY_STRING` (after the first `?`, raw; empty when there is none), `SERVER_PROTOCOL`
/// (`HTTP/1.0` or `HTTP/1.1`), then one var per header field line in wire order:
/// `Content-Length` and `Content-Type` as `CONTENT_LENGTH` and `CONTENT_TYPE`, every other
/// name as `HTTP_` + the name upper-cased with `-` turned into `_`. A repeated header is
/// one var per line, as uwsgi delivers nginx 1.22's repeats: the environ joins `HTTP_*`
/// repeats (`"; "` for cookies, `", "` otherwise) as it does for every protocol. Values
/// are the field values without their leading and trailing white space, bytes as sent.
///
/// Dropped, never a var: header names with `_` (a client could otherwise forge a var
/// that a proxy-set header maps to, nginx `underscores_in_headers off`, gunicorn
/// `header_map=drop`; `Content_Length` and `Transfer_Encoding` are refused instead) and
/// `Proxy` (httpoxy, CVE-2016-5385). `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR` and
/// `REMOTE_PORT` are not the codec's: the reactor adds them from [`Head::host`] and the
/// socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadVars {
    /// Names and values, back to back.
    pub block: Vec<u8>,
    /// The vars, offsets into `block`.
    pub vars: Vec<Var>,
}

impl HeadVars {
    /// Empty; allocates nothing until a head is parsed into it.
    pub fn new() -> Self {
        HeadVars::default()
    }

    /// Empties it, keeping its allocations.
    pub fn clear(&mut self) {
        self.block.clear();
        self.vars.clear();
    }

    /// Name and value of `var`, one of [`HeadVars::vars`].
    pub fn pair(&self, var: &Var) -> (&[u8], &[u8]) {
        let name = var.key_offset as usize;
        let value = var.value_offset as usize;
        (&self.block[name..name + usize::from(var.key_len)], &self.block[value..value + usize::from(var.value_len)])
    }

    /// The value of the first var named `name`, if any.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.vars.iter().map(|v| self.pair(v)).find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Appends a var named `key` (bytes as given) whose value is written by `value`;
    /// answers the value's range in the block.
    fn push_with(
        &mut self,
        key: &[u8],
        value: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<Range<usize>, Error> {
        let key_offset = self.block.len();
        self.block.extend_from_slice(key);
        self.finish_var(key_offset, value)
    }

    /// Appends `HTTP_<NAME>` for header `name`, with `value` as is.
    fn push_header(&mut self, name: &[u8], value: &[u8]) -> Result<Range<usize>, Error> {
        let key_offset = self.block.len();
        self.block.extend_from_slice(b"HTTP_");
        self.block.extend(name.iter().map(|&b| if b == b'-' { b'_' } else { b.to_ascii_uppercase() }));
        self.finish_var(key_offset, |block| {
            block.extend_from_slice(value);
            Ok(())
        })
    }

    /// Appends a var named `key` with `value` as is.
    fn push(&mut self, key: &[u8], value: &[u8]) -> Result<Range<usize>, Error> {
        self.push_with(key, |block| {
            block.extend_from_slice(value);
            Ok(())
        })
    }

    /// The key is `block[key_offset..]`; writes the value after it and records the var.
    fn finish_var(
        &mut self,
        key_offset: usize,
        value: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<Range<usize>, Error> {
        let value_offset = self.block.len();
        value(&mut self.block)?;
        let value_end = self.block.len();
        let key_len = value_offset - key_offset;
        let value_len = value_end - value_offset;
        let too_long = |length: usize| Error::FieldTooLong { length };
        let var = Var {
            key_id: keys::lookup(&self.block[key_offset..value_offset]),
            key_offset: u32::try_from(key_offset).map_err(|_| too_long(value_end))?,
            key_len: u16::try_from(key_len).map_err(|_| too_long(key_len))?,
            value_offset: u32::try_from(value_offset).map_err(|_| too_long(value_end))?,
            value_len: u16::try_from(value_len).map_err(|_| too_long(value_len))?,
        };
        self.vars.push(var);
        Ok(value_offset..value_end)
    }
}

/// The request line, as byte ranges of the buffer.
#[derive(Debug, Clone)]
struct RequestLine {
    method: Range<usize>,
    target: Range<usize>,
    minor_version: u8,
}

/// Where the byte-by-byte reading of the request line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// In the method; the target starts after the first space.
    Method,
    /// In the target; the version starts after the next space.
    Target,
    /// At byte `n` of `HTTP/1.x`, then (`n` = 8) expecting the CR.
    Version(u8),
    /// After the CR, expecting the LF.
    Lf,
}

/// `true` for the bytes of a method: token characters other than lower-case letters.
fn is_method_byte(b: u8) -> bool {
    crate::is_token_byte(b) && !b.is_ascii_lowercase()
}

/// `true` for the bytes of a request target: visible ASCII other than `#`.
fn is_target_byte(b: u8) -> bool {
    matches!(b, b'!'..=b'~') && b != b'#'
}

/// Reads the request line starting at `buf[start]`, byte by byte, refusing each byte as
/// soon as it cannot belong there. `buf` ends at the head limit, so running out is
/// `Partial` here and the caller tells it from [`Error::HeadTooLarge`]. Answers the line
/// and where the header section starts.
fn request_line(buf: &[u8], start: usize, max_line: usize) -> Result<Status<(RequestLine, usize)>, Error> {
    const VERSION: &[u8; 7] = b"HTTP/1.";
    let mut state = LineState::Method;
    let mut method_end = start;
    let mut target_end = start;
    let mut minor_version = 0;
    for (i, &b) in buf[start..].iter().enumerate() {
        // Every byte before the CR is line content; the CR itself may sit at `max_line`.
        if i >= max_line && b != b'\r' && state != LineState::Lf {
            return Err(Error::RequestLineTooLong { limit: max_line as u32 });
        }
        let pos = start + i;
        state = match state {
            LineState::Method if is_method_byte(b) => LineState::Method,
            LineState::Method if b == b' ' && pos > start => {
                method_end = pos;
                LineState::Target
            }
            LineState::Method => return Err(Error::InvalidMethod),
            LineState::Target if is_target_byte(b) => LineState::Target,
            LineState::Target if b == b' ' && pos > method_end + 1 => {
                target_end = pos;
                LineState::Version(0)
            }
            // `GET /` then the line end: HTTP/0.9, which has no version.
            LineState::Target if matches!(b, b'\r' | b'\n') && pos > method_end + 1 => {
                return Err(Error::InvalidVersion)
            }
            LineState::Target => return Err(Error::InvalidTarget),
            LineState::Version(n @ 0..=6) if b == VERSION[usize::from(n)] => LineState::Version(n + 1),
            LineState::Version(7) if matches!(b, b'0' | b'1') => {
                minor_version = b - b'0';
                LineState::Version(8)
            }
            LineState::Version(8) if b == b'\r' => LineState::Lf,
            LineState::Version(8) if b == b'\n' => return Err(Error::BareLf),
            LineState::Version(_) => return Err(Error::InvalidVersion),
            LineState::Lf if b == b'\n' => {
                let line = RequestLine { method: start..method_end, target: method_end + 1..target_end, minor_version };
                return Ok(Status::Complete((line, pos + 1)));
            }
            LineState::Lf => return Err(Error::BareCr),
        };
    }
    Ok(Status::Partial)
}

/// What [`scan`] found.
#[derive(Debug)]
enum Scanned {
    /// The head ends at this offset (after the empty line's LF).
    Complete(usize),
    /// More bytes needed.
    Partial,
    /// A line-level error, at the first byte that shows it.
    Failed(Error),
}

/// The line structure of a head, read before `httparse` sees any of it.
#[derive(Debug)]
struct Scan {
    /// The request line, once complete.
    line: Option<RequestLine>,
    /// From the start of the header section to the end of the last complete field line.
    fields: Range<usize>,
    /// Complete field lines in `fields`.
    field_lines: usize,
    outcome: Scanned,
}

/// Reads the structure of the head in byte order: empty lines, the request line, then
/// the field lines, each checked to end in CRLF (never a bare CR or LF) and not to start
/// with white space, and the limits (request line, head bytes, field count) at the byte
/// that passes them. It does not look inside field lines: that is `httparse`'s job, on the
/// lines this found complete.
fn scan(buf: &[u8], limits: &Limits) -> Scan {
    let mut scan = Scan { line: None, fields: 0..0, field_lines: 0, outcome: Scanned::Partial };
    let mut pos = 0;
    let mut empty_lines = 0;
    loop {
        match buf[pos..] {
            [b'\r', b'\n', ..] => {
                empty_lines += 1;
                if empty_lines > MAX_EMPTY_LINES {
                    scan.outcome = Scanned::Failed(Error::TooManyEmptyLines);
                    return scan;
                }
                pos += 2;
            }
            [] | [b'\r'] => return scan,
            [b'\r', _, ..] => {
                scan.outcome = Scanned::Failed(Error::BareCr);
                return scan;
            }
            [b'\n', ..] => {
                scan.outcome = Scanned::Failed(Error::BareLf);
                return scan;
            }
            _ => break,
        }
    }
    let start = pos;
    let max_head = limits.max_head_bytes as usize;
    // Bytes at or past `cap` are over the head limit: the head must end before it.
    let cap_at = start.saturating_add(max_head);
    let capped = &buf[..buf.len().min(cap_at)];
    let over = buf.len() > cap_at;
    let out_of_bytes = |mut scan: Scan| {
        if over {
            scan.outcome = Scanned::Failed(Error::HeadTooLarge { limit: limits.max_head_bytes });
        }
        scan
    };

    let fields_start = match request_line(capped, start, limits.max_request_line as usize) {
        Ok(Status::Complete((line, next))) => {
            scan.line = Some(line);
            next
        }
        Ok(Status::Partial) => return out_of_bytes(scan),
        Err(e) => {
            scan.outcome = Scanned::Failed(e);
            return scan;
        }
    };
    scan.fields = fields_start..fields_start;
    let mut pos = fields_start;
    loop {
        // At the start of a line: the empty line that ends the head, or a field line.
        let Some(&first) = capped.get(pos) else { return out_of_bytes(scan) };
        match first {
            b'\r' => {
                scan.outcome = match capped.get(pos + 1) {
                    None => return out_of_bytes(scan),
                    Some(b'\n') => Scanned::Complete(pos + 2),
                    Some(_) => Scanned::Failed(Error::BareCr),
                };
                return scan;
            }
            b'\n' => {
                scan.outcome = Scanned::Failed(Error::BareLf);
                return scan;
            }
            b' ' | b'\t' => {
                let e = if scan.field_lines == 0 { Error::WhitespaceBeforeHeaders } else { Error::ObsFold };
                scan.outcome = Scanned::Failed(e);
                return scan;
            }
            _ if scan.field_lines as u64 >= u64::from(limits.max_headers) => {
                scan.outcome = Scanned::Failed(Error::TooManyHeaders { limit: limits.max_headers });
                return scan;
            }
            _ => {}
        }
        // The line end: SIMD where the CPU has it (memchr), as most of a long head is one
        // long field value (a cookie, a token) this would otherwise read a byte at a time.
        let Some(k) = memchr::memchr2(b'\r', b'\n', &capped[pos..]) else {
            return out_of_bytes(scan);
        };
        let end = pos + k;
        if capped[end] == b'\n' {
            scan.outcome = Scanned::Failed(Error::BareLf);
            return scan;
        }
        match capped.get(end + 1) {
            None => return out_of_bytes(scan),
            Some(b'\n') => {}
            Some(_) => {
                scan.outcome = Scanned::Failed(Error::BareCr);
                return scan;
            }
        }
        pos = end + 2;
        scan.field_lines += 1;
        scan.fields.end = pos;
    }
}

/// Runs `httparse` on a run of complete field lines (`section`), ended by the empty line
/// when `complete`. `lines` is how many field lines [`scan`] counted, so the slots always
/// suffice. Calls `each` on every field of a complete section.
fn tokenise(
    section: &[u8],
    lines: usize,
    complete: bool,
    each: impl FnOnce(&[httparse::Header<'_>]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if lines <= STACK_HEADERS {
        &mut stack[..lines]
    } else {
        heap = vec![httparse::EMPTY_HEADER; lines];
        &mut heap
    };
    match httparse::parse_headers(section, slots) {
        Ok(httparse::Status::Complete((n, fields))) if complete => {
            debug_assert!(n == section.len() && fields.len() == lines, "scan and httparse disagree");
            each(fields)
        }
        // Complete lines without the empty line: nothing wrong so far.
        Ok(httparse::Status::Partial) if !complete => Ok(()),
        // Neither happens after `scan` (every line ends in CRLF, the section ends where it
        // found the empty line); refused rather than trusted if it ever did.
        Ok(_) => Err(Error::InvalidHeaderName),
        Err(httparse::Error::HeaderValue) => Err(Error::InvalidHeaderValue),
        Err(httparse::Error::NewLine) => Err(Error::BareCr),
        Err(_) => Err(Error::InvalidHeaderName),
    }
}

/// Parses a request head at the start of `buf` into `out` (cleared first): the canonical
/// vars (see [`HeadVars`]) and a [`Head`] saying how many bytes the head took and how the
/// body is framed. The body, or the next pipelined request, starts at `buf[head.len..]`;
/// bytes past the head are never looked at.
///
/// `Partial` until the empty line that ends the head arrives; every prefix of a buffer
/// answers `Partial` or what the whole buffer answers, because errors are found in byte
/// order, and errors about the request as a whole only once the head is complete:
///
/// 1. Up to [`MAX_EMPTY_LINES`] CRLFs are skipped ([`Error::TooManyEmptyLines`]).
/// 2. The request line, byte by byte: [`Error::InvalidMethod`], [`Error::InvalidTarget`]
///    (bytes), [`Error::InvalidVersion`], [`Error::BareCr`], and
///    [`Error::RequestLineTooLong`] at the first byte past `max_request_line`.
/// 3. The field lines: each must end in CRLF ([`Error::BareLf`], [`Error::BareCr`]) and
///    not start with white space ([`Error::WhitespaceBeforeHeaders`], [`Error::ObsFold`]);
///    [`Error::TooManyHeaders`] when line `max_headers + 1` starts; the head must end
///    within `max_head_bytes` ([`Error::HeadTooLarge`] at the first byte past it).
///    `httparse` reads the field lines complete before the first such error
///    ([`Error::InvalidHeaderName`], [`Error::InvalidHeaderValue`]); its error wins,
///    being earlier in the bytes.
/// 4. Once the head is complete, in the order of the bytes: the target's form against the
///    method ([`Error::InvalidTarget`], [`Error::InvalidHost`],
///    [`Error::InvalidPercentEncoding`]); then the fields in wire order, the first bad one
///    winning: [`Error::UnderscoreFramingHeader`], [`Error::DuplicateContentLength`],
///    [`Error::InvalidContentLength`], [`Error::ContentLengthOverflow`],
///    [`Error::DuplicateTransferEncoding`], [`Error::DuplicateHost`],
///    [`Error::InvalidHost`]; then the request as a whole, in this order:
///    [`Error::ContentLengthWithTransferEncoding`], [`Error::TransferEncodingOnHttp10`],
///    [`Error::UnsupportedTransferEncoding`], [`Error::BodyOnConnect`],
///    [`Error::MissingHost`], [`Error::BodyTooLarge`] (a `Content-Length` over
///    `max_body`) and [`Error::ExpectationFailed`].
///
/// On error `out` holds whatever was written so far; it means nothing. The reactor
/// answers [`Error::status`] and closes.
///
/// ```
/// use tsgi_wire::http::{self, BodyFraming, HeadVars, Limits};
/// use tsgi_wire::Status;
///
/// let buf = b"POST /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello";
/// let mut out = HeadVars::new();
/// assert_eq!(http::parse_head(&buf[..20], &Limits::default(), &mut out), Ok(Status::Partial));
/// let Ok(Status::Complete(head)) = http::parse_head(buf, &Limits::default(), &mut out) else { panic!() };
/// assert_eq!((head.len, head.body, head.keep_alive), (buf.len() - 5, BodyFraming::Length(5), true));
/// assert_eq!(out.get(b"PATH_INFO"), Some(&b"/a b"[..]));
/// assert_eq!(out.get(b"QUERY_STRING"), Some(&b"x=1"[..]));
/// assert_eq!(out.get(b"HTTP_HOST"), Some(&b"example.com"[..]));
/// assert_eq!(out.get(b"CONTENT_LENGTH"), Some(&b"5"[..]));
/// assert_eq!(&out.block[head.host.unwrap()], b"example.com");
///
/// let err = http::parse_head(b"GET / HTTP/1.1\nHost: a\n\n", &Limits::default(), &mut out);
/// assert_eq!(err, Err(http::Error::BareLf));
/// ```
pub fn parse_head(buf: &[u8], limits: &Limits, out: &mut HeadVars) -> Result<Status<Head>, Error> {
    out.clear();
    let scan = scan(buf, limits);
    let Some(line) = scan.line else {
        return match scan.outcome {
            Scanned::Failed(e) => Err(e),
            _ => Ok(Status::Partial),
        };
    };
    let head_end = match scan.outcome {
        Scanned::Complete(end) => end,
        outcome => {
            // Not a whole head: let httparse judge the field lines before the stop, whose
            // errors come first in the bytes.
            tokenise(&buf[scan.fields.clone()], scan.field_lines, false, |_| Ok(()))?;
            return match outcome {
                Scanned::Failed(e) => Err(e),
                _ => Ok(Status::Partial),
            };
        }
    };
    let section = &buf[scan.fields.start..head_end];
    let mut head = None;
    tokenise(section, scan.field_lines, true, |fields| {
        head = Some(build(buf, &line, fields, head_end, limits, out)?);
        Ok(())
    })?;
    // `tokenise` calls `build` on every complete section it does not refuse.
    head.map(Status::Complete).ok_or(Error::InvalidHeaderName)
}

/// The target's parts, as ranges of the target.
struct TargetParts {
    /// To percent-decode into PATH_INFO (empty: PATH_INFO is `/`, or empty for CONNECT).
    path: Range<usize>,
    /// After the first `?`, or empty.
    query: Range<usize>,
    /// The authority of an absolute-form or authority-form target.
    authority: Option<Range<usize>>,
}

/// Splits the target by its form (RFC 9112 §3.2), refusing a form the method may not use.
fn target_parts(method: &[u8], target: &[u8]) -> Result<TargetParts, Error> {
    let split_query = |from: usize| match target[from..].iter().position(|&b| b == b'?') {
        Some(q) => (from..from + q, from + q + 1..target.len()),
        None => (from..target.len(), target.len()..target.len()),
    };
    let is_connect = method == b"CONNECT";
    if is_connect {
        // authority-form, `host:port`, and nothing else.
        let colon = target.iter().rposition(|&b| b == b':').ok_or(Error::InvalidTarget)?;
        let port = &target[colon + 1..];
        if colon == 0 || port.is_empty() || !port.iter().all(u8::is_ascii_digit) || !is_host(target) {
            return Err(Error::InvalidTarget);
        }
        let end = target.len();
        return Ok(TargetParts { path: 0..0, query: end..end, authority: Some(0..end) });
    }
    match target {
        b"*" if method == b"OPTIONS" => Ok(TargetParts { path: 0..1, query: 1..1, authority: None }),
        [b'/', ..] => {
            let (path, query) = split_query(0);
            Ok(TargetParts { path, query, authority: None })
        }
        _ => {
            // absolute-form: `http://authority/path?query` (or https).
            let sep = target.windows(3).position(|w| w == b"://").ok_or(Error::InvalidTarget)?;
            let scheme = &target[..sep];
            if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
                return Err(Error::InvalidTarget);
            }
            let from = sep + 3;
            let len = target[from..].iter().position(|&b| b == b'/' || b == b'?').unwrap_or(target.len() - from);
            let authority = from..from + len;
            if authority.is_empty() || target[authority.clone()].contains(&b'@') {
                return Err(Error::InvalidTarget);
            }
            if !is_host(&target[authority.clone()]) {
                return Err(Error::InvalidHost);
            }
            let (path, query) = split_query(authority.end);
            Ok(TargetParts { path, query, authority: Some(authority) })
        }
    }
}

/// `true` if `value` may be a `Host` value: `uri-host [":" port]`, loosely: the bytes of
/// reg-names, IP literals and ports (RFC 3986 unreserved, sub-delims, `%`, `:`, `[`, `]`).
/// Empty is valid (RFC 9112 §3.2: a target without authority).
fn is_host(value: &[u8]) -> bool {
    value.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// Appends `path` percent-decoded.
fn percent_decode(path: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'%' => {
                let (Some(hi), Some(lo)) =
                    (path.get(i + 1).and_then(|&b| hex(b)), path.get(i + 2).and_then(|&b| hex(b)))
                else {
                    return Err(Error::InvalidPercentEncoding);
                };
                let b = hi << 4 | lo;
                if b == 0 {
                    return Err(Error::InvalidPercentEncoding);
                }
                out.push(b);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(())
}

/// What the walk over the fields remembers.
#[derive(Default)]
struct Seen {
    content_length: Option<u64>,
    transfer_encoding: Option<Range<usize>>,
    host: Option<Range<usize>>,
    close: bool,
    keep_alive: bool,
    connection_upgrade: bool,
    upgrade: bool,
    expect_continue: bool,
    expect_other: bool,
}

/// Builds the vars and the [`Head`] of a complete head whose fields `httparse` read.
fn build(
    buf: &[u8],
    line: &RequestLine,
    fields: &[httparse::Header<'_>],
    head_end: usize,
    limits: &Limits,
    out: &mut HeadVars,
) -> Result<Head, Error> {
    let method = &buf[line.method.clone()];
    let target = &buf[line.target.clone()];
    let minor_version = line.minor_version;
    out.block.reserve(head_end + 64 + 5 * fields.len());

    // The target's form, then the fields: the order of their bytes.
    let parts = target_parts(method, target)?;
    out.push(b"REQUEST_METHOD", method)?;
    let uri = out.push(b"REQUEST_URI", target)?;
    let is_connect = method == b"CONNECT";
    out.push_with(b"PATH_INFO", |block| {
        if parts.path.is_empty() && parts.authority.is_some() && !is_connect {
            block.push(b'/');
            Ok(())
        } else {
            percent_decode(&target[parts.path.clone()], block)
        }
    })?;
    out.push(b"QUERY_STRING", &target[parts.query.clone()])?;
    out.push(b"SERVER_PROTOCOL", if minor_version == 1 { b"HTTP/1.1" } else { b"HTTP/1.0" })?;
    let mut seen = Seen::default();
    // An absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2): HTTP_HOST
    // says it too, so that it agrees with SERVER_NAME.
    let absolute_host = parts.authority.clone().filter(|_| !is_connect).map(|a| &target[a]);
    walk_fields(fields, minor_version, absolute_host, &mut seen, out)?;

    if seen.transfer_encoding.is_some() && seen.content_length.is_some() {
        return Err(Error::ContentLengthWithTransferEncoding);
    }
    if let Some(te) = &seen.transfer_encoding {
        if minor_version == 0 {
            return Err(Error::TransferEncodingOnHttp10);
        }
        if !out.block[te.clone()].eq_ignore_ascii_case(b"chunked") {
            return Err(Error::UnsupportedTransferEncoding);
        }
    }
    if is_connect && (seen.transfer_encoding.is_some() || seen.content_length.is_some()) {
        return Err(Error::BodyOnConnect);
    }
    if minor_version == 1 && seen.host.is_none() {
        return Err(Error::MissingHost);
    }
    if let Some(length) = seen.content_length {
        if limits.max_body != 0 && length > limits.max_body {
            return Err(Error::BodyTooLarge { length, limit: limits.max_body });
        }
    }
    if seen.expect_other {
        return Err(Error::ExpectationFailed);
    }

    let body = match (seen.transfer_encoding, seen.content_length) {
        (Some(_), _) => BodyFraming::Chunked,
        (None, Some(n)) => BodyFraming::Length(n),
        (None, None) => BodyFraming::None,
    };
    let keep_alive = !is_connect && !seen.close && (minor_version == 1 || seen.keep_alive);
    let upgrade = is_connect || (minor_version == 1 && seen.connection_upgrade && seen.upgrade);
    let host = match parts.authority {
        Some(a) => Some(uri.start + a.start..uri.start + a.end),
        None => seen.host,
    };
    Ok(Head {
        len: head_end,
        minor_version,
        is_head: method == b"HEAD",
        body,
        keep_alive,
        expect_continue: minor_version == 1 && seen.expect_continue,
        upgrade,
        host,
    })
}

/// One var per field, in wire order, and what the framing needs to know; the errors of
/// single fields, first in wire order. `absolute_host`: the value `HTTP_HOST` gets in place
/// of the `Host` field's (which is still checked).
fn walk_fields(
    fields: &[httparse::Header<'_>],
    minor_version: u8,
    absolute_host: Option<&[u8]>,
    seen: &mut Seen,
    out: &mut HeadVars,
) -> Result<(), Error> {
    for field in fields {
        let name = field.name.as_bytes();
        let value = field.value;
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if name.contains(&b'_') {
            if is("content_length") || is("transfer_encoding") {
                return Err(Error::UnderscoreFramingHeader);
            }
            continue;
        }
        if is("proxy") {
            continue;
        }
        if is("content-length") {
            if seen.content_length.is_some() {
                return Err(Error::DuplicateContentLength);
            }
            if value.is_empty() {
                return Err(Error::InvalidContentLength);
            }
            let n = crate::parse_content_length(value).map_err(|e| match e {
                crate::ContentLengthError::NotDigits => Error::InvalidContentLength,
                crate::ContentLengthError::TooLarge => Error::ContentLengthOverflow,
            })?;
            seen.content_length = Some(n);
            out.push(b"CONTENT_LENGTH", value)?;
            continue;
        }
        if is("content-type") {
            out.push(b"CONTENT_TYPE", value)?;
            continue;
        }
        let is_host_field = is("host");
        let range = out.push_header(name, absolute_host.filter(|_| is_host_field).unwrap_or(value))?;
        if is("transfer-encoding") {
            if seen.transfer_encoding.is_some() {
                return Err(Error::DuplicateTransferEncoding);
            }
            seen.transfer_encoding = Some(range);
        } else if is_host_field {
            if seen.host.is_some() {
                return Err(Error::DuplicateHost);
            }
            if !is_host(value) {
                return Err(Error::InvalidHost);
            }
            seen.host = Some(range);
        } else if is("connection") {
            seen.close |= crate::has_token(value, b"close");
            seen.keep_alive |= crate::has_token(value, b"keep-alive");
            seen.connection_upgrade |= crate::has_token(value, b"upgrade");
        } else if is("upgrade") {
            seen.upgrade = true;
        } else if is("expect") && minor_version == 1 {
            if value.eq_ignore_ascii_case(b"100-continue") {
                seen.expect_continue = true;
            } else {
                seen.expect_other = true;
            }
        }
    }
    debug_assert!(out.vars.iter().all(|v| !keys::is_dropped(v.key_id)));
    Ok(())
}
