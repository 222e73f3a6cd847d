//! The read side of a uwsgi connection: head, body, and what comes after.
//!
//! The codec (`tsgi_wire::uwsgi`) says what the bytes mean; this module decides what to
//! do about it (reliability.md §2.1): hand the request to JavaScript, stream the body,
//! refuse with a static response and a lingering close, or close at once. A uwsgi
//! connection carries one request; its state ([`UwsgiConn`]) is that request's read side.
//! What follows the request is never parsed: it is thrown away (U20), unless the request
//! is an upgrade (a WebSocket handshake nginx passes on) and the app answers `101`: then
//! the connection is a tunnel (`tunnel.rs`) and those bytes are the app's, as over HTTP.

use tsgi_wire::uwsgi::{self, Error};

use crate::batch::{self, AbortReason, Batch, Level, RequestHead};
use crate::config::Config;
use crate::conn::{Link, Next, Protocol};
use crate::notices::Notices;
use crate::reactor::Cx;
use crate::refusal;
use crate::stream::{self, ProtoStream, Streams, Unopened};
use crate::sys::{read_some as read, Read};
use crate::timers;
use crate::tunnel::Tunnel;

/// The answer to a ping: the header of a pong (modifier1 100, datasize 0, modifier2 1).
const PONG: &[u8] = &[uwsgi::MODIFIER_PING, 0, 0, 1];

/// The most bytes read from one socket per poll: one busy upload cannot starve the others.
const READ_CHUNK: usize = 256 * 1024;

/// Bytes after a complete request that are read and dropped (U20), or kept after an upgrade
/// request until the app answers, before reading stops.
const MAX_AFTER: usize = 64 * 1024;

/// The read side of a uwsgi connection.
pub(crate) struct UwsgiConn {
    state: State,
    /// Bytes thrown away after the request (U20); past [`MAX_AFTER`], reading stops.
    discarded: usize,
}

/// Where the read side of a uwsgi connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the packet header and vars block.
    Head,
    /// The vars block is over `buffer-size` (U4): its bytes are read and thrown away, then
    /// `error` is answered, so the proxy gets a response instead of a reset.
    DiscardVars {
        /// Vars bytes still to throw away.
        remaining: usize,
        /// The refusal to answer once they are gone.
        error: Error,
    },
    /// Streaming the body to JavaScript.
    Body {
        /// Body bytes still expected.
        remaining: u64,
    },
    /// The request is fully read; reading now only notices the peer leaving (and throws
    /// away anything sent after the body, which is never parsed: U20).
    Done,
    /// An upgrade request without a body is read, and the app has not switched (yet): what
    /// the peer sends now is kept in the buffer, since after a `101` it is the tunnel's
    /// first bytes; past [`MAX_AFTER`], reading stops. Otherwise as [`State::Done`].
    Upgradable,
    /// After `101 Switching Protocols`: the bytes both ways are the app's.
    Tunnel(Tunnel),
}

impl UwsgiConn {
    /// A connection waiting for its head.
    pub(crate) fn new() -> Self {
        UwsgiConn { state: State::Head, discarded: 0 }
    }

    /// Reads what the state wants read now.
    pub(crate) fn readable(&mut self, link: &mut Link, streams: &mut Streams, cx: &mut Cx, batch: &mut Batch) -> Next {
        match self.state {
            State::Head => {
                let mut scratch = std::mem::take(&mut cx.scratch.read);
                let next = match read(link.fd, &mut scratch) {
                    Read::Data(n) => self.feed_head(link, streams, cx, &scratch[..n], batch),
                    Read::Eof => self.eof_in_head(link, cx),
                    Read::WouldBlock => Next::Wait,
                    Read::Failed => Next::reset(AbortReason::PeerGone),
                };
                cx.scratch.read = scratch;
                next
            }
            State::DiscardVars { remaining, error } => {
                let want = remaining.min(cx.scratch.read.len());
                match read(link.fd, &mut cx.scratch.read[..want]) {
                    Read::Data(n) if n == remaining => refuse(cx, error),
                    Read::Data(n) => {
                        self.state = State::DiscardVars { remaining: remaining - n, error };
                        Next::Wait
                    }
                    Read::Eof => self.eof_in_head(link, cx),
                    Read::WouldBlock => Next::Wait,
                    Read::Failed => Next::reset(AbortReason::PeerGone),
                }
            }
            State::Body { remaining } => self.body(link, streams, cx, remaining, batch),
            State::Done => match link.drain(&mut cx.scratch.read) {
                Ok(n) => {
                    self.discarded += n;
                    Next::Wait
                }
                Err(next) => next,
            },
            State::Upgradable => match link.drain(&mut cx.scratch.read) {
                Ok(n) => {
                    link.buffered.extend_from_slice(&cx.scratch.read[..n]);
                    Next::Wait
                }
                Err(next) => next,
            },
            State::Tunnel(ref mut tunnel) => tunnel.readable(link, streams, cx, batch),
        }
    }

