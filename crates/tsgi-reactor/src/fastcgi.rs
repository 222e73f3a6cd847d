//! The FastCGI side of a connection: records in, requests out.
//!
//! The codec (`tsgi_wire::fastcgi`) parses records and params; this module decides what
//! each record means for the connection (reliability.md §2.2, F1-F26): which request ids
//! are active, which record may come when, when to answer from here (management records,
//! refusals, rejections) and when to hand a request to JavaScript. Every request is a
//! [`crate::stream::Stream`], so several can be active on one connection (multiplexing)
//! and a kept-alive connection serves one after another.
//!
//! Three kinds of trouble, three answers:
//! - the framing cannot be trusted (F1, F2, F6, F7, F9, F10, F19, F22): the connection
//!   closes, and its requests are aborted;
//! - one request is refused (bad params, F15-F18, or a body that does not match its
//!   `CONTENT_LENGTH`, F20, F21): that request gets a static response and `END_REQUEST`,
//!   the connection goes on;
//! - one request cannot be taken (F11-F13): `END_REQUEST` with the protocol status.

use tsgi_wire::fastcgi::{
    self, encode, BeginRequest, Error, ParamsDecoder, ProtocolStatus, RecordHeader, RecordType, Role,
};
use tsgi_wire::{keys, Status};

use crate::batch::{self, AbortReason, Batch, Level, VarSpan};
use crate::conn::ReadState;
use crate::notices::Notice;
use crate::reactor::Reactor;
use crate::refusal;
use crate::stream::Phase;
use crate::sys::{read_some, Read};
use crate::write::StreamEnd;

/// What became of the connection after some records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Handled; go on.
    Go,
    /// The batch is full: this record waits for the next one.
    Full,
    /// The connection is closed.
    Closed,
}

/// The spec's name of a record type, for log lines.
fn type_name(record_type: RecordType) -> String {
    let name = match record_type {
        RecordType::BeginRequest => "BEGIN_REQUEST",
        RecordType::AbortRequest => "ABORT_REQUEST",
        RecordType::EndRequest => "END_REQUEST",
        RecordType::Params => "PARAMS",
        RecordType::Stdin => "STDIN",
        RecordType::Stdout => "STDOUT",
        RecordType::Stderr => "STDERR",
        RecordType::Data => "DATA",
        RecordType::GetValues => "GET_VALUES",
        RecordType::GetValuesResult => "GET_VALUES_RESULT",
        RecordType::UnknownType => "UNKNOWN_TYPE",
        RecordType::Unknown(t) => return format!("type {t}"),
    };
    name.to_string()
}

impl Reactor {
    pub(crate) fn fastcgi_readable(&mut self, slot: u32, batch: &mut Batch) {
        let Some(conn) = self.conn_mut(slot) else { return };
        if conn.state != ReadState::Records {
            self.drain_readable(slot);
            return;
        }
        let (fd, paused) = (conn.fd, conn.paused);
        let mut pending = std::mem::take(&mut conn.head);
        let mut flow = Flow::Go;
        if !pending.is_empty() {
            // Records left by a full batch, or read before a pause.
            flow = self.consume(slot, &mut pending, batch);
        }
        if flow == Flow::Go && !paused {
            let mut scratch = std::mem::take(&mut self.scratch);
            match read_some(fd, &mut scratch) {
                Read::Data(n) if pending.is_empty() => {
                    let (used, after) = self.records(slot, &scratch[..n], batch);
                    pending.extend_from_slice(&scratch[used..n]);
                    flow = after;
                }
                Read::Data(n) => {
                    pending.extend_from_slice(&scratch[..n]);
                    flow = self.consume(slot, &mut pending, batch);
                }
                Read::Eof => {
                    self.peer_closed(slot, pending.len());
                    flow = Flow::Closed;
                }
                Read::WouldBlock => {}
                Read::Failed => {
                    self.close_conn(slot, true, AbortReason::PeerGone);
                    flow = Flow::Closed;
                }
            }
            self.scratch = scratch;
        }
        if flow == Flow::Closed {
            return;
        }
        if flow == Flow::Full {
            self.notices.retry(slot);
        }
        if let Some(conn) = self.conn_mut(slot) {
            conn.head = pending;
        }
        self.refresh_deadline(slot);
        self.update_interest(slot);
    }

