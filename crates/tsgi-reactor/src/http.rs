//! The HTTP/1.1 side of a connection: heads, bodies, keep-alive and pipelining.
//!
//! The codec (`tsgi_wire::http`) says what the bytes mean; this module drives one
//! connection through its requests, one at a time: a head is handed to JavaScript, its body
//! streamed (Content-Length or chunked), and bytes that arrive meanwhile (pipelined
//! requests) wait in the connection's buffer until the response has ended, so responses go
//! out in request order. Anything the codec refuses gets a static response and a close,
//! and nothing after it is ever parsed. After `101 Switching Protocols` the connection is
//! a tunnel (`tunnel.rs`): the bytes both ways are the app's.
//!
//! The response bytes are JavaScript's (status line, `Date`, framing, chunk sizes); the
//! reactor only learns when a response ends and whether the connection stays open.

use std::net::SocketAddr;

use tsgi_wire::http::{self, BodyFraming, ChunkedDecoder, Head};
use tsgi_wire::keys;
use tsgi_wire::Status;

use crate::batch::{self, AbortReason, Batch, Level, RequestHead};
use crate::config::Config;
use crate::conn::{Link, Next, Protocol, DRAIN_IDLE_MS};
use crate::notices::{Notice, Notices};
use crate::reactor::Cx;
use crate::refusal;
use crate::stream::{self, ProtoStream, Streams, Unopened};
use crate::sys::{self, read_some, Read};
use crate::timers;
use crate::tunnel::Tunnel;

/// Bytes of pipelined requests buffered while a response is pending; past it, reading
/// stops until the response ends.
const MAX_PIPELINED: usize = 64 * 1024;
/// The most body bytes one read takes straight into the batch (as uwsgi.rs's).
const BODY_READ: usize = 256 * 1024;

/// `100 Continue`, sent before the body of a request that asked for it.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What an HTTP connection keeps.
pub(crate) struct HttpConn {
    state: State,
    /// Kept alive after a response, no byte of the next request yet: the idle timeout
    /// (`http-keepalive-timeout`) applies, not the head timeout.
    pub idle: bool,
    /// When the request being read must be whole (`http-request-timeout` from the first
    /// byte of its head), monotonic ms; 0 when no body is being read.
    request_deadline: u64,
    /// Both socket addresses, for REMOTE_ADDR and SERVER_PORT.
    addresses: Addresses,
    /// The chunked body decoder, kept for the connection's next requests.
    chunked: Option<Box<ChunkedDecoder>>,
    /// When a graceful stop began (monotonic ms; 0: none). A response already promised
    /// keep-alive, so the client may be sending its next request: a kept-alive connection
    /// waits [`DRAIN_IDLE_MS`] for it and answers it with `Connection: close`, rather than
    /// closing under it.
    drain_started: u64,
}

/// Where the read side of an HTTP connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a request head.
    Head,
    /// Streaming a Content-Length body to JavaScript.
    Body {
        /// Body bytes still expected.
        remaining: u64,
    },
    /// Streaming a chunked body to JavaScript (the decoder is [`HttpConn::chunked`]).
    Chunked,
    /// The request is read; bytes that come now are the next (pipelined) requests.
    Done,
    /// After `101 Switching Protocols`: the bytes both ways are the app's, unframed.
    Tunnel(Tunnel),
}

/// What an HTTP request keeps.
pub(crate) struct HttpStream {
    /// `Expect: 100-continue`: the client waits for `100 Continue`, sent when the app
    /// first wants the body (its first unpause); until then the body is not read.
    pub awaiting_continue: bool,
}

/// The socket addresses of an HTTP connection, for the vars a proxy would otherwise send.
struct Addresses {
    /// The client.
    peer: Option<SocketAddr>,
    /// Our end.
    local: Option<SocketAddr>,
}

impl Addresses {
    /// Both ends of `fd` (`None` each for a Unix socket).
    fn of(fd: i32) -> Self {
        Addresses { peer: sys::socket_addr(fd, true), local: sys::socket_addr(fd, false) }
    }
}

/// How far one step through the buffered bytes got.
enum Step {
    /// It took bytes: look again.
    More,
    /// Stop here; the connection goes on as this says ([`Next::Go`]: nothing more to do
    /// with the buffer now; [`Next::Retry`]: the batch has no room for what comes next).
    Stop(Next),
}

