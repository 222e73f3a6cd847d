//! The FastCGI side of a connection: records in, requests out.
//!
//! The codec (`tsgi_wire::fastcgi`) parses records and params; this module decides what
//! each record means for the connection (reliability.md §2.2, F1-F26): which request ids
//! are active, which record may come when, when to answer from here (management records,
//! refusals, rejections) and when to hand a request to JavaScript. Every request is a
//! [`crate::stream::Stream`] whose FastCGI part ([`FastcgiStream`]) is its id and where its
//! input is, so several can be active on one connection (multiplexing) and a kept-alive
//! connection serves one after another. What the connection itself keeps is
//! [`FastcgiConn`].
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

use crate::batch::{self, AbortReason, Batch, Level, RequestHead};
use crate::config::Config;
use crate::conn::{Link, Next, DRAIN_IDLE_MS};
use crate::notices::Notice;
use crate::reactor::Cx;
use crate::refusal;
use crate::stream::{self, ProtoStream, Stream, Streams};
use crate::sys::{read_some, Read};
use crate::write::{self, StreamEnd};

/// Logged when a request or its body does not fit even in an empty batch.
const NO_ROOM: &str = "fastcgi: batch buffers smaller than one request; closed";

/// A GET_VALUES_RESULT that says the connection takes no more requests (see
/// [`FastcgiConn::request_ended`]).
static NO_MORE_REQUESTS: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let mut record = Vec::new();
    encode::get_values_result(&mut record, &[(fastcgi::MPXS_CONNS, b"1"), (fastcgi::MAX_REQS, b"0")])
        .expect("two pairs fit a record");
    record
});

/// What a FastCGI connection keeps besides its requests.
pub(crate) struct FastcgiConn {
    /// A request without `FCGI_KEEP_CONN` began (or a graceful stop): close once no
    /// request is left.
    close_when_idle: bool,
    /// When a graceful stop began (monotonic ms; 0: none). The web server keeps the
    /// connection for its next request and may be sending it: an idle connection waits
    /// [`DRAIN_IDLE_MS`] for it and ends after answering it, rather than closing under it.
    drain_started: u64,
}

/// What a FastCGI request keeps: its id on the connection and where its input is.
pub(crate) struct FastcgiStream {
    /// The request id.
    pub id: u16,
    /// `FCGI_KEEP_CONN` was set.
    pub keep_conn: bool,
    /// Where its input is.
    pub phase: Phase,
}

/// Where a FastCGI request's input is.
pub(crate) enum Phase {
    /// Reading the PARAMS stream.
    Params(Box<ParamsDecoder>),
    /// Reading the STDIN stream.
    Stdin {
        /// Body bytes still expected; with `until_end`, still allowed by `limit-post`.
        remaining: u64,
        /// No `CONTENT_LENGTH` (or an empty one, which is what nginx sends for a chunked
        /// body it does not buffer): the body is whatever STDIN carries until its end.
        until_end: bool,
    },
    /// All input arrived (the empty STDIN record).
    Complete,
}

/// Spare params decoders, so a request does not allocate one.
#[derive(Default)]
pub(crate) struct Decoders {
    #[allow(clippy::vec_box)] // boxes move between here and `Phase::Params` without a copy
    spare: Vec<Box<ParamsDecoder>>,
}

impl Decoders {
    /// A decoder for a new request.
    fn take(&mut self, limits: fastcgi::Limits) -> Box<ParamsDecoder> {
        match self.spare.pop() {
            Some(mut decoder) => {
                decoder.reset();
                decoder
            }
            None => Box::new(ParamsDecoder::new(limits)),
        }
    }

    /// Takes back the decoder of a request that ends while reading its params.
    pub(crate) fn recycle(&mut self, request: &mut ProtoStream) {
        if let ProtoStream::Fastcgi(request) = request {
            if let Phase::Params(decoder) = std::mem::replace(&mut request.phase, Phase::Complete) {
                self.spare.push(decoder);
            }
        }
    }
}

/// An active request found by its id: its stream's slot, and split borrows of what its
/// records read and change.
struct Active<'s> {
    slot: u32,
    token: u32,
    in_app: &'s mut bool,
    wrote: bool,
    request: &'s mut FastcgiStream,
}

