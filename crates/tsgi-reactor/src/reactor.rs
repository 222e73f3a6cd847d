//! The reactor: an epoll set of listeners and connections, polled without blocking.
//!
//! The binding registers [`Reactor::fd`] with Node's own event loop; when it becomes
//! readable, the binding calls [`Reactor::poll`], which accepts, reads and parses what is
//! ready and fills one [`Batch`] for JavaScript. Writes from JavaScript are queued per
//! connection; during a batch (`corked`) they are flushed together by
//! [`Reactor::flush_corked`] after JavaScript returns, otherwise at once.
//!
//! This file keeps the struct and that loop. Each role has its own file: accepting
//! (`accept.rs`), the connection table (`conns.rs`), timeouts (`timers.rs`), notices to
//! JavaScript (`notices.rs`), the write API (`write.rs`), and one file per protocol whose
//! handlers answer [`Next`] for the connection they were given; [`Reactor::apply`] is the
//! one place that acts on it.

use std::io;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tsgi_wire::http;
use tsgi_wire::uwsgi;

use crate::accept::Accepting;
use crate::batch::{AbortReason, Batch, Level};
use crate::config::Config;
use crate::conn::{Conn, Link, Next, Stage};
use crate::fastcgi::Decoders;
use crate::notices::{Notice, Notices};
use crate::outbuf::Flushed;
use crate::stream::Streams;
use crate::sys;
use crate::table::Table;
use crate::timers::Timer;

/// The most epoll events handled per poll, so Node's own loop gets its turn.
const EVENTS_PER_POLL: usize = 256;
/// The most bytes one read takes into [`Scratch::read`].
const READ_BUFFER: usize = 64 * 1024;

// What an epoll event is about: the top bits of its data word, the rest naming which.
pub(crate) const KIND_SHIFT: u32 = 62;
pub(crate) const KIND_CONN: u64 = 0;
pub(crate) const KIND_LISTENER: u64 = 1;
pub(crate) const KIND_TIMER: u64 = 2;
pub(crate) const KIND_WAKE: u64 = 3;

/// The socket loop of one worker.
pub struct Reactor {
    pub(crate) epfd: RawFd,
    pub(crate) events: Vec<libc::epoll_event>,
    /// Every open connection, by slot.
    pub(crate) conns: Table<Conn>,
    /// Every request JavaScript may write to, by slot.
    pub(crate) streams: Streams,
    /// What protocol handlers use besides their connection and the streams.
    pub(crate) cx: Cx,
    pub(crate) timer: Timer,
    pub(crate) accept: Accepting,
    /// Connections to add to the epoll set when the batch ends, unless they close first.
    pub(crate) unregistered: Vec<u32>,
    #[cfg(test)]
    pub(crate) panic_on_request: bool,
}

/// The parts of the reactor a protocol handler may use besides its own connection (and
/// the stream table, given beside it so a handler can hold a request and these at once).
pub(crate) struct Cx {
    /// The settings.
    pub config: Config,
    /// Notices for the next batch, and the connections to read again in it.
    pub notices: Notices,
    /// Buffers reused from one read or parse to the next.
    pub scratch: Scratch,
    /// Connections with output queued during this batch.
    pub corked: Corked,
    /// A graceful stop is under way ([`Reactor::stop_listening`]): no connection is kept
    /// alive past its current request.
    pub draining: bool,
}

impl Cx {
    /// Queues bytes the reactor sends itself on `link`; they go out with the batch's flush.
    pub fn reply(&mut self, link: &mut Link, write: impl FnOnce(&mut Vec<u8>)) {
        write(link.out.tail());
        self.corked.mark(link);
    }

    /// The batch has no room for what a connection must hand over: it waits for the next
    /// batch, unless this one is empty. The binding sizes its buffers for several maximal
    /// requests, so an empty batch without room means a misconfigured binding: the
    /// connection is reset, with `why` logged, rather than retried forever.
    pub fn no_room(&mut self, batch: &Batch, why: &str) -> Next {
        if !batch.is_empty() {
            return Next::Retry;
        }
        self.notices.log(Level::Error, why.to_string());
        Next::reset(AbortReason::Internal)
    }
}