    /// Streams body bytes straight from the socket into the batch.
    fn body(&mut self, link: &Link, streams: &Streams, cx: &mut Cx, remaining: u64, batch: &mut Batch) -> Next {
        if link.paused {
            return Next::Wait;
        }
        // None once the response ended early: the rest of the body is read and dropped.
        let token = link.current(streams);
        let max = remaining.min(READ_CHUNK as u64) as usize;
        let space = batch.body_space(max);
        if space.is_empty() {
            return Next::Retry;
        }
        match read(link.fd, space) {
            Read::Data(n) => {
                if let Some(token) = token {
                    batch.commit_body(token, n);
                }
                let remaining = remaining - n as u64;
                if remaining > 0 {
                    self.state = State::Body { remaining };
                    return Next::Go;
                }
                self.state = State::Done;
                if let Some(token) = token {
                    batch.body_end(token);
                }
                if link.closing && link.out.queued() == 0 {
                    // The response went out before the body was read whole.
                    return Next::close(AbortReason::PeerGone);
                }
                Next::Go
            }
            Read::Eof => {
                cx.notices.log(
                    Level::Warn,
                    format!("uwsgi: peer closed with {remaining} body bytes missing; request aborted"),
                );
                Next::close(AbortReason::BodyTruncated)
            }
            Read::WouldBlock => Next::Wait,
            Read::Failed => Next::reset(AbortReason::PeerGone),
        }
    }

    fn eof_in_head(&self, link: &Link, cx: &mut Cx) -> Next {
        // A peer that connects and leaves without a byte (a health check, a port scan)
        // is not worth a log line; one that leaves mid-head is (U1, U2).
        let got = link.buffered.len();
        let error = match self.state {
            State::DiscardVars { .. } => Some(Error::TruncatedVars),
            _ if got == 0 => None,
            _ if got < uwsgi::HEADER_LEN => Some(Error::TruncatedHeader),
            _ => Some(Error::TruncatedVars),
        };
        if let Some(error) = error {
            cx.notices.log(Level::Warn, format!("uwsgi: {error} (peer closed after {got} bytes); closed"));
        }
        Next::close(AbortReason::PeerGone)
    }

    /// Takes newly read head bytes. The buffered ones are parsed together with them; on a
    /// refusal or a close they are dropped (so a vars block being discarded, or a refused
    /// head, counts 0 bytes received).
    fn feed_head(
        &mut self,
        link: &mut Link,
        streams: &mut Streams,
        cx: &mut Cx,
        input: &[u8],
        batch: &mut Batch,
    ) -> Next {
        let mut head = std::mem::take(&mut link.buffered);
        let buffered = !head.is_empty();
        if buffered {
            head.extend_from_slice(input);
        }
        let buf: &[u8] = if buffered { &head } else { input };
        let mut vars = std::mem::take(&mut cx.scratch.uwsgi_vars);
        let next = match uwsgi::parse_request(buf, &cx.config.uwsgi, &mut vars) {
            Ok(tsgi_wire::Status::Partial) => {
                if !buffered {
                    head.extend_from_slice(input);
                }
                link.buffered = head;
                Next::Wait
            }
            Ok(tsgi_wire::Status::Complete((header, _, _))) if header.modifier1 == uwsgi::MODIFIER_PING => {
                Next::answer(PONG)
            }
            Ok(tsgi_wire::Status::Complete((header, info, consumed))) => {
                let next = self.deliver(link, streams, cx, buf, &vars, header, info, consumed, batch);
                // Handed over: the head and body bytes go, and so does whatever follows
                // (U20), unless it may be the start of a tunnel. Not handed over (no room
                // in this batch): it all stays for the next.
                let used = match next {
                    Next::Retry => 0,
                    _ if self.state == State::Upgradable => consumed,
                    _ => buf.len(),
                };
                if buffered {
                    head.drain(..used);
                } else {
                    head.extend_from_slice(&input[used..]);
                }
                link.buffered = head;
                next
            }
            Err(Error::VarsTooLarge { size, limit }) => {
                let already = buf.len().saturating_sub(uwsgi::HEADER_LEN);
                let error = Error::VarsTooLarge { size, limit };
                if already >= usize::from(size) {
                    refuse(cx, error)
                } else {
                    self.state = State::DiscardVars { remaining: usize::from(size) - already, error };
                    Next::Wait
                }
            }
            Err(error) if error.status().is_some() => refuse(cx, error),
            Err(error) => {
                cx.notices.log(Level::Warn, format!("uwsgi: {error}; closed"));
                Next::close(AbortReason::PeerGone)
            }
        };
        cx.scratch.uwsgi_vars = vars;
        next
    }

