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

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use tsgi_wire::uwsgi;

use crate::batch::{AbortReason, Batch, Level, VarSpan};
use crate::conn::{Conn, ReadState};
use crate::listen::{self, Address};
use crate::outbuf::Flushed;
use crate::sys;

/// Settings of one reactor. Every limit is a server option; see `Config::default` for
/// the defaults and `src/config.ts` for the option names.
#[derive(Debug, Clone)]
pub struct Config {
    /// uwsgi parsing limits (`buffer-size`, `max-vars`, `limit-post`).
    pub uwsgi: uwsgi::Limits,
    /// `socket-timeout`: the head must arrive within it of the accept; the body and a
    /// stalled response may idle for at most this long. Milliseconds.
    pub socket_timeout_ms: u64,
    /// A write that leaves more than this queued asks JavaScript to wait for DRAIN.
    pub write_high_water: usize,
    /// How long a closing connection drains unread bytes, so the peer reads our
    /// response instead of a reset. Milliseconds.
    pub linger_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uwsgi: uwsgi::Limits::default(),
            socket_timeout_ms: 10_000,
            write_high_water: 256 * 1024,
            linger_ms: 5_000,
        }
    }
}

/// The most bytes read from one socket per poll: one busy upload cannot starve the others.
pub(crate) const READ_CHUNK: usize = 256 * 1024;
/// The most epoll events handled per poll, so Node's own loop gets its turn.
const EVENTS_PER_POLL: usize = 256;
/// The most connections accepted per listener per poll (fairness between workers that
/// share a listening socket).
const ACCEPTS_PER_POLL: usize = 64;
/// Bytes after a complete request that are read and dropped before reading stops (U20).
const MAX_DISCARD: usize = 64 * 1024;
/// Resolution of timeouts. The timer runs only while connections exist.
const TICK_MS: u64 = 100;
/// After EMFILE/ENFILE on accept, the listener rests this long instead of spinning.
const ACCEPT_BACKOFF_MS: u64 = 100;

const SLOT_BITS: u32 = 20;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const KIND_SHIFT: u32 = 62;
const KIND_CONN: u64 = 0;
const KIND_LISTENER: u64 = 1;
const KIND_TIMER: u64 = 2;
const KIND_WAKE: u64 = 3;

/// The wire protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The uwsgi binary protocol.
    Uwsgi,
}

struct Listener {
    fd: RawFd,
    /// Set while accepting rests after EMFILE; monotonic ms.
    resting_until: u64,
    /// The Unix socket file this reactor created, removed on close.
    unlink: Option<PathBuf>,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Something to tell JavaScript in the next batch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Notice {
    Abort(u32, AbortReason),
    Drain(u32),
    Log(Level, String),
}

/// The socket loop of one worker.
pub struct Reactor {
    pub(crate) config: Config,
    epfd: RawFd,
    timerfd: RawFd,
    wakefd: RawFd,
    timer_armed: bool,
    listeners: Vec<Listener>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    pub(crate) scratch: Box<[u8]>,
    pub(crate) vars: Vec<uwsgi::Var>,
    pub(crate) spans: Vec<VarSpan>,
    notices: VecDeque<Notice>,
    retry: Vec<u32>,
    dirty: Vec<u32>,
    unregistered: Vec<u32>,
    in_batch: bool,
    events: Vec<libc::epoll_event>,
    #[cfg(test)]
    pub(crate) panic_on_request: bool,
}

/// A listening address as bound.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    /// The address (with the real port for port 0).
    pub local: String,
}

