//! One connection: what every connection has, and the state of its protocol.
//!
//! Shaped like hyper's `proto/h1/conn.rs`. A [`Conn`] is a [`Link`], what every
//! connection has whatever it speaks (the socket, its output queue, its place in the epoll
//! set, its deadline, the bytes read and not yet parsed, its requests), and a
//! [`ProtoConn`], the state of its one protocol, each defined in that protocol's file
//! ([`UwsgiConn`], [`FastcgiConn`], [`HttpConn`]). No field that means something for one
//! protocol only is in a part they share. The two halves are separate so that a protocol
//! handler can hold both at once: it gets `(&mut Link, &mut its own state)`, the request
//! table and the reactor's shared parts ([`crate::reactor::Cx`]) as split borrows, and
//! answers [`Next`], what should happen to the connection, which the reactor applies in
//! one place ([`crate::Reactor::apply`]).
//!
//! The states every protocol shares, a refusal being sent and the lingering close, are a
//! [`Stage`] of the link: once a connection is in one, its protocol's state is no longer
//! consulted. New kinds of connection (a WebSocket tunnel, a file being sent) are states of
//! their protocol, not fields here.

use std::borrow::Cow;
use std::os::fd::RawFd;

use crate::batch::{AbortReason, Batch};
use crate::config::Config;
use crate::fastcgi::FastcgiConn;
use crate::http::HttpConn;
use crate::outbuf::OutBuf;
use crate::reactor::Cx;
use crate::stream::Streams;
use crate::sys::{self, Read};
use crate::table;
use crate::uwsgi::UwsgiConn;

/// How long a kept-alive connection (HTTP, FastCGI keep-conn) waits for its next request
/// once a graceful stop has begun (at most its idle timeout). A peer sending back to back
/// sends within it, and its request is answered rather than cut by a close; an idle one
/// is closed at its end, as at any idle timeout.
pub(crate) const DRAIN_IDLE_MS: u64 = 1000;

/// The wire protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The uwsgi binary protocol.
    Uwsgi,
    /// FastCGI 1.0, responder role.
    Fastcgi,
    /// HTTP/1.1, straight from clients or an HTTP proxy.
    Http,
}

impl Protocol {
    /// The name log lines start with.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Uwsgi => "uwsgi",
            Protocol::Fastcgi => "fastcgi",
            Protocol::Http => "http",
        }
    }
}

/// Where a connection stands, whatever its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Its protocol's state says what reading means.
    Serving,
    /// A refusal (or a pong) is being sent; whatever else the peer sends is read and
    /// dropped, never parsed.
    Refused,
    /// The response is out and our side is shut for writing; unread bytes are drained
    /// until the peer closes or `until`, so it gets our response rather than a reset.
    Linger {
        /// Monotonic deadline in ms.
        until: u64,
    },
}

/// What every connection has. What belongs to one request (its token, whether
/// JavaScript has it, whether its response ended) is in its [`crate::stream::Stream`]; a
/// uwsgi or HTTP connection carries one at a time, a FastCGI connection any number.
pub(crate) struct Link {
    /// The socket.
    pub fd: RawFd,
    /// Slot and generation: names the connection in the epoll set.
    pub token: u32,
    /// Serving its protocol, or on the way out.
    pub stage: Stage,
    /// Bytes received and not yet parsed: a head that did not arrive in one read, the
    /// start of a FastCGI record, pipelined HTTP requests, bytes read before a pause.
    pub buffered: Vec<u8>,
    /// Response bytes not yet sent.
    pub out: OutBuf,
    /// Current epoll interest.
    pub interest: u32,
    /// Monotonic ms at which the current timeout fires; 0 for none.
    pub deadline: u64,
    /// When the connection was accepted, or (HTTP keep-alive) when the first byte of its
    /// next head arrived (monotonic ms): the head must arrive within `socket-timeout` of it.
    pub head_started: u64,
    /// Stream slots of the requests on this connection, oldest first.
    pub streams: Vec<u32>,
    /// Reading stops: a request's JavaScript input buffer is full.
    pub paused: bool,
    /// Close (or linger) once the queued output is sent: the last response ended and the
    /// connection is not kept alive.
    pub closing: bool,
    /// Waiting in the reactor's list of connections with output queued during a batch.
    pub dirty: bool,
    /// Waiting in the reactor's list of connections to add to the epoll set when the
    /// batch ends.
    pub unregistered: bool,
}

