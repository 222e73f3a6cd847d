//! The HTTP/1.1 side of a connection: heads, bodies, keep-alive and pipelining.
//!
//! The codec (`tsgi_wire::http`) says what the bytes mean; this module drives one
//! connection through its requests, one at a time: a head is handed to JavaScript, its body
//! streamed (Content-Length or chunked), and bytes that arrive meanwhile (pipelined
//! requests) wait in the connection's buffer until the response has ended, so responses go
//! out in request order. Anything the codec refuses gets a static response and a close,
//! and nothing after it is ever parsed.
//!
//! The response bytes are JavaScript's (status line, `Date`, framing, chunk sizes); the
//! reactor only learns when a response ends and whether the connection stays open.

use std::net::SocketAddr;

use tsgi_wire::http::{self, BodyFraming, Head};
use tsgi_wire::keys;
use tsgi_wire::Status;

use crate::batch::{self, AbortReason, Batch, Level, VarSpan};
use crate::conn::ReadState;
use crate::reactor::Reactor;
use crate::refusal;
use crate::stream::Phase;
use crate::sys::{self, read_some, Read};

/// Bytes of pipelined requests buffered while a response is pending; past it, reading
/// stops until the response ends.
pub(crate) const MAX_PIPELINED: usize = 64 * 1024;

/// `100 Continue`, sent before the body of a request that asked for it.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The socket addresses of an HTTP connection, for the vars a proxy would otherwise send.
pub struct Addresses {
    /// The client.
    pub peer: Option<SocketAddr>,
    /// Our end.
    pub local: Option<SocketAddr>,
}

impl Addresses {
    /// Both ends of `fd` (`None` each for a Unix socket).
    pub fn of(fd: i32) -> Self {
        Addresses { peer: sys::socket_addr(fd, true), local: sys::socket_addr(fd, false) }
    }
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

impl Reactor {
    pub(crate) fn http_readable(&mut self, slot: u32, batch: &mut Batch) {
        let Some(conn) = self.conn_mut(slot) else { return };
        match conn.state {
            ReadState::Refused | ReadState::Linger { .. } => return self.drain_readable(slot),
            ReadState::Body { .. } | ReadState::Chunked | ReadState::Tunnel { .. } if conn.paused => return,
            ReadState::Tunnel { eof: true } => return,
            ReadState::Done if conn.head.len() >= MAX_PIPELINED => return,
            _ => {}
        }
        let fd = conn.fd;
        let mut scratch = std::mem::take(&mut self.scratch);
        let read = read_some(fd, &mut scratch);
        if let Read::Data(n) = read {
            let conn = self.conn_mut(slot).expect("checked above");
            if conn.idle {
                // The next request began: from now its head has socket-timeout to arrive.
                conn.idle = false;
                conn.accepted_at = sys::now_ms();
            }
            conn.head.extend_from_slice(&scratch[..n]);
        }
        self.scratch = scratch;
        match read {
            Read::Data(_) => self.http_process(slot, batch),
            Read::Eof => self.http_eof(slot),
            // Woken for bytes already buffered (pipelined, or before a pause or an upgrade).
            Read::WouldBlock => self.http_process(slot, batch),
            Read::Failed => self.close_conn(slot, true, AbortReason::PeerGone),
        }
    }

    fn http_eof(&mut self, slot: u32) {
        let Some(conn) = self.conn_mut(slot) else { return };
        let (state, pending) = (conn.state, conn.head.len());
        let reason = match state {
            ReadState::Head if pending > 0 => {
                self.notices.log(
                    Level::Warn,
                    format!("http: peer closed inside a request head ({pending} bytes received); closed"),
                );
                AbortReason::PeerGone
            }
            ReadState::Body { remaining } => {
                self.notices.log(
                    Level::Warn,
                    format!("http: peer closed with {remaining} body bytes missing; request aborted"),
                );
                AbortReason::BodyTruncated
            }
            ReadState::Chunked => {
                self.notices.log(Level::Warn, "http: peer closed inside a chunked body; request aborted".to_string());
                AbortReason::BodyTruncated
            }
            ReadState::Tunnel { .. } => {
                // The client is done sending; the app may still be.
                if let Some(token) = self.http_token(slot) {
                    self.notices.push(crate::notices::Notice::BodyEnd(token));
                    let conn = self.conn_mut(slot).expect("checked above");
                    conn.state = ReadState::Tunnel { eof: true };
                    self.update_interest(slot);
                    return;
                }
                AbortReason::PeerGone
            }
            _ => AbortReason::PeerGone,
        };
        self.close_conn(slot, false, reason);
    }

    /// Handles what is buffered: a head, body bytes, or nothing while a response is pending.
    pub(crate) fn http_process(&mut self, slot: u32, batch: &mut Batch) {
        loop {
            let Some(conn) = self.conn_mut(slot) else { return };
            let progressed = match conn.state {
                ReadState::Head if !conn.head.is_empty() => self.http_head(slot, batch),
                ReadState::Body { remaining } if !conn.head.is_empty() => self.http_body(slot, remaining, batch),
                ReadState::Chunked if !conn.head.is_empty() => self.http_chunks(slot, batch),
                ReadState::Tunnel { .. } if !conn.head.is_empty() => self.http_tunnel(slot, batch),
                _ => false,
            };
            if !progressed {
                break;
            }
        }
        self.refresh_deadline(slot);
        self.update_interest(slot);
    }

