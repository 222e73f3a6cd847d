//! The read side of a uwsgi connection: head, body, and what comes after.
//!
//! The codec (`tsgi_wire::uwsgi`) says what the bytes mean; this module decides what to
//! do about it (reliability.md §2.1): hand the request to JavaScript, stream the body,
//! refuse with a static response and a lingering close, or close at once.

use tsgi_wire::keys;
use tsgi_wire::uwsgi::{self, Error};

use crate::batch::{self, AbortReason, Batch, Level, VarSpan};
use crate::conn::ReadState;
use crate::reactor::Reactor;
use crate::refusal;
use crate::stream::Phase;
use crate::sys::{read_some as read, Read};

/// The answer to a ping: the header of a pong (modifier1 100, datasize 0, modifier2 1).
const PONG: [u8; 4] = [uwsgi::MODIFIER_PING, 0, 0, 1];

impl Reactor {
    pub(crate) fn uwsgi_readable(&mut self, slot: u32, batch: &mut Batch) {
        let Some(conn) = self.conn_mut(slot) else { return };
        let fd = conn.fd;
        match conn.state {
            ReadState::Head => {
                let mut scratch = std::mem::take(&mut self.scratch);
                match read(fd, &mut scratch) {
                    Read::Data(n) => self.feed_head(slot, &scratch[..n], batch),
                    Read::Eof => self.eof_in_head(slot),
                    Read::WouldBlock => {}
                    Read::Failed => self.close_conn(slot, true, AbortReason::PeerGone),
                }
                self.scratch = scratch;
            }
            ReadState::DiscardVars { remaining, error } => {
                let mut scratch = std::mem::take(&mut self.scratch);
                let want = remaining.min(scratch.len());
                match read(fd, &mut scratch[..want]) {
                    Read::Data(n) if n == remaining => self.refuse(slot, error),
                    Read::Data(n) => {
                        let conn = self.conn_mut(slot).expect("checked above");
                        conn.state = ReadState::DiscardVars { remaining: remaining - n, error };
                    }
                    Read::Eof => self.eof_in_head(slot),
                    Read::WouldBlock => {}
                    Read::Failed => self.close_conn(slot, true, AbortReason::PeerGone),
                }
                self.scratch = scratch;
            }
            ReadState::Body { remaining } => {
                if conn.paused {
                    return;
                }
                // None once the response ended early: the rest of the body is read and dropped.
                let token = self.find_stream(slot, 0).and_then(|s| self.streams.get(s)).map(|s| s.token);
                let max = remaining.min(crate::reactor::READ_CHUNK as u64) as usize;
                let space = batch.body_space(max);
                if space.is_empty() {
                    self.notices.retry(slot);
                    return;
                }
                match read(fd, space) {
                    Read::Data(n) => {
                        if let Some(token) = token {
                            batch.commit_body(token, n);
                        }
                        let remaining = remaining - n as u64;
                        let conn = self.conn_mut(slot).expect("checked above");
                        if remaining == 0 {
                            conn.state = ReadState::Done;
                            if let Some(token) = token {
                                batch.body_end(token);
                            }
                            if conn.closing && conn.out.queued() == 0 {
                                // The response went out before the body was read whole.
                                self.close_conn(slot, false, AbortReason::PeerGone);
                                return;
                            }
                        } else {
                            conn.state = ReadState::Body { remaining };
                        }
                        self.refresh_deadline(slot);
                        self.update_interest(slot);
                    }
                    Read::Eof => {
                        self.notices.log(
                            Level::Warn,
                            format!("uwsgi: peer closed with {remaining} body bytes missing; request aborted"),
                        );
                        self.close_conn(slot, false, AbortReason::BodyTruncated);
                    }
                    Read::WouldBlock => {}
                    Read::Failed => self.close_conn(slot, true, AbortReason::PeerGone),
                }
            }
            ReadState::Done
            | ReadState::Refused
            | ReadState::Linger { .. }
            | ReadState::Records
            | ReadState::Chunked
            | ReadState::Tunnel { .. } => self.drain_readable(slot),
        }
    }

    fn eof_in_head(&mut self, slot: u32) {
        let Some(conn) = self.conn_mut(slot) else { return };
        // A peer that connects and leaves without a byte (a health check, a port scan)
        // is not worth a log line; one that leaves mid-head is (U1, U2).
        let error = match conn.state {
            ReadState::DiscardVars { .. } => Some(Error::TruncatedVars),
            _ if conn.head.is_empty() => None,
            _ if conn.head.len() < uwsgi::HEADER_LEN => Some(Error::TruncatedHeader),
            _ => Some(Error::TruncatedVars),
        };
        if let Some(error) = error {
            let got = conn.head.len();
            self.notices.log(Level::Warn, format!("uwsgi: {error} (peer closed after {got} bytes); closed"));
        }
        self.close_conn(slot, false, AbortReason::PeerGone);
    }

