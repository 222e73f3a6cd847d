//! FastCGI records: the header (F1), whole records and padding (F3), BEGIN_REQUEST (F9),
//! and whole requests as record sequences, cut at every offset (`drive_split`).

mod common;

use common::fastcgi::{begin, drive_split, record, request, Params};
use tsgi_wire::fastcgi::{
    self, BeginRequest, Error, Limits, ProtocolStatus, RecordHeader, RecordType, Role, KEEP_CONN,
};
use tsgi_wire::keys::id;
use tsgi_wire::Status;

#[test]
fn constants_are_the_specs() {
    assert_eq!(fastcgi::VERSION_1, 1);
    assert_eq!(fastcgi::HEADER_LEN, 8);
    assert_eq!(fastcgi::MAX_CONTENT_LEN, 65535);
    assert_eq!(KEEP_CONN, 1);
    let types = [
        (RecordType::BeginRequest, 1),
        (RecordType::AbortRequest, 2),
        (RecordType::EndRequest, 3),
        (RecordType::Params, 4),
        (RecordType::Stdin, 5),
        (RecordType::Stdout, 6),
        (RecordType::Stderr, 7),
        (RecordType::Data, 8),
        (RecordType::GetValues, 9),
        (RecordType::GetValuesResult, 10),
        (RecordType::UnknownType, 11),
        (RecordType::Unknown(0), 0),
        (RecordType::Unknown(12), 12),
    ];
    for (t, n) in types {
        assert_eq!((t.as_u8(), RecordType::from_u8(n)), (n, t));
    }
    assert_eq!([Role::Responder, Role::Authorizer, Role::Filter].map(Role::as_u16), [1, 2, 3]);
    let statuses = [
        ProtocolStatus::RequestComplete,
        ProtocolStatus::CantMpxConn,
        ProtocolStatus::Overloaded,
        ProtocolStatus::UnknownRole,
    ];
    assert_eq!(statuses.map(|s| s as u8), [0, 1, 2, 3]);
    assert_eq!(
        [fastcgi::MAX_CONNS, fastcgi::MAX_REQS, fastcgi::MPXS_CONNS],
        [&b"FCGI_MAX_CONNS"[..], b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"]
    );
}

#[test]
fn header_fields_are_big_endian() {
    let buf = [1, 5, 0x12, 0x34, 0xab, 0xcd, 7, 0xff];
    let want =
        RecordHeader { record_type: RecordType::Stdin, request_id: 0x1234, content_length: 0xabcd, padding_length: 7 };
    assert_eq!(fastcgi::parse_record_header(&buf), Ok(Status::Complete(want)));
    assert_eq!(want.total_len(), 8 + 0xabcd + 7);
    for i in 0..8 {
        assert_eq!(fastcgi::parse_record_header(&buf[..i]), Ok(Status::Partial), "prefix {i}");
    }
    // Unknown types and the reserved byte are not the header parser's business.
    let odd = [1, 200, 0, 0, 0, 0, 0, 9];
    let h = fastcgi::parse_record_header(&odd).unwrap();
    assert_eq!(
        h,
        Status::Complete(RecordHeader {
            record_type: RecordType::Unknown(200),
            request_id: 0,
            content_length: 0,
            padding_length: 0
        })
    );
}

/// F1: every version byte but 1 is refused, as soon as it arrives unless it may start an
/// HTTP request line.
#[test]
fn f1_version_other_than_1() {
    for version in (0..=255u8).filter(|&v| v != 1) {
        let buf = [version, 1, 0, 1, 0, 8, 0, 0];
        // For [A-Z], the type byte 1 that follows rules out a request line.
        let want = Error::UnsupportedVersion { version };
        assert_eq!(fastcgi::parse_record_header(&buf), Err(want));
        assert_eq!(fastcgi::parse_record(&buf), Err(want));
        if !version.is_ascii_uppercase() {
            assert_eq!(fastcgi::parse_record_header(&buf[..1]), Err(want), "refused on its first byte");
        }
    }
}

#[test]
fn f1_http_request_line_is_named() {
    for line in [&b"GET / HTTP/1.1\r\n"[..], b"POST /x HTTP/1.1\r\n", b"PRI * HTTP/2.0\r\n", b"HEAD", b"PUT /"] {
        assert_eq!(fastcgi::parse_record(line), Err(Error::LooksLikeHttp), "{line:?}");
        for i in 0..4.min(line.len()) {
            assert_eq!(fastcgi::parse_record(&line[..i]), Ok(Status::Partial), "{line:?} prefix {i}");
        }
    }
    assert_eq!(fastcgi::parse_record(b"GE\x00"), Err(Error::UnsupportedVersion { version: b'G' }));
    assert_eq!(fastcgi::parse_record(b"get "), Err(Error::UnsupportedVersion { version: b'g' }));
    let e = Error::LooksLikeHttp;
    assert_eq!((e.status(), e.code()), (None, "fastcgi_looks_like_http"));
    assert!(e.to_string().contains("FastCGI socket"));
}

/// F3: any padding length is skipped and never read; the record is Partial until the
/// padding is there.
#[test]
fn f3_padding_is_skipped() {
    for padding in 0..=255u8 {
        let mut buf = record(RecordType::Stdin.as_u8(), 3, b"body", padding);
        let n = buf.len();
        assert_eq!(n, 8 + 4 + usize::from(padding));
        buf.extend_from_slice(b"NEXT");
        let Ok(Status::Complete((h, content, used))) = fastcgi::parse_record(&buf) else { panic!("padding {padding}") };
        assert_eq!((h.padding_length, &buf[content], used), (padding, &b"body"[..], n));
        assert_eq!(fastcgi::parse_record(&buf[..n - 1]), Ok(Status::Partial));
    }
}

#[test]
fn record_content_lengths_at_the_boundaries() {
    for len in [0usize, 1, 127, 128, 255, 256, 65534, 65535] {
        let content = vec![b'c'; len];
        let buf = record(RecordType::Stdin.as_u8(), 1, &content, 0);
        let Ok(Status::Complete((h, range, n))) = fastcgi::parse_record(&buf) else { panic!("{len}") };
        assert_eq!((usize::from(h.content_length), range.len(), n), (len, len, 8 + len));
        assert_eq!(fastcgi::parse_record(&buf[..buf.len() - 1]), Ok(Status::Partial));
    }
}

#[test]
fn begin_request_roles_and_flags() {
    let parse = |r: u16, f: u8| fastcgi::parse_begin_request(&begin(1, r, f)[8..]);
    assert_eq!(parse(1, 0), Ok(BeginRequest { role: Role::Responder, flags: 0 }));
    assert_eq!(parse(2, 1), Ok(BeginRequest { role: Role::Authorizer, flags: 1 }));
    assert_eq!(parse(3, 0xfe), Ok(BeginRequest { role: Role::Filter, flags: 0xfe }));
    assert_eq!(parse(0x0102, 0), Ok(BeginRequest { role: Role::Unknown(0x0102), flags: 0 }));
    assert!(parse(1, KEEP_CONN).unwrap().keep_conn());
    assert!(!parse(1, 0xfe).unwrap().keep_conn());
}

/// F9: BEGIN_REQUEST content must be exactly 8 bytes.
#[test]
fn f9_begin_request_length() {
    for len in [0usize, 1, 7, 9, 16, 65535] {
        let content = vec![0u8; len];
        assert_eq!(fastcgi::parse_begin_request(&content), Err(Error::BeginRequestLength { length: len }));
        // Through the record driver too, split at every offset (small ones only).
        if len <= 16 {
            let bytes = record(RecordType::BeginRequest.as_u8(), 1, &content, 0);
            let d = drive_split(&bytes, &Limits::default());
            assert_eq!(d.error, Some(Error::BeginRequestLength { length: len }));
        }
    }
    let e = Error::BeginRequestLength { length: 7 };
    assert_eq!((e.status(), e.code()), (None, "fastcgi_begin_request_length"));
}

/// A whole request, PARAMS cut across records in several ways (F16), as a record stream
/// cut at every offset.
#[test]
fn request_record_stream_split_at_every_offset() {
    let stream = Params::new()
        .nv("REQUEST_METHOD", "POST")
        .nv("REQUEST_URI", "/a?b")
        .nv4("CONTENT_LENGTH", "5")
        .nv("HTTP_HOST", "example.com")
        .nv("HTTP_X_LONG", vec![b'v'; 200]);
    let s = stream.bytes();
    // 16: inside the first pair's name; +1 and +3: inside CONTENT_LENGTH's 4-byte name length.
    let name_len_at = 2 + 14 + 4 + 2 + 11 + 4;
    for cuts in [vec![], vec![16], vec![name_len_at + 1, name_len_at + 3], vec![1, 2, s.len() - 1]] {
        let bytes = request(s, &cuts, b"hello");
        let d = drive_split(&bytes, &Limits::default());
        assert_eq!(d.error, None);
        assert_eq!(d.begin.map(|b| b.role), Some(Role::Responder));
        let (info, canon) = d.params.expect("params ended").expect("params ok");
        assert_eq!(info.content_length, 5);
        let keys: Vec<_> = canon.iter().map(|c| c.0).collect();
        assert_eq!(
            keys[..4],
            [id::REQUEST_METHOD, id::REQUEST_URI, id::CONTENT_LENGTH, tsgi_wire::keys::lookup(b"HTTP_HOST")]
        );
        assert_eq!(canon[4].2, vec![b'v'; 200]);
        assert_eq!((d.stdin.as_slice(), d.stdin_ended, d.leftover), (&b"hello"[..], true, 0));
    }
}

#[test]
fn request_cut_short_leaves_bytes() {
    let bytes = request(Params::get().bytes(), &[], b"");
    let d = drive_split(&bytes[..bytes.len() - 3], &Limits::default());
    assert_eq!((d.stdin_ended, d.leftover, d.error), (false, 5, None));
    assert!(d.params.is_some());
}

#[test]
fn params_error_through_records() {
    let bytes = request(Params::get().nv("", "x").bytes(), &[3], b"");
    let d = drive_split(&bytes, &Limits::default());
    assert_eq!(d.params, Some(Err(Error::EmptyName)));
    assert!(!d.stdin_ended);
}
