//! tsgi-wire: pure wire codecs for tsgi.
//!
//! Bytes in, borrowed canonical CGI vars out. Nothing here does I/O, spawns threads or
//! knows about N-API: the reactor (`tsgi-reactor`) owns sockets and buffers and calls
//! these functions on whatever bytes it has. Every parse answers with
//! [`Status::Complete`], [`Status::Partial`] (not an error: more bytes are needed) or an
//! error variant that names the malformed field.
#![deny(missing_docs)]
// Codecs of untrusted bytes: safe Rust only, so a malformed request can at worst be refused.
#![forbid(unsafe_code)]

pub mod fastcgi;
pub mod http;
pub mod keys;
mod request;
pub mod uwsgi;

/// The outcome of a parse that may need more bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// Parsing finished; the value says what was parsed (and usually how many bytes).
    Complete(T),
    /// The input ends before the item does. Not an error: call again with more bytes.
    Partial,
}

impl<T> Status<T> {
    /// `true` for [`Status::Complete`].
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }
}

/// Parses a CGI `CONTENT_LENGTH` value strictly: ASCII digits only, no sign, no
/// white space, no base prefix, at most 2^53 - 1 (the largest length JavaScript can
/// hold exactly). An empty value means "no body" and gives `Ok(0)`.
///
/// uWSGI stops at the first non-digit ("12abc" is 12) and wraps on overflow; we refuse
/// both, because a length two parties read differently is how requests get smuggled.
pub fn parse_content_length(value: &[u8]) -> Result<u64, ContentLengthError> {
    if value.is_empty() {
        return Ok(0);
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(ContentLengthError::NotDigits);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .filter(|&n| n <= MAX_CONTENT_LENGTH)
            .ok_or(ContentLengthError::TooLarge)?;
    }
    Ok(n)
}

/// The largest body length accepted from the wire: 2^53 - 1, `Number.MAX_SAFE_INTEGER`.
pub const MAX_CONTENT_LENGTH: u64 = (1 << 53) - 1;

/// Why a `CONTENT_LENGTH` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentLengthError {
    /// Something other than ASCII digits: a sign, white space, a comma, `0x`, an exponent.
    NotDigits,
    /// More than [`MAX_CONTENT_LENGTH`].
    TooLarge,
}

/// `true` if `b` may appear in an HTTP token (RFC 9110 §5.6.2 `tchar`), the grammar of
/// methods and header names.
pub fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

/// `true` if the comma-separated list `value` holds `token` (any case, OWS around items):
/// a `Connection` header's options, whether it came as a header or as an `HTTP_CONNECTION` var.
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(b""), Ok(0));
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"0042"), Ok(42));
        assert_eq!(parse_content_length(b"9007199254740991"), Ok(MAX_CONTENT_LENGTH));
        assert_eq!(parse_content_length(b"9007199254740992"), Err(ContentLengthError::TooLarge));
        assert_eq!(parse_content_length(b"99999999999999999999"), Err(ContentLengthError::TooLarge));
        for bad in [&b"-1"[..], b"+1", b" 1", b"1 ", b"0x1", b"1e3", b"1,2", b"12abc"] {
            assert_eq!(parse_content_length(bad), Err(ContentLengthError::NotDigits), "{bad:?}");
        }
    }

    #[test]
    fn token_bytes() {
        let tokens: Vec<u8> = (0..=255).filter(|&b| is_token_byte(b)).collect();
        let mut want: Vec<u8> = b"!#$%&'*+-.^_`|~".to_vec();
        want.extend(b'0'..=b'9');
        want.extend(b'A'..=b'Z');
        want.extend(b'a'..=b'z');
        want.sort_unstable();
        assert_eq!(tokens, want);
    }
}