    /// [`Reactor::records`] on a buffer, removing what was handled.
    fn consume(&mut self, slot: u32, pending: &mut Vec<u8>, batch: &mut Batch) -> Flow {
        let (used, flow) = self.records(slot, pending, batch);
        pending.drain(..used);
        flow
    }

    /// Handles every whole record at the start of `data`; returns the bytes handled.
    fn records(&mut self, slot: u32, data: &[u8], batch: &mut Batch) -> (usize, Flow) {
        let mut pos = 0;
        loop {
            let (header, content, n) = match fastcgi::parse_record(&data[pos..]) {
                Ok(Status::Complete(record)) => record,
                Ok(Status::Partial) => return (pos, Flow::Go),
                Err(error) => return (pos, self.protocol_error(slot, &error.to_string())),
            };
            let closing = self.conn_mut(slot).is_some_and(|c| c.closing);
            // Once the last request without FCGI_KEEP_CONN ended, nothing more is taken.
            let flow = if closing { Flow::Go } else { self.record(slot, header, &data[pos..][content], batch) };
            if flow != Flow::Go {
                return (pos, flow);
            }
            pos += n;
        }
    }

    fn record(&mut self, slot: u32, header: RecordHeader, content: &[u8], batch: &mut Batch) -> Flow {
        let (id, kind) = (header.request_id, header.record_type);
        if id == fastcgi::NULL_REQUEST_ID {
            return match kind {
                RecordType::GetValues => self.get_values(slot, content),
                RecordType::GetValuesResult | RecordType::UnknownType | RecordType::Unknown(_) => {
                    // F4: a management type we do not take.
                    self.reply(slot, |out| encode::unknown_type(out, kind.as_u8()));
                    Flow::Go
                }
                _ => self.protocol_error(slot, &format!("FastCGI {} record with request id 0 (F6)", type_name(kind))),
            };
        }
        if kind.is_management() {
            return self
                .protocol_error(slot, &format!("FastCGI {} record with request id {id}, not 0 (F6)", type_name(kind)));
        }
        match (kind, self.find_stream(slot, id)) {
            (RecordType::BeginRequest, Some(_)) => {
                self.protocol_error(slot, &format!("FastCGI BEGIN_REQUEST for request id {id}, which is active (F10)"))
            }
            (RecordType::BeginRequest, None) => match fastcgi::parse_begin_request(content) {
                Ok(begin) => self.begin(slot, id, begin),
                Err(error) => self.protocol_error(slot, &error.to_string()),
            },
            // F8: records for a request that is not active are ignored.
            (_, None) => Flow::Go,
            (RecordType::AbortRequest, Some(stream)) => {
                self.abort_request(stream);
                Flow::Go
            }
            (RecordType::Params, Some(stream)) => self.params(slot, stream, content, batch),
            (RecordType::Stdin, Some(stream)) => self.stdin(slot, stream, content, batch),
            (kind, Some(_)) => self
                .protocol_error(slot, &format!("FastCGI {} record for active request id {id} (F7)", type_name(kind))),
        }
    }

