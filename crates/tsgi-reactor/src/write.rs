//! The write side JavaScript drives: response bytes in, requests ended.
//!
//! JavaScript appends a response's bytes to its connection's queue ([`Reactor::output`],
//! then [`Reactor::commit_write`], which frames them for FastCGI) and says with the last
//! write whether the response ends and the connection stays open ([`WriteEnd`]); during a
//! batch the queue is flushed when the batch ends, otherwise at once. The rest of what
//! JavaScript can do to a request is here too: pause its body, abort it, turn it into a
//! tunnel, write to the web server's error log. A request ends here ([`Reactor::end_stream`])
//! whether JavaScript ended it or the reactor did.

use tsgi_wire::fastcgi;

use crate::batch::AbortReason;
use crate::conn::ReadState;
use crate::reactor::{Protocol, Reactor};
use crate::stream::Phase;
use crate::sys;

/// How a write from JavaScript leaves its response (the `end` word of `write`). Whether
/// the connection stays open is decided once, by JavaScript, which wrote the head that
/// announces it (`Connection: close`, a close-delimited body); the reactor obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum WriteEnd {
    /// The response goes on.
    More = 0,
    /// The response is complete; the connection carries the peer's next request (sent only
    /// where the request's `FLAG_KEEP_ALIVE` allowed it).
    KeepAlive = 1,
    /// The response is complete; the connection closes once it is sent.
    Close = 2,
}

impl WriteEnd {
    /// The variant for a word from JavaScript; `None` for a word that names none.
    pub fn from_word(word: u32) -> Option<WriteEnd> {
        match word {
            0 => Some(WriteEnd::More),
            1 => Some(WriteEnd::KeepAlive),
            2 => Some(WriteEnd::Close),
            _ => None,
        }
    }
}

/// How a request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// Its response is complete.
    Complete {
        /// The connection may carry the peer's next request (HTTP keep-alive, FastCGI
        /// `FCGI_KEEP_CONN`); otherwise it closes after this response.
        keep_conn: bool,
    },
    /// It stops short (aborted by the web server, or the app failed mid-response): for
    /// FastCGI, `END_REQUEST` with `app_status` and no end of the STDOUT stream.
    Cut {
        /// The `appStatus` to report.
        app_status: u32,
    },
}

impl Reactor {
    /// The output queue of the request `token`, to append response bytes to; `None` if
    /// the request is gone (the peer left, or the response already ended). Follow with
    /// [`Reactor::commit_write`], or [`Reactor::cancel_write`] if appending failed.
    pub fn output(&mut self, token: u32) -> Option<&mut Vec<u8>> {
        let slot = self.streams.slot_of(token)?;
        let conn_slot = self.streams.get(slot)?.conn;
        let conn = self.conns.get_mut(conn_slot)?;
        let fastcgi = conn.protocol == Protocol::Fastcgi;
        let out = conn.out.tail();
        let stream = self.streams.get_mut(slot)?;
        stream.write_start = out.len();
        if fastcgi {
            // The STDOUT record header, filled in by `commit_write` once the length is known.
            out.extend_from_slice(&[0; fastcgi::HEADER_LEN]);
        }
        Some(out)
    }

    /// Undoes an [`Reactor::output`] whose appending failed.
    pub fn cancel_write(&mut self, token: u32) {
        let Some((slot, conn)) = self.stream_conn(token) else { return };
        let start = self.streams.get(slot).map_or(0, |s| s.write_start);
        if let Some(conn) = self.conn_mut(conn) {
            conn.out.tail().truncate(start);
        }
    }

