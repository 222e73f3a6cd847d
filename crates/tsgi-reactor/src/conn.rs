//! One accepted connection and where it stands.

use std::os::fd::RawFd;

use tsgi_wire::uwsgi;

use crate::outbuf::OutBuf;

/// Where the read side of a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// Waiting for the packet header and vars block.
    Head,
    /// The vars block is over `buffer-size` (U4): its bytes are read and thrown away,
    /// then `error` is answered, so the proxy gets a response instead of a reset.
    DiscardVars {
        /// Vars bytes still to throw away.
        remaining: usize,
        /// The refusal to answer once they are gone.
        error: uwsgi::Error,
    },
    /// Streaming the body to JavaScript.
    Body {
        /// Body bytes still expected.
        remaining: u64,
    },
    /// The request is fully read; reading now only notices the peer leaving (and throws
    /// away anything sent after the body, which is never parsed: U20).
    Done,
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

/// A connection.
pub struct Conn {
    /// The socket.
    pub fd: RawFd,
    /// Slot and generation, as JavaScript knows the request on this connection.
    pub token: u32,
    /// Read-side state.
    pub state: ReadState,
    /// Head bytes received so far, when the head did not arrive in one read.
    pub head: Vec<u8>,
    /// Response bytes not yet sent.
    pub out: OutBuf,
    /// Current epoll interest.
    pub interest: u32,
    /// Monotonic ms at which the current timeout fires; 0 for none.
    pub deadline: u64,
    /// JavaScript asked to stop reading the body (its input buffer is full).
    pub paused: bool,
    /// The request was handed to JavaScript and its response is not finished: an abort
    /// must be reported if the connection ends now.
    pub in_app: bool,
    /// The response is complete (from JavaScript, or a static refusal).
    pub ended: bool,
    /// A write reported the queue over its high-water mark; report DRAIN when it empties.
    pub want_drain: bool,
    /// Waiting in the reactor's list of connections with output queued during a batch.
    pub dirty: bool,
    /// Waiting in the reactor's list of connections to add to the epoll set when the
    /// batch ends.
    pub unregistered: bool,
    /// Bytes thrown away after the request (U20); past a bound, reading stops.
    pub discarded: usize,
    /// When the connection was accepted (monotonic ms); the head must arrive within
    /// `socket-timeout` of it.
    pub accepted_at: u64,
}

impl Conn {
    /// A freshly accepted connection.
    pub fn new(fd: RawFd, token: u32, now: u64) -> Self {
        Conn {
            fd,
            token,
            state: ReadState::Head,
            head: Vec::new(),
            out: OutBuf::default(),
            interest: 0,
            deadline: 0,
            paused: false,
            in_app: false,
            ended: false,
            want_drain: false,
            dirty: false,
            unregistered: false,
            discarded: 0,
            accepted_at: now,
        }
    }
}