impl<'s> Active<'s> {
    /// The request with id `id` on the connection, if it is active.
    fn find(link: &Link, streams: &'s mut Streams, id: u16) -> Option<Active<'s>> {
        let is_it = |s: &Stream| matches!(&s.proto, ProtoStream::Fastcgi(r) if r.id == id);
        let slot = link.streams.iter().copied().find(|&s| streams.get(s).is_some_and(is_it))?;
        match streams.get_mut(slot)? {
            Stream { token, in_app, wrote, proto: ProtoStream::Fastcgi(request), .. } => {
                Some(Active { slot, token: *token, in_app, wrote: *wrote, request })
            }
            _ => None,
        }
    }

    /// This request ends with the static response for `status` (already logged).
    fn refuse(&self, status: u16) -> Step {
        Step::Refuse(Refusal { slot: self.slot, id: self.request.id, keep_conn: self.request.keep_conn, status })
    }
}

/// What a record did to its request, when that is more than its connection can be told
/// with [`Next`] while the request is borrowed.
enum Step {
    /// Go on, or stop, as the connection's [`Next`] says.
    Next(Next),
    /// End the request with a static response.
    Refuse(Refusal),
}

/// A request to end with the static response for `status`.
struct Refusal {
    slot: u32,
    id: u16,
    keep_conn: bool,
    status: u16,
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

impl FastcgiConn {
    /// A connection before its first record.
    pub(crate) fn new() -> Self {
        FastcgiConn { close_when_idle: false, drain_started: 0 }
    }