impl Link {
    /// The connection's slot in the reactor's table.
    pub fn slot(&self) -> u32 {
        table::slot(self.token)
    }

    /// The token of the request in progress on a connection that carries one at a time
    /// (uwsgi, HTTP); `None` once its response has ended.
    pub fn current(&self, streams: &Streams) -> Option<u32> {
        self.streams.first().and_then(|&s| streams.get(s)).map(|s| s.token)
    }

    /// Reads and drops what the peer sent: the rest of a request nobody will parse, or
    /// anything after our answer. `Ok` with the bytes dropped (0: none yet); `Err` with
    /// what to do when the peer left (nginx closes the upstream when its client goes, so an
    /// unfinished request is aborted) or the connection failed.
    pub fn drain(&self, buf: &mut [u8]) -> Result<usize, Next> {
        match sys::read_some(self.fd, buf) {
            Read::Data(n) => Ok(n),
            Read::WouldBlock => Ok(0),
            Read::Eof => Err(Next::close(AbortReason::PeerGone)),
            Read::Failed => Err(Next::reset(AbortReason::PeerGone)),
        }
    }
}

/// The state of a connection's protocol.
pub(crate) enum ProtoConn {
    /// A uwsgi connection: one request, then the close.
    Uwsgi(UwsgiConn),
    /// A FastCGI connection: records for any number of requests.
    Fastcgi(FastcgiConn),
    /// An HTTP/1.1 connection: requests one after another, or a tunnel after `101`.
    Http(HttpConn),
}

/// A connection.
pub(crate) struct Conn {
    /// What every connection has.
    pub link: Link,
    /// What its protocol keeps.
    pub proto: ProtoConn,
}

impl Conn {
    /// A connection accepted at `now` on a listener speaking `protocol`.
    pub fn new(fd: RawFd, token: u32, protocol: Protocol, now: u64) -> Self {
        let link = Link {
            fd,
            token,
            stage: Stage::Serving,
            buffered: Vec::new(),
            out: OutBuf::default(),
            interest: 0,
            deadline: 0,
            head_started: now,
            streams: Vec::new(),
            paused: false,
            closing: false,
            dirty: false,
            unregistered: false,
        };
        let proto = match protocol {
            Protocol::Uwsgi => ProtoConn::Uwsgi(UwsgiConn::new()),
            Protocol::Fastcgi => ProtoConn::Fastcgi(FastcgiConn::new()),
            Protocol::Http => ProtoConn::Http(HttpConn::new(fd)),
        };
        Conn { link, proto }
    }

