//! The well-known CGI variable names, each with a small integer id.
//!
//! The reactor hands requests to JavaScript as offsets into a shared buffer; a var whose
//! name is in this table travels as its id, so JavaScript never builds a string for the
//! name. `src/codec/keys.ts` holds the same table, and a test compares the two through the
//! binding's `knownKeys()`. Append new names at the end: ids are positions.

/// A known key's id: its position in [`KNOWN_KEYS`] plus one. 0 means "not a known key".
pub type KeyId = u16;

/// Id for a name that is not in [`KNOWN_KEYS`].
pub const UNKNOWN: KeyId = 0;

/// The known names, in id order (id = index + 1).
pub const KNOWN_KEYS: &[&str] = &[
    "REQUEST_METHOD",
    "REQUEST_URI",
    "PATH_INFO",
    "QUERY_STRING",
    "SCRIPT_NAME",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_ADDR",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQUEST_SCHEME",
    "HTTPS",
    "DOCUMENT_ROOT",
    "DOCUMENT_URI",
    "SCRIPT_FILENAME",
    "HTTP_HOST",
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_CONNECTION",
    "HTTP_COOKIE",
    "HTTP_REFERER",
    "HTTP_AUTHORIZATION",
    "HTTP_CACHE_CONTROL",
    "HTTP_PRAGMA",
    "HTTP_ORIGIN",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_REAL_IP",
    "HTTP_X_REQUESTED_WITH",
    "HTTP_UPGRADE",
    "HTTP_CONTENT_LENGTH",
    "HTTP_CONTENT_TYPE",
    "HTTP_TRANSFER_ENCODING",
    "HTTP_PROXY",
];

/// Id constants for the keys the codecs and the reactor act on themselves.
pub mod id {
    use super::KeyId;
    /// `REQUEST_METHOD`
    pub const REQUEST_METHOD: KeyId = 1;
    /// `REQUEST_URI`
    pub const REQUEST_URI: KeyId = 2;
    /// `PATH_INFO`
    pub const PATH_INFO: KeyId = 3;
    /// `SCRIPT_NAME`
    pub const SCRIPT_NAME: KeyId = 5;
    /// `CONTENT_LENGTH`
    pub const CONTENT_LENGTH: KeyId = 7;
    /// `HTTP_CONTENT_LENGTH`: dropped (PEP 3333; framing comes from `CONTENT_LENGTH` only).
    pub const HTTP_CONTENT_LENGTH: KeyId = 41;
    /// `HTTP_CONTENT_TYPE`: dropped (PEP 3333).
    pub const HTTP_CONTENT_TYPE: KeyId = 42;
    /// `HTTP_PROXY`: dropped (httpoxy, CVE-2016-5385).
    pub const HTTP_PROXY: KeyId = 44;
}

/// The id of `name`, or [`UNKNOWN`].
pub fn lookup(name: &[u8]) -> KeyId {
    todo!("fast lookup: switch on length, then compare")
}

/// `true` for vars the server removes before the app sees the environ:
/// `HTTP_CONTENT_LENGTH`, `HTTP_CONTENT_TYPE` (PEP 3333) and `HTTP_PROXY` (httpoxy).
pub fn is_dropped(id: KeyId) -> bool {
    matches!(id, id::HTTP_CONTENT_LENGTH | id::HTTP_CONTENT_TYPE | id::HTTP_PROXY)
}