    /// Parses a head from the buffer and hands the request over. `true` if it did.
    fn http_head(&mut self, slot: u32, batch: &mut Batch) -> bool {
        let limits = self.config.http;
        let mut vars = std::mem::take(&mut self.http_vars);
        let conn = self.conn_mut(slot).expect("caller checked");
        let parsed = http::parse_head(&conn.head, &limits, &mut vars);
        let delivered = match parsed {
            Ok(Status::Partial) => false,
            Ok(Status::Complete(head)) => self.http_deliver(slot, head, &mut vars, batch),
            Err(error) => {
                let status = error.status();
                self.notices.log(Level::Warn, format!("http: {error}; answered {status}"));
                self.answer(slot, &refusal::http(status));
                false
            }
        };
        self.http_vars = vars;
        delivered
    }

    fn http_deliver(&mut self, slot: u32, head: Head, vars: &mut http::HeadVars, batch: &mut Batch) -> bool {
        self.add_socket_vars(slot, &head, vars);
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.extend(vars.vars.iter().filter(|v| !keys::is_dropped(v.key_id)).map(|v| VarSpan {
            key_id: v.key_id,
            key_off: v.key_offset,
            key_len: u32::from(v.key_len),
            value_off: v.value_offset,
            value_len: u32::from(v.value_len),
        }));
        let words = batch::REQUEST_HEADER_WORDS + batch::VAR_WORDS * spans.len() + 4 + 2;
        if !batch.fits(words, vars.block.len()) {
            self.spans = spans;
            if batch.is_empty() {
                self.notices.log(Level::Error, "http: batch buffers smaller than one request head; closed".to_string());
                self.close_conn(slot, true, AbortReason::Internal);
            } else {
                self.notices.retry(slot);
            }
            return false;
        }
        // After an upgrade request the client may already speak the new protocol: no next
        // request is parsed, whatever the answer. A draining worker keeps no connection.
        let keep_alive = head.keep_alive && !head.upgrade && !self.draining;
        // Whether the connection stays open is JavaScript's decision, on its last write.
        let Some(stream) = self.open_stream(slot, 0, false, Phase::Complete) else {
            self.spans = spans;
            return false;
        };
        let stream = self.streams.get_mut(stream).expect("just opened");
        stream.in_app = true;
        let token = stream.token;
        let (length, next) = match head.body {
            BodyFraming::None | BodyFraming::Length(0) => (0, ReadState::Done),
            BodyFraming::Length(n) => (n, ReadState::Body { remaining: n }),
            BodyFraming::Chunked => (0, ReadState::Chunked),
        };
        let awaiting_continue = head.expect_continue && next != ReadState::Done;
        if awaiting_continue {
            // The body is not read (nor asked for) until the app wants it.
            stream.awaiting_continue = true;
            stream.paused = true;
        }
        let mut flags = 0;
        if head.upgrade {
            flags |= batch::FLAG_UPGRADE;
        }
        if awaiting_continue {
            flags |= batch::FLAG_AWAITING_CONTINUE;
        }
        // An upgrade request's input stays open: it may go on as the tunnel.
        if next == ReadState::Done && !head.upgrade {
            flags |= batch::FLAG_BODY_COMPLETE;
        }
        if keep_alive {
            flags |= batch::FLAG_KEEP_ALIVE;
        }
        batch.request(token, batch::PROTOCOL_HTTP, length, flags, &vars.block, &spans);
        self.spans = spans;
        let limits = self.config.http;
        let request_timeout = self.config.request_timeout_ms;
        let conn = self.conn_mut(slot).expect("caller checked");
        if next == ReadState::Chunked {
            match conn.chunked.as_mut() {
                Some(decoder) => decoder.reset(),
                None => conn.chunked = Some(Box::new(http::ChunkedDecoder::new(&limits))),
            }
        }
        conn.head.drain(..head.len);
        conn.state = next;
        conn.request_deadline = if next == ReadState::Done { 0 } else { conn.accepted_at + request_timeout };
        conn.paused |= awaiting_continue;
        true
    }

