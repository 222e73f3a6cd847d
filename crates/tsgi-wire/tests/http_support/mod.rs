//! HTTP test helpers: a small request reader standing in for the reactor (head, then the
//! body by its framing), and the split harnesses that cut the input at every offset and
//! check that every cut gives the whole's answer.
#![allow(dead_code)]

use tsgi_wire::http::{self, BodyFraming, ChunkedDecoder, Error, Head, HeadVars, Limits};
use tsgi_wire::keys;
use tsgi_wire::Status;

/// Name and value of every var, in order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One request read off the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head: Head,
    pub vars: Pairs,
    pub body: Vec<u8>,
    /// Where the request ends: the next one starts at `buf[end..]`.
    pub end: usize,
}

impl Request {
    /// The value of the first var named `name`, as text (latin-1 bytes shown lossily).
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The vars as `NAME=value` strings, in order.
    pub fn lines(&self) -> Vec<String> {
        self.vars
            .iter()
            .map(|(n, v)| format!("{}={}", String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
            .collect()
    }
}

/// The pairs of `out`, checking each var's key id against its name.
pub fn pairs(out: &HeadVars) -> Pairs {
    out.vars
        .iter()
        .map(|v| {
            let (name, value) = out.pair(v);
            assert_eq!(v.key_id, keys::lookup(name), "key id of {:?}", String::from_utf8_lossy(name));
            (name.to_vec(), value.to_vec())
        })
        .collect()
}

/// Parses a head with `limits`: the head and its pairs.
pub fn head(buf: &[u8], limits: &Limits) -> Result<Status<(Head, Pairs)>, Error> {
    let mut out = HeadVars::new();
    Ok(match http::parse_head(buf, limits, &mut out)? {
        Status::Complete(head) => {
            assert!(head.len <= buf.len());
            if let Some(host) = &head.host {
                assert!(host.end <= out.block.len());
            }
            Status::Complete((head, pairs(&out)))
        }
        Status::Partial => Status::Partial,
    })
}

/// Feeds `pieces` one after another to a fresh decoder, as a connection receives them:
/// the body, and how many bytes of all the pieces it took (`None` while not done).
pub fn decode(limits: &Limits, pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<usize>), Error> {
    let mut d = ChunkedDecoder::new(limits);
    let mut body = Vec::new();
    let mut taken = 0;
    for piece in pieces {
        let mut input = *piece;
        loop {
            let r = d.decode(input)?;
            assert!(r.consumed <= input.len() && r.data.end <= r.consumed);
            assert!(r.data.is_empty() || !r.done);
            assert!(r.consumed == input.len() || !r.data.is_empty() || r.done, "stopped early: {r:?}");
            body.extend_from_slice(&input[r.data.clone()]);
            input = &input[r.consumed..];
            taken += r.consumed;
            if r.done {
                assert!(d.is_done());
                assert_eq!(d.body_len(), body.len() as u64);
                let again = d.decode(input)?;
                assert_eq!((again.consumed, again.done), (0, true), "a finished decoder takes nothing");
                return Ok((body, Some(taken)));
            }
            if input.is_empty() {
                break;
            }
        }
    }
    Ok((body, None))
}

/// Reads one request off the front of `buf`: the head, then the body by its framing.
/// `Partial` until the whole body is there.
pub fn read_request(buf: &[u8], limits: &Limits) -> Result<Status<Request>, Error> {
    let (head, vars) = match head(buf, limits)? {
        Status::Complete(h) => h,
        Status::Partial => return Ok(Status::Partial),
    };
    let rest = &buf[head.len..];
    let (body, end) = match head.body {
        BodyFraming::None => (Vec::new(), head.len),
        BodyFraming::Length(n) => {
            let n = usize::try_from(n).unwrap();
            if rest.len() < n {
                return Ok(Status::Partial);
            }
            (rest[..n].to_vec(), head.len + n)
        }
        BodyFraming::Chunked => match decode(limits, &[rest])? {
            (body, Some(taken)) => (body, head.len + taken),
            (_, None) => return Ok(Status::Partial),
        },
    };
    Ok(Status::Complete(Request { head, vars, body, end }))
}

/// [`read_request`] on `buf` and on every prefix of it: each prefix answers `Partial` or
/// exactly what the whole answers. Returns the whole's answer.
///
/// A chunked body is also decoded cut in two at every offset, and byte by byte: the same
/// body, end and error every time.
pub fn read_split(buf: &[u8], limits: &Limits) -> Result<Status<Request>, Error> {
    let whole = read_request(buf, limits);
    if let Ok(Status::Complete((head, _))) = head(buf, limits) {
        if head.body == BodyFraming::Chunked {
            let rest = &buf[head.len..];
            let once = decode(limits, &[rest]);
            for i in 0..=rest.len() {
                assert_eq!(decode(limits, &[&rest[..i], &rest[i..]]), once, "body cut at {i}");
            }
            let bytes: Vec<&[u8]> = rest.chunks(1).collect();
            assert_eq!(decode(limits, &bytes), once, "body byte by byte");
        }
    }
    let head_whole = head(buf, limits);
    for i in 0..buf.len() {
        let prefix = read_request(&buf[..i], limits);
        assert!(
            prefix == Ok(Status::Partial) || prefix == whole,
            "prefix of {i} bytes answered {prefix:?}, the whole {whole:?}, for {:?}",
            String::from_utf8_lossy(buf)
        );
        // The head alone obeys the same rule.
        let head_prefix = head(&buf[..i], limits);
        assert!(head_prefix == Ok(Status::Partial) || head_prefix == head_whole, "head prefix of {i} bytes");
    }
    whole
}

/// [`read_split`] with the default limits, expecting a complete request.
pub fn ok(buf: &[u8]) -> Request {
    ok_with(buf, &Limits::default())
}

/// [`read_split`], expecting a complete request.
pub fn ok_with(buf: &[u8], limits: &Limits) -> Request {
    match read_split(buf, limits) {
        Ok(Status::Complete(r)) => r,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// [`read_split`] with `limits`, expecting an error.
pub fn err_with(buf: &[u8], limits: &Limits) -> Error {
    match read_split(buf, limits) {
        Err(e) => e,
        other => panic!("{:?}: expected an error, got {other:?}", String::from_utf8_lossy(buf)),
    }
}