    /// Handles the records buffered (left by a full batch, or read before a pause), then
    /// reads and handles more.
    pub(crate) fn readable(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Next {
        // Whether to read is decided by the pause as it was when the connection woke.
        let paused = link.paused;
        let mut pending = std::mem::take(&mut link.buffered);
        let mut next = Next::Go;
        if !pending.is_empty() {
            next = self.consume(link, streams, cx, &mut pending, batch);
        }
        if next == Next::Go && !paused {
            let mut scratch = std::mem::take(&mut cx.scratch.read);
            match read_some(link.fd, &mut scratch) {
                Read::Data(n) if pending.is_empty() => {
                    let (used, after) = self.records(link, streams, cx, &scratch[..n], batch);
                    pending.extend_from_slice(&scratch[used..n]);
                    next = after;
                }
                Read::Data(n) => {
                    pending.extend_from_slice(&scratch[..n]);
                    next = self.consume(link, streams, cx, &mut pending, batch);
                }
                Read::Eof => next = peer_closed(cx, pending.len()),
                Read::WouldBlock => {}
                Read::Failed => next = Next::reset(AbortReason::PeerGone),
            }
            cx.scratch.read = scratch;
        }
        link.buffered = pending;
        next
    }

    /// [`FastcgiConn::records`] on a buffer, removing what was handled.
    fn consume(
        &mut self,
        link: &mut Link,
        streams: &mut Streams,
        cx: &mut Cx,
        pending: &mut Vec<u8>,
        batch: &mut Batch,
    ) -> Next {
        let (used, next) = self.records(link, streams, cx, pending, batch);
        pending.drain(..used);
        next
    }

    /// Handles every whole record at the start of `data`, until one says to stop; returns
    /// the bytes handled (a record that must wait for the next batch is not).
    fn records(
        &mut self,
        link: &mut Link,
        streams: &mut Streams,
        cx: &mut Cx,
        data: &[u8],
        batch: &mut Batch,
    ) -> (usize, Next) {
        let mut pos = 0;
        loop {
            let (header, content, n) = match fastcgi::parse_record(&data[pos..]) {
                Ok(Status::Complete(record)) => record,
                Ok(Status::Partial) => return (pos, Next::Go),
                Err(error) => return (pos, protocol_error(cx, &error.to_string())),
            };
            // Once the last request without FCGI_KEEP_CONN ended, nothing more is taken.
            let next = if link.closing {
                Next::Go
            } else {
                self.record(link, streams, cx, header, &data[pos..][content], batch)
            };
            if next != Next::Go {
                return (pos, next);
            }
            pos += n;
        }
    }

    fn record(
        &mut self,
        link: &mut Link,
        streams: &mut Streams,
        cx: &mut Cx,
        header: RecordHeader,
        content: &[u8],
        batch: &mut Batch,
    ) -> Next {
        let (id, kind) = (header.request_id, header.record_type);
        if id == fastcgi::NULL_REQUEST_ID {
            return match kind {
                RecordType::GetValues => get_values(link, cx, content),
                RecordType::GetValuesResult | RecordType::UnknownType | RecordType::Unknown(_) => {
                    // F4: a management type we do not take.
                    cx.reply(link, |out| encode::unknown_type(out, kind.as_u8()));
                    Next::Go
                }
                _ => protocol_error(cx, &format!("FastCGI {} record with request id 0 (F6)", type_name(kind))),
            };
        }
        if kind.is_management() {
            return protocol_error(cx, &format!("FastCGI {} record with request id {id}, not 0 (F6)", type_name(kind)));
        }
        let Some(active) = Active::find(link, streams, id) else {
            return match kind {
                RecordType::BeginRequest => match fastcgi::parse_begin_request(content) {
                    Ok(begin) => self.begin(link, streams, cx, id, begin),
                    Err(error) => protocol_error(cx, &error.to_string()),
                },
                // F8: records for a request that is not active are ignored.
                _ => Next::Go,
            };
        };
        let step = match kind {
            RecordType::BeginRequest => {
                return protocol_error(cx, &format!("FastCGI BEGIN_REQUEST for request id {id}, which is active (F10)"))
            }
            RecordType::AbortRequest => {
                // F23: the web server gave up on the request. JavaScript learns it (its
                // abort signal fires), and the request ends with `END_REQUEST` at once.
                if std::mem::replace(active.in_app, false) {
                    cx.notices.push(Notice::Abort(active.token, AbortReason::PeerGone));
                }
                let slot = active.slot;
                self.end_request(link, streams, cx, slot, StreamEnd::Cut { app_status: 0 });
                cx.corked.mark(link);
                return Next::Go;
            }
            RecordType::Params => params(active, cx, content, batch),
            RecordType::Stdin => stdin(active, cx, content, batch),
            kind => {
                return protocol_error(
                    cx,
                    &format!("FastCGI {} record for active request id {id} (F7)", type_name(kind)),
                )
            }
        };
        match step {
            Step::Next(next) => next,
            Step::Refuse(refusal) => {
                self.refuse(link, streams, cx, refusal);
                Next::Go
            }
        }
    }

    /// `BEGIN_REQUEST` for an inactive id: a new request, or a rejection (F11-F13).
    fn begin(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, id: u16, begin: BeginRequest) -> Next {
        let active = link.streams.len();
        let config = &cx.config;
        let rejection = if begin.role != Role::Responder {
            let role = begin.role.as_u16();
            Some((
                ProtocolStatus::UnknownRole,
                format!("FastCGI role {role} is not supported (only RESPONDER, 1); answered FCGI_UNKNOWN_ROLE"),
            ))
        } else if active > 0 && !config.fastcgi_multiplex {
            Some((ProtocolStatus::CantMpxConn, format!("FastCGI request id {id} while another is active on the connection and multiplexing is off; answered FCGI_CANT_MPX_CONN (enable --fastcgi-multiplex)")))
        } else if active >= config.fastcgi_max_reqs {
            let max = config.fastcgi_max_reqs;
            Some((ProtocolStatus::Overloaded, format!("FastCGI connection already carries fastcgi-max-reqs {max} requests; answered FCGI_OVERLOADED (raise --fastcgi-max-reqs)")))
        } else {
            None
        };
        if let Some((status, why)) = rejection {
            cx.notices.log(Level::Warn, format!("fastcgi: {why}"));
            cx.reply(link, |out| encode::end_request(out, id, 0, status));
            self.close_when_idle |= !begin.keep_conn();
            link.closing = link.streams.is_empty() && self.close_when_idle;
            return Next::Go;
        }
        let decoder = cx.scratch.decoders.take(cx.config.fastcgi);
        let request = FastcgiStream { id, keep_conn: begin.keep_conn(), phase: Phase::Params(decoder) };
        // Handed to JavaScript once its params are complete.
        match stream::open(streams, link, &mut cx.notices, ProtoStream::Fastcgi(request), |_| true) {
            Ok(_) => Next::Go,
            Err(_) => Next::reset(AbortReason::Internal),
        }
    }

    /// Ends a request with the static response for its status.
    fn refuse(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, refusal: Refusal) {
        cx.reply(link, |out| encode::stdout(out, refusal.id, &refusal::cgi(refusal.status)));
        self.end_request(link, streams, cx, refusal.slot, StreamEnd::Complete { keep_conn: refusal.keep_conn });
    }

    /// The reactor ends the request in stream `slot` itself (the web server aborted it, or
    /// it was refused); [`write::end_stream`] is the same for an end JavaScript asks for.
    fn end_request(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, slot: u32, end: StreamEnd) {
        let Some((stream, keep_conn)) = write::take_stream(link, streams, cx, slot, end) else { return };
        if let ProtoStream::Fastcgi(request) = &stream.proto {
            self.request_ended(link, request, end, keep_conn);
        }
        if stream.paused {
            // It may have been the request that paused reading.
            write::refresh_paused(link, false, streams, cx);
        }
    }

    /// A request is over: `END_REQUEST` is queued, after the empty STDOUT record that closes
    /// a complete response ([`StreamEnd::Complete`]), or alone ([`StreamEnd::Cut`]). The
    /// connection closes once its output is sent, unless kept alive for more requests.
    pub(crate) fn request_ended(&mut self, link: &mut Link, request: &FastcgiStream, end: StreamEnd, keep_conn: bool) {
        let out = link.out.tail();
        let app_status = match end {
            StreamEnd::Complete { .. } => {
                encode::end_stream(out, RecordType::Stdout, request.id);
                0
            }
            StreamEnd::Cut { app_status } => app_status,
        };
        encode::end_request(out, request.id, app_status, ProtocolStatus::RequestComplete);
        self.close_when_idle |= !keep_conn;
        if link.streams.is_empty() && self.close_when_idle {
            if request.keep_conn {
                // The web server asked to keep the connection (a graceful stop ends it)
                // and would send its next request into our close. The record after
                // END_REQUEST, in the same write, makes it drop the connection instead:
                // nginx keeps one only when END_REQUEST ends what it read, and HAProxy
                // sends nothing more on one whose FCGI_MAX_REQS is 0 (with
                // FCGI_MPXS_CONNS 1: without it HAProxy reads the limit as 1).
                link.out.tail().extend_from_slice(NO_MORE_REQUESTS.as_slice());
            }
            link.closing = true;
        }
    }

    /// A graceful stop began at `now`: no request after the current ones, and an idle
    /// connection closes when [`DRAIN_IDLE_MS`] pass without one.
    pub(crate) fn drain(&mut self, now: u64) {
        self.close_when_idle = true;
        self.drain_started = now;
    }

    /// The deadline: a queued response must keep moving, and while the connection is idle
    /// between requests (for a moment only once draining), or a request still sends its
    /// input, the next record must come.
    pub(crate) fn deadline(&self, link: &Link, streams: &Streams, config: &Config, now: u64) -> u64 {
        let idle = link.streams.is_empty() && link.buffered.is_empty() && link.out.queued() == 0;
        if idle && self.drain_started != 0 {
            return self.drain_started + DRAIN_IDLE_MS.min(config.socket_timeout_ms);
        }
        let sending = |&s: &u32| {
            streams
                .get(s)
                .is_some_and(|s| !matches!(&s.proto, ProtoStream::Fastcgi(r) if matches!(r.phase, Phase::Complete)))
        };
        if link.out.queued() == 0 && !link.paused && (link.streams.is_empty() || link.streams.iter().any(sending)) {
            return now + config.socket_timeout_ms;
        }
        crate::conn::stalled_output(link, config, now)
    }

    /// The deadline passed.
    pub(crate) fn expired(&self, link: &Link, cx: &mut Cx) -> Next {
        let (got, busy, stalled_out) = (link.buffered.len(), !link.streams.is_empty(), link.out.queued() > 0);
        if got > 0 || busy {
            let timeout_s = cx.config.socket_timeout_ms as f64 / 1000.0;
            let what = if stalled_out { "peer read nothing of the response" } else { "no FastCGI record arrived" };
            cx.notices.log(Level::Warn, format!("fastcgi: {what} for socket-timeout {timeout_s} s ({got} bytes of a record pending); closed (raise --socket-timeout)"));
        }
        // An idle kept-alive connection just closes: the web server opens another.
        Next::Close { reset: busy, reason: AbortReason::Timeout }
    }
}

/// F5: answers the names this application knows, each once, in the order asked.
fn get_values(link: &mut Link, cx: &mut Cx, content: &[u8]) -> Next {
    let mut answers: Vec<(&'static [u8], String)> = Vec::new();
    let mut pos = 0;
    let config = &cx.config;
    while pos < content.len() {
        let (name, n) = match fastcgi::parse_name_value(&content[pos..]) {
            Ok(Status::Complete((name, _, n))) => (&content[pos..][name], n),
            Ok(Status::Partial) => return protocol_error(cx, "FastCGI GET_VALUES pair runs past its record"),
            Err(error) => return protocol_error(cx, &error.to_string()),
        };
        pos += n;
        let answer = match name {
            fastcgi::MAX_CONNS => (fastcgi::MAX_CONNS, config.max_conns.to_string()),
            fastcgi::MAX_REQS => (fastcgi::MAX_REQS, max_reqs(config).to_string()),
            fastcgi::MPXS_CONNS => (fastcgi::MPXS_CONNS, u8::from(config.fastcgi_multiplex).to_string()),
            _ => continue,
        };
        if !answers.iter().any(|(known, _)| *known == answer.0) {
            answers.push(answer);
        }
    }
    let pairs: Vec<(&[u8], &[u8])> = answers.iter().map(|(name, value)| (*name, value.as_bytes())).collect();
    // Three short pairs at most: always fits one record.
    cx.reply(link, |out| encode::get_values_result(out, &pairs).expect("three pairs fit a record"));
    Next::Go
}

/// The most requests one connection carries at once: 1 without multiplexing.
fn max_reqs(config: &Config) -> usize {
    if config.fastcgi_multiplex {
        config.fastcgi_max_reqs
    } else {
        1
    }
}

/// PARAMS for an active request: more params, or their end, which hands the request to
/// JavaScript. Without a declared `CONTENT_LENGTH`, the body is what STDIN carries, up to
/// `limit-post`.
fn params(active: Active, cx: &mut Cx, content: &[u8], batch: &mut Batch) -> Step {
    let Phase::Params(decoder) = &mut active.request.phase else {
        return Step::Next(protocol_error(cx, &Error::ParamsAfterEnd.to_string()));
    };
    // A request whose delivery waited for room in the batch has its info already.
    let parsed = match decoder.info() {
        Some(info) if content.is_empty() => Ok(Status::Complete(info)),
        _ => decoder.feed(content),
    };
    let info = match parsed {
        Ok(Status::Partial) => return Step::Next(Next::Go),
        Ok(Status::Complete(info)) => info,
        Err(error) if error.status().is_some() => {
            let status = error.status().unwrap_or(400);
            cx.notices.log(Level::Warn, format!("fastcgi: {error}; answered {status}"));
            return active.refuse(status);
        }
        Err(error) => return Step::Next(protocol_error(cx, &error.to_string())),
    };
    let content_length = info.content_length;
    let declared = decoder.vars().iter().any(|v| v.key_id == keys::id::CONTENT_LENGTH && v.value_len > 0);
    let mut flags = if declared && content_length == 0 { batch::FLAG_BODY_COMPLETE } else { 0 };
    if active.request.keep_conn {
        flags |= batch::FLAG_KEEP_ALIVE;
    }
    let head = RequestHead { protocol: batch::PROTOCOL_FASTCGI, content_length, flags, block: decoder.block() };
    if !batch.request_vars(active.token, head, decoder.vars(), (0, 0)) {
        return Step::Next(cx.no_room(batch, NO_ROOM));
    }
    let stdin = if declared {
        Phase::Stdin { remaining: content_length, until_end: false }
    } else {
        let limit = cx.config.fastcgi.max_body;
        Phase::Stdin { remaining: if limit == 0 { u64::MAX } else { limit }, until_end: true }
    };
    if let Phase::Params(decoder) = std::mem::replace(&mut active.request.phase, stdin) {
        cx.scratch.decoders.spare.push(decoder);
    }
    *active.in_app = true;
    Step::Next(Next::Go)
}

/// STDIN for an active request: body bytes for JavaScript, or the end of the body.
fn stdin(active: Active, cx: &mut Cx, content: &[u8], batch: &mut Batch) -> Step {
    let (remaining, until_end) = match active.request.phase {
        Phase::Params(_) => return Step::Next(protocol_error(cx, "FastCGI STDIN before the end of PARAMS (F19)")),
        Phase::Complete => return Step::Next(protocol_error(cx, "FastCGI STDIN after the end of STDIN (F22)")),
        Phase::Stdin { remaining, until_end } => (remaining, until_end),
    };
    let token = active.token;
    if content.is_empty() {
        if until_end {
            if !batch.fits(2, 0) {
                return Step::Next(cx.no_room(batch, NO_ROOM));
            }
            batch.body_end(token);
        } else if remaining > 0 {
            let why = format!("FastCGI STDIN ended with {remaining} bytes of CONTENT_LENGTH missing (F21)");
            return fail_request(active, cx, &why, AbortReason::BodyTruncated, 400);
        }
        active.request.phase = Phase::Complete;
        return Step::Next(Next::Go);
    }
    if content.len() as u64 > remaining {
        return if until_end {
            let limit = cx.config.fastcgi.max_body;
            let why = format!("FastCGI request body is over limit-post {limit} bytes (raise --limit-post)");
            fail_request(active, cx, &why, AbortReason::BodyTruncated, 413)
        } else {
            let why = format!(
                "FastCGI STDIN carried more than CONTENT_LENGTH ({} bytes over, F20)",
                content.len() as u64 - remaining
            );
            fail_request(active, cx, &why, AbortReason::BodyTruncated, 400)
        };
    }
    let remaining = remaining - content.len() as u64;
    if !batch.fits(4 + 2, content.len()) {
        return Step::Next(cx.no_room(batch, NO_ROOM));
    }
    batch.body(token, content);
    if remaining == 0 && !until_end {
        // The body is whole; the empty STDIN record that must follow is awaited
        // without holding the app up.
        batch.body_end(token);
    }
    active.request.phase = Phase::Stdin { remaining, until_end };
    Step::Next(Next::Go)
}

/// The body does not match its `CONTENT_LENGTH` (F20, F21) or is over `limit-post`: the
/// request is aborted. The web server gets `status` if nothing of the response went out
/// yet; otherwise only closing the connection tells it the response is not complete.
fn fail_request(active: Active, cx: &mut Cx, why: &str, reason: AbortReason, status: u16) -> Step {
    if std::mem::replace(active.in_app, false) {
        cx.notices.push(Notice::Abort(active.token, reason));
    }
    if active.wrote {
        cx.notices.log(Level::Warn, format!("fastcgi: {why}; request aborted, connection closed"));
        return Step::Next(Next::reset(reason));
    }
    cx.notices.log(Level::Warn, format!("fastcgi: {why}; request aborted, answered {status}"));
    active.refuse(status)
}

/// The record stream cannot be trusted: log `what`, close, abort the requests.
fn protocol_error(cx: &mut Cx, what: &str) -> Next {
    cx.notices.log(Level::Warn, format!("fastcgi: {what}; closed"));
    Next::close(AbortReason::PeerGone)
}

/// The web server closed. Mid-record (F2) is worth a log line; between records it is
/// how a connection ends. Requests JavaScript still has are aborted (F25).
fn peer_closed(cx: &mut Cx, pending: usize) -> Next {
    if pending > 0 {
        cx.notices.log(
            Level::Warn,
            format!("fastcgi: peer closed inside a record ({pending} bytes of it received) (F2); closed"),
        );
    }
    Next::close(AbortReason::PeerGone)
}
