//! FastCGI lengths at their boundaries that the other files leave out: the largest record
//! (65535 bytes of content, 255 of padding), empty stream-ending records that carry padding,
//! a PARAMS stream at `buffer-size` across records of the largest size, a pair whose lengths
//! claim to end at the limit and one past it, names and values of 65536 bytes (one over what
//! a `Var` can describe), and `parse_name_value` at 0, 127/128 and 65535/65536.

mod common;

use common::fastcgi::{begin, drive, drive_split, push_len, push_len4, record, request, Params};
use tsgi_wire::fastcgi::{self, Error, Limits, ParamsDecoder, RecordHeader, RecordType, Role};
use tsgi_wire::Status;

/// `buffer-size` raised to 1 MiB, so that single names and values can pass 65535 bytes.
const RAISED: Limits = Limits { max_params_bytes: 1 << 20, max_vars: 1000, max_body: 0 };

/// `REQUEST_METHOD=GET`: 1 + 1 + 14 + 3 bytes.
const GET_LEN: usize = 19;

/// F3 with the largest content: 8 + 65535 + 255 bytes, the most one record can take.
#[test]
fn largest_record_with_largest_padding() {
    let content: Vec<u8> = (0..65535).map(|i| (i % 253) as u8).collect();
    let mut buf = record(RecordType::Stdout.as_u8(), 0xffff, &content, 255);
    assert_eq!(buf.len(), 65798);
    buf.extend(record(RecordType::Stdout.as_u8(), 0xffff, b"", 0));
    let want = RecordHeader {
        record_type: RecordType::Stdout,
        request_id: 0xffff,
        content_length: 0xffff,
        padding_length: 0xff,
    };
    assert_eq!(want.total_len(), 65798);
    assert_eq!(fastcgi::parse_record(&buf), Ok(Status::Complete((want, 8..65543, 65798))));
    assert_eq!(&buf[8..65543], &content[..]);
    for i in [0, 7, 8, 65542, 65543, 65797] {
        assert_eq!(fastcgi::parse_record(&buf[..i]), Ok(Status::Partial), "prefix {i}");
    }
    // The next record starts right after the padding.
    let end = RecordHeader { content_length: 0, padding_length: 0, ..want };
    assert_eq!(fastcgi::parse_record(&buf[65798..]), Ok(Status::Complete((end, 8..8, 8))));
}

/// An empty record ends its stream (F26) whatever padding it carries (F3): the padding is
/// skipped, not read as content.
#[test]
fn padded_empty_records_end_their_streams() {
    let params = RecordType::Params.as_u8();
    let stdin = RecordType::Stdin.as_u8();
    let mut bytes = begin(7, Role::Responder.as_u16(), 0);
    bytes.extend(record(params, 7, Params::get().nv("CONTENT_LENGTH", "3").bytes(), 0));
    bytes.extend(record(params, 7, b"", 255));
    bytes.extend(record(stdin, 7, b"abc", 0));
    bytes.extend(record(stdin, 7, b"", 7));
    assert_eq!(bytes.len(), 16 + (8 + 36) + (8 + 255) + (8 + 3) + (8 + 7));
    let d = drive_split(&bytes, &Limits::default());
    assert_eq!(d.error, None);
    let (info, canon) = d.params.expect("params ended").expect("params ok");
    assert_eq!((info.content_length, canon.len()), (3, 2));
    assert_eq!((d.stdin.as_slice(), d.stdin_ended, d.leftover), (&b"abc"[..], true, 0));
}

/// F17 across records of the largest size: a stream of exactly `buffer-size` (65536) bytes
/// needs two PARAMS records; one byte more is refused, wherever the records are cut.
#[test]
fn params_at_buffer_size_across_largest_records() {
    let limits = Limits::default();
    let at = Params::get().pad_to(65536);
    let over = Params::get().pad_to(65537);
    // The largest record then the rest, the rest first, and cuts inside the filler's 4-byte
    // value length (it starts at GET_LEN + 1).
    for cuts in [vec![65535], vec![1], vec![GET_LEN, GET_LEN + 3]] {
        let bytes = request(at.bytes(), &cuts, b"");
        let d = drive(&limits, bytes.chunks(8191));
        let (info, canon) = d.params.expect("params ended").expect("params ok");
        assert_eq!((info.content_length, canon.len(), canon[1].2.len()), (0, 2, 65536 - GET_LEN - 10));
        assert_eq!((d.error, d.stdin_ended, d.leftover), (None, true, 0), "cuts {cuts:?}");
    }
    for cuts in [vec![65535], vec![2]] {
        let d = drive(&limits, [request(over.bytes(), &cuts, b"").as_slice()]);
        assert_eq!(d.params, Some(Err(Error::ParamsTooLarge { limit: 65536 })), "cuts {cuts:?}");
        assert!(!d.stdin_ended);
    }
}

