//! Requests as JavaScript knows them.
//!
//! A stream is one request on a connection: created when a uwsgi request is handed over
//! or a FastCGI `BEGIN_REQUEST` arrives, freed when its response ends or it is aborted.
//! Its token (slot and generation) is what the batch and `write` name, so a late write
//! for a finished request can never land in the next request on a kept-alive connection.

use tsgi_wire::fastcgi::ParamsDecoder;

use crate::table::Table;

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

/// All streams of a reactor, addressed by slot, named by token.
pub type Streams = Table<Stream>;

impl Stream {
    /// A new request on the connection in slot `conn`, named `token`.
    pub fn new(token: u32, conn: u32, id: u16, keep_conn: bool, phase: Phase) -> Self {
        Stream {
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
        }
    }
}