    /// Hands a complete head (and any body bytes that came with it) to JavaScript.
    /// [`Next::Retry`] if the batch has no room; the bytes stay buffered for the next.
    #[allow(clippy::too_many_arguments)] // the parts of one parsed packet, borrowed where they lie
    fn deliver(
        &mut self,
        link: &mut Link,
        streams: &mut Streams,
        cx: &mut Cx,
        buf: &[u8],
        vars: &[uwsgi::Var],
        header: uwsgi::Header,
        info: uwsgi::RequestInfo,
        consumed: usize,
        batch: &mut Batch,
    ) -> Next {
        let block = &buf[uwsgi::HEADER_LEN..consumed];
        let after = &buf[consumed..];
        let body_now = (after.len() as u64).min(info.content_length) as usize;
        // An upgrade request with a body is served as a plain one: its input ends with the
        // body and can go on as no tunnel.
        let upgrade = info.upgrade && info.content_length == 0;
        let mut flags = 0;
        if upgrade {
            // Its input stays open: it may go on as the tunnel.
            flags |= batch::FLAG_UPGRADE;
        } else if info.content_length == 0 {
            flags |= batch::FLAG_BODY_COMPLETE;
        }
        if header.modifier1 == uwsgi::MODIFIER_MANAGE_PATH_INFO {
            flags |= batch::FLAG_MANAGE_PATH_INFO;
        }
        let head = RequestHead { protocol: batch::PROTOCOL_UWSGI, content_length: info.content_length, flags, block };
        // Room for the body that came with the head, and its end.
        let room_after = (batch::BODY_AND_END_WORDS, body_now);
        let hand_over = |token| batch.request_vars(token, head, vars, room_after);
        let stream = match stream::open(streams, link, &mut cx.notices, ProtoStream::Uwsgi, hand_over) {
            Ok(stream) => stream,
            Err(Unopened::NoRoom) => {
                return cx.no_room(batch, "uwsgi: batch buffers smaller than one request head; closed")
            }
            Err(Unopened::TooMany) => return Next::reset(AbortReason::Internal),
        };
        stream.in_app = true;
        let token = stream.token;
        let remaining = info.content_length - body_now as u64;
        if body_now > 0 {
            batch.body(token, &after[..body_now]);
        }
        if info.content_length > 0 && remaining == 0 {
            batch.body_end(token);
        }
        self.state = if remaining > 0 {
            State::Body { remaining }
        } else if upgrade {
            State::Upgradable
        } else {
            State::Done
        };
        // Kept for the tunnel, or thrown away (U20).
        self.discarded = if upgrade { 0 } else { after.len() - body_now };
        Next::Go
    }

    /// The app answered `101` to the upgrade request on this connection: it becomes a
    /// tunnel. Bytes kept after the request are the first tunnelled ones. `false` if the
    /// request is not one that can be upgraded.
    pub(crate) fn upgrade(&mut self, link: &Link, notices: &mut Notices) -> bool {
        if self.state != State::Upgradable {
            return false;
        }
        let Some(tunnel) = Tunnel::open(link, notices) else { return false };
        self.state = State::Tunnel(tunnel);
        true
    }

    /// Whether the connection reads now.
    pub(crate) fn wants_read(&self, link: &Link) -> bool {
        match self.state {
            State::Head | State::DiscardVars { .. } => true,
            State::Body { .. } => !link.paused,
            State::Done => self.discarded < MAX_AFTER,
            State::Upgradable => link.buffered.len() < MAX_AFTER,
            State::Tunnel(tunnel) => tunnel.wants_read(link),
        }
    }

    /// The deadline the state calls for: the head must arrive within `socket-timeout` of
    /// the accept; the body must keep coming, and a queued response keep moving.
    pub(crate) fn deadline(&self, link: &Link, config: &Config, now: u64) -> u64 {
        match self.state {
            State::Head | State::DiscardVars { .. } => link.head_started + config.socket_timeout_ms,
            State::Body { .. } if !link.paused => now + config.socket_timeout_ms,
            State::Tunnel(_) => Tunnel::deadline(link, config, now),
            _ => crate::conn::stalled_output(link, config, now),
        }
    }

    /// The deadline passed.
    pub(crate) fn expired(&self, link: &Link, cx: &mut Cx) -> Next {
        match self.state {
            State::Head | State::DiscardVars { .. } => timers::head_timeout(link, Protocol::Uwsgi, cx),
            State::Body { remaining } => timers::body_stalled(Protocol::Uwsgi, remaining, cx),
            State::Done | State::Upgradable => timers::response_stalled(cx),
            State::Tunnel(_) => Tunnel::expired(link, Protocol::Uwsgi, cx),
        }
    }

    /// The request is read to its end (a tunnel's input has none).
    pub(crate) fn read_whole(&self) -> bool {
        matches!(self.state, State::Done | State::Upgradable)
    }

    /// The body is being read.
    pub(crate) fn in_length_body(&self) -> bool {
        matches!(self.state, State::Body { .. })
    }
}

/// Refuses the request with the static response for `error`, logged once, then a
/// lingering close.
fn refuse(cx: &mut Cx, error: Error) -> Next {
    let status = error.status().unwrap_or(400);
    cx.notices.log(Level::Warn, format!("uwsgi: {error}; answered {status}"));
    Next::answer(refusal::http(status))
}