    /// Reads whatever the connection's state wants to read now.
    pub fn readable(&mut self, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Next {
        let Conn { link, proto } = self;
        if link.stage != Stage::Serving {
            return link.drain(&mut cx.scratch.read).err().unwrap_or(Next::Wait);
        }
        match proto {
            ProtoConn::Uwsgi(uwsgi) => uwsgi.readable(link, streams, cx, batch),
            ProtoConn::Fastcgi(fastcgi) => fastcgi.readable(link, streams, cx, batch),
            ProtoConn::Http(http) => http.readable(link, streams, cx, batch),
        }
    }

    /// Whether the connection reads now (its epoll interest in input).
    pub fn wants_read(&self) -> bool {
        match (&self.link.stage, &self.proto) {
            (Stage::Refused | Stage::Linger { .. }, _) => true,
            (Stage::Serving, ProtoConn::Uwsgi(uwsgi)) => uwsgi.wants_read(&self.link),
            (Stage::Serving, ProtoConn::Fastcgi(_)) => !self.link.paused,
            (Stage::Serving, ProtoConn::Http(http)) => http.wants_read(&self.link),
        }
    }

    /// The deadline the connection's state calls for at `now` (0: none).
    pub fn deadline(&self, streams: &Streams, config: &Config, now: u64) -> u64 {
        let link = &self.link;
        match (link.stage, &self.proto) {
            (Stage::Linger { until }, _) => until,
            (Stage::Refused, _) => stalled_output(link, config, now),
            (Stage::Serving, ProtoConn::Uwsgi(uwsgi)) => uwsgi.deadline(link, config, now),
            (Stage::Serving, ProtoConn::Fastcgi(fastcgi)) => fastcgi.deadline(link, streams, config, now),
            (Stage::Serving, ProtoConn::Http(http)) => http.deadline(link, config, now),
        }
    }

    /// The deadline passed at `now`: what happens to the connection.
    pub fn expired(&mut self, streams: &mut Streams, cx: &mut Cx, now: u64) -> Next {
        let Conn { link, proto } = self;
        if link.stage != Stage::Serving {
            return Next::close(AbortReason::Timeout);
        }
        match proto {
            ProtoConn::Uwsgi(uwsgi) => uwsgi.expired(link, cx),
            ProtoConn::Fastcgi(fastcgi) => fastcgi.expired(link, cx),
            ProtoConn::Http(http) => http.expired(link, streams, cx, now),
        }
    }

    /// A graceful stop began at `now`. No connection closes here: a uwsgi one carries a
    /// single request; a kept-alive one (HTTP, FastCGI keep-conn) may have its peer's next
    /// request on the way, so it waits [`DRAIN_IDLE_MS`] for it, answers it, then closes.
    pub fn stop(&mut self, now: u64) {
        match &mut self.proto {
            ProtoConn::Uwsgi(_) => {}
            ProtoConn::Fastcgi(fastcgi) => fastcgi.drain(now),
            ProtoConn::Http(http) => http.drain(now),
        }
    }

    /// The request was read to its end (nothing unread could make the peer see a reset
    /// instead of our response): the connection may close without lingering.
    pub fn read_whole(&self) -> bool {
        self.link.stage == Stage::Serving
            && match &self.proto {
                ProtoConn::Uwsgi(uwsgi) => uwsgi.read_whole(),
                ProtoConn::Fastcgi(_) => false,
                ProtoConn::Http(http) => http.read_whole(),
            }
    }

    /// A body of known length is being read (its stall timeout stops while paused).
    pub fn in_length_body(&self) -> bool {
        self.link.stage == Stage::Serving
            && match &self.proto {
                ProtoConn::Uwsgi(uwsgi) => uwsgi.in_length_body(),
                ProtoConn::Fastcgi(_) => false,
                ProtoConn::Http(http) => http.in_length_body(),
            }
    }
}

/// The deadline of a connection with nothing left to read: a response still queued must
/// keep moving.
pub(crate) fn stalled_output(link: &Link, config: &Config, now: u64) -> u64 {
    if link.out.queued() > 0 {
        now + config.socket_timeout_ms
    } else {
        0
    }
}

/// What should happen to a connection after its protocol handled an event. Applied in
/// one place, [`crate::Reactor::apply`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing the deadline depends on changed (no bytes came, or they changed nothing
    /// that times out); only the epoll interest follows the state.
    Wait,
    /// The connection moved on: its deadline and epoll interest follow its new state.
    Go,
    /// As [`Next::Go`], and the connection is read again first thing in the next batch:
    /// this one had no room for what it must hand over, or bytes wait in its buffer.
    Retry,
    /// Answer with these bytes from the reactor itself (a refusal, a pong), then close
    /// with a lingering close; the app never sees the request.
    Answer(Cow<'static, [u8]>),
    /// Close now. Requests JavaScript has get an ABORT with `reason`; `reset` sends RST
    /// instead of FIN.
    Close {
        /// Send RST: the peer must not take what it got for a complete response.
        reset: bool,
        /// The ABORT reason for requests JavaScript has.
        reason: AbortReason,
    },
}

impl Next {
    /// Close with FIN.
    pub fn close(reason: AbortReason) -> Next {
        Next::Close { reset: false, reason }
    }

    /// Close with RST.
    pub fn reset(reason: AbortReason) -> Next {
        Next::Close { reset: true, reason }
    }

    /// Answer `bytes` and close after them.
    pub fn answer(bytes: impl Into<Cow<'static, [u8]>>) -> Next {
        Next::Answer(bytes.into())
    }
}
