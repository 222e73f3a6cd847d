//! Accepting: the listening sockets, and when the reactor takes new connections.
//!
//! Listeners are bound here ([`Reactor::listen`]) or inherited from the master
//! ([`Reactor::adopt`]) and sit in the epoll set. Each poll accepts at most
//! [`ACCEPTS_PER_POLL`] per listener, so workers sharing a socket share its connections.
//! At `max-conns` the listeners leave the epoll set and new connections wait in the
//! kernel's queue (or go to another worker) until one closes; after EMFILE a listener
//! rests instead of spinning. A graceful stop ([`Reactor::stop_listening`]) closes them.
//!
//! Where a listener waits. Alone, in the reactor's own epoll set. Under Node, the binding
//! gives the loop's epoll set ([`Reactor::accept_on_host`]) and the listeners wait there,
//! registered with `EPOLLEXCLUSIVE`, so that a new connection wakes one worker of those
//! sharing the socket, not all of them. In the reactor's own set the flag would change
//! nothing: that set is itself polled by the loop's (nested), and the kernel counts an
//! exclusive wake-up only when a thread waits in `epoll_wait` on the set holding the
//! listener directly, so every worker would still wake (bench/wakeups.mjs measures it).
//! The loop's event names a file the binding polls for the purpose, never ready itself;
//! its callback calls [`Reactor::listeners_ready`] before the poll.

use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;

use crate::batch::{Batch, Level};
use crate::conn::Protocol;
use crate::listen::{self, Address};
use crate::reactor::{Reactor, KIND_LISTENER, KIND_SHIFT};
use crate::sys;

/// The most connections accepted per listener per poll (fairness between workers that
/// share a listening socket).
const ACCEPTS_PER_POLL: usize = 64;
/// After EMFILE/ENFILE on accept, the listener rests this long instead of spinning.
const ACCEPT_BACKOFF_MS: u64 = 100;
/// While accepting keeps failing for want of descriptors, one log line per this long (a
/// rest every 100 ms would otherwise write ten a second, per worker).
const STARVED_LOG_MS: u64 = 10_000;

/// A listening socket.
pub(crate) struct Listener {
    fd: RawFd,
    protocol: Protocol,
    /// Set while accepting rests after EMFILE; monotonic ms.
    resting_until: u64,
    /// The Unix socket file this reactor created, removed on close.
    unlink: Option<PathBuf>,
}

/// The listeners and the state of accepting.
#[derive(Default)]
pub(crate) struct Accepting {
    /// The listening sockets, by index (the epoll data of their events).
    pub listeners: Vec<Listener>,
    /// Accepting stopped at `max-conns`: the listeners are out of the epoll set.
    pub paused: bool,
    /// Connections accepted since the start.
    pub accepted: u64,
    /// When the last out-of-descriptors line was logged (monotonic ms; 0: never).
    starved_logged_at: u64,
    /// Rests for want of descriptors since that line, not logged one by one.
    starved_unlogged: u64,
    /// The host loop's epoll set and the data word of its events, when the listeners wait
    /// there ([`Reactor::accept_on_host`]).
    host: Option<(RawFd, u64)>,
    /// The host said a listener is ready: the next poll accepts on each.
    ready: bool,
}

impl Accepting {
    /// A listener rests after EMFILE: the timer must run to wake it.
    pub fn resting(&self) -> bool {
        self.listeners.iter().any(|l| l.resting_until != 0)
    }

    /// Listeners whose rest ended at `now` wait again (`epfd`: the reactor's own set).
    pub fn wake_rested(&mut self, epfd: RawFd, now: u64) {
        for index in 0..self.listeners.len() {
            let listener = &mut self.listeners[index];
            if listener.resting_until != 0 && listener.resting_until <= now {
                listener.resting_until = 0;
                let _ = self.watch(epfd, index, true);
            }
        }
    }

    /// Adds listener `index` to the epoll set it waits in (`on`), or removes it.
    fn watch(&self, epfd: RawFd, index: usize, on: bool) -> io::Result<()> {
        let fd = self.listeners[index].fd;
        let (epfd, events, data) = match self.host {
            Some((host, data)) => (host, (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32, data),
            None => (epfd, libc::EPOLLIN as u32, (KIND_LISTENER << KIND_SHIFT) | index as u64),
        };
        let op = if on { libc::EPOLL_CTL_ADD } else { libc::EPOLL_CTL_DEL };
        sys::epoll_ctl(epfd, op, fd, events, data)
    }
}

/// A listening address as bound.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    /// The address (with the real port for port 0).
    pub local: String,
}

