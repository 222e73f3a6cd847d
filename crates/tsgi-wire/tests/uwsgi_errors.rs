//! The error table: every variant's status, limit option, code and log line.

use tsgi_wire::keys::id;
use tsgi_wire::uwsgi::Error;

/// One of each variant. `exhaustive` below fails to compile when a variant is added and
/// not listed here.
fn all() -> Vec<Error> {
    vec![
        Error::TruncatedHeader,
        Error::TruncatedVars,
        Error::EmptyVars,
        Error::VarsTooLarge { size: 70, limit: 64 },
        Error::KeyOverrun,
        Error::ValueOverrun,
        Error::EmptyKey,
        Error::TooManyVars { limit: 1000 },
        Error::ConflictingDuplicate { key: id::CONTENT_LENGTH },
        Error::InvalidContentLength,
        Error::ContentLengthOverflow,
        Error::BodyTooLarge { length: 1_000_001, limit: 1_000_000 },
        Error::UnsupportedModifier { modifier1: 5 },
        Error::LooksLikeHttp,
        Error::MissingMethod,
        Error::InvalidMethod,
    ]
}

#[allow(dead_code)]
fn exhaustive(e: Error) {
    match e {
        Error::TruncatedHeader
        | Error::TruncatedVars
        | Error::EmptyVars
        | Error::VarsTooLarge { .. }
        | Error::KeyOverrun
        | Error::ValueOverrun
        | Error::EmptyKey
        | Error::TooManyVars { .. }
        | Error::ConflictingDuplicate { .. }
        | Error::InvalidContentLength
        | Error::ContentLengthOverflow
        | Error::BodyTooLarge { .. }
        | Error::UnsupportedModifier { .. }
        | Error::LooksLikeHttp
        | Error::MissingMethod
        | Error::InvalidMethod => {}
    }
}

#[test]
fn status_codes() {
    for e in all() {
        let want = match e {
            Error::TruncatedHeader | Error::TruncatedVars | Error::LooksLikeHttp => None,
            Error::VarsTooLarge { .. } => Some(431),
            Error::BodyTooLarge { .. } => Some(413),
            Error::UnsupportedModifier { .. } => Some(501),
            _ => Some(400),
        };
        assert_eq!(e.status(), want, "{e:?}");
    }
}

#[test]
fn limit_options() {
    for e in all() {
        let want = match e {
            Error::VarsTooLarge { .. } => Some("buffer-size"),
            Error::TooManyVars { .. } => Some("max-vars"),
            Error::BodyTooLarge { .. } => Some("limit-post"),
            _ => None,
        };
        assert_eq!(e.limit_option(), want, "{e:?}");
    }
}

#[test]
fn codes_are_stable_unique_snake_case() {
    let codes: Vec<&str> = all().iter().map(Error::code).collect();
    assert_eq!(
        codes,
        [
            "uwsgi_truncated_header",
            "uwsgi_truncated_vars",
            "uwsgi_empty_vars",
            "uwsgi_vars_too_large",
            "uwsgi_key_overrun",
            "uwsgi_value_overrun",
            "uwsgi_empty_key",
            "uwsgi_too_many_vars",
            "uwsgi_conflicting_duplicate",
            "uwsgi_invalid_content_length",
            "uwsgi_content_length_overflow",
            "uwsgi_body_too_large",
            "uwsgi_unsupported_modifier",
            "uwsgi_looks_like_http",
            "uwsgi_missing_method",
            "uwsgi_invalid_method",
        ]
    );
    for (i, c) in codes.iter().enumerate() {
        assert!(c.starts_with("uwsgi_") && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
        assert!(!codes[..i].contains(c), "{c} twice");
    }
}

#[test]
fn log_lines() {
    for e in all() {
        let line = e.to_string();
        assert!(!line.is_empty() && !line.contains('\n') && line.is_ascii(), "{e:?}: {line:?}");
        match e.limit_option() {
            Some(opt) => assert!(line.ends_with(&format!("(raise --{opt})")), "{line}"),
            None => assert!(!line.contains("raise"), "{line}"),
        }
    }
    let line = |e: Error| e.to_string();
    assert_eq!(
        line(Error::VarsTooLarge { size: 4097, limit: 4096 }),
        "uwsgi vars block of 4097 bytes is over buffer-size 4096 (raise --buffer-size)"
    );
    assert_eq!(
        line(Error::TooManyVars { limit: 1000 }),
        "uwsgi request has more than max-vars 1000 vars (raise --max-vars)"
    );
    assert_eq!(
        line(Error::BodyTooLarge { length: 11, limit: 10 }),
        "uwsgi request body of 11 bytes is over limit-post 10 (raise --limit-post)"
    );
    assert_eq!(
        line(Error::LooksLikeHttp),
        "HTTP request sent to a uwsgi socket (point an HTTP client at --http-socket, or use uwsgi_pass in nginx)"
    );
    assert_eq!(
        line(Error::ConflictingDuplicate { key: id::REQUEST_URI }),
        "uwsgi var REQUEST_URI given twice with different values"
    );
    assert_eq!(
        line(Error::ConflictingDuplicate { key: 9999 }),
        "uwsgi var with key id 9999 given twice with different values"
    );
    assert_eq!(
        line(Error::UnsupportedModifier { modifier1: 5 }),
        "uwsgi modifier1 5 is not served (only 0, 30 and ping 100 are)"
    );
    assert!(line(Error::ContentLengthOverflow).contains("9007199254740991"));
}

#[test]
fn is_a_std_error() {
    let e: Box<dyn std::error::Error> = Box::new(Error::EmptyKey);
    assert_eq!(e.to_string(), "uwsgi var with an empty key");
}
