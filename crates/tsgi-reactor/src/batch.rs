//! The batch: what one wake-up of the reactor hands to JavaScript in one call.
//!
//! Two buffers are shared with JavaScript for the life of the reactor: `arena` (bytes)
//! and `index` (u32 words). A batch fills both from the start; JavaScript reads them
//! during the call and copies what must outlive it. Each event in `index` starts with
//! its kind; the layout per kind (word offsets) is:
//!
//! | kind | words |
//! |---|---|
//! | [`REQUEST`] | `kind, token, protocol, nvars, content_length_lo, content_length_hi, flags, block_off, block_len`, then per var `key_id, key_off, key_len, value_off, value_len` (offsets into `arena`) |
//! | [`BODY`] | `kind, token, off, len` (bytes in `arena`) |
//! | [`BODY_END`] | `kind, token` |
//! | [`ABORT`] | `kind, token, reason` ([`AbortReason`]) |
//! | [`DRAIN`] | `kind, token` (the response queue emptied after a write reported it full) |
//! | [`LOG`] | `kind, level, off, len` (UTF-8 text in `arena`) |
//!
//! `src/native/batch.ts` reads the same layout; keep the two in step.
//!
//! An event is committed only once it is written whole, so a panic half-way through
//! writing one leaves the batch as it was before it.

use tsgi_wire::keys;
use tsgi_wire::uwsgi::Var;

/// A request head: vars, framing and flags.
pub const REQUEST: u32 = 1;
/// A piece of request body.
pub const BODY: u32 = 2;
/// The request body is complete.
pub const BODY_END: u32 = 3;
/// The request ended abnormally (peer gone, body cut short, timeout).
pub const ABORT: u32 = 4;
/// The response queue drained below its limit.
pub const DRAIN: u32 = 5;
/// A log line from the native side.
pub const LOG: u32 = 6;

/// Words before the vars in a [`REQUEST`] event.
pub const REQUEST_HEADER_WORDS: usize = 9;
/// Words per var in a [`REQUEST`] event.
pub const VAR_WORDS: usize = 5;
/// Words of a [`BODY`] event and the [`BODY_END`] after it: the room a request head keeps
/// behind it for the body that came with it.
pub(crate) const BODY_AND_END_WORDS: usize = 4 + 2;

/// `protocol` word of a [`REQUEST`]: uwsgi.
pub const PROTOCOL_UWSGI: u32 = 1;
/// `protocol` word of a [`REQUEST`]: FastCGI (the response is a CGI response: `Status:`).
pub const PROTOCOL_FASTCGI: u32 = 2;
/// `protocol` word of a [`REQUEST`]: HTTP/1.1 (the response is HTTP, framed by JavaScript).
pub const PROTOCOL_HTTP: u32 = 3;

/// `flags` bit: the body is already complete (no [`BODY`]/[`BODY_END`] events follow).
pub const FLAG_BODY_COMPLETE: u32 = 1;
/// `flags` bit: strip `SCRIPT_NAME` from the front of `PATH_INFO` (uwsgi modifier1 30).
pub const FLAG_MANAGE_PATH_INFO: u32 = 2;
/// `flags` bit: the peer allows another request on the connection after this one (HTTP
/// keep-alive, FastCGI `FCGI_KEEP_CONN`; never uwsgi). JavaScript decides whether the
/// connection stays open and says so with the response's last write
/// ([`crate::WriteEnd`]).
pub const FLAG_KEEP_ALIVE: u32 = 4;
/// `flags` bit: HTTP `Expect: 100-continue`: the body comes once JavaScript first unpauses.
pub const FLAG_AWAITING_CONTINUE: u32 = 8;
/// `flags` bit: an upgrade request (WebSocket handshake, CONNECT) over HTTP, or over uwsgi
/// without a body. If the app answers `101`, its input goes on as the client's raw bytes;
/// otherwise it ends empty.
pub const FLAG_UPGRADE: u32 = 16;

/// Why a request was aborted (the `reason` word of an [`ABORT`] event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AbortReason {
    /// The peer closed or reset the connection before the response was complete.
    PeerGone = 1,
    /// The peer closed before sending the whole body announced by `CONTENT_LENGTH`.
    BodyTruncated = 2,
    /// Nothing arrived, or nothing could be sent, for `socket-timeout` seconds.
    Timeout = 3,
    /// The native side failed internally (a caught panic) and closed the connection.
    Internal = 4,
}

/// Log levels of [`LOG`] events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    /// Something was refused or went wrong for one connection.
    Warn = 1,
    /// The reactor itself is in trouble (a caught panic, an accept failure).
    Error = 2,
}

/// One var of a [`REQUEST`] event, with offsets already relative to the arena.
#[derive(Debug, Clone, Copy)]
pub struct VarSpan {
    /// Known-key id, or 0.
    pub key_id: u16,
    /// Key offset in the arena.
    pub key_off: u32,
    /// Key length.
    pub key_len: u32,
    /// Value offset in the arena.
    pub value_off: u32,
    /// Value length.
    pub value_len: u32,
}

