//! `parseBatch`: the codecs of `tsgi-wire` driven over many requests in one call, for the
//! codec micro-benchmarks (`bench/codec/`). The server never calls it: there the reactor
//! owns the bytes and parses them where they land. A benchmark that crossed into native
//! code once per request would measure the crossing (~140 ns, more than a parse), so this
//! takes `count` requests laid end to end and parses them all, as a reactor's batch does,
//! reusing its var lists across requests as a connection does.
//!
//! Each request must be whole and valid: the bench feeds the same well-formed requests to
//! every codec, and a refusal here means the input is wrong, not a result to time.
//!
//! Compiled only with the crate's `bench` feature (the benchmark binary, `npm run
//! build:bench-binding`) and for its own tests: the binary that ships has no `parseBatch`.

use tsgi_wire::fastcgi::{self, ParamsDecoder, RecordType};
use tsgi_wire::http::{self, BodyFraming, HeadVars};
use tsgi_wire::{uwsgi, Status};

/// What a batch held: requests parsed, vars found in them, bytes consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parsed {
    pub requests: u32,
    pub vars: u64,
    pub bytes: usize,
}

/// The wire protocols `parse_batch` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Uwsgi,
    Fastcgi,
    Http,
}

/// Parses `count` requests from the start of `buf`, each followed by its body (skipped):
/// uwsgi packets (body: `CONTENT_LENGTH` bytes); FastCGI `BEGIN_REQUEST`, `PARAMS` records
/// up to the empty one, `STDIN` records up to the empty one; HTTP heads (body:
/// `Content-Length` bytes). The error names the request (from 1) and why it failed.
pub fn parse_batch(wire: Wire, buf: &[u8], count: u32) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut uwsgi_vars = Vec::new();
    let mut params = ParamsDecoder::new(fastcgi::Limits::default());
    let mut head_vars = HeadVars::new();
    for request in 1..=count {
        let rest = &buf[parsed.bytes..];
        let fail = |why: &str| format!("request {request} at byte {}: {why}", parsed.bytes);
        let (vars, taken) = match wire {
            Wire::Uwsgi => uwsgi_request(rest, &mut uwsgi_vars),
            Wire::Fastcgi => fastcgi_request(rest, &mut params),
            Wire::Http => http_request(rest, &mut head_vars),
        }
        .map_err(|why| fail(&why))?;
        parsed.requests += 1;
        parsed.vars += vars as u64;
        parsed.bytes += taken;
    }
    Ok(parsed)
}

const INCOMPLETE: &str = "incomplete (the buffer ends inside it)";

/// The body of `length` bytes at `rest[head..]`: the bytes head and body take.
fn skip_body(rest: &[u8], head: usize, length: u64) -> Result<usize, String> {
    usize::try_from(length)
        .ok()
        .and_then(|n| head.checked_add(n))
        .filter(|&end| end <= rest.len())
        .ok_or_else(|| INCOMPLETE.to_string())
}

fn uwsgi_request(rest: &[u8], vars: &mut Vec<uwsgi::Var>) -> Result<(usize, usize), String> {
    match uwsgi::parse_request(rest, &uwsgi::Limits::default(), vars).map_err(|e| e.code().to_string())? {
        Status::Complete((_, info, n)) => Ok((vars.len(), skip_body(rest, n, info.content_length)?)),
        Status::Partial => Err(INCOMPLETE.to_string()),
    }
}

fn http_request(rest: &[u8], out: &mut HeadVars) -> Result<(usize, usize), String> {
    let head = match http::parse_head(rest, &http::Limits::default(), out).map_err(|e| e.code().to_string())? {
        Status::Complete(head) => head,
        Status::Partial => return Err(INCOMPLETE.to_string()),
    };
    let body = match head.body {
        BodyFraming::None => 0,
        BodyFraming::Length(n) => n,
        BodyFraming::Chunked => return Err("a chunked body (not read here: give a Content-Length)".to_string()),
    };
    Ok((out.vars.len(), skip_body(rest, head.len, body)?))
}