/// F15 at N and N + 1: a pair whose lengths claim to end exactly at `buffer-size` waits for
/// its bytes; one byte more is refused on the lengths alone, nothing of the pair stored.
#[test]
fn pair_claim_ending_at_the_limit_and_one_past() {
    // GET, then a 1-byte name length and a 4-byte value length: the pair ends at
    // 19 + 5 + 1 + value.
    let claim = |value: usize| {
        let mut raw = vec![1];
        push_len4(&mut raw, value);
        Params::get().raw(raw)
    };
    let at = claim(65536 - GET_LEN - 6);
    let over = claim(65536 - GET_LEN - 6 + 1);
    assert_eq!(&at.bytes()[GET_LEN..], b"\x01\x80\x00\xff\xe7");

    let mut d = ParamsDecoder::new(Limits::default());
    assert_eq!(d.feed(at.bytes()), Ok(Status::Partial));
    assert_eq!(d.block().len(), 24);
    let mut rest = b"K".to_vec();
    rest.resize(1 + 65511, b'v');
    assert_eq!(d.feed(&rest), Ok(Status::Partial));
    assert_eq!(d.block().len(), 65536);
    assert!(matches!(d.feed(b""), Ok(Status::Complete(_))));
    assert_eq!(d.vars().len(), 2);
    assert_eq!(d.pair(&d.vars()[1]).1.len(), 65511);

    let mut d = ParamsDecoder::new(Limits::default());
    assert_eq!(d.feed(over.bytes()), Err(Error::ParamsTooLarge { limit: 65536 }));
    assert_eq!(d.block().len(), 24);

    // However the lengths are cut: the claim at N is a pair cut short, N + 1 the limit.
    assert_eq!(common::fastcgi::feed_split(at.bytes(), &Limits::default()), Err(Error::TruncatedParams));
    assert_eq!(
        common::fastcgi::feed_split(over.bytes(), &Limits::default()),
        Err(Error::ParamsTooLarge { limit: 65536 })
    );
}

/// A value of 65536 bytes: with the default `buffer-size` (65536) the pair cannot fit, so it
/// is the limit error, on the lengths alone.
#[test]
fn value_of_65536_bytes_hits_the_default_limit() {
    let p = Params::get().nv("X_BIG", vec![b'b'; 65536]);
    assert_eq!(&p.bytes()[GET_LEN..GET_LEN + 5], b"\x05\x80\x01\x00\x00");
    let want = Error::ParamsTooLarge { limit: 65536 };
    assert_eq!(common::fastcgi::feed_pieces(&Limits::default(), [p.bytes()]), Err(want));
    let mut d = ParamsDecoder::new(Limits::default());
    assert_eq!(d.feed(&p.bytes()[..GET_LEN + 5]), Err(want));
    assert_eq!(d.block().len(), GET_LEN + 5);
}

/// With `buffer-size` raised, a name or value of 65536 bytes is over what a `Var` can
/// describe: `ParamTooLong`, on the lengths alone, the name's before the value's; but a
/// claim past the raised limit is still the limit error, which is checked first.
#[test]
fn name_or_value_of_65536_bytes_with_raised_limit() {
    let lens = |name: usize, value: usize| {
        let mut raw = Vec::new();
        push_len(&mut raw, name);
        push_len(&mut raw, value);
        Params::get().raw(raw)
    };
    let cases = [
        ((65536, 1), Error::ParamTooLong { length: 65536 }),
        ((1, 65536), Error::ParamTooLong { length: 65536 }),
        ((65535, 65536), Error::ParamTooLong { length: 65536 }),
        ((65536, 65537), Error::ParamTooLong { length: 65536 }),
        ((65537, 65536), Error::ParamTooLong { length: 65537 }),
        ((0x7fff_ffff, 1), Error::ParamsTooLarge { limit: 1 << 20 }),
        ((1, 0x7fff_ffff), Error::ParamsTooLarge { limit: 1 << 20 }),
    ];
    for ((name, value), want) in cases {
        assert_eq!(common::fastcgi::feed_split(lens(name, value).bytes(), &RAISED), Err(want), "{name} {value}");
    }
    // 65535 and 65535 is the most that fits: the lengths are accepted, the pair awaited.
    assert_eq!(common::fastcgi::feed_split(lens(65535, 65535).bytes(), &RAISED), Err(Error::TruncatedParams));

    let e = Error::ParamTooLong { length: 65536 };
    assert_eq!((e.status(), e.limit_option(), e.code()), (Some(431), None, "fastcgi_param_too_long"));
    assert_eq!(e.to_string(), "FastCGI param name or value of 65536 bytes is over 65535");
}

/// `parse_name_value` (GET_VALUES content) at the length-form boundaries: the ranges and
/// the bytes consumed are exact, the byte after the pair is not read, and one byte short is
/// `Partial`. It has no limit of its own, so a 65536-byte value is a pair like any other.
#[test]
fn parse_name_value_at_the_length_boundaries() {
    // (name length, value length, non-minimal 4-byte fields, bytes the fields take)
    let cases = [
        (1, 0, false, 2),
        (127, 0, false, 2),
        (128, 0, false, 5),
        (1, 127, false, 2),
        (1, 128, false, 5),
        (128, 128, false, 8),
        (1, 0, true, 8),
        (127, 1, true, 8),
        (1, 65535, false, 5),
        (1, 65536, false, 5),
        (65536, 0, false, 5),
    ];
    for (name_len, value_len, four, fields) in cases {
        let mut buf = Vec::new();
        let push = if four { push_len4 } else { push_len };
        push(&mut buf, name_len);
        push(&mut buf, value_len);
        assert_eq!(buf.len(), fields);
        buf.resize(fields + name_len, b'n');
        buf.resize(fields + name_len + value_len, b'v');
        let n = buf.len();
        buf.push(0);
        let want = Ok(Status::Complete((fields..fields + name_len, fields + name_len..n, n)));
        assert_eq!(fastcgi::parse_name_value(&buf), want, "{name_len} {value_len} {four}");
        assert_eq!(fastcgi::parse_name_value(&buf[..n]), want);
        let prefixes: Vec<usize> = if n <= 300 { (0..n).collect() } else { vec![0, 1, fields, n - 1] };
        for i in prefixes {
            assert_eq!(fastcgi::parse_name_value(&buf[..i]), Ok(Status::Partial), "{name_len} {value_len} prefix {i}");
        }
    }
}
