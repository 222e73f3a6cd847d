//! The write side JavaScript drives: response bytes in, requests ended.
//!
//! JavaScript appends a response's bytes to its connection's queue ([`Reactor::output`],
//! then [`Reactor::commit_write`], which frames them for FastCGI) and says with the last
//! write whether the response ends and the connection stays open ([`WriteEnd`]); during a
//! batch the queue is flushed when the batch ends, otherwise at once. The rest of what
//! JavaScript can do to a request is here too: pause its body, abort it, turn it into a
//! tunnel, write to the web server's error log. A request JavaScript ends, ends here
//! ([`end_stream`]); the parts of that the reactor also uses when it ends one itself
//! (a FastCGI abort or refusal) are [`take_stream`] and [`refresh_paused`].

use tsgi_wire::fastcgi;

use crate::batch::AbortReason;
use crate::conn::{Conn, Link, ProtoConn};
use crate::http;
use crate::outbuf::Held;
use crate::reactor::{Cx, Reactor};
use crate::sendfile::FilePiece;
use crate::stream::{ProtoStream, Stream, Streams};
use crate::sys;
use crate::table::Table;

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
        let (_, stream, conn) = request(&mut self.streams, &mut self.conns, token)?;
        let out = conn.link.out.tail();
        stream.write_start = out.len();
        if let ProtoStream::Fastcgi(_) = stream.proto {
            // The STDOUT record header, filled in by `commit_write` once the length is known.
            out.extend_from_slice(&[0; fastcgi::HEADER_LEN]);
        }
        Some(out)
    }

    /// Appends `body` to what [`Reactor::output`] began, without copying it where the
    /// protocol sends bytes as they are (HTTP, uwsgi): the queue holds it until sent. A
    /// FastCGI response copies it, to frame it in records.
    pub fn hold(&mut self, token: u32, body: Box<dyn Held>) {
        let Some((_, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return };
        if let ProtoStream::Fastcgi(_) = stream.proto {
            conn.link.out.tail().extend_from_slice(body.bytes());
            return;
        }
        stream.wrote |= !body.bytes().is_empty();
        conn.link.out.hold(body);
        // What `commit_write` looks at is appended after it, to a new tail.
        stream.write_start = 0;
    }

    /// Whether the request `token` can send a file with `sendfile(2)`: `Some(true)` where
    /// the protocol sends body bytes as they are (HTTP, uwsgi), `Some(false)` for FastCGI,
    /// whose records frame every byte (the caller reads the file and writes its bytes),
    /// `None` if the request is gone.
    pub fn sends_files(&self, token: u32) -> Option<bool> {
        let stream = self.streams.get(self.streams.slot_of(token)?)?;
        Some(!matches!(stream.proto, ProtoStream::Fastcgi(_)))
    }

    /// Appends a range of a file to what [`Reactor::output`] began, sent with
    /// `sendfile(2)` when it reaches the front of the queue; the queue owns `file` from
    /// now on. Only where [`Reactor::sends_files`] says so (a FastCGI request drops it).
    pub fn send_file(&mut self, token: u32, file: FilePiece) {
        let Some((_, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return };
        if let ProtoStream::Fastcgi(_) = stream.proto {
            return;
        }
        stream.wrote |= file.remaining() > 0;
        conn.link.out.send_file(file);
        // What `commit_write` looks at is appended after it, to a new tail.
        stream.write_start = 0;
    }

    /// Undoes an [`Reactor::output`] whose appending failed.
    pub fn cancel_write(&mut self, token: u32) {
        let Some((_, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return };
        conn.link.out.tail().truncate(stream.write_start);
    }

    /// Call after appending to [`Reactor::output`]: frames the bytes for the protocol,
    /// flushes unless corked, ends the response as `end` says. Returns the bytes still queued,
    /// or -1 if the request is gone (JavaScript then treats it as aborted; no ABORT event
    /// follows).
    pub fn commit_write(&mut self, token: u32, end: WriteEnd) -> i64 {
        let hwm = self.cx.config.write_high_water;
        let Some((slot, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return -1 };
        let (conn_slot, start) = (stream.conn, stream.write_start);
        if let ProtoStream::Fastcgi(request) = &stream.proto {
            fastcgi::encode::frame_in_place(conn.link.out.tail(), fastcgi::RecordType::Stdout, request.id, start);
        }
        stream.wrote |= conn.link.out.tail().len() > start;
        if end != WriteEnd::More {
            let end = StreamEnd::Complete { keep_conn: end == WriteEnd::KeepAlive };
            end_stream(conn, &mut self.streams, &mut self.cx, slot, end);
        }
        if !self.send(conn_slot) {
            return -1;
        }
        let queued = match self.conns.get(conn_slot) {
            Some(conn) => conn.link.out.queued(),
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
        let Some((_, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return false };
        let ProtoStream::Fastcgi(request) = &stream.proto else { return false };
        fastcgi::encode::stderr(conn.link.out.tail(), request.id, text);
        let conn_slot = stream.conn;
        let _ = self.send(conn_slot);
        true
    }

    /// Stops (`true`) or restarts reading the request body of `token`: JavaScript's
    /// input buffer is full, or has room again. On a FastCGI connection this stops
    /// reading for all its requests: their records share the socket.
    pub fn pause(&mut self, token: u32, paused: bool) {
        let Some((_, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return };
        let conn_slot = stream.conn;
        stream.paused = paused;
        if let ProtoStream::Http(request) = &mut stream.proto {
            if !paused && request.awaiting_continue {
                // The app wants the body of an `Expect: 100-continue` request: now ask for it.
                request.awaiting_continue = false;
                conn.link.out.tail().extend_from_slice(http::CONTINUE);
                self.cx.corked.mark(&mut conn.link);
                let _ = self.send(conn_slot);
            }
        }
        // The flush may have closed the connection.
        let Some(conn) = self.conns.get_mut(conn_slot) else { return };
        let in_length_body = conn.in_length_body();
        if refresh_paused(&mut conn.link, in_length_body, &self.streams, &mut self.cx) {
            self.update_interest(conn_slot);
        }
    }

    /// Ends the request `token` abnormally: JavaScript found it cannot complete the
    /// response (the app failed after headers were sent, or sent less than its
    /// Content-Length), and a clean end would pass a truncated body as complete. The
    /// connection is reset, unless other FastCGI requests share it: then this one alone
    /// ends, with `appStatus` 1.
    pub fn abort(&mut self, token: u32) {
        let Some((slot, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return };
        let conn_slot = stream.conn;
        stream.in_app = false;
        let shared = matches!(conn.proto, ProtoConn::Fastcgi(_)) && conn.link.streams.len() > 1;
        if !shared {
            self.close_conn(conn_slot, true, AbortReason::Internal);
            return;
        }
        end_stream(conn, &mut self.streams, &mut self.cx, slot, StreamEnd::Cut { app_status: 1 });
        self.cx.corked.mark(&mut conn.link);
        let _ = self.send(conn_slot);
    }

    /// The app answered 101 to the upgrade request `token` (HTTP, or uwsgi): the connection
    /// becomes a tunnel (`tunnel.rs`). Bytes already buffered after the request are the
    /// first tunnelled ones. `false` if it cannot: not an upgrade request, one whose body
    /// is still being read, or one on a connection on its way out.
    pub fn upgrade(&mut self, token: u32) -> bool {
        let Some((_, stream, conn)) = request(&mut self.streams, &mut self.conns, token) else { return false };
        let conn_slot = stream.conn;
        let Conn { link, proto } = conn;
        let switched = match proto {
            ProtoConn::Http(http) => http.upgrade(link, &mut self.cx.notices),
            ProtoConn::Uwsgi(uwsgi) => uwsgi.upgrade(link, &mut self.cx.notices),
            ProtoConn::Fastcgi(_) => false,
        };
        if !switched {
            return false;
        }
        self.refresh_deadline(conn_slot);
        self.update_interest(conn_slot);
        true
    }

    /// Output was queued on the connection in `slot`: during a batch it goes out with the
    /// batch's flush, otherwise now. `false` if the flush failed (the connection is closed).
    fn send(&mut self, slot: u32) -> bool {
        if !self.cx.notices.in_batch() {
            return self.flush_conn(slot).is_ok();
        }
        if let Some(conn) = self.conns.get_mut(slot) {
            self.cx.corked.mark(&mut conn.link);
        }
        true
    }
}

/// The live request `token`: its stream's slot, the stream and its connection.
fn request<'s, 'c>(
    streams: &'s mut Streams,
    conns: &'c mut Table<Conn>,
    token: u32,
) -> Option<(u32, &'s mut Stream, &'c mut Conn)> {
    let slot = streams.slot_of(token)?;
    let stream = streams.get_mut(slot)?;
    let conn = conns.get_mut(stream.conn)?;
    Some((slot, stream, conn))
}

/// The request in stream `slot` is over: JavaScript ended its response, or cut it
/// short. For FastCGI, `END_REQUEST` is queued. The connection closes once its output is
/// sent, unless it is kept alive for more requests.
pub(crate) fn end_stream(conn: &mut Conn, streams: &mut Streams, cx: &mut Cx, slot: u32, end: StreamEnd) {
    let Conn { link, proto } = conn;
    let Some((stream, keep_conn)) = take_stream(link, streams, cx, slot, end) else { return };
    match (&mut *proto, &stream.proto) {
        (ProtoConn::Fastcgi(fastcgi), ProtoStream::Fastcgi(request)) => {
            fastcgi.request_ended(link, request, end, keep_conn);
        }
        (ProtoConn::Http(http), _) => http.response_ended(link, cx, keep_conn),
        // uwsgi: one request per connection (and no other protocol has uwsgi requests).
        _ => link.closing = true,
    }
    if stream.paused {
        // It may have been the request that paused reading.
        let in_length_body = conn.in_length_body();
        refresh_paused(&mut conn.link, in_length_body, streams, cx);
    }
}

/// Takes the request in stream `slot` off `link` (a params decoder it holds goes back
/// to the pool). Returns it, and whether the connection carries another request after
/// it: JavaScript's word for a response it ended; for a request cut short or refused by
/// the reactor, the peer's (`FCGI_KEEP_CONN`; never for HTTP, whose cut response cannot be
/// followed). A graceful stop keeps no connection but HTTP's, whose response promised
/// keep-alive: it waits a moment for a next request, answered with `Connection: close`.
pub(crate) fn take_stream(
    link: &mut Link,
    streams: &mut Streams,
    cx: &mut Cx,
    slot: u32,
    end: StreamEnd,
) -> Option<(Stream, bool)> {
    let mut stream = streams.remove(slot)?;
    cx.scratch.decoders.recycle(&mut stream.proto);
    link.streams.retain(|&s| s != slot);
    let keep_conn = match end {
        StreamEnd::Complete { keep_conn } => keep_conn,
        StreamEnd::Cut { .. } => stream.proto.keeps_conn(),
    } && (!cx.draining || matches!(stream.proto, ProtoStream::Http(_)));
    Some((stream, keep_conn))
}

/// Recomputes whether `link` reads: not while any of its requests has asked to pause.
/// A body of known length (`in_length_body`) stops timing out while paused. Returns
/// `true` if that changed; the caller then updates the epoll interest.
pub(crate) fn refresh_paused(link: &mut Link, in_length_body: bool, streams: &Streams, cx: &mut Cx) -> bool {
    let paused = link.streams.iter().any(|&s| streams.get(s).is_some_and(|s| s.paused));
    if link.paused == paused {
        return false;
    }
    link.paused = paused;
    if in_length_body {
        link.deadline = if paused { 0 } else { sys::now_ms() + cx.config.socket_timeout_ms };
    }
    if !paused && !link.buffered.is_empty() {
        // Bytes read before the pause wait in the buffer: parse them now.
        cx.notices.retry(link.slot());
        cx.notices.ring();
    }
    true
}
