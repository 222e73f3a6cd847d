//! FastCGI test helpers: a PARAMS stream builder, record builders, a small record-level
//! driver standing in for the reactor, and the split harnesses (`feed_split`,
//! `drive_split`) that cut a stream or a record sequence at every offset and check that
//! every cut gives the whole's answer.

use tsgi_wire::fastcgi::{self, Error, Limits, ParamsDecoder, RecordType, RequestInfo, Role, Var};
use tsgi_wire::keys::KeyId;
use tsgi_wire::Status;

/// Builds a PARAMS stream (the concatenated content of the PARAMS records), well-formed
/// or not.
#[derive(Debug, Clone, Default)]
pub struct Params {
    bytes: Vec<u8>,
}

/// Appends a minimal length field: 1 byte below 128, else 4.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 128 {
        out.push(len as u8);
    } else {
        push_len4(out, len);
    }
}

/// Appends a 4-byte length field, even for a small length (non-minimal, F14).
pub fn push_len4(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("length fits 31 bits");
    assert!(len < 1 << 31);
    out.extend_from_slice(&(len | 0x8000_0000).to_be_bytes());
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// A stream with `REQUEST_METHOD=GET` only.
    pub fn get() -> Self {
        Params::new().nv("REQUEST_METHOD", "GET")
    }

    /// Appends a pair with minimal length fields.
    pub fn nv(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        push_len(&mut self.bytes, name.len());
        push_len(&mut self.bytes, value.len());
        self.raw(name).raw(value)
    }

    /// Appends a pair with 4-byte length fields whatever the lengths.
    pub fn nv4(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        push_len4(&mut self.bytes, name.len());
        push_len4(&mut self.bytes, value.len());
        self.raw(name).raw(value)
    }

    /// Appends raw bytes.
    pub fn raw(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.bytes.extend_from_slice(bytes.as_ref());
        self
    }

    /// Appends a filler pair (`X_PAD`, a run of `p`, 1-byte name length, 4-byte value
    /// length) so the stream is exactly `size` bytes. Needs at least 137 bytes of room.
    pub fn pad_to(self, size: usize) -> Self {
        const OVERHEAD: usize = 1 + 4 + 5;
        let room = size.checked_sub(self.bytes.len() + OVERHEAD).expect("room for the filler pair");
        assert!(room >= 128, "filler value must need a 4-byte length");
        let p = self.nv("X_PAD", vec![b'p'; room]);
        assert_eq!(p.bytes.len(), size);
        p
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// One record with `padding` bytes of padding (filled with 0xee so a parser that reads
/// them would notice).
pub fn record(record_type: u8, request_id: u16, content: &[u8], padding: u8) -> Vec<u8> {
    let len = u16::try_from(content.len()).expect("content fits a record");
    let mut out = vec![fastcgi::VERSION_1, record_type];
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(padding);
    out.push(0);
    out.extend_from_slice(content);
    out.resize(out.len() + usize::from(padding), 0xee);
    out
}

/// A BEGIN_REQUEST record.
pub fn begin(request_id: u16, role: u16, flags: u8) -> Vec<u8> {
    let [hi, lo] = role.to_be_bytes();
    record(RecordType::BeginRequest.as_u8(), request_id, &[hi, lo, flags, 0, 0, 0, 0, 0], 0)
}

/// A whole request as nginx-like front-ends send it: BEGIN_REQUEST (responder, id 1),
/// `stream` cut into PARAMS records at `cuts` (offsets into the stream, ascending), padded
/// to 8 bytes, the empty PARAMS record, then `body` as one STDIN record and the empty STDIN.
pub fn request(stream: &[u8], cuts: &[usize], body: &[u8]) -> Vec<u8> {
    let params = RecordType::Params.as_u8();
    let stdin = RecordType::Stdin.as_u8();
    let mut out = begin(1, Role::Responder.as_u16(), 0);
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        let part = &stream[start..end];
        if !part.is_empty() {
            out.extend(record(params, 1, part, ((8 - part.len() % 8) % 8) as u8));
        }
        start = end;
    }
    out.extend(record(params, 1, b"", 0));
    if !body.is_empty() {
        out.extend(record(stdin, 1, body, 3));
    }
    out.extend(record(stdin, 1, b"", 0));
    out
}

/// One request's pairs as owned (key id, name, value), in wire order: the canonical form
/// the uwsgi and FastCGI adapters must agree on.
pub type Canon = Vec<(KeyId, Vec<u8>, Vec<u8>)>;

/// The canonical pairs of a finished decoder.
pub fn canon(params: &ParamsDecoder) -> Canon {
    params
        .vars()
        .iter()
        .map(|v: &Var| {
            let (k, val) = params.pair(v);
            (v.key_id, k.to_vec(), val.to_vec())
        })
        .collect()
}

/// Feeds `pieces` (each a record's content; empty pieces are skipped) then the end marker.
pub fn feed_pieces<'a>(
    limits: &Limits,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(RequestInfo, Canon), Error> {
    let mut params = ParamsDecoder::new(*limits);
    for piece in pieces {
        if piece.is_empty() {
            continue;
        }
        if let Err(e) = params.feed(piece) {
            // Once failed, the decoder keeps answering the same error.
            assert_eq!(params.feed(b"x"), Err(e));
            assert_eq!(params.feed(b""), Err(e));
            return Err(e);
        }
        assert!(params.block().len() <= limits.max_params_bytes as usize);
    }
    let info = match params.feed(b"")? {
        Status::Complete(info) => info,
        Status::Partial => panic!("the end marker must finish the stream"),
    };
    assert_eq!(params.info(), Some(info));
    assert_eq!(params.feed(b"x"), Err(Error::ParamsAfterEnd));
    Ok((info, canon(&params)))
}

/// Feeds `stream` as one PARAMS record, then cut once at every offset, then byte by byte,
/// then (for streams up to `MAX_TWO_CUTS` bytes) cut twice at every pair of offsets, and
/// checks that every cut answers what the whole answers. Returns the whole's answer.
pub fn feed_split(stream: &[u8], limits: &Limits) -> Result<(RequestInfo, Canon), Error> {
    const MAX_TWO_CUTS: usize = 160;
    let whole = feed_pieces(limits, [stream]);
    for i in 0..=stream.len() {
        let (a, b) = stream.split_at(i);
        assert_eq!(feed_pieces(limits, [a, b]), whole, "cut at {i}");
    }
    assert_eq!(feed_pieces(limits, stream.chunks(1)), whole, "byte by byte");
    if stream.len() <= MAX_TWO_CUTS {
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let pieces = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(feed_pieces(limits, pieces), whole, "cuts at {i} and {j}");
            }
        }
    }
    whole
}