/// One FastCGI request: its records in the order nginx sends them.
fn fastcgi_request(rest: &[u8], params: &mut ParamsDecoder) -> Result<(usize, usize), String> {
    params.reset();
    let mut pos = 0;
    let mut next = |want: RecordType| -> Result<&[u8], String> {
        let (header, content, n) = match fastcgi::parse_record(&rest[pos..]).map_err(|e| e.code().to_string())? {
            Status::Complete(record) => record,
            Status::Partial => return Err(INCOMPLETE.to_string()),
        };
        if header.record_type != want {
            return Err(format!("a {:?} record where {want:?} was expected", header.record_type));
        }
        let record = &rest[pos..];
        pos += n;
        Ok(&record[content])
    };
    fastcgi::parse_begin_request(next(RecordType::BeginRequest)?).map_err(|e| e.code().to_string())?;
    loop {
        if let Status::Complete(_) = params.feed(next(RecordType::Params)?).map_err(|e| e.code().to_string())? {
            break;
        }
    }
    while !next(RecordType::Stdin)?.is_empty() {}
    Ok((params.vars().len(), pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uwsgi_packet(vars: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut block = Vec::new();
        for (k, v) in vars {
            block.extend_from_slice(&(k.len() as u16).to_le_bytes());
            block.extend_from_slice(k.as_bytes());
            block.extend_from_slice(&(v.len() as u16).to_le_bytes());
            block.extend_from_slice(v.as_bytes());
        }
        let mut packet = vec![0];
        packet.extend_from_slice(&(block.len() as u16).to_le_bytes());
        packet.push(0);
        packet.extend_from_slice(&block);
        packet.extend_from_slice(body);
        packet
    }

    fn record(record_type: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![1, record_type, 0, 1];
        out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        out.extend_from_slice(&[3, 0]); // 3 bytes of padding
        out.extend_from_slice(content);
        out.extend_from_slice(&[0, 0, 0]);
        out
    }

    fn fastcgi_request_bytes(vars: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut pairs = Vec::new();
        for (k, v) in vars {
            pairs.extend_from_slice(&[k.len() as u8, v.len() as u8]);
            pairs.extend_from_slice(k.as_bytes());
            pairs.extend_from_slice(v.as_bytes());
        }
        let (first, second) = pairs.split_at(pairs.len() / 2); // a pair cut across records
        let mut out = record(1, &[0, 1, 1, 0, 0, 0, 0, 0]);
        for part in [first, second, &[][..]] {
            out.extend(record(4, part));
        }
        if !body.is_empty() {
            out.extend(record(5, body));
        }
        out.extend(record(5, b""));
        out
    }

    #[test]
    fn counts_requests_vars_and_bytes_of_each_protocol() {
        let get = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("HTTP_HOST", "a")];
        let post = [("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "4")];
        let uwsgi = [uwsgi_packet(&get, b""), uwsgi_packet(&post, b"body")].concat();
        assert_eq!(parse_batch(Wire::Uwsgi, &uwsgi, 2), Ok(Parsed { requests: 2, vars: 5, bytes: uwsgi.len() }));
        let fcgi = [fastcgi_request_bytes(&get, b""), fastcgi_request_bytes(&post, b"body")].concat();
        assert_eq!(parse_batch(Wire::Fastcgi, &fcgi, 2), Ok(Parsed { requests: 2, vars: 5, bytes: fcgi.len() }));
        let heads = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody";
        // 5 vars of the request line, then one per header.
        assert_eq!(parse_batch(Wire::Http, heads, 2), Ok(Parsed { requests: 2, vars: 13, bytes: heads.len() }));
        assert_eq!(parse_batch(Wire::Http, heads, 0), Ok(Parsed::default()));
    }

    #[test]
    fn says_which_request_failed_and_why() {
        let packet = uwsgi_packet(&[("REQUEST_METHOD", "GET")], b"");
        let two = [packet.clone(), packet.clone()].concat();
        assert_eq!(parse_batch(Wire::Uwsgi, &two, 3), Err(format!("request 3 at byte {}: {INCOMPLETE}", two.len())));
        assert_eq!(
            parse_batch(Wire::Uwsgi, b"GET / HTTP/1.1\r\n\r\n", 1),
            Err("request 1 at byte 0: uwsgi_looks_like_http".into())
        );
        assert_eq!(
            parse_batch(Wire::Http, b"GET / HTTP/1.1\nHost: a\n\n", 1),
            Err("request 1 at byte 0: http_bare_lf".into())
        );
        let post = uwsgi_packet(&[("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "9")], b"short");
        assert_eq!(parse_batch(Wire::Uwsgi, &post, 1), Err(format!("request 1 at byte 0: {INCOMPLETE}")));
        let stdin_first = record(5, b"");
        assert_eq!(
            parse_batch(Wire::Fastcgi, &stdin_first, 1),
            Err("request 1 at byte 0: a Stdin record where BeginRequest was expected".into())
        );
    }
}
