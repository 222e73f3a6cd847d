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
    /// `SERVER_PROTOCOL`: with the two below, whether a uwsgi or FastCGI request is an upgrade.
    pub const SERVER_PROTOCOL: KeyId = 10;
    /// `HTTP_CONNECTION`
    pub const HTTP_CONNECTION: KeyId = 27;
    /// `HTTP_UPGRADE`
    pub const HTTP_UPGRADE: KeyId = 40;
    /// `HTTP_CONTENT_LENGTH`: dropped (PEP 3333; framing comes from `CONTENT_LENGTH` only).
    pub const HTTP_CONTENT_LENGTH: KeyId = 41;
    /// `HTTP_CONTENT_TYPE`: dropped (PEP 3333).
    pub const HTTP_CONTENT_TYPE: KeyId = 42;
    /// `HTTP_PROXY`: dropped (httpoxy, CVE-2016-5385).
    pub const HTTP_PROXY: KeyId = 44;
}

/// The id of `name`, or [`UNKNOWN`]. Case-sensitive: CGI names are upper case on the wire
/// (nginx and Apache upper-case header names themselves), and `http_host` is not `HTTP_HOST`.
///
/// Called once per var of every request, so it neither allocates nor hashes: it switches on
/// the length (most lengths hold no known name at all, so most unknown keys cost one
/// compare), then matches the bytes as a fixed-size array, which the compiler turns into a
/// byte-by-byte decision tree. Each arm's id is computed at compile time from
/// [`KNOWN_KEYS`] (by a private `const fn`), so a name missing from the table fails the build and ids
/// cannot drift; a name in the table but missing here is caught by the round-trip test.
pub fn lookup(name: &[u8]) -> KeyId {
    /// `match` on `$name` (a `&[u8]` of length `$len`) against byte-string literals.
    macro_rules! arms {
        ($name:ident, $len:literal: $($key:literal),+ $(,)?) => {{
            let Ok(name) = <&[u8; $len]>::try_from($name) else { return UNKNOWN };
            match name {
                $($key => const { position($key) },)+
                _ => UNKNOWN,
            }
        }};
    }
    match name.len() {
        5 => arms!(name, 5: b"HTTPS"),
        9 => arms!(name, 9: b"PATH_INFO", b"HTTP_HOST"),
        10 => arms!(name, 10: b"HTTP_PROXY"),
        11 => arms!(name, 11:
            b"REQUEST_URI", b"SCRIPT_NAME", b"SERVER_NAME", b"SERVER_PORT", b"SERVER_ADDR",
            b"REMOTE_ADDR", b"REMOTE_PORT", b"REMOTE_USER", b"HTTP_ACCEPT", b"HTTP_COOKIE",
            b"HTTP_PRAGMA", b"HTTP_ORIGIN",
        ),
        12 => arms!(name, 12: b"QUERY_STRING", b"CONTENT_TYPE", b"DOCUMENT_URI", b"HTTP_REFERER", b"HTTP_UPGRADE"),
        13 => arms!(name, 13: b"DOCUMENT_ROOT"),
        14 => arms!(name, 14: b"REQUEST_METHOD", b"CONTENT_LENGTH", b"REQUEST_SCHEME", b"HTTP_X_REAL_IP"),
        15 => arms!(name, 15:
            b"SERVER_PROTOCOL", b"SERVER_SOFTWARE", b"SCRIPT_FILENAME", b"HTTP_USER_AGENT", b"HTTP_CONNECTION",
        ),
        17 => arms!(name, 17: b"GATEWAY_INTERFACE", b"HTTP_CONTENT_TYPE"),
        18 => arms!(name, 18: b"HTTP_AUTHORIZATION", b"HTTP_CACHE_CONTROL", b"HTTP_IF_NONE_MATCH"),
        19 => arms!(name, 19: b"HTTP_CONTENT_LENGTH"),
        20 => arms!(name, 20: b"HTTP_ACCEPT_ENCODING", b"HTTP_ACCEPT_LANGUAGE", b"HTTP_X_FORWARDED_FOR"),
        21 => arms!(name, 21: b"HTTP_X_REQUESTED_WITH"),
        22 => arms!(name, 22: b"HTTP_IF_MODIFIED_SINCE", b"HTTP_X_FORWARDED_PROTO", b"HTTP_TRANSFER_ENCODING"),
        _ => UNKNOWN,
    }
}

