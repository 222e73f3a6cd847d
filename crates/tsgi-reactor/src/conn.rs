//! One accepted connection and where it stands.

use std::os::fd::RawFd;

use tsgi_wire::uwsgi;

use crate::outbuf::OutBuf;
use crate::reactor::Protocol;

/// Where the read side of a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// uwsgi: waiting for the packet header and vars block.
    Head,
    /// uwsgi: the vars block is over `buffer-size` (U4): its bytes are read and thrown
    /// away, then `error` is answered, so the proxy gets a response instead of a reset.
    DiscardVars {
        /// Vars bytes still to throw away.
        remaining: usize,
        /// The refusal to answer once they are gone.
        error: uwsgi::Error,
    },
    /// uwsgi: streaming the body to JavaScript.
    Body {
        /// Body bytes still expected.
        remaining: u64,
    },
    /// uwsgi: the request is fully read; reading now only notices the peer leaving (and
    /// throws away anything sent after the body, which is never parsed: U20).
    Done,
    /// FastCGI: reading records, for any number of requests (`crate::fastcgi`).
    Records,
    /// HTTP: streaming a chunked body to JavaScript (the decoder is [`Conn::chunked`]).
    Chunked,
    /// HTTP after `101 Switching Protocols`: the bytes both ways are the app's, unframed.
    Tunnel {
        /// The client closed its side (its bytes ended; ours may go on).
        eof: bool,
    },
    /// A refusal is being sent; whatever else the peer sends is read and dropped, never
    /// parsed.
    Refused,
    /// The response is out and our side is shut for writing; unread bytes are drained
    /// until the peer closes or `until`, so it gets our response rather than a reset.
    Linger {
        /// Monotonic deadline in ms.
        until: u64,
    },
}

/// A connection. What belongs to one request (its token, whether JavaScript has it,
/// whether its response ended) is in its [`crate::stream::Stream`]; a uwsgi connection
/// carries one, a FastCGI connection any number at once.
pub struct Conn {
    /// The socket.
    pub fd: RawFd,
    /// Slot and generation: names the connection in the epoll set.
    pub token: u32,
    /// The protocol of the listener that accepted it.
    pub protocol: Protocol,
    /// Read-side state.
    pub state: ReadState,
    /// Bytes received and not yet parsed: a uwsgi head that did not arrive in one read,
    /// or the start of a FastCGI record.
    pub head: Vec<u8>,
    /// Response bytes not yet sent.
    pub out: OutBuf,
    /// Current epoll interest.
    pub interest: u32,
    /// Monotonic ms at which the current timeout fires; 0 for none.
    pub deadline: u64,
    /// Stream slots of the requests on this connection, oldest first.
    pub streams: Vec<u32>,
    /// Reading stops: a request's JavaScript input buffer is full.
    pub paused: bool,
    /// Close (or linger) once the queued output is sent: the last response ended and the
    /// connection is not kept alive.
    pub closing: bool,
    /// FastCGI: a request without `FCGI_KEEP_CONN` began; close once no request is left.
    pub close_when_idle: bool,
    /// Waiting in the reactor's list of connections with output queued during a batch.
    pub dirty: bool,
    /// Waiting in the reactor's list of connections to add to the epoll set when the
    /// batch ends.
    pub unregistered: bool,
    /// Bytes thrown away after the request (U20); past a bound, reading stops.
    pub discarded: usize,
    /// When the connection was accepted, or (HTTP keep-alive) when it went back to waiting
    /// for a head (monotonic ms); the head must arrive within `socket-timeout` of it.
    pub accepted_at: u64,
    /// HTTP: kept alive after a response, no byte of the next request yet: the idle
    /// timeout (`http-keepalive-timeout`) applies, not the head timeout.
    pub idle: bool,
    /// HTTP: when the request being read must be whole (`http-request-timeout` from the
    /// first byte of its head), monotonic ms; 0 when no body is being read.
    pub request_deadline: u64,
    /// HTTP: both socket addresses, for REMOTE_ADDR and SERVER_PORT.
    pub addresses: Option<Box<crate::http::Addresses>>,
    /// HTTP: the chunked body decoder, kept for the connection's next requests.
    pub chunked: Option<Box<tsgi_wire::http::ChunkedDecoder>>,
}

impl Conn {
    /// A freshly accepted connection.
    pub fn new(fd: RawFd, token: u32, protocol: Protocol, now: u64) -> Self {
        Conn {
            fd,
            token,
            protocol,
            state: match protocol {
                Protocol::Uwsgi | Protocol::Http => ReadState::Head,
                Protocol::Fastcgi => ReadState::Records,
            },
            head: Vec::new(),
            out: OutBuf::default(),
            interest: 0,
            deadline: 0,
            streams: Vec::new(),
            paused: false,
            closing: false,
            close_when_idle: false,
            dirty: false,
            unregistered: false,
            discarded: 0,
            accepted_at: now,
            idle: false,
            request_deadline: 0,
            addresses: None,
            chunked: None,
        }
    }
}
