//! What every protocol adapter checks once a request's vars are all in: the rules of
//! `reliability.md` U11/U24/U15-U18 (uwsgi) and their FastCGI twins, shared so that the
//! same vars sent over uwsgi or FastCGI are refused for the same reason, in the same order;
//! and whether the vars ask to switch protocols, by the rule the HTTP codec applies to a
//! head.
//!
//! Private: each protocol maps [`Refusal`] into its own public error type, whose codes and
//! log lines name the protocol.

use crate::keys::{self, KeyId};
use crate::uwsgi::RequestInfo;

/// Where a value lies in the block the vars point into: `(offset, length)`.
pub(crate) type Span = (usize, usize);

/// What the walk over the vars keeps for the checks after it. The first value of each var
/// that decides framing or routing; a later occurrence must repeat it byte for byte (U10)
/// or the request is refused (U11). Kept while walking, so duplicates cost one compare each
/// instead of a search over all vars. And what says whether the request is an upgrade.
#[derive(Debug, Clone, Default)]
pub(crate) struct Framing {
    method: Option<Span>,
    uri: Option<Span>,
    content_length: Option<Span>,
    /// The first key seen with a different value, reported once the walk is done.
    conflict: Option<KeyId>,
    /// `SERVER_PROTOCOL` is `HTTP/1.1` (its last value: the one the app sees).
    http11: bool,
    /// An `HTTP_CONNECTION` value holds the token `upgrade` (the values are one list, as a
    /// proxy joins repeated headers).
    connection_upgrade: bool,
    /// An `HTTP_UPGRADE` var is there.
    upgrade: bool,
}

impl Framing {
    /// Records one var; `value` must be a span inside `block`.
    pub(crate) fn see(&mut self, block: &[u8], key_id: KeyId, value: Span) {
        let first = match key_id {
            keys::id::REQUEST_METHOD => &mut self.method,
            keys::id::REQUEST_URI => &mut self.uri,
            keys::id::CONTENT_LENGTH => &mut self.content_length,
            keys::id::SERVER_PROTOCOL => {
                self.http11 = slice(block, value) == b"HTTP/1.1";
                return;
            }
            keys::id::HTTP_CONNECTION => {
                self.connection_upgrade |= crate::has_token(slice(block, value), b"upgrade");
                return;
            }
            keys::id::HTTP_UPGRADE => {
                self.upgrade = true;
                return;
            }
            _ => return,
        };
        match *first {
            None => *first = Some(value),
            Some(seen) => {
                if self.conflict.is_none() && slice(block, seen) != slice(block, value) {
                    self.conflict = Some(key_id);
                }
            }
        }
    }

    /// The checks on meaning, in this order: a conflicting duplicate (the first key in wire
    /// order whose second value differs), then a missing or invalid `REQUEST_METHOD`, then a
    /// malformed `CONTENT_LENGTH`, then one over `max_body` (0: no limit). Answers the body
    /// length (0 when `CONTENT_LENGTH` is absent or empty) and whether the request is an
    /// upgrade: `CONNECT`, or `HTTP/1.1` with a `Connection` token `upgrade` and an `Upgrade`
    /// header, as `http::parse_head` decides it.
    pub(crate) fn finish(&self, block: &[u8], max_body: u64) -> Result<RequestInfo, Refusal> {
        if let Some(key) = self.conflict {
            return Err(Refusal::ConflictingDuplicate { key });
        }
        let method = slice(block, self.method.ok_or(Refusal::MissingMethod)?);
        if method.is_empty() || !method.iter().all(|&b| crate::is_token_byte(b)) {
            return Err(Refusal::InvalidMethod);
        }
        let content_length = match self.content_length {
            None => 0,
            Some(span) => crate::parse_content_length(slice(block, span)).map_err(|e| match e {
                crate::ContentLengthError::NotDigits => Refusal::InvalidContentLength,
                crate::ContentLengthError::TooLarge => Refusal::ContentLengthOverflow,
            })?,
        };
        if max_body != 0 && content_length > max_body {
            return Err(Refusal::BodyTooLarge { length: content_length, limit: max_body });
        }
        let upgrade = method == b"CONNECT" || (self.http11 && self.connection_upgrade && self.upgrade);
        Ok(RequestInfo { content_length, upgrade })
    }
}

/// Why a request whose vars are well-formed is still refused. Each protocol's error type
/// has one variant per case here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    ConflictingDuplicate { key: KeyId },
    MissingMethod,
    InvalidMethod,
    InvalidContentLength,
    ContentLengthOverflow,
    BodyTooLarge { length: u64, limit: u64 },
}

/// `block[start..start + len]`; only ever called with spans the walk has bounded.
pub(crate) fn slice(block: &[u8], (start, len): Span) -> &[u8] {
    &block[start..start + len]
}

/// How many leading bytes [`http_prefix`] looks at.
pub(crate) const HTTP_PREFIX_LEN: usize = 4;

/// Whether the start of a buffer is the start of an HTTP request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// Four bytes that start a request line.
    Http,
    /// Fewer than four bytes, all consistent with a request line: wait for more.
    Maybe,
    /// Cannot be a request line.
    No,
}

/// `[A-Z]{3}[A-Z ]` on the first four bytes. Methods are case-sensitive and every
/// registered one is at least three upper-case letters, so the rule catches them all
/// (`GET `, `PUT `, `PRI `, `POST`, `HEAD`, `DELE`, `OPTI`, `PATC`, `CONN`, `TRAC`,
/// `PROP`, `MKCO`, ...) and nothing a uwsgi or FastCGI client would send.
pub(crate) fn http_prefix(buf: &[u8]) -> Prefix {
    for (i, &b) in buf.iter().take(HTTP_PREFIX_LEN).enumerate() {
        let ok = b.is_ascii_uppercase() || (i == HTTP_PREFIX_LEN - 1 && b == b' ');
        if !ok {
            return Prefix::No;
        }
    }
    if buf.len() >= HTTP_PREFIX_LEN {
        Prefix::Http
    } else {
        Prefix::Maybe
    }
}