/// What [`drive`] saw: the request's canonical pairs and body, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Driven {
    pub begin: Option<fastcgi::BeginRequest>,
    pub params: Option<Result<(RequestInfo, Canon), Error>>,
    pub stdin: Vec<u8>,
    pub stdin_ended: bool,
    /// A record-level error, or the reason the driver stopped.
    pub error: Option<Error>,
    /// Bytes left unparsed at the end (a record cut short).
    pub leftover: usize,
}

/// A minimal stand-in for the reactor: receives `reads` one after another into a buffer
/// and handles every complete record (BEGIN, PARAMS, STDIN; others are ignored).
pub fn drive<'a>(limits: &Limits, reads: impl IntoIterator<Item = &'a [u8]>) -> Driven {
    let mut buf: Vec<u8> = Vec::new();
    let mut decoder = ParamsDecoder::new(*limits);
    let mut d = Driven { begin: None, params: None, stdin: Vec::new(), stdin_ended: false, error: None, leftover: 0 };
    'reads: for read in reads {
        buf.extend_from_slice(read);
        loop {
            let (header, content, n) = match fastcgi::parse_record(&buf) {
                Ok(Status::Complete(r)) => r,
                Ok(Status::Partial) => break,
                Err(e) => {
                    d.error = Some(e);
                    break 'reads;
                }
            };
            let body = &buf[content];
            match header.record_type {
                RecordType::BeginRequest => match fastcgi::parse_begin_request(body) {
                    Ok(b) => d.begin = Some(b),
                    Err(e) => {
                        d.error = Some(e);
                        break 'reads;
                    }
                },
                RecordType::Params => match decoder.feed(body) {
                    Ok(Status::Partial) => {}
                    Ok(Status::Complete(info)) => d.params = Some(Ok((info, canon(&decoder)))),
                    Err(e) => {
                        d.params = Some(Err(e));
                        break 'reads;
                    }
                },
                RecordType::Stdin if body.is_empty() => d.stdin_ended = true,
                RecordType::Stdin => d.stdin.extend_from_slice(body),
                _ => {}
            }
            buf.drain(..n);
        }
    }
    // Only meaningful when nothing failed: after an error the buffer's fill depends on the cut.
    if d.error.is_none() && !matches!(d.params, Some(Err(_))) {
        d.leftover = buf.len();
    }
    d
}

/// Drives `bytes` whole, then cut at every offset into two reads, then one byte per read,
/// and checks every cut gives the whole's outcome. Also checks that every prefix of the
/// first record parses as `Partial` or exactly as the whole does. Returns the whole's outcome.
pub fn drive_split(bytes: &[u8], limits: &Limits) -> Driven {
    let whole = drive(limits, [bytes]);
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        assert_eq!(drive(limits, [a, b]), whole, "cut at {i}");
    }
    assert_eq!(drive(limits, bytes.chunks(1)), whole, "byte by byte");
    let first = fastcgi::parse_record(bytes);
    for i in 0..bytes.len() {
        match fastcgi::parse_record(&bytes[..i]) {
            Ok(Status::Partial) => {
                if let Ok(Status::Complete((_, _, n))) = first {
                    assert!(i < n, "prefix of {i} bytes is Partial, but the record is {n} bytes");
                }
            }
            other => assert_eq!(other, first, "prefix of {i} bytes"),
        }
    }
    whole
}