impl Reactor {
    /// A reactor with no listeners.
    pub fn new(config: Config) -> io::Result<Reactor> {
        let epfd = sys::epoll_create()?;
        let timerfd = sys::timerfd_create()?;
        // SAFETY: plain syscall.
        let wakefd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wakefd < 0 {
            return Err(io::Error::last_os_error());
        }
        sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, timerfd, libc::EPOLLIN as u32, KIND_TIMER << KIND_SHIFT)?;
        sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, wakefd, libc::EPOLLIN as u32, KIND_WAKE << KIND_SHIFT)?;
        Ok(Reactor {
            config,
            epfd,
            timerfd,
            wakefd,
            timer_armed: false,
            listeners: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            vars: Vec::with_capacity(64),
            spans: Vec::with_capacity(64),
            notices: VecDeque::new(),
            retry: Vec::new(),
            dirty: Vec::new(),
            unregistered: Vec::new(),
            in_batch: false,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_POLL],
            #[cfg(test)]
            panic_on_request: false,
        })
    }

    /// The epoll fd: readable whenever [`Reactor::poll`] has work.
    pub fn fd(&self) -> RawFd {
        self.epfd
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.live
    }

    /// Binds `spec` (see [`Address::parse`]) and starts accepting on it.
    pub fn listen(&mut self, spec: &str, protocol: Protocol, backlog: u32, mode: u32) -> io::Result<ListenerInfo> {
        let address = Address::parse(spec)?;
        let bound = listen::bind(&address, backlog, mode)?;
        let unlink = match address {
            Address::Unix(path) => Some(path),
            Address::Tcp(_) => None,
        };
        self.add_listener(bound.fd, protocol, unlink)?;
        Ok(ListenerInfo { local: bound.local })
    }

    /// Starts accepting on a listening socket bound elsewhere (by the master process).
    pub fn adopt(&mut self, fd: RawFd, protocol: Protocol) -> io::Result<()> {
        // SAFETY: fcntl on an fd the caller hands over.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        self.add_listener(fd, protocol, None)
    }

    fn add_listener(&mut self, fd: RawFd, _protocol: Protocol, unlink: Option<PathBuf>) -> io::Result<()> {
        // Responses go out whole; Nagle would only delay the last segment of a streamed
        // one. Linux copies the option to every accepted socket, so it is set once here
        // (it fails harmlessly on Unix sockets).
        let _ = sys::set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        let data = (KIND_LISTENER << KIND_SHIFT) | self.listeners.len() as u64;
        if let Err(e) = sys::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, data) {
            sys::close(fd);
            return Err(e);
        }
        self.listeners.push(Listener { fd, resting_until: 0, unlink });
        Ok(())
    }

    /// Handles what is ready and fills `batch` for JavaScript. Returns `true` if work was
    /// left for another round right away (the batch filled up, or notices are waiting).
    /// Writes are queued ("corked") from here until [`Reactor::flush_corked`], which must
    /// follow every poll, after JavaScript has handled the batch.
    pub fn poll(&mut self, batch: &mut Batch) -> bool {
        self.in_batch = true;
        for slot in std::mem::take(&mut self.retry) {
            self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
        }
        let n = match sys::epoll_wait_now(self.epfd, &mut self.events) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => {
                self.log(Level::Error, format!("epoll_wait failed: {e}"));
                0
            }
        };
        for i in 0..n {
            let ev = self.events[i];
            let data = ev.u64;
            match data >> KIND_SHIFT {
                KIND_LISTENER => self.accept(data as usize & 0xffff, batch),
                KIND_TIMER => self.tick(),
                KIND_WAKE => {
                    let mut counter = [0u8; 8];
                    let _ = sys::read(self.wakefd, &mut counter);
                }
                _ => self.on_conn_event(data as u32, ev.events, batch),
            }
        }
        self.deliver_notices(batch);
        !self.retry.is_empty() || !self.notices.is_empty()
    }

    /// Sends what JavaScript queued during the batch, then leaves batch mode.
    pub fn flush_corked(&mut self) {
        for slot in std::mem::take(&mut self.dirty) {
            if let Some(conn) = self.conn_mut(slot) {
                conn.dirty = false;
                let _ = self.flush_conn(slot, true);
            }
        }
        self.in_batch = false;
        for slot in std::mem::take(&mut self.unregistered) {
            if let Some(conn) = self.conn_mut(slot) {
                conn.unregistered = false;
                self.update_interest(slot);
            }
        }
        if !self.notices.is_empty() {
            self.ring();
        }
    }

    /// The output queue of the request `token`, to append response bytes to; `None` if
    /// the request is gone (the peer left, or the response already ended).
    pub fn output(&mut self, token: u32) -> Option<&mut Vec<u8>> {
        self.conn_by_token(token).filter(|c| !c.ended).map(|c| c.out.tail())
    }

    /// Call after appending to [`Reactor::output`]: flushes unless corked, ends the
    /// response if `end`. Returns the bytes still queued, or -1 if the request is gone
    /// (JavaScript then treats it as aborted; no ABORT event follows).
    pub fn commit_write(&mut self, token: u32, end: bool) -> i64 {
        let hwm = self.config.write_high_water;
        let in_batch = self.in_batch;
        let slot = token & SLOT_MASK;
        let Some(conn) = self.conn_by_token(token) else { return -1 };
        if conn.ended {
            return -1;
        }
        if end {
            conn.ended = true;
            conn.in_app = false;
        }
        if in_batch {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        } else if self.flush_conn(slot, false).is_err() {
            return -1;
        }
        match self.conn_mut(slot) {
            Some(conn) => {
                let queued = conn.out.queued();
                if queued > hwm && !conn.ended {
                    conn.want_drain = true;
                }
                queued as i64
            }
            // Ended and fully flushed: the connection is already closed.
            None => 0,
        }
    }

    /// Stops (`true`) or restarts reading the request body of `token`: JavaScript's
    /// input buffer is full, or has room again.
    pub fn pause(&mut self, token: u32, paused: bool) {
        let slot = token & SLOT_MASK;
        let timeout = self.config.socket_timeout_ms;
        if let Some(conn) = self.conn_by_token(token) {
            if conn.paused != paused {
                conn.paused = paused;
                if let ReadState::Body { .. } = conn.state {
                    conn.deadline = if paused { 0 } else { sys::now_ms() + timeout };
                }
                self.update_interest(slot);
            }
        }
    }

    /// Ends the request `token` abortively (RST): JavaScript found it cannot complete
    /// the response (the app failed after headers were sent, or sent less than its
    /// Content-Length), and a clean close would pass a truncated body as complete.
    pub fn abort(&mut self, token: u32) {
        let slot = token & SLOT_MASK;
        if let Some(conn) = self.conn_by_token(token) {
            conn.in_app = false;
            self.close_conn(slot, true, AbortReason::Internal);
        }
    }

    /// Closes every listener: new connections are refused, open ones go on (a graceful
    /// shutdown). Unix socket files this reactor created are removed.
    pub fn stop_listening(&mut self) {
        for listener in self.listeners.drain(..) {
            sys::close(listener.fd);
            if let Some(path) = listener.unlink {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Closes every listener and connection.
    pub fn close(&mut self) {
        self.stop_listening();
        for slot in 0..self.slots.len() as u32 {
            if self.slots[slot as usize].conn.is_some() {
                self.close_conn(slot, true, AbortReason::PeerGone);
            }
        }
    }

    // ---- connections -------------------------------------------------------------

    pub(crate) fn conn_mut(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots.get_mut(slot as usize).and_then(|s| s.conn.as_mut())
    }

    fn conn_by_token(&mut self, token: u32) -> Option<&mut Conn> {
        self.conn_mut(token & SLOT_MASK).filter(|c| c.token == token)
    }

    fn accept(&mut self, index: usize, batch: &mut Batch) {
        let Some(listener) = self.listeners.get(index) else { return };
        let fd = listener.fd;
        for _ in 0..ACCEPTS_PER_POLL {
            match sys::accept(fd) {
                Ok(conn_fd) => {
                    // A proxy writes its request as soon as it is connected, so it is
                    // usually there already: read it now rather than after an epoll round.
                    if let Some(slot) = self.add_conn(conn_fd) {
                        self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                    // Out of file descriptors: rest instead of spinning on a listener
                    // that stays readable (waitress GHSA-3f84-rpwh-47g6 is the spin).
                    let _ = sys::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, 0, 0);
                    self.listeners[index].resting_until = sys::now_ms() + ACCEPT_BACKOFF_MS;
                    self.arm_timer(true);
                    self.log(Level::Error, format!("accept: {e}; not accepting for {ACCEPT_BACKOFF_MS} ms (raise the fd limit, ulimit -n)"));
                    return;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNABORTED) | Some(libc::EINTR) | Some(libc::EPROTO)) => continue,
                Err(e) => {
                    self.log(Level::Error, format!("accept: {e}"));
                    return;
                }
            }
        }
    }

    fn add_conn(&mut self, fd: RawFd) -> Option<u32> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.slots.len() < SLOT_MASK as usize => {
                self.slots.push(Slot::default());
                self.slots.len() as u32 - 1
            }
            None => {
                sys::close(fd);
                self.log(Level::Error, "too many connections in one worker; connection refused".to_string());
                return None;
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        let token = ((entry.generation & 0xfff) << SLOT_BITS) | slot;
        let now = sys::now_ms();
        let mut conn = Conn::new(fd, token, now);
        conn.deadline = now + self.config.socket_timeout_ms;
        entry.conn = Some(conn);
        self.live += 1;
        self.arm_timer(true);
        self.update_interest(slot);
        Some(slot)
    }

    /// The epoll interest a connection needs in its current state.
    pub(crate) fn update_interest(&mut self, slot: u32) {
        let epfd = self.epfd;
        let in_batch = self.in_batch;
        let Some(conn) = self.conn_mut(slot) else { return };
        let reading = match conn.state {
            ReadState::Body { .. } => !conn.paused,
            ReadState::Done => conn.discarded < MAX_DISCARD,
            _ => true,
        };
        let mut want = 0u32;
        if reading {
            want |= (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        }
        if conn.out.queued() > 0 {
            want |= libc::EPOLLOUT as u32;
        }
        if want == conn.interest {
            return;
        }
        if conn.interest == 0 && want != 0 && in_batch {
            // Not in the epoll set yet: a connection answered within this batch closes
            // before it ever needs to be, which saves an epoll_ctl per request. Those
            // still open when the batch ends are added by `flush_corked`.
            if !conn.unregistered {
                conn.unregistered = true;
                self.unregistered.push(slot);
            }
            return;
        }
        let data = (KIND_CONN << KIND_SHIFT) | u64::from(conn.token);
        let op = if conn.interest == 0 { libc::EPOLL_CTL_ADD } else { libc::EPOLL_CTL_MOD };
        let result = if want == 0 {
            sys::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, conn.fd, 0, 0)
        } else {
            sys::epoll_ctl(epfd, op, conn.fd, want, data)
        };
        if result.is_ok() {
            conn.interest = want;
        }
    }

    fn on_conn_event(&mut self, token: u32, events: u32, batch: &mut Batch) {
        let slot = token & SLOT_MASK;
        if self.conn_by_token(token).is_none() {
            return; // closed earlier in this round; the slot may hold a newer connection
        }
        if events & libc::EPOLLOUT as u32 != 0 && self.flush_conn(slot, true) != Ok(true) {
            return;
        }
        if events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
            self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
        }
    }

    /// Runs `f` for one connection so that a panic costs that connection only: it is
    /// logged, the connection reset, and the request (if any) aborted. A panic must never
    /// unwind into Node.
    fn guarded(&mut self, slot: u32, batch: &mut Batch, f: impl FnOnce(&mut Reactor, &mut Batch)) {
        let outcome = catch_unwind(AssertUnwindSafe(|| f(self, batch)));
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            self.log(Level::Error, format!("internal error on a connection, closed it: {what}"));
            self.close_conn(slot, true, AbortReason::Internal);
        }
    }

    /// Reads whatever the connection's state wants to read now.
    fn on_readable(&mut self, slot: u32, batch: &mut Batch) {
        #[cfg(test)]
        if self.panic_on_request {
            panic!("injected for a test");
        }
        self.uwsgi_readable(slot, batch);
    }

    /// Sends queued output. `Err` if the connection failed (and is now closed); `Ok(false)`
    /// if it was closed because the response is complete; `Ok(true)` if it is still open.
    /// `in_poll` says whether a failure is to be reported as an ABORT notice (a write from
    /// JavaScript outside a batch learns it from the return value instead).
    pub(crate) fn flush_conn(&mut self, slot: u32, in_poll: bool) -> Result<bool, ()> {
        let timeout = self.config.socket_timeout_ms;
        let Some(conn) = self.conn_mut(slot) else { return Ok(false) };
        match conn.out.flush(conn.fd) {
            Ok(Flushed::All) => {
                if conn.want_drain {
                    conn.want_drain = false;
                    let token = conn.token;
                    self.push_notice(Notice::Drain(token));
                }
                let conn = self.conn_mut(slot).expect("checked above");
                if conn.ended {
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
                if !in_poll {
                    conn.in_app = false;
                }
                self.close_conn(slot, true, AbortReason::PeerGone);
                Err(())
            }
        }
    }

    /// The response is fully sent: close now if the request was read to its end, or
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

    /// Sets the deadline the connection's state calls for.
    pub(crate) fn refresh_deadline(&mut self, slot: u32) {
        let timeout = self.config.socket_timeout_ms;
        let Some(conn) = self.conn_mut(slot) else { return };
        conn.deadline = match conn.state {
            ReadState::Head | ReadState::DiscardVars { .. } => conn.accepted_at + timeout,
            ReadState::Linger { until } => until,
            ReadState::Body { .. } if !conn.paused => sys::now_ms() + timeout,
            _ if conn.out.queued() > 0 => sys::now_ms() + timeout,
            _ => 0,
        };
    }

    /// Closes a connection. If its request is with JavaScript and unfinished, an ABORT
    /// with `reason` is queued. `reset` sends RST instead of FIN.
    pub(crate) fn close_conn(&mut self, slot: u32, reset: bool, reason: AbortReason) {
        let Some(conn) = self.slots.get_mut(slot as usize).and_then(|s| s.conn.take()) else { return };
        if reset {
            sys::set_linger_zero(conn.fd);
        }
        sys::close(conn.fd); // also removes it from the epoll set
        self.free.push(slot);
        self.live -= 1;
        if conn.in_app {
            self.push_notice(Notice::Abort(conn.token, reason));
        }
    }

    // ---- time ----------------------------------------------------------------------

    fn arm_timer(&mut self, on: bool) {
        let on = on || self.listeners.iter().any(|l| l.resting_until != 0);
        if on != self.timer_armed && sys::timerfd_set_interval(self.timerfd, if on { TICK_MS } else { 0 }).is_ok() {
            self.timer_armed = on;
        }
    }

    fn tick(&mut self) {
        let mut expirations = [0u8; 8];
        let _ = sys::read(self.timerfd, &mut expirations);
        if self.live == 0 {
            // Disarmed here rather than when the last connection closes, so a busy
            // server whose connection count touches 0 does not re-arm it per request.
            self.arm_timer(false);
        }
        let now = sys::now_ms();
        for index in 0..self.listeners.len() {
            let listener = &mut self.listeners[index];
            if listener.resting_until != 0 && listener.resting_until <= now {
                listener.resting_until = 0;
                let data = (KIND_LISTENER << KIND_SHIFT) | index as u64;
                let _ = sys::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, listener.fd, libc::EPOLLIN as u32, data);
            }
        }
        let timeout_s = self.config.socket_timeout_ms as f64 / 1000.0;
        for slot in 0..self.slots.len() as u32 {
            let Some(conn) = self.conn_mut(slot) else { continue };
            if conn.deadline == 0 || conn.deadline > now {
                continue;
            }
            match conn.state {
                ReadState::Head | ReadState::DiscardVars { .. } => {
                    let got = conn.head.len();
                    if got > 0 {
                        self.log(Level::Warn, format!("uwsgi: no complete request head within socket-timeout {timeout_s} s ({got} bytes received); closed (raise --socket-timeout)"));
                    }
                    self.close_conn(slot, false, AbortReason::Timeout);
                }
                ReadState::Linger { .. } => self.close_conn(slot, false, AbortReason::Timeout),
                ReadState::Body { remaining } => {
                    self.log(Level::Warn, format!("uwsgi: request body stalled for socket-timeout {timeout_s} s with {remaining} bytes missing; aborted (raise --socket-timeout)"));
                    self.close_conn(slot, true, AbortReason::Timeout);
                }
                ReadState::Refused => self.close_conn(slot, false, AbortReason::Timeout),
                ReadState::Done => {
                    self.log(Level::Warn, format!("uwsgi: peer read nothing of the response for socket-timeout {timeout_s} s; aborted (raise --socket-timeout)"));
                    self.close_conn(slot, true, AbortReason::Timeout);
                }
            }
        }
    }

    // ---- notices ---------------------------------------------------------------------

    pub(crate) fn log(&mut self, level: Level, text: String) {
        self.push_notice(Notice::Log(level, text));
    }

    fn push_notice(&mut self, notice: Notice) {
        self.notices.push_back(notice);
        if !self.in_batch {
            self.ring();
        }
    }

    fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our eventfd.
        unsafe { libc::write(self.wakefd, one.as_ptr().cast(), 8) };
    }

    fn deliver_notices(&mut self, batch: &mut Batch) {
        while let Some(notice) = self.notices.front() {
            let fits = match notice {
                Notice::Abort(token, reason) => batch.abort(*token, *reason),
                Notice::Drain(token) => batch.drain(*token),
                Notice::Log(level, text) => batch.log(*level, text),
            };
            if !fits {
                if batch.is_empty() {
                    // Too long for an empty batch: only a log line can be. Print it here.
                    if let Some(Notice::Log(_, text)) = self.notices.pop_front() {
                        eprintln!("tsgi: {text}");
                    }
                    continue;
                }
                return;
            }
            self.notices.pop_front();
        }
    }

    /// A connection whose request did not fit in this batch is read again first thing
    /// in the next one.
    pub(crate) fn retry_later(&mut self, slot: u32) {
        if !self.retry.contains(&slot) {
            self.retry.push(slot);
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.close();
        sys::close(self.timerfd);
        sys::close(self.wakefd);
        sys::close(self.epfd);
    }
}
