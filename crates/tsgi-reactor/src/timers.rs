//! Timeouts: one coarse timer for every connection's deadline.
//!
//! Every connection has at most one deadline at a time, set from its state whenever the
//! state moves ([`Reactor::refresh_deadline`]): the head must arrive within
//! `socket-timeout`, a body must keep coming, a queued response keep moving, a lingering
//! close end. One timerfd in the epoll set ticks every [`TICK_MS`] while connections exist;
//! each tick expires the connections whose deadline passed, as their state says (a log
//! line, a close or a reset), and wakes listeners resting after EMFILE. What a deadline is
//! for each state, and what its expiry means, is the protocol's to say
//! ([`crate::conn::Conn::deadline`], [`crate::conn::Conn::expired`]); the log lines that
//! several protocols share are written once here.

use std::io;
use std::os::fd::RawFd;

use crate::batch::{AbortReason, Level};
use crate::conn::{Link, Next, Protocol};
use crate::reactor::{Cx, Reactor};
use crate::sys;

/// Resolution of timeouts. The timer runs only while connections exist.
const TICK_MS: u64 = 100;

/// The timerfd that ticks while connections exist.
pub(crate) struct Timer {
    fd: RawFd,
    armed: bool,
}

impl Timer {
    /// A disarmed timer, registered in `epfd` under `key`.
    pub(crate) fn new(epfd: RawFd, key: u64) -> io::Result<Timer> {
        let fd = sys::timerfd_create()?;
        if let Err(e) = sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, key) {
            sys::close(fd);
            return Err(e);
        }
        Ok(Timer { fd, armed: false })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        sys::close(self.fd);
    }
}

impl Reactor {
    /// Runs the timer while `on` or a listener rests; stops it otherwise.
    pub(crate) fn arm_timer(&mut self, on: bool) {
        let on = on || self.accept.resting();
        if on != self.timer.armed && sys::timerfd_set_interval(self.timer.fd, if on { TICK_MS } else { 0 }).is_ok() {
            self.timer.armed = on;
        }
    }

    /// One tick: rested listeners listen again, and connections whose deadline passed
    /// expire.
    pub(crate) fn tick(&mut self) {
        let mut expirations = [0u8; 8];
        let _ = sys::read(self.timer.fd, &mut expirations);
        if self.conns.is_empty() {
            // Disarmed here rather than when the last connection closes, so a busy
            // server whose connection count touches 0 does not re-arm it per request.
            self.arm_timer(false);
        }
        let now = sys::now_ms();
        self.accept.wake_rested(self.epfd, now);
        for slot in 0..self.conns.slots() {
            let Some(conn) = self.conns.get_mut(slot) else { continue };
            if conn.link.deadline == 0 || conn.link.deadline > now {
                continue;
            }
            let next = conn.expired(&mut self.streams, &mut self.cx, now);
            self.apply(slot, next);
        }
    }

    /// Sets the deadline the connection's state calls for.
    pub(crate) fn refresh_deadline(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot) else { return };
        conn.link.deadline = conn.deadline(&self.streams, &self.cx.config, sys::now_ms());
    }
}

/// `socket-timeout` in seconds, as log lines say it.
fn timeout_s(cx: &Cx) -> f64 {
    cx.config.socket_timeout_ms as f64 / 1000.0
}

/// No complete head within `socket-timeout` of its first byte (or of the accept): a
/// close, logged if some of it came.
pub(crate) fn head_timeout(link: &Link, protocol: Protocol, cx: &mut Cx) -> Next {
    let (got, name, timeout_s) = (link.buffered.len(), protocol.name(), timeout_s(cx));
    if got > 0 {
        cx.notices.log(Level::Warn, format!("{name}: no complete request head within socket-timeout {timeout_s} s ({got} bytes received); closed (raise --socket-timeout)"));
    }
    Next::close(AbortReason::Timeout)
}

/// A body of known length stopped coming: the request is aborted.
pub(crate) fn body_stalled(protocol: Protocol, remaining: u64, cx: &mut Cx) -> Next {
    let (name, timeout_s) = (protocol.name(), timeout_s(cx));
    cx.notices.log(Level::Warn, format!("{name}: request body stalled for socket-timeout {timeout_s} s with {remaining} bytes missing; aborted (raise --socket-timeout)"));
    Next::reset(AbortReason::Timeout)
}

/// The peer of a tunnel read nothing of the app's output: the request is aborted.
pub(crate) fn tunnel_stalled(protocol: Protocol, cx: &mut Cx) -> Next {
    let (name, timeout_s) = (protocol.name(), timeout_s(cx));
    cx.notices.log(Level::Warn, format!("{name}: peer read nothing of the tunnel's output for socket-timeout {timeout_s} s; aborted (raise --socket-timeout)"));
    Next::reset(AbortReason::Timeout)
}

/// Nothing moved through a tunnel either way for `tunnel-timeout`: it is closed.
pub(crate) fn tunnel_idle(protocol: Protocol, cx: &mut Cx) -> Next {
    let (name, idle_s) = (protocol.name(), cx.config.tunnel_timeout_ms as f64 / 1000.0);
    cx.notices.log(
        Level::Warn,
        format!("{name}: tunnel idle for tunnel-timeout {idle_s} s; closed (raise --tunnel-timeout)"),
    );
    Next::close(AbortReason::Timeout)
}

/// The request is read and the peer reads nothing of the response: the request is
/// aborted. The line names uwsgi whatever the protocol (HTTP gets it too), byte for byte
/// as before the reactor was cut by role.
pub(crate) fn response_stalled(cx: &mut Cx) -> Next {
    let timeout_s = timeout_s(cx);
    cx.notices.log(Level::Warn, format!("uwsgi: peer read nothing of the response for socket-timeout {timeout_s} s; aborted (raise --socket-timeout)"));
    Next::reset(AbortReason::Timeout)
}