/// Buffers reused from one read or parse to the next, so a request allocates none.
pub(crate) struct Scratch {
    /// Where a read lands before it is parsed or dropped.
    pub read: Box<[u8]>,
    /// The vars of the uwsgi head being parsed.
    pub uwsgi_vars: Vec<uwsgi::Var>,
    /// The vars of the HTTP head being parsed.
    pub http_vars: http::HeadVars,
    /// Spare FastCGI params decoders.
    pub decoders: Decoders,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            read: vec![0u8; READ_BUFFER].into_boxed_slice(),
            uwsgi_vars: Vec::with_capacity(64),
            http_vars: http::HeadVars::new(),
            decoders: Decoders::default(),
        }
    }

    /// After a panic: a handler may have taken the read buffer out (to parse from it
    /// while holding the rest of `Cx`) and not put it back. Reading into an empty buffer
    /// returns 0, which reads as every peer's end, so it is replaced.
    fn recover(&mut self) {
        if self.read.is_empty() {
            self.read = vec![0u8; READ_BUFFER].into_boxed_slice();
        }
    }
}

/// Connections with output queued during a batch, flushed together when it ends.
#[derive(Default)]
pub(crate) struct Corked(Vec<u32>);

impl Corked {
    /// Queues `link` for the flush after the batch (once).
    pub fn mark(&mut self, link: &mut Link) {
        if !link.dirty {
            link.dirty = true;
            self.0.push(link.slot());
        }
    }
}