    /// REMOTE_ADDR/PORT from the socket; SERVER_NAME/PORT from the host the client asked
    /// for, else our end of the socket.
    fn add_socket_vars(&mut self, slot: u32, head: &Head, vars: &mut http::HeadVars) {
        let Some(conn) = self.conn_mut(slot) else { return };
        let addresses = conn.addresses.as_deref();
        let peer = addresses.and_then(|a| a.peer);
        let local = addresses.and_then(|a| a.local);
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

    /// Streams Content-Length body bytes from the buffer.
    fn http_body(&mut self, slot: u32, remaining: u64, batch: &mut Batch) -> bool {
        let Some(token) = self.http_token(slot) else {
            return self.http_discard_body(slot, remaining);
        };
        let conn = self.conn_mut(slot).expect("caller checked");
        let take = (conn.head.len() as u64).min(remaining) as usize;
        if !batch.fits(4 + 2, take) {
            self.notices.retry(slot);
            return false;
        }
        batch.body(token, &conn.head[..take]);
        conn.head.drain(..take);
        let remaining = remaining - take as u64;
        if remaining == 0 {
            batch.body_end(token);
            conn.state = ReadState::Done;
            conn.request_deadline = 0;
        } else {
            conn.state = ReadState::Body { remaining };
        }
        true
    }

    /// The response ended before the body was read: the rest is dropped as it comes.
    fn http_discard_body(&mut self, slot: u32, remaining: u64) -> bool {
        let conn = self.conn_mut(slot).expect("caller checked");
        let take = (conn.head.len() as u64).min(remaining) as usize;
        conn.head.drain(..take);
        let remaining = remaining - take as u64;
        conn.state = if remaining == 0 { ReadState::Done } else { ReadState::Body { remaining } };
        if remaining == 0 {
            self.http_next(slot);
        }
        take > 0
    }

    /// Decodes chunked body bytes from the buffer.
    fn http_chunks(&mut self, slot: u32, batch: &mut Batch) -> bool {
        let token = self.http_token(slot);
        let conn = self.conn_mut(slot).expect("caller checked");
        let mut decoder = conn.chunked.take().expect("set with the Chunked state");
        let mut pending = std::mem::take(&mut conn.head);
        let mut used = 0;
        let mut outcome = Ok(false);
        while used < pending.len() {
            if token.is_some() && !batch.fits(4 + 2, pending.len() - used) {
                // Whatever this decode finds must fit: decoding cannot be undone.
                self.notices.retry(slot);
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
        pending.drain(..used);
        let Some(conn) = self.conn_mut(slot) else { return false };
        conn.head = pending;
        match outcome {
            Ok(true) => {
                conn.chunked = Some(decoder);
                conn.state = ReadState::Done;
                conn.request_deadline = 0;
                if token.is_none() {
                    self.http_next(slot);
                }
                true
            }
            Ok(false) => {
                conn.chunked = Some(decoder);
                false
            }
            Err(error) => {
                let status = error.status();
                self.notices.log(Level::Warn, format!("http: {error}; request aborted"));
                self.http_fail(slot, status);
                false
            }
        }
    }

    /// Hands tunnelled bytes to the app as they are.
    fn http_tunnel(&mut self, slot: u32, batch: &mut Batch) -> bool {
        let Some(token) = self.http_token(slot) else {
            self.conn_mut(slot).expect("caller checked").head.clear();
            return false;
        };
        let conn = self.conn_mut(slot).expect("caller checked");
        if !batch.fits(4, conn.head.len()) {
            self.notices.retry(slot);
            return false;
        }
        batch.body(token, &conn.head);
        conn.head.clear();
        false
    }

    /// The body cannot be read on: the request is aborted; the client gets `status` if
    /// nothing of the response went out yet, else a reset.
    pub(crate) fn http_fail(&mut self, slot: u32, status: u16) {
        let Some(stream_slot) = self.find_stream(slot, 0) else {
            self.answer(slot, b""); // the response already ended: close after it, never a second one
            return;
        };
        let stream = self.streams.get_mut(stream_slot).expect("found");
        let (token, wrote) = (stream.token, stream.wrote);
        stream.in_app = false;
        self.notices.push(crate::notices::Notice::Abort(token, AbortReason::BodyTruncated));
        if wrote {
            self.close_conn(slot, true, AbortReason::BodyTruncated);
            return;
        }
        self.streams.remove(stream_slot);
        self.conn_mut(slot).expect("found").streams.clear();
        self.answer(slot, &refusal::http(status));
    }

    /// The token of the request JavaScript has on this connection, if its response has not
    /// ended.
    fn http_token(&self, slot: u32) -> Option<u32> {
        self.find_stream(slot, 0).and_then(|s| self.streams.get(s)).map(|s| s.token)
    }

    /// The response ended: a kept-alive connection goes back to reading heads once the
    /// request is read whole (pipelined ones waiting in the buffer are parsed in the next
    /// poll); otherwise it closes after the response.
    pub(crate) fn http_response_ended(&mut self, slot: u32, keep_alive: bool) {
        let Some(conn) = self.conn_mut(slot) else { return };
        if !keep_alive {
            conn.closing = true;
            return;
        }
        if conn.state == ReadState::Done {
            self.http_next(slot);
        }
        // Still reading the body: it is dropped as it comes (http_discard_body), then next.
    }

    /// Starts waiting for the next request on a kept-alive connection.
    fn http_next(&mut self, slot: u32) {
        let Some(conn) = self.conn_mut(slot) else { return };
        if !conn.streams.is_empty() || conn.closing {
            return; // the response has not ended yet, or the connection is closing
        }
        conn.state = ReadState::Head;
        conn.request_deadline = 0;
        conn.accepted_at = sys::now_ms();
        conn.idle = conn.head.is_empty();
        if !conn.head.is_empty() {
            self.notices.retry(slot);
            self.notices.ring();
        }
        self.refresh_deadline(slot);
        self.update_interest(slot);
    }
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