    /// Call after appending to [`Reactor::output`]: frames the bytes for the protocol,
    /// flushes unless corked, ends the response as `end` says. Returns the bytes still queued,
    /// or -1 if the request is gone (JavaScript then treats it as aborted; no ABORT event
    /// follows).
    pub fn commit_write(&mut self, token: u32, end: WriteEnd) -> i64 {
        let hwm = self.config.write_high_water;
        let Some((slot, conn_slot)) = self.stream_conn(token) else { return -1 };
        let stream = self.streams.get_mut(slot).expect("found above");
        let (id, start) = (stream.id, stream.write_start);
        let conn = self.conns.get_mut(conn_slot).expect("found above");
        if conn.protocol == Protocol::Fastcgi {
            fastcgi::encode::frame_in_place(conn.out.tail(), fastcgi::RecordType::Stdout, id, start);
        }
        let wrote = conn.out.tail().len() > start;
        let stream = self.streams.get_mut(slot).expect("found above");
        stream.wrote |= wrote;
        if end != WriteEnd::More {
            self.end_stream(slot, StreamEnd::Complete { keep_conn: end == WriteEnd::KeepAlive });
        }
        if self.notices.in_batch() {
            self.mark_dirty(conn_slot);
        } else if self.flush_conn(conn_slot).is_err() {
            return -1;
        }
        let queued = match self.conn_mut(conn_slot) {
            Some(conn) => conn.out.queued(),
            // Ended and fully flushed: the connection is already closed.
            None => return 0,
        };
        if queued > hwm {
            if let Some(stream) = self.streams.get_mut(slot) {
                stream.want_drain = true;
            }
        }
        queued as i64
    }

    /// Sends `text` to the web server's error log with the request `token`: a FastCGI
    /// STDERR record. Returns `false` if the protocol has no such channel (uwsgi) or the
    /// request is gone; the caller then logs it itself.
    pub fn write_error(&mut self, token: u32, text: &[u8]) -> bool {
        let Some((slot, conn_slot)) = self.stream_conn(token) else { return false };
        let id = self.streams.get(slot).expect("found above").id;
        let conn = self.conns.get_mut(conn_slot).expect("found above");
        if conn.protocol != Protocol::Fastcgi {
            return false;
        }
        fastcgi::encode::stderr(conn.out.tail(), id, text);
        if self.notices.in_batch() {
            self.mark_dirty(conn_slot);
        } else {
            let _ = self.flush_conn(conn_slot);
        }
        true
    }

    /// Stops (`true`) or restarts reading the request body of `token`: JavaScript's
    /// input buffer is full, or has room again. On a FastCGI connection this stops
    /// reading for all its requests: their records share the socket.
    pub fn pause(&mut self, token: u32, paused: bool) {
        let Some((slot, conn_slot)) = self.stream_conn(token) else { return };
        let stream = self.streams.get_mut(slot).expect("found above");
        stream.paused = paused;
        if !paused && stream.awaiting_continue {
            // The app wants the body of an `Expect: 100-continue` request: now ask for it.
            stream.awaiting_continue = false;
            if let Some(conn) = self.conn_mut(conn_slot) {
                conn.out.tail().extend_from_slice(crate::http::CONTINUE);
            }
            self.mark_dirty(conn_slot);
            if !self.notices.in_batch() {
                let _ = self.flush_conn(conn_slot);
            }
        }
        self.refresh_paused(conn_slot);
    }

    /// Ends the request `token` abnormally: JavaScript found it cannot complete the
    /// response (the app failed after headers were sent, or sent less than its
    /// Content-Length), and a clean end would pass a truncated body as complete. The
    /// connection is reset, unless other FastCGI requests share it: then this one alone
    /// ends, with `appStatus` 1.
    pub fn abort(&mut self, token: u32) {
        let Some((slot, conn_slot)) = self.stream_conn(token) else { return };
        let shared = self.conn_mut(conn_slot).is_some_and(|c| c.protocol == Protocol::Fastcgi && c.streams.len() > 1);
        if let Some(stream) = self.streams.get_mut(slot) {
            stream.in_app = false;
        }
        if shared {
            self.end_stream(slot, StreamEnd::Cut { app_status: 1 });
            self.mark_dirty(conn_slot);
            if !self.notices.in_batch() {
                let _ = self.flush_conn(conn_slot);
            }
        } else {
            self.close_conn(conn_slot, true, AbortReason::Internal);
        }
    }

