//! Timeouts: one coarse timer for every connection's deadline.
//!
//! Every connection has at most one deadline at a time, set from its state whenever the
//! state moves ([`Reactor::refresh_deadline`]): the head must arrive within
//! `socket-timeout`, a body must keep coming, a queued response keep moving, a lingering
//! close end. One timerfd in the epoll set ticks every [`TICK_MS`] while connections exist;
//! each tick expires the connections whose deadline passed, as their state says (a log
//! line, a close or a reset), and wakes listeners resting after EMFILE.

use std::io;
use std::os::fd::RawFd;

use crate::batch::{AbortReason, Level};
use crate::conn::ReadState;
use crate::reactor::{Reactor, KIND_LISTENER, KIND_SHIFT};
use crate::stream::Phase;
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
    pub(crate) fn arm_timer(&mut self, on: bool) {
        let on = on || self.listeners.iter().any(|l| l.resting_until != 0);
        if on != self.timer.armed && sys::timerfd_set_interval(self.timer.fd, if on { TICK_MS } else { 0 }).is_ok() {
            self.timer.armed = on;
        }
    }

    pub(crate) fn tick(&mut self) {
        let mut expirations = [0u8; 8];
        let _ = sys::read(self.timer.fd, &mut expirations);
        if self.conns.is_empty() {
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
        for slot in 0..self.conns.slots() {
            let Some(conn) = self.conn_mut(slot) else { continue };
            if conn.deadline == 0 || conn.deadline > now {
                continue;
            }
            let reading_body = matches!(conn.state, ReadState::Body { .. } | ReadState::Chunked);
            if reading_body && conn.request_deadline != 0 && conn.request_deadline <= now {
                let limit_s = self.config.request_timeout_ms as f64 / 1000.0;
                self.notices.log(Level::Warn, format!("http: request not received whole within http-request-timeout {limit_s} s; aborted (raise --http-request-timeout)"));
                self.http_fail(slot, 408);
                continue;
            }
            match conn.state {
                ReadState::Head | ReadState::DiscardVars { .. } => {
                    let (got, name) = (conn.head.len(), conn.protocol.name());
                    if got > 0 {
                        self.notices.log(Level::Warn, format!("{name}: no complete request head within socket-timeout {timeout_s} s ({got} bytes received); closed (raise --socket-timeout)"));
                    }
                    self.close_conn(slot, false, AbortReason::Timeout);
                }
                ReadState::Linger { .. } => self.close_conn(slot, false, AbortReason::Timeout),
                ReadState::Tunnel { .. } => {
                    self.notices.log(Level::Warn, format!("http: peer read nothing of the tunnel's output for socket-timeout {timeout_s} s; aborted (raise --socket-timeout)"));
                    self.close_conn(slot, true, AbortReason::Timeout);
                }
                ReadState::Chunked => {
                    self.notices.log(Level::Warn, format!("http: chunked request body stalled for socket-timeout {timeout_s} s; aborted (raise --socket-timeout)"));
                    self.close_conn(slot, true, AbortReason::Timeout);
                }
                ReadState::Body { remaining } => {
                    let name = conn.protocol.name();
                    self.notices.log(Level::Warn, format!("{name}: request body stalled for socket-timeout {timeout_s} s with {remaining} bytes missing; aborted (raise --socket-timeout)"));
                    self.close_conn(slot, true, AbortReason::Timeout);
                }
                ReadState::Refused => self.close_conn(slot, false, AbortReason::Timeout),
                ReadState::Records => {
                    let (got, busy, stalled_out) = (conn.head.len(), !conn.streams.is_empty(), conn.out.queued() > 0);
                    if got > 0 || busy {
                        let what =
                            if stalled_out { "peer read nothing of the response" } else { "no FastCGI record arrived" };
                        self.notices.log(Level::Warn, format!("fastcgi: {what} for socket-timeout {timeout_s} s ({got} bytes of a record pending); closed (raise --socket-timeout)"));
                    }
                    // An idle kept-alive connection just closes: the web server opens another.
                    self.close_conn(slot, busy, AbortReason::Timeout);
                }
                ReadState::Done => {
                    self.notices.log(Level::Warn, format!("uwsgi: peer read nothing of the response for socket-timeout {timeout_s} s; aborted (raise --socket-timeout)"));
                    self.close_conn(slot, true, AbortReason::Timeout);
                }
            }
        }
    }

    /// Sets the deadline the connection's state calls for.
    pub(crate) fn refresh_deadline(&mut self, slot: u32) {
        let timeout = self.config.socket_timeout_ms;
        let Some(conn) = self.conns.get(slot) else { return };
        let deadline = match conn.state {
            ReadState::Head if conn.idle => conn.accepted_at + self.config.keepalive_timeout_ms,
            ReadState::Head | ReadState::DiscardVars { .. } => conn.accepted_at + timeout,
            ReadState::Linger { until } => until,
            // A body must keep coming, and (HTTP) be whole by the request's deadline.
            ReadState::Body { .. } | ReadState::Chunked if !conn.paused && conn.request_deadline != 0 => {
                (sys::now_ms() + timeout).min(conn.request_deadline)
            }
            ReadState::Body { .. } | ReadState::Chunked if !conn.paused => sys::now_ms() + timeout,
            _ if conn.out.queued() > 0 => sys::now_ms() + timeout,
            // FastCGI: idle between requests, or a request still sending its input.
            ReadState::Records
                if !conn.paused
                    && (conn.streams.is_empty()
                        || conn
                            .streams
                            .iter()
                            .any(|&s| self.streams.get(s).is_some_and(|s| !matches!(s.phase, Phase::Complete)))) =>
            {
                sys::now_ms() + timeout
            }
            _ => 0,
        };
        self.conn_mut(slot).expect("checked above").deadline = deadline;
    }
}