/// What a [`REQUEST`] event says besides its token and vars.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestHead<'a> {
    /// `PROTOCOL_*`.
    pub protocol: u32,
    /// The body length (`content_length_lo`, `_hi`).
    pub content_length: u64,
    /// `FLAG_*`.
    pub flags: u32,
    /// The vars block, which var offsets are relative to; copied into the arena.
    pub block: &'a [u8],
}

impl VarSpan {
    /// The span of a var as a codec parsed it (offsets into its block).
    fn of(var: &Var) -> VarSpan {
        VarSpan {
            key_id: var.key_id,
            key_off: var.key_offset,
            key_len: u32::from(var.key_len),
            value_off: var.value_offset,
            value_len: u32::from(var.value_len),
        }
    }
}

/// A batch being filled.
pub struct Batch<'a> {
    arena: &'a mut [u8],
    index: &'a mut [u32],
    arena_len: usize,
    index_len: usize,
}

impl<'a> Batch<'a> {
    /// An empty batch over the shared buffers.
    pub fn new(arena: &'a mut [u8], index: &'a mut [u32]) -> Self {
        Batch { arena, index, arena_len: 0, index_len: 0 }
    }

    /// Words of `index` used so far; JavaScript reads `index[0..words]`.
    pub fn words(&self) -> usize {
        self.index_len
    }

