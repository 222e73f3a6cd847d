//! Requests as JavaScript knows them.
//!
//! A stream is one request on a connection: created when a uwsgi or HTTP request is handed
//! over or a FastCGI `BEGIN_REQUEST` arrives, freed when its response ends or it is
//! aborted. Its token (slot and generation) is what the batch and `write` name, so a late
//! write for a finished request can never land in the next request on a kept-alive
//! connection. What every request has is here; what one protocol keeps about a request is
//! its [`ProtoStream`], defined in that protocol's file.

use crate::batch::Level;
use crate::conn::Link;
use crate::fastcgi::FastcgiStream;
use crate::http::HttpStream;
use crate::notices::Notices;
use crate::table::Table;

/// One request.
pub(crate) struct Stream {
    /// Slot and generation.
    pub token: u32,
    /// The connection's slot.
    pub conn: u32,
    /// JavaScript has the request and its response has not ended: an abort must be
    /// reported if the connection goes.
    pub in_app: bool,
    /// JavaScript asked to stop reading the body (its input buffer is full).
    pub paused: bool,
    /// A write left the connection's queue over its high-water mark; report DRAIN.
    pub want_drain: bool,
    /// Response bytes were queued: a refusal can no longer be sent in their place.
    pub wrote: bool,
    /// Where the write in progress starts in the connection's queue (FastCGI frames it
    /// into STDOUT records when it is committed).
    pub write_start: usize,
    /// What the request's protocol keeps about it.
    pub proto: ProtoStream,
}

/// What one protocol keeps about a request.
pub(crate) enum ProtoStream {
    /// uwsgi keeps nothing per request: the connection's state is the request's.
    Uwsgi,
    /// A FastCGI request: its id, `FCGI_KEEP_CONN`, where its input is.
    Fastcgi(FastcgiStream),
    /// An HTTP request: whether it waits for `100 Continue`.
    Http(HttpStream),
}

impl ProtoStream {
    /// The peer asked to keep the connection after this request (FastCGI
    /// `FCGI_KEEP_CONN`): what decides when the reactor, not JavaScript, ends it.
    pub fn keeps_conn(&self) -> bool {
        matches!(self, ProtoStream::Fastcgi(request) if request.keep_conn)
    }
}

/// All streams of a reactor, addressed by slot, named by token.
pub(crate) type Streams = Table<Stream>;

/// Why a request was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unopened {
    /// It could not be handed over (no room in the batch); nothing changed.
    NoRoom,
    /// The worker carries 2^20 - 1 requests already (logged); the caller resets the
    /// connection.
    TooMany,
}

/// Opens a request on `link` if `hand_over(token)`, given the token it will have, says it
/// went into the batch: a new stream, in the link's list. The token is known before the
/// stream exists, so a request that does not fit leaves no trace.
pub(crate) fn open<'s>(
    streams: &'s mut Streams,
    link: &mut Link,
    notices: &mut Notices,
    proto: ProtoStream,
    hand_over: impl FnOnce(u32) -> bool,
) -> Result<&'s mut Stream, Unopened> {
    let Some(vacant) = streams.vacant() else {
        notices.log(Level::Error, "too many requests in one worker; connection closed".to_string());
        return Err(Unopened::TooMany);
    };
    let token = vacant.token();
    if !hand_over(token) {
        return Err(Unopened::NoRoom);
    }
    let stream = Stream {
        token,
        conn: link.slot(),
        in_app: false,
        paused: false,
        want_drain: false,
        wrote: false,
        write_start: 0,
        proto,
    };
    let (slot, stream) = vacant.insert(stream);
    link.streams.push(slot);
    Ok(stream)
}
