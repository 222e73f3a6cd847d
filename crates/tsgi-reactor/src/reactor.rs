//! The reactor: an epoll set of listeners and connections, polled without blocking.
//!
//! The binding registers [`Reactor::fd`] with Node's own event loop; when it becomes
//! readable, the binding calls [`Reactor::poll`], which accepts, reads and parses what is
//! ready and fills one [`Batch`] for JavaScript. Writes from JavaScript are queued per
//! connection; during a batch (`corked`) they are flushed together by
//! [`Reactor::flush_corked`] after JavaScript returns, otherwise at once.
//!
//! Events that arise outside a batch (a flush failing after JavaScript returned, a
//! queue draining) become notices, delivered in the next batch; if no batch is running,
//! an eventfd in the epoll set rings so that one comes.

use std::io;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tsgi_wire::fastcgi::ParamsDecoder;
use tsgi_wire::http;
use tsgi_wire::uwsgi;

use crate::config::Config;

use crate::accept::Listener;
use crate::batch::{AbortReason, Batch, Level, VarSpan};
use crate::conn::{Conn, ReadState};
use crate::notices::{Notice, Notices};
use crate::outbuf::Flushed;
use crate::stream::{Phase, Stream, Streams};
use crate::sys;
use crate::table::Table;
use crate::timers::Timer;

/// The most bytes read from one socket per poll: one busy upload cannot starve the others.
pub(crate) const READ_CHUNK: usize = 256 * 1024;
/// The most epoll events handled per poll, so Node's own loop gets its turn.
const EVENTS_PER_POLL: usize = 256;
/// Bytes after a complete request that are read and dropped before reading stops (U20).
pub(crate) const MAX_DISCARD: usize = 64 * 1024;

// What an epoll event is about: the top bits of its data word, the rest naming which.
pub(crate) const KIND_SHIFT: u32 = 62;
pub(crate) const KIND_CONN: u64 = 0;
pub(crate) const KIND_LISTENER: u64 = 1;
pub(crate) const KIND_TIMER: u64 = 2;
pub(crate) const KIND_WAKE: u64 = 3;

/// The wire protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The uwsgi binary protocol.
    Uwsgi,
    /// FastCGI 1.0, responder role.
    Fastcgi,
    /// HTTP/1.1, straight from clients or an HTTP proxy.
    Http,
}

impl Protocol {
    /// The name log lines start with.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Uwsgi => "uwsgi",
            Protocol::Fastcgi => "fastcgi",
            Protocol::Http => "http",
        }
    }
}

/// The socket loop of one worker.
pub struct Reactor {
    pub(crate) config: Config,
    pub(crate) epfd: RawFd,
    pub(crate) timer: Timer,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) conns: Table<Conn>,
    /// Connections accepted since the start.
    pub(crate) accepted: u64,
    /// Accepting stopped at `max-conns`.
    pub(crate) accept_paused: bool,
    /// A graceful stop is under way ([`Reactor::stop_listening`]): no connection is kept
    /// alive past its current request.
    pub(crate) draining: bool,
    pub(crate) streams: Streams,
    /// Spare FastCGI params decoders, so a request does not allocate one.
    #[allow(clippy::vec_box)] // boxes move between here and `Phase::Params` without a copy
    pub(crate) decoders: Vec<Box<ParamsDecoder>>,
    /// The vars of the HTTP head being parsed, reused.
    pub(crate) http_vars: http::HeadVars,
    pub(crate) scratch: Box<[u8]>,
    pub(crate) vars: Vec<uwsgi::Var>,
    pub(crate) spans: Vec<VarSpan>,
    pub(crate) notices: Notices,
    pub(crate) dirty: Vec<u32>,
    pub(crate) unregistered: Vec<u32>,
    pub(crate) events: Vec<libc::epoll_event>,
    #[cfg(test)]
    pub(crate) panic_on_request: bool,
}

impl Reactor {
    /// A reactor with no listeners.
    pub fn new(config: Config) -> io::Result<Reactor> {
        let epfd = sys::epoll_create()?;
        let timer = Timer::new(epfd, KIND_TIMER << KIND_SHIFT)?;
        let notices = Notices::new(epfd, KIND_WAKE << KIND_SHIFT)?;
        Ok(Reactor {
            config,
            epfd,
            timer,
            listeners: Vec::new(),
            conns: Table::default(),
            accepted: 0,
            accept_paused: false,
            draining: false,
            streams: Streams::default(),
            decoders: Vec::new(),
            http_vars: http::HeadVars::new(),
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            vars: Vec::with_capacity(64),
            spans: Vec::with_capacity(64),
            notices,
            dirty: Vec::new(),
            unregistered: Vec::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_POLL],
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
        for slot in self.notices.begin_batch() {
            self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
        }
        let n = match sys::epoll_wait_now(self.epfd, &mut self.events) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => {
                self.notices.log(Level::Error, format!("epoll_wait failed: {e}"));
                0
            }
        };
        for i in 0..n {
            let ev = self.events[i];
            let data = ev.u64;
            match data >> KIND_SHIFT {
                KIND_LISTENER => self.accept(data as usize & 0xffff, batch),
                KIND_TIMER => self.tick(),
                KIND_WAKE => self.notices.heard(),
                _ => self.on_conn_event(data as u32, ev.events, batch),
            }
        }
        self.notices.deliver(batch);
        self.notices.pending()
    }