/// `SERVER_NAME` and `SERVER_PORT` from a `Host` value (`name`, `name:port`, `[v6]:port`).
fn split_host(host: &[u8]) -> (&[u8], Option<&[u8]>) {
    let colon = if host.first() == Some(&b'[') {
        host.iter().position(|&b| b == b']').and_then(|end| (host.get(end + 1) == Some(&b':')).then_some(end + 1))
    } else {
        host.iter().rposition(|&b| b == b':')
    };
    match colon {
        Some(at) => (&host[..at], Some(&host[at + 1..])),
        None => (host, None),
    }
}

impl HttpConn {
    /// A connection on `fd`, waiting for its first head.
    pub(crate) fn new(fd: i32) -> Self {
        HttpConn {
            state: State::Head,
            idle: false,
            request_deadline: 0,
            addresses: Addresses::of(fd),
            chunked: None,
            drain_started: 0,
        }
    }

    /// Reads into the buffer and handles what is there.
    pub(crate) fn readable(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Next {
        match self.state {
            State::Tunnel(ref mut tunnel) => return tunnel.readable(link, streams, cx, batch),
            State::Body { .. } | State::Chunked if link.paused => return Next::Wait,
            State::Done if link.buffered.len() >= MAX_PIPELINED => return Next::Wait,
            State::Body { remaining } if link.buffered.is_empty() => {
                if let Some(token) = link.current(streams) {
                    return self.body_direct(link, token, cx, remaining, batch);
                }
            }
            _ => {}
        }
        match read_some(link.fd, &mut cx.scratch.read) {
            Read::Data(n) => {
                if self.idle {
                    // The next request began: from now its head has socket-timeout to arrive.
                    self.idle = false;
                    link.head_started = sys::now_ms();
                }
                link.buffered.extend_from_slice(&cx.scratch.read[..n]);
                self.process(link, streams, cx, batch)
            }
            Read::Eof => self.eof(link, cx),
            // Woken for bytes already buffered (pipelined, or before a pause).
            Read::WouldBlock => self.process(link, streams, cx, batch),
            Read::Failed => Next::reset(AbortReason::PeerGone),
        }
    }

    fn eof(&self, link: &Link, cx: &mut Cx) -> Next {
        let pending = link.buffered.len();
        let reason = match self.state {
            State::Head if pending > 0 => {
                cx.notices.log(
                    Level::Warn,
                    format!("http: peer closed inside a request head ({pending} bytes received); closed"),
                );
                AbortReason::PeerGone
            }
            State::Body { remaining } => {
                cx.notices.log(
                    Level::Warn,
                    format!("http: peer closed with {remaining} body bytes missing; request aborted"),
                );
                AbortReason::BodyTruncated
            }
            State::Chunked => {
                cx.notices.log(Level::Warn, "http: peer closed inside a chunked body; request aborted".to_string());
                AbortReason::BodyTruncated
            }
            _ => AbortReason::PeerGone,
        };
        Next::close(reason)
    }

    /// Handles what is buffered: a head, body bytes, or nothing while a response is pending.
    fn process(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Next {
        loop {
            let step = match self.state {
                _ if link.buffered.is_empty() => Step::Stop(Next::Go),
                State::Head => self.head(link, streams, cx, batch),
                State::Body { remaining } => self.body(link, streams, cx, remaining, batch),
                State::Chunked => self.chunks(link, streams, cx, batch),
                // A tunnel's bytes are read by `Tunnel::readable`, never parsed here.
                State::Done | State::Tunnel(_) => Step::Stop(Next::Go),
            };
            match step {
                Step::More => continue,
                Step::Stop(next) => return next,
            }
        }
    }

    /// Parses a head from the buffer and hands the request over.
    fn head(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Step {
        let mut vars = std::mem::take(&mut cx.scratch.http_vars);
        let step = match http::parse_head(&link.buffered, &cx.config.http, &mut vars) {
            Ok(Status::Partial) => Step::Stop(Next::Go),
            Ok(Status::Complete(head)) => self.deliver(link, streams, cx, head, &mut vars, batch),
            Err(error) => {
                let status = error.status();
                cx.notices.log(Level::Warn, format!("http: {error}; answered {status}"));
                Step::Stop(Next::answer(refusal::http(status)))
            }
        };
        cx.scratch.http_vars = vars;
        step
    }

    fn deliver(
        &mut self,
        link: &mut Link,
        streams: &mut Streams,
        cx: &mut Cx,
        head: Head,
        vars: &mut http::HeadVars,
        batch: &mut Batch,
    ) -> Step {
        self.add_socket_vars(&head, vars);
        // After an upgrade request the client may already speak the new protocol: no next
        // request is parsed, whatever the answer. A draining worker keeps no connection.
        let keep_alive = head.keep_alive && !head.upgrade && !cx.draining;
        let (length, next) = match head.body {
            BodyFraming::None | BodyFraming::Length(0) => (0, State::Done),
            BodyFraming::Length(n) => (n, State::Body { remaining: n }),
            BodyFraming::Chunked => (0, State::Chunked),
        };
        // The body is not read (nor asked for) until the app wants it.
        let awaiting_continue = head.expect_continue && next != State::Done;
        let mut flags = 0;
        if head.upgrade {
            flags |= batch::FLAG_UPGRADE;
        }
        if awaiting_continue {
            flags |= batch::FLAG_AWAITING_CONTINUE;
        }
        // An upgrade request's input stays open: it may go on as the tunnel.
        if next == State::Done && !head.upgrade {
            flags |= batch::FLAG_BODY_COMPLETE;
        }
        // Whether the connection stays open is JavaScript's decision, on its last write.
        if keep_alive {
            flags |= batch::FLAG_KEEP_ALIVE;
        }
        let request = RequestHead { protocol: batch::PROTOCOL_HTTP, content_length: length, flags, block: &vars.block };
        let hand_over = |token| batch.request_vars(token, request, &vars.vars, (batch::BODY_AND_END_WORDS, 0));
        let proto = ProtoStream::Http(HttpStream { awaiting_continue });
        let stream = match stream::open(streams, link, &mut cx.notices, proto, hand_over) {
            Ok(stream) => stream,
            Err(Unopened::NoRoom) => {
                return Step::Stop(cx.no_room(batch, "http: batch buffers smaller than one request head; closed"))
            }
            Err(Unopened::TooMany) => return Step::Stop(Next::reset(AbortReason::Internal)),
        };
        stream.in_app = true;
        stream.paused = awaiting_continue;
        if next == State::Chunked {
            match self.chunked.as_mut() {
                Some(decoder) => decoder.reset(),
                None => self.chunked = Some(Box::new(ChunkedDecoder::new(&cx.config.http))),
            }
        }
        link.buffered.drain(..head.len);
        self.state = next;
        self.request_deadline = if next == State::Done { 0 } else { link.head_started + cx.config.request_timeout_ms };
        link.paused |= awaiting_continue;
        Step::More
    }

    /// REMOTE_ADDR/PORT from the socket; SERVER_NAME/PORT from the host the client asked
    /// for, else our end of the socket.
    fn add_socket_vars(&self, head: &Head, vars: &mut http::HeadVars) {
        let Addresses { peer, local } = self.addresses;
        let host = head.host.clone().map(|range| vars.block[range].to_vec()).unwrap_or_default();
        let (name, port) = split_host(&host);
        let server_name = if name.is_empty() {
            local.map(|a| a.ip().to_string()).unwrap_or_default().into_bytes()
        } else {
            name.to_vec()
        };
        let server_port = match port {
            Some(port) if !port.is_empty() => port.to_vec(),
            _ => local.map(|a| a.port().to_string()).unwrap_or_default().into_bytes(),
        };
        push_var(vars, b"SERVER_NAME", &server_name);
        push_var(vars, b"SERVER_PORT", &server_port);
        if let Some(peer) = peer {
            push_var(vars, b"REMOTE_ADDR", peer.ip().to_string().as_bytes());
            push_var(vars, b"REMOTE_PORT", peer.port().to_string().as_bytes());
        }
    }

    /// Content-Length body bytes, with nothing buffered: read from the socket straight into
    /// the batch, as uwsgi.rs does, rather than through the buffer (a copy fewer: the only
    /// one left is JavaScript's, out of the batch).
    fn body_direct(&mut self, link: &Link, token: u32, cx: &mut Cx, remaining: u64, batch: &mut Batch) -> Next {
        let space = batch.body_space(remaining.min(BODY_READ as u64) as usize);
        if space.is_empty() {
            return Next::Retry;
        }
        match read_some(link.fd, space) {
            Read::Data(n) => {
                batch.commit_body(token, n);
                self.body_taken(batch, token, remaining - n as u64);
                Next::Go
            }
            Read::Eof => self.eof(link, cx),
            Read::WouldBlock => Next::Go,
            Read::Failed => Next::reset(AbortReason::PeerGone),
        }
    }

    /// Streams Content-Length body bytes from the buffer.
    fn body(&mut self, link: &mut Link, streams: &Streams, cx: &mut Cx, remaining: u64, batch: &mut Batch) -> Step {
        let Some(token) = link.current(streams) else {
            return self.discard_body(link, cx, remaining);
        };
        let take = (link.buffered.len() as u64).min(remaining) as usize;
        if !batch.fits(4 + 2, take) {
            return Step::Stop(Next::Retry);
        }
        batch.body(token, &link.buffered[..take]);
        link.buffered.drain(..take);
        self.body_taken(batch, token, remaining - take as u64);
        Step::More
    }

    /// Body bytes went into the batch and `remaining` are still to come: at 0 the body
    /// ends there.
    fn body_taken(&mut self, batch: &mut Batch, token: u32, remaining: u64) {
        if remaining == 0 {
            batch.body_end(token);
            self.state = State::Done;
            self.request_deadline = 0;
        } else {
            self.state = State::Body { remaining };
        }
    }

    /// The response ended before the body was read: the rest is dropped as it comes.
    fn discard_body(&mut self, link: &mut Link, cx: &mut Cx, remaining: u64) -> Step {
        let take = (link.buffered.len() as u64).min(remaining) as usize;
        link.buffered.drain(..take);
        let remaining = remaining - take as u64;
        self.state = if remaining == 0 { State::Done } else { State::Body { remaining } };
        if remaining == 0 {
            self.next_request(link, cx);
        }
        if take > 0 {
            Step::More
        } else {
            Step::Stop(Next::Go)
        }
    }

    /// Decodes chunked body bytes from the buffer.
    fn chunks(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Step {
        let token = link.current(streams);
        let limits = &cx.config.http;
        let decoder = self.chunked.get_or_insert_with(|| Box::new(ChunkedDecoder::new(limits)));
        let pending = &link.buffered;
        let mut used = 0;
        let mut outcome = Ok(false);
        let mut full = false;
        while used < pending.len() {
            if token.is_some() && !batch.fits(4 + 2, pending.len() - used) {
                // Whatever this decode finds must fit: decoding cannot be undone.
                full = true;
                break;
            }
            match decoder.decode(&pending[used..]) {
                Ok(decoded) => {
                    let data = &pending[used..][decoded.data.clone()];
                    if let (Some(token), false) = (token, data.is_empty()) {
                        batch.body(token, data);
                    }
                    used += decoded.consumed;
                    if decoded.done {
                        if let Some(token) = token {
                            batch.body_end(token);
                        }
                        outcome = Ok(true);
                        break;
                    }
                    if decoded.consumed == 0 {
                        break;
                    }
                }
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        link.buffered.drain(..used);
        match outcome {
            Ok(true) => {
                self.state = State::Done;
                self.request_deadline = 0;
                if token.is_none() {
                    self.next_request(link, cx);
                }
                Step::More
            }
            Ok(false) if full => Step::Stop(Next::Retry),
            Ok(false) => Step::Stop(Next::Go),
            Err(error) => {
                let status = error.status();
                cx.notices.log(Level::Warn, format!("http: {error}; request aborted"));
                Step::Stop(fail(link, streams, cx, status))
            }
        }
    }

    /// The app answered 101 to the upgrade request on this connection: it becomes a tunnel.
    /// Bytes already buffered after the request are the first tunnelled ones. `false` if
    /// the request is not (or no longer) one that can be upgraded.
    pub(crate) fn upgrade(&mut self, link: &Link, notices: &mut Notices) -> bool {
        if self.state != State::Done {
            return false;
        }
        let Some(tunnel) = Tunnel::open(link, notices) else { return false };
        self.state = State::Tunnel(tunnel);
        true
    }

    /// The response ended: a kept-alive connection goes back to reading heads once the
    /// request is read whole (pipelined ones waiting in the buffer are parsed in the next
    /// poll); otherwise it closes after the response.
    pub(crate) fn response_ended(&mut self, link: &mut Link, cx: &mut Cx, keep_alive: bool) {
        if !keep_alive {
            link.closing = true;
            return;
        }
        if self.state == State::Done {
            self.next_request(link, cx);
        }
        // Still reading the body: it is dropped as it comes (discard_body), then next.
    }

    /// Starts waiting for the next request on a kept-alive connection.
    fn next_request(&mut self, link: &mut Link, cx: &mut Cx) {
        if !link.streams.is_empty() || link.closing {
            return; // the response has not ended yet, or the connection is closing
        }
        self.state = State::Head;
        self.request_deadline = 0;
        let now = sys::now_ms();
        link.head_started = now;
        self.idle = link.buffered.is_empty();
        if !link.buffered.is_empty() {
            cx.notices.retry(link.slot());
            cx.notices.ring();
        }
        link.deadline = self.deadline(link, &cx.config, now);
    }

    /// A graceful stop began at `now`: the connection closes when idle for
    /// [`DRAIN_IDLE_MS`], or after a request that arrives meanwhile (it gets no keep-alive).
    pub(crate) fn drain(&mut self, now: u64) {
        self.drain_started = now;
    }

    /// Whether the connection reads now.
    pub(crate) fn wants_read(&self, link: &Link) -> bool {
        match self.state {
            State::Head => true,
            State::Body { .. } | State::Chunked => !link.paused,
            State::Tunnel(tunnel) => tunnel.wants_read(link),
            State::Done => link.buffered.len() < MAX_PIPELINED,
        }
    }

    /// The deadline the state calls for: the head within `socket-timeout` of its first
    /// byte (`http-keepalive-timeout` while idle), a body that keeps coming and is whole by
    /// the request's deadline, a queued response that keeps moving.
    pub(crate) fn deadline(&self, link: &Link, config: &Config, now: u64) -> u64 {
        let timeout = config.socket_timeout_ms;
        match self.state {
            State::Head if self.idle && self.drain_started != 0 => {
                link.head_started.max(self.drain_started) + DRAIN_IDLE_MS.min(config.keepalive_timeout_ms)
            }
            State::Head if self.idle => link.head_started + config.keepalive_timeout_ms,
            State::Head => link.head_started + timeout,
            State::Body { .. } | State::Chunked if !link.paused && self.request_deadline != 0 => {
                (now + timeout).min(self.request_deadline)
            }
            State::Body { .. } | State::Chunked if !link.paused => now + timeout,
            State::Tunnel(_) => Tunnel::deadline(link, config, now),
            _ => crate::conn::stalled_output(link, config, now),
        }
    }

    /// The deadline passed at `now`.
    pub(crate) fn expired(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, now: u64) -> Next {
        let reading_body = matches!(self.state, State::Body { .. } | State::Chunked);
        if reading_body && self.request_deadline != 0 && self.request_deadline <= now {
            let limit_s = cx.config.request_timeout_ms as f64 / 1000.0;
            cx.notices.log(Level::Warn, format!("http: request not received whole within http-request-timeout {limit_s} s; aborted (raise --http-request-timeout)"));
            return fail(link, streams, cx, 408);
        }
        let timeout_s = cx.config.socket_timeout_ms as f64 / 1000.0;
        match self.state {
            State::Head => timers::head_timeout(link, Protocol::Http, cx),
            State::Tunnel(_) => Tunnel::expired(link, Protocol::Http, cx),
            // A client that stopped sending its body is told so (408) unless the app has
            // begun its response, then the connection closes.
            State::Chunked => {
                cx.notices.log(Level::Warn, format!("http: chunked request body stalled for socket-timeout {timeout_s} s; aborted with 408 (raise --socket-timeout)"));
                fail(link, streams, cx, 408)
            }
            State::Body { remaining } => {
                cx.notices.log(Level::Warn, format!("http: request body stalled for socket-timeout {timeout_s} s with {remaining} bytes missing; aborted with 408 (raise --socket-timeout)"));
                fail(link, streams, cx, 408)
            }
            State::Done => timers::response_stalled(cx),
        }
    }

    /// The request is read to its end.
    pub(crate) fn read_whole(&self) -> bool {
        self.state == State::Done
    }

    /// A Content-Length body is being read.
    pub(crate) fn in_length_body(&self) -> bool {
        matches!(self.state, State::Body { .. })
    }
}

/// The body cannot be read on: the request is aborted; the client gets `status` if
/// nothing of the response went out yet, else a reset.
fn fail(link: &mut Link, streams: &mut Streams, cx: &mut Cx, status: u16) -> Next {
    let Some((slot, stream)) = link.streams.first().and_then(|&slot| Some((slot, streams.get_mut(slot)?))) else {
        return Next::answer(&b""[..]); // the response already ended: close after it, never a second one
    };
    let (token, wrote) = (stream.token, stream.wrote);
    stream.in_app = false;
    cx.notices.push(Notice::Abort(token, AbortReason::BodyTruncated));
    if wrote {
        return Next::reset(AbortReason::BodyTruncated);
    }
    streams.remove(slot);
    link.streams.clear();
    Next::answer(refusal::http(status))
}

/// Appends a var to the head's block and list.
fn push_var(vars: &mut http::HeadVars, name: &[u8], value: &[u8]) {
    let key_offset = vars.block.len() as u32;
    vars.block.extend_from_slice(name);
    let value_offset = vars.block.len() as u32;
    vars.block.extend_from_slice(value);
    vars.vars.push(http::Var {
        key_id: keys::lookup(name),
        key_offset,
        key_len: name.len() as u16,
        value_offset,
        value_len: value.len() as u16,
    });
}