    /// F5: answers the names this application knows, each once, in the order asked.
    fn get_values(&mut self, slot: u32, content: &[u8]) -> Flow {
        let mut answers: Vec<(&'static [u8], String)> = Vec::new();
        let mut pos = 0;
        while pos < content.len() {
            let (name, n) = match fastcgi::parse_name_value(&content[pos..]) {
                Ok(Status::Complete((name, _, n))) => (&content[pos..][name], n),
                Ok(Status::Partial) => {
                    return self.protocol_error(slot, "FastCGI GET_VALUES pair runs past its record")
                }
                Err(error) => return self.protocol_error(slot, &error.to_string()),
            };
            pos += n;
            let answer = match name {
                fastcgi::MAX_CONNS => (fastcgi::MAX_CONNS, self.config.max_conns.to_string()),
                fastcgi::MAX_REQS => (fastcgi::MAX_REQS, self.max_reqs().to_string()),
                fastcgi::MPXS_CONNS => (fastcgi::MPXS_CONNS, u8::from(self.config.fastcgi_multiplex).to_string()),
                _ => continue,
            };
            if !answers.iter().any(|(known, _)| *known == answer.0) {
                answers.push(answer);
            }
        }
        let pairs: Vec<(&[u8], &[u8])> = answers.iter().map(|(name, value)| (*name, value.as_bytes())).collect();
        // Three short pairs at most: always fits one record.
        self.reply(slot, |out| encode::get_values_result(out, &pairs).expect("three pairs fit a record"));
        Flow::Go
    }

    /// The most requests one connection carries at once: 1 without multiplexing.
    fn max_reqs(&self) -> usize {
        if self.config.fastcgi_multiplex {
            self.config.fastcgi_max_reqs
        } else {
            1
        }
    }

    /// `BEGIN_REQUEST` for an inactive id: a new request, or a rejection (F11-F13).
    fn begin(&mut self, slot: u32, id: u16, begin: BeginRequest) -> Flow {
        let active = self.conn_mut(slot).map_or(0, |c| c.streams.len());
        let rejection = if begin.role != Role::Responder {
            let role = begin.role.as_u16();
            Some((
                ProtocolStatus::UnknownRole,
                format!("FastCGI role {role} is not supported (only RESPONDER, 1); answered FCGI_UNKNOWN_ROLE"),
            ))
        } else if active > 0 && !self.config.fastcgi_multiplex {
            Some((ProtocolStatus::CantMpxConn, format!("FastCGI request id {id} while another is active on the connection and multiplexing is off; answered FCGI_CANT_MPX_CONN (enable --fastcgi-multiplex)")))
        } else if active >= self.config.fastcgi_max_reqs {
            let max = self.config.fastcgi_max_reqs;
            Some((ProtocolStatus::Overloaded, format!("FastCGI connection already carries fastcgi-max-reqs {max} requests; answered FCGI_OVERLOADED (raise --fastcgi-max-reqs)")))
        } else {
            None
        };
        if let Some((status, why)) = rejection {
            self.notices.log(Level::Warn, format!("fastcgi: {why}"));
            self.reply(slot, |out| encode::end_request(out, id, 0, status));
            let conn = self.conn_mut(slot).expect("caller checked");
            conn.close_when_idle |= !begin.keep_conn();
            conn.closing = conn.streams.is_empty() && conn.close_when_idle;
            return Flow::Go;
        }
        let limits = self.config.fastcgi;
        let decoder = match self.decoders.pop() {
            Some(mut decoder) => {
                decoder.reset();
                decoder
            }
            None => Box::new(ParamsDecoder::new(limits)),
        };
        match self.open_stream(slot, id, begin.keep_conn(), Phase::Params(decoder)) {
            Some(_) => Flow::Go,
            None => Flow::Closed,
        }
    }

    /// F23: the web server gave up on the request. JavaScript learns it (its abort
    /// signal fires), and the request ends with `END_REQUEST` at once.
    fn abort_request(&mut self, stream_slot: u32) {
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        let (token, in_app, conn) = (stream.token, stream.in_app, stream.conn);
        stream.in_app = false;
        if in_app {
            self.notices.push(Notice::Abort(token, AbortReason::PeerGone));
        }
        self.end_stream(stream_slot, StreamEnd::Cut { app_status: 0 });
        self.mark_dirty(conn);
    }

    fn params(&mut self, slot: u32, stream_slot: u32, content: &[u8], batch: &mut Batch) -> Flow {
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        let Phase::Params(decoder) = &mut stream.phase else {
            return self.protocol_error(slot, &Error::ParamsAfterEnd.to_string());
        };
        // A request whose delivery waited for room in the batch has its info already.
        let parsed = match decoder.info() {
            Some(info) if content.is_empty() => Ok(Status::Complete(info)),
            _ => decoder.feed(content),
        };
        match parsed {
            Ok(Status::Partial) => Flow::Go,
            Ok(Status::Complete(info)) => {
                let declared = decoder.vars().iter().any(|v| v.key_id == keys::id::CONTENT_LENGTH && v.value_len > 0);
                self.deliver_fastcgi(stream_slot, info.content_length, declared, batch)
            }
            Err(error) if error.status().is_some() => {
                let status = error.status().unwrap_or(400);
                self.notices.log(Level::Warn, format!("fastcgi: {error}; answered {status}"));
                self.refuse_stream(stream_slot, status);
                Flow::Go
            }
            Err(error) => self.protocol_error(slot, &error.to_string()),
        }
    }

    /// Hands a request whose params are complete to JavaScript. Without a declared
    /// `CONTENT_LENGTH`, the body is what STDIN carries, up to `limit-post`.
    fn deliver_fastcgi(&mut self, stream_slot: u32, content_length: u64, declared: bool, batch: &mut Batch) -> Flow {
        let next = if declared {
            Phase::Stdin { remaining: content_length, until_end: false }
        } else {
            let limit = self.config.fastcgi.max_body;
            Phase::Stdin { remaining: if limit == 0 { u64::MAX } else { limit }, until_end: true }
        };
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        let Phase::Params(decoder) = std::mem::replace(&mut stream.phase, next) else {
            unreachable!("caller matched Phase::Params");
        };
        let token = stream.token;
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.extend(decoder.vars().iter().filter(|v| !keys::is_dropped(v.key_id)).map(|v| VarSpan {
            key_id: v.key_id,
            key_off: v.key_offset,
            key_len: u32::from(v.key_len),
            value_off: v.value_offset,
            value_len: u32::from(v.value_len),
        }));
        let mut flags = if declared && content_length == 0 { batch::FLAG_BODY_COMPLETE } else { 0 };
        if stream.keep_conn {
            flags |= batch::FLAG_KEEP_ALIVE;
        }
        let delivered = batch.request(token, batch::PROTOCOL_FASTCGI, content_length, flags, decoder.block(), &spans);
        self.spans = spans;
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        if !delivered {
            stream.phase = Phase::Params(decoder);
            let conn = stream.conn;
            return self.batch_too_small(conn, batch);
        }
        stream.in_app = true;
        self.decoders.push(decoder);
        Flow::Go
    }

    /// No room for an event: wait for the next batch, unless this one is empty (the
    /// binding's buffers are smaller than one request, a misconfiguration).
    fn batch_too_small(&mut self, slot: u32, batch: &Batch) -> Flow {
        if batch.is_empty() {
            self.notices.log(Level::Error, "fastcgi: batch buffers smaller than one request; closed".to_string());
            self.close_conn(slot, true, AbortReason::Internal);
            return Flow::Closed;
        }
        Flow::Full
    }

    fn stdin(&mut self, slot: u32, stream_slot: u32, content: &[u8], batch: &mut Batch) -> Flow {
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        let (remaining, until_end) = match stream.phase {
            Phase::Params(_) => return self.protocol_error(slot, "FastCGI STDIN before the end of PARAMS (F19)"),
            Phase::Complete => return self.protocol_error(slot, "FastCGI STDIN after the end of STDIN (F22)"),
            Phase::Stdin { remaining, until_end } => (remaining, until_end),
        };
        let token = stream.token;
        if content.is_empty() {
            if until_end {
                if !batch.fits(2, 0) {
                    return self.batch_too_small(slot, batch);
                }
                batch.body_end(token);
            } else if remaining > 0 {
                let why = format!("FastCGI STDIN ended with {remaining} bytes of CONTENT_LENGTH missing (F21)");
                return self.fail_request(slot, stream_slot, &why, AbortReason::BodyTruncated, 400);
            }
            let stream = self.streams.get_mut(stream_slot).expect("caller found it");
            stream.phase = Phase::Complete;
            return Flow::Go;
        }
        if content.len() as u64 > remaining {
            return if until_end {
                let limit = self.config.fastcgi.max_body;
                let why = format!("FastCGI request body is over limit-post {limit} bytes (raise --limit-post)");
                self.fail_request(slot, stream_slot, &why, AbortReason::BodyTruncated, 413)
            } else {
                let why = format!(
                    "FastCGI STDIN carried more than CONTENT_LENGTH ({} bytes over, F20)",
                    content.len() as u64 - remaining
                );
                self.fail_request(slot, stream_slot, &why, AbortReason::BodyTruncated, 400)
            };
        }
        let remaining = remaining - content.len() as u64;
        if !batch.fits(4 + 2, content.len()) {
            return self.batch_too_small(slot, batch);
        }
        batch.body(token, content);
        if remaining == 0 && !until_end {
            // The body is whole; the empty STDIN record that must follow is awaited
            // without holding the app up.
            batch.body_end(token);
        }
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        stream.phase = Phase::Stdin { remaining, until_end };
        Flow::Go
    }

    /// The body does not match its `CONTENT_LENGTH` (F20, F21) or is over `limit-post`:
    /// the request is aborted. The web server gets `status` if nothing of the response
    /// went out yet; otherwise only closing the connection tells it the response is not
    /// complete.
    fn fail_request(&mut self, slot: u32, stream_slot: u32, why: &str, reason: AbortReason, status: u16) -> Flow {
        let stream = self.streams.get_mut(stream_slot).expect("caller found it");
        let (token, in_app, wrote) = (stream.token, stream.in_app, stream.wrote);
        stream.in_app = false;
        if in_app {
            self.notices.push(Notice::Abort(token, reason));
        }
        if wrote {
            self.notices.log(Level::Warn, format!("fastcgi: {why}; request aborted, connection closed"));
            self.close_conn(slot, true, reason);
            return Flow::Closed;
        }
        self.notices.log(Level::Warn, format!("fastcgi: {why}; request aborted, answered {status}"));
        self.refuse_stream(stream_slot, status);
        Flow::Go
    }

    /// Ends a request with the static response for `status`.
    fn refuse_stream(&mut self, stream_slot: u32, status: u16) {
        let stream = self.streams.get(stream_slot).expect("caller found it");
        let (id, conn, keep_conn) = (stream.id, stream.conn, stream.keep_conn);
        self.reply(conn, |out| encode::stdout(out, id, &refusal::cgi(status)));
        self.end_stream(stream_slot, StreamEnd::Complete { keep_conn });
    }

    /// Queues bytes the reactor sends itself; they go out with the batch's flush.
    fn reply(&mut self, slot: u32, write: impl FnOnce(&mut Vec<u8>)) {
        if let Some(conn) = self.conn_mut(slot) {
            write(conn.out.tail());
            self.mark_dirty(slot);
        }
    }

    /// The record stream cannot be trusted: log `what`, close, abort the requests.
    fn protocol_error(&mut self, slot: u32, what: &str) -> Flow {
        self.notices.log(Level::Warn, format!("fastcgi: {what}; closed"));
        self.close_conn(slot, false, AbortReason::PeerGone);
        Flow::Closed
    }

    /// The web server closed. Mid-record (F2) is worth a log line; between records it is
    /// how a connection ends. Requests JavaScript still has are aborted (F25).
    fn peer_closed(&mut self, slot: u32, pending: usize) {
        if pending > 0 {
            self.notices.log(
                Level::Warn,
                format!("fastcgi: peer closed inside a record ({pending} bytes of it received) (F2); closed"),
            );
        }
        self.close_conn(slot, false, AbortReason::PeerGone);
    }
}