    /// `true` if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.index_len == 0
    }

    /// Arena bytes still free.
    pub fn arena_free(&self) -> usize {
        self.arena.len() - self.arena_len
    }

    /// `true` if an event of `words` words and `bytes` arena bytes fits.
    pub fn fits(&self, words: usize, bytes: usize) -> bool {
        self.index.len() - self.index_len >= words && self.arena_free() >= bytes
    }

    /// Appends a [`REQUEST`]: copies `block` into the arena and writes one var entry per
    /// item of `vars`, whose offsets are relative to `block`. Returns `false` (and adds
    /// nothing) if it does not fit.
    pub fn request(
        &mut self,
        token: u32,
        protocol: u32,
        content_length: u64,
        flags: u32,
        block: &[u8],
        vars: &[VarSpan],
    ) -> bool {
        let head = RequestHead { protocol, content_length, flags, block };
        self.write_request(token, head, vars.iter().copied(), (0, 0))
    }

    /// Appends a [`REQUEST`] for vars as a codec parsed them (offsets into `head.block`),
    /// leaving out the keys the app never sees ([`keys::is_dropped`]), if it fits with
    /// `room_after` (words, arena bytes) still free behind it for the events that must
    /// follow it in this batch. Returns `false` (and adds nothing) if not. This is how a
    /// request of every protocol enters the batch.
    pub(crate) fn request_vars(
        &mut self,
        token: u32,
        head: RequestHead,
        vars: &[Var],
        room_after: (usize, usize),
    ) -> bool {
        let spans = vars.iter().filter(|v| !keys::is_dropped(v.key_id)).map(VarSpan::of);
        self.write_request(token, head, spans, room_after)
    }

    fn write_request(
        &mut self,
        token: u32,
        head: RequestHead,
        vars: impl Iterator<Item = VarSpan> + Clone,
        (words_after, bytes_after): (usize, usize),
    ) -> bool {
        let count = vars.clone().count();
        let words = REQUEST_HEADER_WORDS + VAR_WORDS * count;
        let block = head.block;
        if !self.fits(words + words_after, block.len() + bytes_after) {
            return false;
        }
        let base = self.arena_len as u32;
        self.arena[self.arena_len..self.arena_len + block.len()].copy_from_slice(block);
        let i = self.index_len;
        let out = &mut self.index[i..i + words];
        out[..REQUEST_HEADER_WORDS].copy_from_slice(&[
            REQUEST,
            token,
            head.protocol,
            count as u32,
            head.content_length as u32,
            (head.content_length >> 32) as u32,
            head.flags,
            base,
            block.len() as u32,
        ]);
        for (slot, var) in out[REQUEST_HEADER_WORDS..].chunks_exact_mut(VAR_WORDS).zip(vars) {
            slot.copy_from_slice(&[
                u32::from(var.key_id),
                base + var.key_off,
                var.key_len,
                base + var.value_off,
                var.value_len,
            ]);
        }
        self.arena_len += block.len();
        self.index_len += words;
        true
    }

    /// Appends a [`BODY`] event with a copy of `data`.
    pub fn body(&mut self, token: u32, data: &[u8]) -> bool {
        if !self.fits(4, data.len()) {
            return false;
        }
        self.arena[self.arena_len..self.arena_len + data.len()].copy_from_slice(data);
        self.commit_body(token, data.len())
    }

    /// Free arena space to read body bytes into directly, at most `max` bytes; follow
    /// with [`Batch::commit_body`]. Empty if no [`BODY`] event fits.
    pub fn body_space(&mut self, max: usize) -> &mut [u8] {
        if !self.fits(4, 1) {
            return &mut [];
        }
        let end = self.arena.len().min(self.arena_len + max);
        &mut self.arena[self.arena_len..end]
    }

    /// Commits `len` bytes written into [`Batch::body_space`] as a [`BODY`] event.
    pub fn commit_body(&mut self, token: u32, len: usize) -> bool {
        if !self.fits(4, len) {
            return false;
        }
        let off = self.arena_len as u32;
        self.push(&[BODY, token, off, len as u32]);
        self.arena_len += len;
        true
    }

    /// Appends a [`BODY_END`].
    pub fn body_end(&mut self, token: u32) -> bool {
        self.push(&[BODY_END, token])
    }

    /// Appends an [`ABORT`].
    pub fn abort(&mut self, token: u32, reason: AbortReason) -> bool {
        self.push(&[ABORT, token, reason as u32])
    }

    /// Appends a [`DRAIN`].
    pub fn drain(&mut self, token: u32) -> bool {
        self.push(&[DRAIN, token])
    }

    /// Appends a [`LOG`] line.
    pub fn log(&mut self, level: Level, text: &str) -> bool {
        if !self.fits(4, text.len()) {
            return false;
        }
        let off = self.arena_len as u32;
        self.arena[self.arena_len..self.arena_len + text.len()].copy_from_slice(text.as_bytes());
        self.arena_len += text.len();
        self.push(&[LOG, level as u32, off, text.len() as u32])
    }

    fn push(&mut self, words: &[u32]) -> bool {
        if self.index.len() - self.index_len < words.len() {
            return false;
        }
        self.index[self.index_len..self.index_len + words.len()].copy_from_slice(words);
        self.index_len += words.len();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_laid_out_as_documented() {
        let mut arena = [0u8; 64];
        let mut index = [0u32; 64];
        let mut batch = Batch::new(&mut arena, &mut index);
        let var = VarSpan { key_id: 1, key_off: 2, key_len: 14, value_off: 18, value_len: 3 };
        assert!(batch.body(9, b"xy"));
        assert!(batch.request(7, PROTOCOL_UWSGI, 5, FLAG_BODY_COMPLETE, b"block", &[var]));
        assert!(batch.body_end(7));
        assert!(batch.abort(7, AbortReason::PeerGone));
        let words = batch.words();
        assert_eq!(&index[..4], &[BODY, 9, 0, 2]);
        assert_eq!(&index[4..13], &[REQUEST, 7, PROTOCOL_UWSGI, 1, 5, 0, FLAG_BODY_COMPLETE, 2, 5]);
        assert_eq!(&index[13..18], &[1, 4, 14, 20, 3]);
        assert_eq!(&index[18..words], &[BODY_END, 7, ABORT, 7, 1]);
        assert_eq!(&arena[..7], b"xyblock");
    }

    #[test]
    fn parsed_vars_go_in_without_the_dropped_keys_and_only_with_room_behind() {
        let mut arena = [0u8; 64];
        let mut index = [0u32; 64];
        let mut batch = Batch::new(&mut arena, &mut index);
        let var = |key: &[u8], key_offset: u32, value_offset: u32| Var {
            key_id: keys::lookup(key),
            key_offset,
            key_len: key.len() as u16,
            value_offset,
            value_len: 1,
        };
        // "REQUEST_METHODG" "HTTP_PROXYx": the second never reaches the app (httpoxy).
        let block = b"REQUEST_METHODGHTTP_PROXYx";
        let vars = [var(b"REQUEST_METHOD", 0, 14), var(b"HTTP_PROXY", 15, 25)];
        let head = RequestHead { protocol: PROTOCOL_HTTP, content_length: 0, flags: 0, block };
        assert!(!batch.request_vars(3, head, &vars, (64, 0)), "no room for what must follow");
        assert!(batch.is_empty());
        assert!(batch.request_vars(3, head, &vars, (BODY_AND_END_WORDS, 64 - block.len())));
        let words = batch.words();
        assert_eq!(words, REQUEST_HEADER_WORDS + VAR_WORDS);
        assert_eq!(
            &index[..words],
            &[REQUEST, 3, PROTOCOL_HTTP, 1, 0, 0, 0, 0, 26, keys::lookup(b"REQUEST_METHOD").into(), 0, 14, 14, 1]
        );
    }

    #[test]
    fn an_event_that_does_not_fit_adds_nothing() {
        let mut arena = [0u8; 4];
        let mut index = [0u32; 6];
        let mut batch = Batch::new(&mut arena, &mut index);
        assert!(!batch.body(1, b"too long"));
        assert!(!batch.request(1, PROTOCOL_UWSGI, 0, 0, b"", &[]));
        assert!(batch.is_empty());
        assert!(batch.body(1, b"abcd"));
        assert!(!batch.body(1, b"e"));
        assert_eq!(batch.words(), 4);
    }
}