impl Reactor {
    /// A reactor with no listeners.
    pub fn new(config: Config) -> io::Result<Reactor> {
        let epfd = sys::epoll_create()?;
        let timer = Timer::new(epfd, KIND_TIMER << KIND_SHIFT)?;
        let notices = Notices::new(epfd, KIND_WAKE << KIND_SHIFT)?;
        Ok(Reactor {
            epfd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_POLL],
            conns: Table::default(),
            streams: Streams::default(),
            cx: Cx { config, notices, scratch: Scratch::new(), corked: Corked::default(), draining: false },
            timer,
            accept: Accepting::default(),
            unregistered: Vec::new(),
            #[cfg(test)]
            panic_on_request: false,
        })
    }

    /// The epoll fd: readable whenever [`Reactor::poll`] has work.
    pub fn fd(&self) -> RawFd {
        self.epfd
    }

    /// Handles what is ready and fills `batch` for JavaScript. Returns `true` if work was
    /// left for another round right away (the batch filled up, or notices are waiting).
    /// Writes are queued ("corked") from here until [`Reactor::flush_corked`], which must
    /// follow every poll, after JavaScript has handled the batch.
    pub fn poll(&mut self, batch: &mut Batch) -> bool {
        for slot in self.cx.notices.begin_batch() {
            self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
        }
        self.accept_ready(batch);
        let n = match sys::epoll_wait_now(self.epfd, &mut self.events) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => {
                self.cx.notices.log(Level::Error, format!("epoll_wait failed: {e}"));
                0
            }
        };
        for i in 0..n {
            let ev = self.events[i];
            let data = ev.u64;
            match data >> KIND_SHIFT {
                KIND_LISTENER => self.accept(data as usize & 0xffff, batch),
                KIND_TIMER => self.tick(),
                KIND_WAKE => self.cx.notices.heard(),
                _ => self.on_conn_event(data as u32, ev.events, batch),
            }
        }
        self.cx.notices.deliver(batch);
        self.cx.notices.pending()
    }

    /// Sends what JavaScript queued during the batch, then leaves batch mode.
    pub fn flush_corked(&mut self) {
        for slot in std::mem::take(&mut self.cx.corked.0) {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.link.dirty = false;
                let _ = self.flush_conn(slot);
            }
        }
        self.cx.notices.end_batch();
        for slot in std::mem::take(&mut self.unregistered) {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.link.unregistered = false;
                self.update_interest(slot);
            }
        }
    }

    /// Closes every listener and connection.
    pub fn close(&mut self) {
        self.stop_listening();
        for slot in 0..self.conns.slots() {
            self.close_conn(slot, true, AbortReason::PeerGone);
        }
    }

    fn on_conn_event(&mut self, token: u32, events: u32, batch: &mut Batch) {
        let Some(slot) = self.conns.slot_of(token) else {
            return; // closed earlier in this round; the slot may hold a newer connection
        };
        if events & libc::EPOLLOUT as u32 != 0 && self.flush_conn(slot) != Ok(true) {
            return;
        }
        if events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
            self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
        }
    }

    /// Runs `f` for one connection so that a panic costs that connection only: it is
    /// logged, the connection reset, and its requests aborted. A panic must never unwind
    /// into Node.
    pub(crate) fn guarded(&mut self, slot: u32, batch: &mut Batch, f: impl FnOnce(&mut Reactor, &mut Batch)) {
        let outcome = catch_unwind(AssertUnwindSafe(|| f(self, batch)));
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            self.cx.notices.log(Level::Error, format!("internal error on a connection, closed it: {what}"));
            self.cx.scratch.recover();
            self.close_conn(slot, true, AbortReason::Internal);
        }
    }

    /// Reads whatever the connection's state wants to read now.
    pub(crate) fn on_readable(&mut self, slot: u32, batch: &mut Batch) {
        #[cfg(test)]
        if self.panic_on_request {
            panic!("injected for a test");
        }
        let Some(conn) = self.conns.get_mut(slot) else { return };
        let next = conn.readable(&mut self.streams, &mut self.cx, batch);
        self.apply(slot, next);
    }

    /// Does what a protocol handler answered for the connection in `slot`.
    pub(crate) fn apply(&mut self, slot: u32, next: Next) {
        match next {
            Next::Wait => self.update_interest(slot),
            Next::Go => {
                self.refresh_deadline(slot);
                self.update_interest(slot);
            }
            Next::Retry => {
                self.cx.notices.retry(slot);
                self.refresh_deadline(slot);
                self.update_interest(slot);
            }
            Next::Answer(response) => self.answer(slot, &response),
            Next::Close { reset, reason } => self.close_conn(slot, reset, reason),
        }
    }

    /// Answers from the reactor itself (a refusal, a pong), then closes with a lingering
    /// close; the app never sees the request.
    fn answer(&mut self, slot: u32, response: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else { return };
        conn.link.out.tail().extend_from_slice(response);
        conn.link.closing = true;
        conn.link.stage = Stage::Refused;
        let _ = self.flush_conn(slot);
    }

    /// Sends queued output. `Err` if the connection failed (and is now closed, its
    /// requests aborted); `Ok(false)` if it was closed because its last response is
    /// complete; `Ok(true)` if it is still open.
    pub(crate) fn flush_conn(&mut self, slot: u32) -> Result<bool, ()> {
        let timeout = self.cx.config.socket_timeout_ms;
        let Some(conn) = self.conns.get_mut(slot) else { return Ok(false) };
        let link = &mut conn.link;
        match link.out.flush(link.fd) {
            Ok(Flushed::All) => {
                for &stream_slot in &link.streams {
                    let Some(stream) = self.streams.get_mut(stream_slot) else { continue };
                    if stream.want_drain {
                        stream.want_drain = false;
                        self.cx.notices.push(Notice::Drain(stream.token));
                    }
                }
                if link.closing {
                    return Ok(self.finish(slot));
                }
                self.refresh_deadline(slot);
                self.update_interest(slot);
                Ok(true)
            }
            Ok(Flushed::Partly) => {
                link.deadline = sys::now_ms() + timeout;
                self.update_interest(slot);
                Ok(true)
            }
            Err(_) => {
                self.close_conn(slot, true, AbortReason::PeerGone);
                Err(())
            }
        }
    }

    /// The last response is fully sent: close now if the request was read to its end, or
    /// shut our side and drain the rest (lingering close). Returns `false` if closed.
    fn finish(&mut self, slot: u32) -> bool {
        let linger = self.cx.config.linger_ms;
        let Some(conn) = self.conns.get_mut(slot) else { return false };
        if conn.read_whole() {
            self.close_conn(slot, false, AbortReason::PeerGone);
            return false;
        }
        let link = &mut conn.link;
        if let Stage::Linger { .. } = link.stage {
            return true;
        }
        sys::shutdown_write(link.fd);
        link.stage = Stage::Linger { until: sys::now_ms() + linger };
        link.paused = false;
        self.refresh_deadline(slot);
        self.update_interest(slot);
        true
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.close();
        sys::close(self.epfd);
    }
}
