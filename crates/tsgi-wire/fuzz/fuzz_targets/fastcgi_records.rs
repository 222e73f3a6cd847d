//! Arbitrary bytes as a FastCGI record stream, read as the reactor reads it. Input: a u16 LE
//! cut point, then the stream (scripts/fuzz.sh seeds BEGIN_REQUEST, PARAMS, STDIN).
//!
//! Invariants: the stream received in two reads, cut at the cut point, gives the same records,
//! BEGIN_REQUESTs, PARAMS answers and error as received whole; at every record, a prefix
//! answers `Partial` or what the whole answers, and `parse_record` agrees with the header
//! bytes and `parse_record_header`; BEGIN_REQUEST parses iff its content is 8 bytes; the
//! PARAMS stream fed record by record answers what it answers fed in one record.
#![no_main]

use core::ops::Range;

use tsgi_wire::fastcgi::{self, BeginRequest, Error, Limits, ParamsDecoder, RecordHeader, RecordType, RequestInfo};
use tsgi_wire::Status;

/// What `parse_record` answers.
type Parsed = Result<Status<(RecordHeader, Range<usize>, usize)>, Error>;

/// Small, so that the fuzzer reaches every limit.
const LIMITS: Limits = Limits { max_params_bytes: 512, max_vars: 16, max_body: 1 << 20 };

#[derive(Debug, PartialEq)]
enum Event {
    Record(RecordHeader, Vec<u8>),
    Begin(Result<BeginRequest, Error>),
    Params(Result<Status<RequestInfo>, Error>),
    /// A record framing error: the connection would be closed.
    Closed(Error),
}

/// The first answer of a decoder fed `stream` in one record then the end record, and its pairs.
fn params_in_one_record(stream: &[u8], end: bool) -> (Result<Status<RequestInfo>, Error>, Vec<u8>, usize) {
    let mut d = ParamsDecoder::new(LIMITS);
    let mut answer = if stream.is_empty() { Ok(Status::Partial) } else { d.feed(stream) };
    if end && answer == Ok(Status::Partial) {
        answer = d.feed(b"");
    }
    (answer, d.block().to_vec(), d.vars().len())
}

/// Checks one whole-record answer against the bytes it was parsed from, and that the
/// prefix `rest[..probe]` answers `Partial` or the same.
fn check_record(rest: &[u8], probe: usize, answer: &Parsed) {
    match answer {
        Ok(Status::Complete((h, content, n))) => {
            assert_eq!(rest[0], fastcgi::VERSION_1);
            assert_eq!(h.record_type, RecordType::from_u8(rest[1]));
            assert_eq!(h.request_id, u16::from_be_bytes([rest[2], rest[3]]));
            assert_eq!(h.content_length, u16::from_be_bytes([rest[4], rest[5]]));
            assert_eq!(h.padding_length, rest[6]);
            assert_eq!(*content, fastcgi::HEADER_LEN..fastcgi::HEADER_LEN + usize::from(h.content_length));
            assert!(*n == h.total_len() && *n <= rest.len());
            assert_eq!(fastcgi::parse_record_header(rest), Ok(Status::Complete(*h)));
        }
        Ok(Status::Partial) => match fastcgi::parse_record_header(rest) {
            Ok(Status::Complete(h)) => assert!(rest.len() < h.total_len()),
            other => assert_eq!(other, Ok(Status::Partial)),
        },
        Err(Error::UnsupportedVersion { version }) => assert!(*version == rest[0] && rest[0] != fastcgi::VERSION_1),
        Err(Error::LooksLikeHttp) => assert!(rest.len() >= 4 && rest[..3].iter().all(u8::is_ascii_uppercase)),
        Err(e) => panic!("parse_record answered {e:?}"),
    }
    let probe = probe % (rest.len() + 1);
    match fastcgi::parse_record(&rest[..probe]) {
        Ok(Status::Partial) => {
            if let Ok(Status::Complete((_, _, n))) = answer {
                assert!(probe < *n, "prefix of {probe} bytes is Partial, but the record is {n} bytes");
            }
        }
        prefix => assert_eq!(prefix, *answer, "prefix of {probe} bytes"),
    }
}

/// Receives `reads` one after another and handles every whole record: what a connection
/// would see, and the bytes left unparsed (`None` after a framing error).
fn drive(reads: &[&[u8]], probe: usize) -> (Vec<Event>, Option<usize>) {
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut decoder = ParamsDecoder::new(LIMITS);
    // The PARAMS content fed while the decoder was open, and its answer once it gave one.
    let mut params = Vec::new();
    let mut params_done = None;
    for read in reads {
        buf.extend_from_slice(read);
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            let answer = fastcgi::parse_record(rest);
            check_record(rest, probe, &answer);
            let (h, content, n) = match answer {
                Ok(Status::Complete(record)) => record,
                Ok(Status::Partial) => break,
                Err(e) => {
                    events.push(Event::Closed(e));
                    return (events, None);
                }
            };
            let content = &rest[content];
            events.push(Event::Record(h, content.to_vec()));
            match h.record_type {
                RecordType::BeginRequest => {
                    let begin = fastcgi::parse_begin_request(content);
                    match begin {
                        Ok(b) => {
                            assert_eq!(content.len(), 8);
                            assert_eq!((b.role.as_u16(), b.flags), (u16::from_be_bytes([content[0], content[1]]), content[2]));
                            assert_eq!(b.keep_conn(), content[2] & 1 == 1);
                        }
                        Err(e) => assert_eq!(e, Error::BeginRequestLength { length: content.len() }),
                    }
                    events.push(Event::Begin(begin));
                }
                RecordType::Params => {
                    let answer = decoder.feed(content);
                    match params_done {
                        Some(Ok(_)) => assert_eq!(answer, Err(Error::ParamsAfterEnd)),
                        Some(Err(e)) => assert_eq!(answer, Err(e)),
                        None => {
                            params.extend_from_slice(content);
                            let (one, block, vars) = params_in_one_record(&params, content.is_empty());
                            assert_eq!(answer, one, "PARAMS by records and in one record disagree");
                            assert_eq!((decoder.block(), decoder.vars().len()), (block.as_slice(), vars));
                            if answer != Ok(Status::Partial) {
                                params_done = Some(answer);
                            }
                        }
                    }
                    events.push(Event::Params(answer));
                }
                _ => {}
            }
            pos += n;
        }
        buf.drain(..pos);
    }
    (events, Some(buf.len()))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [c0, c1, ref stream @ ..] = *data else { return };
    let cut = usize::from(u16::from_le_bytes([c0, c1])) % (stream.len() + 1);
    let whole = drive(&[stream], cut);
    let (a, b) = stream.split_at(cut);
    assert_eq!(drive(&[a, b], cut), whole, "cut at {cut}");
});