    /// Takes newly read head bytes.
    fn feed_head(&mut self, slot: u32, input: &[u8], batch: &mut Batch) {
        let limits = self.config.uwsgi;
        let conn = self.conn_mut(slot).expect("caller checked");
        let mut head = std::mem::take(&mut conn.head);
        let buffered = !head.is_empty();
        if buffered {
            head.extend_from_slice(input);
        }
        let buf: &[u8] = if buffered { &head } else { input };
        let mut vars = std::mem::take(&mut self.vars);
        let parsed = uwsgi::parse_request(buf, &limits, &mut vars);
        match parsed {
            Ok(tsgi_wire::Status::Partial) => {
                if !buffered {
                    head.extend_from_slice(input);
                }
                self.conn_mut(slot).expect("caller checked").head = head;
            }
            Ok(tsgi_wire::Status::Complete((header, _, _))) if header.modifier1 == uwsgi::MODIFIER_PING => {
                self.answer(slot, &PONG);
            }
            Ok(tsgi_wire::Status::Complete((header, info, consumed))) => {
                if self.deliver(slot, buf, &vars, header, info, consumed, batch) {
                    head.clear();
                } else if !buffered {
                    head.extend_from_slice(input);
                }
                if let Some(conn) = self.conn_mut(slot) {
                    conn.head = head;
                }
            }
            Err(Error::VarsTooLarge { size, limit }) => {
                let already = buf.len().saturating_sub(uwsgi::HEADER_LEN);
                let error = Error::VarsTooLarge { size, limit };
                if already >= usize::from(size) {
                    self.refuse(slot, error);
                } else {
                    let conn = self.conn_mut(slot).expect("caller checked");
                    conn.state = ReadState::DiscardVars { remaining: usize::from(size) - already, error };
                }
            }
            Err(error) if error.status().is_some() => self.refuse(slot, error),
            Err(error) => {
                self.notices.log(Level::Warn, format!("uwsgi: {error}; closed"));
                self.close_conn(slot, false, AbortReason::PeerGone);
            }
        }
        self.vars = vars;
    }

    /// Hands a complete head (and any body bytes that came with it) to JavaScript.
    /// Returns `false` if the batch has no room; the bytes stay buffered for the next.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        slot: u32,
        buf: &[u8],
        vars: &[uwsgi::Var],
        header: uwsgi::Header,
        info: uwsgi::RequestInfo,
        consumed: usize,
        batch: &mut Batch,
    ) -> bool {
        let block = &buf[uwsgi::HEADER_LEN..consumed];
        let after = &buf[consumed..];
        let body_now = (after.len() as u64).min(info.content_length) as usize;
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.extend(vars.iter().filter(|v| !keys::is_dropped(v.key_id)).map(|v| VarSpan {
            key_id: v.key_id,
            key_off: v.key_offset,
            key_len: u32::from(v.key_len),
            value_off: v.value_offset,
            value_len: u32::from(v.value_len),
        }));
        let words = batch::REQUEST_HEADER_WORDS + batch::VAR_WORDS * spans.len() + 4 + 2;
        if !batch.fits(words, block.len() + body_now) {
            self.spans = spans;
            if batch.is_empty() {
                // The binding sizes its buffers for several maximal heads, so this means a
                // misconfigured binding; fail the connection rather than retry forever.
                self.notices
                    .log(Level::Error, "uwsgi: batch buffers smaller than one request head; closed".to_string());
                self.close_conn(slot, true, AbortReason::Internal);
            } else {
                self.notices.retry(slot);
            }
            return false;
        }
        let Some(stream) = self.open_stream(slot, 0, false, Phase::Complete) else { return true };
        let stream = self.streams.get_mut(stream).expect("just opened");
        stream.in_app = true;
        let token = stream.token;
        let conn = self.conn_mut(slot).expect("caller checked");
        let mut flags = 0;
        if info.content_length == 0 {
            flags |= batch::FLAG_BODY_COMPLETE;
        }
        if header.modifier1 == uwsgi::MODIFIER_MANAGE_PATH_INFO {
            flags |= batch::FLAG_MANAGE_PATH_INFO;
        }
        batch.request(token, batch::PROTOCOL_UWSGI, info.content_length, flags, block, &spans);
        let remaining = info.content_length - body_now as u64;
        if body_now > 0 {
            batch.body(token, &after[..body_now]);
        }
        if info.content_length > 0 && remaining == 0 {
            batch.body_end(token);
        }
        conn.discarded = after.len() - body_now;
        conn.state = if remaining > 0 { ReadState::Body { remaining } } else { ReadState::Done };
        self.spans = spans;
        self.refresh_deadline(slot);
        self.update_interest(slot);
        true
    }

    /// Refuses the request with the static response for `error`, logged once, then
    /// closes with a lingering close.
    fn refuse(&mut self, slot: u32, error: Error) {
        let status = error.status().unwrap_or(400);
        self.notices.log(Level::Warn, format!("uwsgi: {error}; answered {status}"));
        self.answer(slot, &refusal::http(status));
    }

    /// Answers from the reactor itself (a refusal, a pong), then closes with a lingering
    /// close; the app never sees the request.
    pub(crate) fn answer(&mut self, slot: u32, response: &[u8]) {
        let Some(conn) = self.conn_mut(slot) else { return };
        conn.out.tail().extend_from_slice(response);
        conn.closing = true;
        conn.state = ReadState::Refused;
        let _ = self.flush_conn(slot);
    }
}
