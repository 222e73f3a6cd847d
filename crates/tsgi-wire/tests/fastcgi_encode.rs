//! The FastCGI encoder: everything written is parsed back with the crate's own parser.
//! STDOUT/STDERR at the record boundaries (F26: no record over 65535 bytes, no empty record
//! before the end marker), END_REQUEST, UNKNOWN_TYPE (F4), GET_VALUES_RESULT (F5).

use tsgi_wire::fastcgi::{self, encode, ProtocolStatus, RecordHeader, RecordType};
use tsgi_wire::Status;

/// Parses every record of `buf`, which must hold whole records only.
fn records(buf: &[u8]) -> Vec<(RecordHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let Ok(Status::Complete((h, content, n))) = fastcgi::parse_record(&buf[pos..]) else {
            panic!("no whole record at {pos}");
        };
        out.push((h, buf[pos..][content].to_vec()));
        pos += n;
    }
    out
}

#[test]
fn stdout_round_trips_at_the_record_boundaries() {
    // (data length, the content length of each record): full records, then the rest.
    let cases: [(usize, &[usize]); 8] = [
        (0, &[]),
        (1, &[1]),
        (65534, &[65534]),
        (65535, &[65535]),
        (65536, &[65535, 1]),
        (131070, &[65535, 65535]),
        (131071, &[65535, 65535, 1]),
        (131072, &[65535, 65535, 2]),
    ];
    for (size, lens) in cases {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        for (write, t) in
            [(encode::stdout as fn(&mut Vec<u8>, u16, &[u8]), RecordType::Stdout), (encode::stderr, RecordType::Stderr)]
        {
            let mut out = b"prefix".to_vec();
            write(&mut out, 0x0102, &data);
            assert_eq!(out.len() - 6, encode::stream_len(size), "size {size}");
            encode::end_stream(&mut out, t, 0x0102);
            let recs = records(&out[6..]);
            let (last, body) = recs.split_last().unwrap();
            assert_eq!((last.0.record_type, last.0.content_length, last.1.len()), (t, 0, 0), "end marker");
            assert_eq!(
                body.iter().map(|(h, _)| usize::from(h.content_length)).collect::<Vec<_>>(),
                lens,
                "size {size}"
            );
            let mut joined = Vec::new();
            for (h, content) in body {
                assert_eq!((h.record_type, h.request_id, h.padding_length), (t, 0x0102, 0));
                assert!(!content.is_empty(), "empty record before the end marker (size {size})");
                assert!(content.len() <= fastcgi::MAX_CONTENT_LEN);
                joined.extend_from_slice(content);
            }
            assert_eq!(joined, data, "size {size}");
        }
    }
}

#[test]
fn empty_writes_write_nothing() {
    let mut out = Vec::new();
    encode::stdout(&mut out, 1, b"");
    encode::stderr(&mut out, 1, b"");
    assert!(out.is_empty());
    assert_eq!(encode::stream_len(0), 0);
    assert_eq!(encode::stream_len(65535), 65535 + 8);
    assert_eq!(encode::stream_len(65536), 65536 + 16);
}

#[test]
fn end_request_bytes() {
    let mut out = Vec::new();
    encode::end_request(&mut out, 1, 0x0a0b0c0d, ProtocolStatus::Overloaded);
    assert_eq!(out, b"\x01\x03\x00\x01\x00\x08\x00\x00\x0a\x0b\x0c\x0d\x02\x00\x00\x00");
    let recs = records(&out);
    assert_eq!(recs[0].0.record_type, RecordType::EndRequest);
}

/// F4: the answer to an unknown management type names it.
#[test]
fn unknown_type_bytes() {
    let mut out = Vec::new();
    encode::unknown_type(&mut out, 200);
    assert_eq!(out, b"\x01\x0b\x00\x00\x00\x08\x00\x00\xc8\x00\x00\x00\x00\x00\x00\x00");
}

/// F5: GET_VALUES_RESULT, 1- and 4-byte lengths, read back with `parse_name_value`.
#[test]
fn get_values_result_round_trips() {
    let long = vec![b'9'; 200];
    let pairs: [(&[u8], &[u8]); 4] =
        [(fastcgi::MAX_CONNS, b"10"), (fastcgi::MAX_REQS, b"10"), (fastcgi::MPXS_CONNS, b"0"), (b"X_LONG", &long)];
    let mut out = Vec::new();
    encode::get_values_result(&mut out, &pairs).unwrap();
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    let (h, content) = &recs[0];
    assert_eq!((h.record_type, h.request_id), (RecordType::GetValuesResult, fastcgi::NULL_REQUEST_ID));
    let mut got = Vec::new();
    let mut pos = 0;
    while pos < content.len() {
        let Ok(Status::Complete((n, v, used))) = fastcgi::parse_name_value(&content[pos..]) else { panic!() };
        got.push((content[pos..][n].to_vec(), content[pos..][v].to_vec()));
        pos += used;
    }
    let want: Vec<_> = pairs.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
    assert_eq!(got, want);
    // The 200-byte value took the 4-byte form, minimal: 0x800000c8.
    assert!(content.windows(4).any(|w| w == b"\x80\x00\x00\xc8"));

    let mut empty = Vec::new();
    encode::get_values_result(&mut empty, &[]).unwrap();
    assert_eq!(empty, b"\x01\x0a\x00\x00\x00\x00\x00\x00");
}

#[test]
fn get_values_result_must_fit_one_record() {
    // 1 + 4 + 1 + 65529 = 65535: fits exactly.
    let fits = vec![b'v'; 65529];
    let mut out = Vec::new();
    encode::get_values_result(&mut out, &[(b"N", &fits)]).unwrap();
    assert_eq!(out.len(), 8 + 65535);
    let over = vec![b'v'; 65530];
    let mut out = b"kept".to_vec();
    assert_eq!(encode::get_values_result(&mut out, &[(b"N", &over)]), Err(encode::RecordTooLarge { length: 65536 }));
    assert_eq!(out, b"kept", "nothing written on error");
    assert_eq!(
        encode::RecordTooLarge { length: 65536 }.to_string(),
        "FastCGI record content of 65536 bytes is over 65535"
    );
}
