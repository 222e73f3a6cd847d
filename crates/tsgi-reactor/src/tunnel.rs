//! A tunnel: once the app answers `101 Switching Protocols` to an upgrade request (HTTP, or
//! uwsgi behind nginx's `uwsgi_pass`), the bytes both ways are the app's. What the client
//! sends goes to JavaScript as BODY events of the request (bytes already buffered after the
//! request first); the client closing its side is the request's BODY_END, after which
//! nothing is read and the app may still write; the app's writes go out as they are. Each
//! protocol keeps [`Tunnel`] as a state of its own (`http.rs`, `uwsgi.rs`); what that state
//! does is here, once.

use crate::batch::{AbortReason, Batch};
use crate::config::Config;
use crate::conn::{Link, Next, Protocol, Stage};
use crate::notices::{Notice, Notices};
use crate::reactor::Cx;
use crate::stream::Streams;
use crate::sys::{read_some, Read};
use crate::timers;

/// The read side of a connection after `101`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tunnel {
    /// The client closed its side (its bytes ended; ours may go on).
    eof: bool,
}

impl Tunnel {
    /// The app switched protocols on `link`: the tunnel, or `None` if the connection is on
    /// its way out. Bytes already buffered after the request are the first tunnelled ones:
    /// they are handed over in the next batch.
    pub(crate) fn open(link: &Link, notices: &mut Notices) -> Option<Tunnel> {
        if link.stage != Stage::Serving {
            return None;
        }
        if !link.buffered.is_empty() {
            notices.retry(link.slot());
            notices.ring();
        }
        Some(Tunnel { eof: false })
    }

    /// Reads what the client sent and hands it to the app.
    pub(crate) fn readable(&mut self, link: &mut Link, streams: &Streams, cx: &mut Cx, batch: &mut Batch) -> Next {
        if link.paused || self.eof {
            return Next::Wait;
        }
        match read_some(link.fd, &mut cx.scratch.read) {
            Read::Data(n) => {
                link.buffered.extend_from_slice(&cx.scratch.read[..n]);
                hand_over(link, streams, batch)
            }
            Read::Eof => match hand_over(link, streams, batch) {
                // What came before the end goes first; the end is read again next time.
                Next::Retry => Next::Retry,
                _ => self.eof(link, streams, cx),
            },
            // Woken for bytes already buffered (after the request, or before a pause).
            Read::WouldBlock => hand_over(link, streams, batch),
            Read::Failed => Next::reset(AbortReason::PeerGone),
        }
    }

    /// The client is done sending; the app may still be. Once the response has ended too,
    /// the connection closes.
    fn eof(&mut self, link: &Link, streams: &Streams, cx: &mut Cx) -> Next {
        let Some(token) = link.current(streams) else {
            return Next::close(AbortReason::PeerGone);
        };
        cx.notices.push(Notice::BodyEnd(token));
        self.eof = true;
        Next::Wait
    }

    /// Whether the connection reads now: until the client's end, unless the app paused.
    pub(crate) fn wants_read(&self, link: &Link) -> bool {
        !self.eof && !link.paused
    }

    /// Output the peer does not read is cut at `socket-timeout`; a tunnel where nothing
    /// moves either way closes at `tunnel-timeout` (the deadline moves with every read and
    /// every flush, which set it anew).
    pub(crate) fn deadline(link: &Link, config: &Config, now: u64) -> u64 {
        if link.out.queued() > 0 {
            now + config.socket_timeout_ms
        } else if config.tunnel_timeout_ms > 0 {
            now + config.tunnel_timeout_ms
        } else {
            0
        }
    }

    /// The deadline passed: the peer reads nothing of the output (a reset), or nothing
    /// moved for `tunnel-timeout` (a close).
    pub(crate) fn expired(link: &Link, protocol: Protocol, cx: &mut Cx) -> Next {
        if link.out.queued() > 0 {
            timers::tunnel_stalled(protocol, cx)
        } else {
            timers::tunnel_idle(protocol, cx)
        }
    }
}

/// Hands the buffered bytes to the app as they are (dropped once its response has ended).
fn hand_over(link: &mut Link, streams: &Streams, batch: &mut Batch) -> Next {
    if link.buffered.is_empty() {
        return Next::Go;
    }
    if let Some(token) = link.current(streams) {
        if !batch.fits(4, link.buffered.len()) {
            return Next::Retry;
        }
        batch.body(token, &link.buffered);
    }
    link.buffered.clear();
    Next::Go
}