impl Reactor {
    /// Connections accepted since the reactor started.
    pub fn accepted(&self) -> u64 {
        self.accept.accepted
    }

    /// Lets the listeners wait in the host loop's epoll set `epfd`, with `EPOLLEXCLUSIVE`
    /// and `data` as their events' data word; the host then calls
    /// [`Reactor::listeners_ready`] and polls when such an event comes (see the module's
    /// comment). Listeners already added move there. `epfd` must outlive the listeners:
    /// they leave it when they close ([`Reactor::stop_listening`], [`Reactor::close`]).
    pub fn accept_on_host(&mut self, epfd: RawFd, data: u64) -> io::Result<()> {
        let active: Vec<usize> = (0..self.accept.listeners.len())
            .filter(|&i| !self.accept.paused && self.accept.listeners[i].resting_until == 0)
            .collect();
        for &index in &active {
            let _ = self.accept.watch(self.epfd, index, false);
        }
        self.accept.host = Some((epfd, data));
        for &index in &active {
            self.accept.watch(self.epfd, index, true)?;
        }
        Ok(())
    }

    /// A listener waiting in the host's set is ready: the next [`Reactor::poll`] accepts.
    pub fn listeners_ready(&mut self) {
        self.accept.ready = true;
    }

    /// Accepts on every listener not paused or resting, if the host said one is ready.
    ///
    /// A listener that gave connections then goes to the back of the line: the kernel
    /// hands an exclusive wake-up to the first idle process in the socket's wait queue,
    /// in the order they registered, so the first worker would take nearly every
    /// connection while it is idle; registering again puts this one last, and the
    /// connections go round the idle workers (two epoll_ctl calls per wake-up that
    /// accepted, none per request on a kept-alive connection).
    pub(crate) fn accept_ready(&mut self, batch: &mut Batch) {
        if !std::mem::take(&mut self.accept.ready) || self.accept.paused {
            return;
        }
        for index in 0..self.accept.listeners.len() {
            if self.accept.listeners[index].resting_until == 0 {
                let before = self.accept.accepted;
                self.accept(index, batch);
                let still =
                    !self.accept.paused && self.accept.listeners.get(index).is_some_and(|l| l.resting_until == 0);
                if self.accept.accepted != before && still {
                    let _ = self.accept.watch(self.epfd, index, false);
                    let _ = self.accept.watch(self.epfd, index, true);
                }
            }
        }
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

    /// Starts accepting on a socket bound elsewhere (by the master process), listening
    /// on it with `backlog` if given: the master binds without listening, since a
    /// listening socket in a process that never accepts would only fill its queue.
    pub fn adopt(&mut self, fd: RawFd, protocol: Protocol, backlog: Option<u32>) -> io::Result<()> {
        // SAFETY: fcntl(2) and listen(2) take no pointers here; on an fd that is not an open
        // socket they fail (EBADF, ENOTSOCK), which is checked and returned.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(backlog) = backlog {
                if libc::listen(fd, backlog.min(i32::MAX as u32) as libc::c_int) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        self.add_listener(fd, protocol, None)
    }

    fn add_listener(&mut self, fd: RawFd, protocol: Protocol, unlink: Option<PathBuf>) -> io::Result<()> {
        // Responses go out whole; Nagle would only delay the last segment of a streamed
        // one. Linux copies the option to every accepted socket, so it is set once here
        // (it fails harmlessly on Unix sockets).
        let _ = sys::set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        if self.cx.config.defer_accept {
            // Accept only once the peer's first bytes are there: the read right after
            // accept then finds the request, instead of an empty socket and an epoll
            // round. Seconds; the same option on every worker's copy of the socket.
            let seconds = self.cx.config.socket_timeout_ms.div_ceil(1000).clamp(1, i32::MAX as u64) as libc::c_int;
            let _ = sys::set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, seconds);
        }
        self.accept.listeners.push(Listener { fd, protocol, resting_until: 0, unlink });
        let index = self.accept.listeners.len() - 1;
        if self.accept.paused {
            return Ok(()); // added when accepting resumes
        }
        if let Err(e) = self.accept.watch(self.epfd, index, true) {
            self.accept.listeners.pop();
            sys::close(fd);
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn accept(&mut self, index: usize, batch: &mut Batch) {
        let Some(listener) = self.accept.listeners.get(index) else { return };
        let (fd, protocol) = (listener.fd, listener.protocol);
        for _ in 0..ACCEPTS_PER_POLL {
            if self.conns.len() >= self.cx.config.max_conns {
                self.pause_accepting();
                return;
            }
            match sys::accept(fd) {
                Ok(conn_fd) => {
                    // A proxy writes its request as soon as it is connected, so it is
                    // usually there already: read it now rather than after an epoll round.
                    if let Some(slot) = self.add_conn(conn_fd, protocol) {
                        self.guarded(slot, batch, |r, b| r.on_readable(slot, b));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                    // Out of file descriptors: rest instead of spinning on a listener
                    // that stays readable (waitress GHSA-3f84-rpwh-47g6 is the spin).
                    let _ = self.accept.watch(self.epfd, index, false);
                    let now = sys::now_ms();
                    self.accept.listeners[index].resting_until = now + ACCEPT_BACKOFF_MS;
                    self.arm_timer(true);
                    self.log_starved(&e, now);
                    return;
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNABORTED) | Some(libc::EINTR) | Some(libc::EPROTO)
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    self.cx.notices.log(Level::Error, format!("accept: {e}"));
                    return;
                }
            }
        }
    }

    /// Accept failed for want of descriptors at `now`: one line, then at most one per
    /// [`STARVED_LOG_MS`], saying how many rests it stands for.
    fn log_starved(&mut self, error: &io::Error, now: u64) {
        let accept = &mut self.accept;
        if accept.starved_logged_at != 0 && now < accept.starved_logged_at + STARVED_LOG_MS {
            accept.starved_unlogged += 1;
            return;
        }
        let more = match std::mem::take(&mut accept.starved_unlogged) {
            0 => String::new(),
            n => format!("; {n} more times since the last such line"),
        };
        accept.starved_logged_at = now;
        self.cx.notices.log(
            Level::Error,
            format!("accept: {error}; not accepting for {ACCEPT_BACKOFF_MS} ms at a time (raise the fd limit, ulimit -n){more}"),
        );
    }

    /// At `max-conns`: the listeners leave the epoll set, so new connections wait in the
    /// kernel's listen queue (or go to another worker) until one of ours closes.
    fn pause_accepting(&mut self) {
        if self.accept.paused {
            return;
        }
        self.accept.paused = true;
        for index in 0..self.accept.listeners.len() {
            if self.accept.listeners[index].resting_until == 0 {
                let _ = self.accept.watch(self.epfd, index, false);
            }
        }
        let max = self.cx.config.max_conns;
        self.cx.notices.log(
            Level::Warn,
            format!("max-conns {max} connections open; not accepting until one closes (raise --max-conns)"),
        );
    }

    pub(crate) fn resume_accepting(&mut self) {
        self.accept.paused = false;
        for index in 0..self.accept.listeners.len() {
            if self.accept.listeners[index].resting_until == 0 {
                let _ = self.accept.watch(self.epfd, index, true);
            }
        }
    }

    /// Stops taking new work, for a graceful stop: closes the listeners (Unix socket
    /// files this reactor created are removed); kept-alive connections wait a moment for
    /// a next request and close after it (see [`crate::conn::Conn::stop`]), every other
    /// connection closes after its current response. Requests in progress go on.
    pub fn stop_listening(&mut self) {
        for index in 0..self.accept.listeners.len() {
            // A listening socket inherited from the master stays open there: closing our
            // fd would leave it in the epoll set (epoll forgets a file only when its last
            // fd closes) and wake us for connections we no longer take. In the host's
            // set, it would also wake the host for a file it no longer polls.
            let _ = self.accept.watch(self.epfd, index, false);
        }
        for listener in self.accept.listeners.drain(..) {
            sys::close(listener.fd);
            if let Some(path) = listener.unlink {
                let _ = std::fs::remove_file(path);
            }
        }
        self.cx.draining = true;
        let now = sys::now_ms();
        for slot in 0..self.conns.slots() {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.stop(now);
                self.refresh_deadline(slot);
            }
        }
    }
}