/// The id of `name` in [`KNOWN_KEYS`], at compile time. Panics (a build error inside a
/// `const` block) when the name is not in the table.
const fn position(name: &[u8]) -> KeyId {
    let mut i = 0;
    while i < KNOWN_KEYS.len() {
        let known = KNOWN_KEYS[i].as_bytes();
        if known.len() == name.len() {
            let mut j = 0;
            while j < name.len() && known[j] == name[j] {
                j += 1;
            }
            if j == name.len() {
                return (i + 1) as KeyId;
            }
        }
        i += 1;
    }
    panic!("keys::lookup names a key that is not in KNOWN_KEYS")
}

/// The name of a known key, or `None` for [`UNKNOWN`] and ids past the table.
pub fn name(id: KeyId) -> Option<&'static str> {
    KNOWN_KEYS.get(usize::from(id).checked_sub(1)?).copied()
}

/// `true` for vars the server removes before the app sees the environ:
/// `HTTP_CONTENT_LENGTH`, `HTTP_CONTENT_TYPE` (PEP 3333) and `HTTP_PROXY` (httpoxy).
pub fn is_dropped(id: KeyId) -> bool {
    matches!(id, id::HTTP_CONTENT_LENGTH | id::HTTP_CONTENT_TYPE | id::HTTP_PROXY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_round_trips() {
        for (i, key) in KNOWN_KEYS.iter().enumerate() {
            let id = lookup(key.as_bytes());
            assert_eq!(usize::from(id), i + 1, "lookup({key})");
            assert_eq!(name(id), Some(*key));
        }
    }

    #[test]
    fn known_keys_are_unique_and_fit_a_key_id() {
        assert!(KNOWN_KEYS.len() < usize::from(KeyId::MAX));
        for (i, a) in KNOWN_KEYS.iter().enumerate() {
            assert!(!KNOWN_KEYS[..i].contains(a), "{a} listed twice");
        }
    }

    #[test]
    fn id_constants_match_table_positions() {
        let constants = [
            (id::REQUEST_METHOD, "REQUEST_METHOD"),
            (id::REQUEST_URI, "REQUEST_URI"),
            (id::PATH_INFO, "PATH_INFO"),
            (id::SCRIPT_NAME, "SCRIPT_NAME"),
            (id::CONTENT_LENGTH, "CONTENT_LENGTH"),
            (id::SERVER_PROTOCOL, "SERVER_PROTOCOL"),
            (id::HTTP_CONNECTION, "HTTP_CONNECTION"),
            (id::HTTP_UPGRADE, "HTTP_UPGRADE"),
            (id::HTTP_CONTENT_LENGTH, "HTTP_CONTENT_LENGTH"),
            (id::HTTP_CONTENT_TYPE, "HTTP_CONTENT_TYPE"),
            (id::HTTP_PROXY, "HTTP_PROXY"),
        ];
        for (id, key) in constants {
            assert_eq!(KNOWN_KEYS[usize::from(id) - 1], key);
            assert_eq!(lookup(key.as_bytes()), id);
        }
    }

    #[test]
    fn near_misses_are_unknown() {
        for name in [
            &b""[..],
            b"H",
            b"HTTP_",
            b"http_host",
            b"Http_Host",
            b"HTTP_HOSt",
            b"XTTP_HOST",
            b"HTTP_HOST\0",
            b"HTTP_HOS",
            b"HTTP_HOSTS",
            b"REQUEST_METHOD ",
            b"REQUEST_METHOX",
            b"UWSGI_FILE",
            b"__proto__",
            b"HTTP_X_FORWARDED_HOST",
            b"\xffTTP_HOST",
        ] {
            assert_eq!(lookup(name), UNKNOWN, "{:?}", String::from_utf8_lossy(name));
        }
        // Every one-byte change of every known key is unknown.
        for key in KNOWN_KEYS {
            let mut k = key.as_bytes().to_vec();
            for i in 0..k.len() {
                let orig = k[i];
                k[i] = orig ^ 0x20;
                assert_eq!(lookup(&k), UNKNOWN, "{key} with byte {i} flipped");
                k[i] = orig;
            }
        }
    }

    #[test]
    fn name_of_unknown_and_out_of_range_ids() {
        assert_eq!(name(UNKNOWN), None);
        assert_eq!(name(KNOWN_KEYS.len() as KeyId + 1), None);
        assert_eq!(name(KeyId::MAX), None);
    }

    #[test]
    fn dropped_keys() {
        assert!(is_dropped(lookup(b"HTTP_CONTENT_LENGTH")));
        assert!(is_dropped(lookup(b"HTTP_CONTENT_TYPE")));
        assert!(is_dropped(lookup(b"HTTP_PROXY")));
        assert!(!is_dropped(lookup(b"CONTENT_LENGTH")));
        assert!(!is_dropped(UNKNOWN));
    }
}
