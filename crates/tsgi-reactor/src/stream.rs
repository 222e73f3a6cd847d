//! Requests as JavaScript knows them.
//!
//! A stream is one request on a connection: created when a uwsgi request is handed over
//! or a FastCGI `BEGIN_REQUEST` arrives, freed when its response ends or it is aborted.
//! Its token (slot and generation) is what the batch and `write` name, so a late write
//! for a finished request can never land in the next request on a kept-alive connection.

use tsgi_wire::fastcgi::ParamsDecoder;

const SLOT_BITS: u32 = 20;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;

/// Where a FastCGI request's input is (uwsgi keeps this in the connection's state).
pub enum Phase {
    /// Reading the PARAMS stream.
    Params(Box<ParamsDecoder>),
    /// Reading the STDIN stream.
    Stdin {
        /// Body bytes still expected; with `until_end`, still allowed by `limit-post`.
        remaining: u64,
        /// No `CONTENT_LENGTH` (or an empty one, which is what nginx sends for a chunked
        /// body it does not buffer): the body is whatever STDIN carries until its end.
        until_end: bool,
    },
    /// All input arrived (the empty STDIN record, or the whole uwsgi body).
    Complete,
}

/// One request.
pub struct Stream {
    /// Slot and generation.
    pub token: u32,
    /// The connection's slot.
    pub conn: u32,
    /// FastCGI request id; 0 for uwsgi.
    pub id: u16,
    /// FastCGI: `FCGI_KEEP_CONN` was set.
    pub keep_conn: bool,
    /// Input state (FastCGI).
    pub phase: Phase,
    /// JavaScript has the request and its response has not ended: an abort must be
    /// reported if the connection goes.
    pub in_app: bool,
    /// JavaScript asked to stop reading the body (its input buffer is full).
    pub paused: bool,
    /// A write left the connection's queue over its high-water mark; report DRAIN.
    pub want_drain: bool,
    /// Response bytes were queued: a refusal can no longer be sent in their place.
    pub wrote: bool,
    /// HTTP `Expect: 100-continue`: the client waits for `100 Continue`, sent when the app
    /// first wants the body (its first unpause); until then the body is not read.
    pub awaiting_continue: bool,
    /// Where the write in progress starts in the connection's queue (FastCGI frames it
    /// into STDOUT records when it is committed).
    pub write_start: usize,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    stream: Option<Stream>,
}

/// All streams of a reactor, addressed by token.
#[derive(Default)]
pub struct Streams {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Streams {
    /// A new stream for the connection in slot `conn`; `None` when 2^20 are live.
    pub fn open(&mut self, conn: u32, id: u16, keep_conn: bool, phase: Phase) -> Option<u32> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.slots.len() < SLOT_MASK as usize => {
                self.slots.push(Slot::default());
                self.slots.len() as u32 - 1
            }
            None => return None,
        };
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        let token = ((entry.generation & 0xfff) << SLOT_BITS) | slot;
        entry.stream = Some(Stream {
            token,
            conn,
            id,
            keep_conn,
            phase,
            in_app: false,
            paused: false,
            want_drain: false,
            wrote: false,
            awaiting_continue: false,
            write_start: 0,
        });
        Some(slot)
    }

    /// The stream in `slot`.
    pub fn get(&self, slot: u32) -> Option<&Stream> {
        self.slots.get(slot as usize).and_then(|s| s.stream.as_ref())
    }

    /// The stream in `slot`, to change.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Stream> {
        self.slots.get_mut(slot as usize).and_then(|s| s.stream.as_mut())
    }

    /// The slot of the live stream `token`.
    pub fn slot_of(&self, token: u32) -> Option<u32> {
        let slot = token & SLOT_MASK;
        self.get(slot).filter(|s| s.token == token).map(|_| slot)
    }

    /// Frees `slot`, returning the stream.
    pub fn close(&mut self, slot: u32) -> Option<Stream> {
        let stream = self.slots.get_mut(slot as usize)?.stream.take()?;
        self.free.push(slot);
        Some(stream)
    }
}