    /// The app answered 101 to the upgrade request `token`: the connection becomes a
    /// tunnel. Bytes already buffered after the request are the first tunnelled ones.
    pub fn upgrade(&mut self, token: u32) -> bool {
        let Some(stream_slot) = self.streams.slot_of(token) else { return false };
        let slot = self.streams.get(stream_slot).expect("found").conn;
        let Some(conn) = self.conn_mut(slot) else { return false };
        if conn.protocol != crate::reactor::Protocol::Http || conn.state != ReadState::Done {
            return false;
        }
        conn.state = ReadState::Tunnel { eof: false };
        if !conn.head.is_empty() {
            self.notices.retry(slot);
            self.notices.ring();
        }
        self.refresh_deadline(slot);
        self.update_interest(slot);
        true
    }

    /// The stream slot and connection slot of the live request `token`.
    pub(crate) fn stream_conn(&self, token: u32) -> Option<(u32, u32)> {
        let slot = self.streams.slot_of(token)?;
        Some((slot, self.streams.get(slot)?.conn))
    }

    /// The request in stream `slot` is over. For FastCGI, `END_REQUEST` is queued: after
    /// the empty STDOUT record that closes the response ([`StreamEnd::Complete`]), or alone
    /// ([`StreamEnd::Cut`]). The connection closes once its output is sent, unless it is
    /// kept alive for more requests.
    pub(crate) fn end_stream(&mut self, slot: u32, end: StreamEnd) {
        let Some(stream) = self.streams.remove(slot) else { return };
        if let Phase::Params(decoder) = stream.phase {
            self.decoders.push(decoder);
        }
        let Some(conn) = self.conns.get_mut(stream.conn) else { return };
        conn.streams.retain(|&s| s != slot);
        let conn_slot = stream.conn;
        // Whether the connection carries another request: JavaScript's word for a response
        // it ended; for a request cut short or refused by the reactor, the peer's
        // (`FCGI_KEEP_CONN`; never for HTTP, whose cut response cannot be followed). A
        // graceful stop keeps no connection.
        let keep_conn = match end {
            StreamEnd::Complete { keep_conn } => keep_conn,
            StreamEnd::Cut { .. } => stream.keep_conn,
        } && !self.draining;
        match conn.protocol {
            // One request per connection.
            Protocol::Uwsgi => conn.closing = true,
            Protocol::Http => self.http_response_ended(conn_slot, keep_conn),
            Protocol::Fastcgi => {
                let out = conn.out.tail();
                let app_status = match end {
                    StreamEnd::Complete { .. } => {
                        fastcgi::encode::end_stream(out, fastcgi::RecordType::Stdout, stream.id);
                        0
                    }
                    StreamEnd::Cut { app_status } => app_status,
                };
                fastcgi::encode::end_request(out, stream.id, app_status, fastcgi::ProtocolStatus::RequestComplete);
                conn.close_when_idle |= !keep_conn;
                if conn.streams.is_empty() && conn.close_when_idle {
                    conn.closing = true;
                }
            }
        }
        if stream.paused {
            // It may have been the request that paused reading.
            self.refresh_paused(stream.conn);
        }
    }

    /// Recomputes whether the connection in `conn_slot` reads: not while any of its
    /// requests has asked to pause.
    pub(crate) fn refresh_paused(&mut self, conn_slot: u32) {
        let Some(conn) = self.conns.get(conn_slot) else { return };
        let paused = conn.streams.iter().any(|&s| self.streams.get(s).is_some_and(|s| s.paused));
        let timeout = self.config.socket_timeout_ms;
        let conn = self.conn_mut(conn_slot).expect("checked above");
        if conn.paused == paused {
            return;
        }
        conn.paused = paused;
        if let ReadState::Body { .. } = conn.state {
            conn.deadline = if paused { 0 } else { sys::now_ms() + timeout };
        }
        if !paused && !conn.head.is_empty() {
            // Records read before the pause wait in the buffer: parse them now.
            self.notices.retry(conn_slot);
            self.notices.ring();
        }
        self.update_interest(conn_slot);
    }

    /// Queues the connection for the flush after the batch.
    pub(crate) fn mark_dirty(&mut self, slot: u32) {
        if let Some(conn) = self.conn_mut(slot) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }
}