    /// Sends what JavaScript queued during the batch, then leaves batch mode.
    pub fn flush_corked(&mut self) {
        for slot in std::mem::take(&mut self.dirty) {
            if let Some(conn) = self.conn_mut(slot) {
                conn.dirty = false;
                let _ = self.flush_conn(slot);
            }
        }
        self.notices.end_batch();
        for slot in std::mem::take(&mut self.unregistered) {
            if let Some(conn) = self.conn_mut(slot) {
                conn.unregistered = false;
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

    // ---- connections -------------------------------------------------------------

    /// The stream slot of the request with FastCGI id `id` (0: the uwsgi request) on the
    /// connection in `slot`.
    pub(crate) fn find_stream(&self, slot: u32, id: u16) -> Option<u32> {
        let conn = self.conn(slot)?;
        conn.streams.iter().copied().find(|&s| self.streams.get(s).is_some_and(|s| s.id == id))
    }

    /// A new stream on the connection in `conn_slot`; `None` (logged) if there is no room.
    pub(crate) fn open_stream(&mut self, conn_slot: u32, id: u16, keep_conn: bool, phase: Phase) -> Option<u32> {
        let Some(vacant) = self.streams.vacant() else {
            self.notices.log(Level::Error, "too many requests in one worker; connection closed".to_string());
            self.close_conn(conn_slot, true, AbortReason::Internal);
            return None;
        };
        let token = vacant.token();
        let slot = vacant.insert(Stream::new(token, conn_slot, id, keep_conn, phase));
        self.conn_mut(conn_slot).expect("caller checked").streams.push(slot);
        Some(slot)
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
            self.notices.log(Level::Error, format!("internal error on a connection, closed it: {what}"));
            self.close_conn(slot, true, AbortReason::Internal);
        }
    }

    /// Reads whatever the connection's state wants to read now.
    pub(crate) fn on_readable(&mut self, slot: u32, batch: &mut Batch) {
        #[cfg(test)]
        if self.panic_on_request {
            panic!("injected for a test");
        }
        match self.conn_mut(slot).map(|c| c.protocol) {
            Some(Protocol::Uwsgi) => self.uwsgi_readable(slot, batch),
            Some(Protocol::Fastcgi) => self.fastcgi_readable(slot, batch),
            Some(Protocol::Http) => self.http_readable(slot, batch),
            None => {}
        }
    }

    /// Reads and drops what the peer sends once its request is read (uwsgi, U20) or our
    /// answer is out (a refusal, a lingering close), watching for it to leave.
    pub(crate) fn drain_readable(&mut self, slot: u32) {
        let Some(conn) = self.conn_mut(slot) else { return };
        let fd = conn.fd;
        let mut scratch = std::mem::take(&mut self.scratch);
        match sys::read_some(fd, &mut scratch) {
            sys::Read::Data(n) => {
                let conn = self.conn_mut(slot).expect("checked above");
                conn.discarded += n;
                self.update_interest(slot);
            }
            // Done: the peer left (nginx closes the upstream when its client goes), so an
            // unfinished request is aborted. Refused, Linger: it has our answer.
            sys::Read::Eof => self.close_conn(slot, false, AbortReason::PeerGone),
            sys::Read::WouldBlock => {}
            sys::Read::Failed => self.close_conn(slot, true, AbortReason::PeerGone),
        }
        self.scratch = scratch;
    }

    /// Sends queued output. `Err` if the connection failed (and is now closed, its
    /// requests aborted); `Ok(false)` if it was closed because its last response is
    /// complete; `Ok(true)` if it is still open.
    pub(crate) fn flush_conn(&mut self, slot: u32) -> Result<bool, ()> {
        let timeout = self.config.socket_timeout_ms;
        let Some(conn) = self.conn_mut(slot) else { return Ok(false) };
        match conn.out.flush(conn.fd) {
            Ok(Flushed::All) => {
                for index in 0..conn.streams.len() {
                    let stream_slot = self.conns.get(slot).expect("checked above").streams[index];
                    let Some(stream) = self.streams.get_mut(stream_slot) else { continue };
                    if stream.want_drain {
                        stream.want_drain = false;
                        let token = stream.token;
                        self.notices.push(Notice::Drain(token));
                    }
                }
                let conn = self.conn_mut(slot).expect("checked above");
                if conn.closing {
                    return Ok(self.finish(slot));
                }
                self.refresh_deadline(slot);
                self.update_interest(slot);
                Ok(true)
            }
            Ok(Flushed::Partly) => {
                conn.deadline = sys::now_ms() + timeout;
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
        let linger = self.config.linger_ms;
        let Some(conn) = self.conn_mut(slot) else { return false };
        match conn.state {
            ReadState::Done => {
                self.close_conn(slot, false, AbortReason::PeerGone);
                false
            }
            ReadState::Linger { .. } => true,
            _ => {
                sys::shutdown_write(conn.fd);
                conn.state = ReadState::Linger { until: sys::now_ms() + linger };
                conn.paused = false;
                self.refresh_deadline(slot);
                self.update_interest(slot);
                true
            }
        }
    }

    // ---- time ----------------------------------------------------------------------
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.close();
        sys::close(self.epfd);
    }
}
