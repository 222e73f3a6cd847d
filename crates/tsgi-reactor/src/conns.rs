//! The connection table: every open connection by slot, and its place in the epoll set.
//!
//! A connection is named by its token (slot and generation, [`crate::table`]), which is
//! what epoll reports back, so an event for a closed connection never reaches the next
//! one in its slot. Adding registers it (late, for one answered within its first batch);
//! its epoll interest follows its state ([`Reactor::update_interest`]); closing it aborts
//! the requests JavaScript still has and lets accepting resume below `max-conns`.

use std::os::fd::RawFd;

use crate::batch::{AbortReason, Level};
use crate::conn::{Conn, ReadState};
use crate::notices::Notice;
use crate::reactor::{Protocol, Reactor, KIND_CONN, KIND_SHIFT, MAX_DISCARD};
use crate::stream::Phase;
use crate::sys;

impl Reactor {
    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn conn_mut(&mut self, slot: u32) -> Option<&mut Conn> {
        self.conns.get_mut(slot)
    }

    pub(crate) fn conn(&self, slot: u32) -> Option<&Conn> {
        self.conns.get(slot)
    }

    pub(crate) fn add_conn(&mut self, fd: RawFd, protocol: Protocol) -> Option<u32> {
        let Some(vacant) = self.conns.vacant() else {
            sys::close(fd);
            self.notices.log(Level::Error, "too many connections in one worker; connection refused".to_string());
            return None;
        };
        let token = vacant.token();
        let now = sys::now_ms();
        let mut conn = Conn::new(fd, token, protocol, now);
        if protocol == Protocol::Http {
            conn.addresses = Some(Box::new(crate::http::Addresses::of(fd)));
        }
        conn.deadline = now + self.config.socket_timeout_ms;
        let slot = vacant.insert(conn);
        self.accepted += 1;
        self.arm_timer(true);
        self.update_interest(slot);
        Some(slot)
    }

    /// Closes a connection. Its requests that JavaScript has and has not finished get an
    /// ABORT with `reason`. `reset` sends RST instead of FIN.
    pub(crate) fn close_conn(&mut self, slot: u32, reset: bool, reason: AbortReason) {
        let Some(conn) = self.conns.remove(slot) else { return };
        if reset {
            sys::set_linger_zero(conn.fd);
        }
        sys::close(conn.fd); // also removes it from the epoll set
        for stream_slot in conn.streams {
            let Some(stream) = self.streams.remove(stream_slot) else { continue };
            if stream.in_app {
                self.notices.push(Notice::Abort(stream.token, reason));
            }
            if let Phase::Params(decoder) = stream.phase {
                self.decoders.push(decoder);
            }
        }
        if self.accept_paused && self.conns.len() < self.config.max_conns {
            self.resume_accepting();
        }
    }

    /// The epoll interest a connection needs in its current state.
    pub(crate) fn update_interest(&mut self, slot: u32) {
        let epfd = self.epfd;
        let in_batch = self.notices.in_batch();
        let Some(conn) = self.conn_mut(slot) else { return };
        let reading = match conn.state {
            ReadState::Body { .. } | ReadState::Records | ReadState::Chunked | ReadState::Tunnel { eof: false } => {
                !conn.paused
            }
            ReadState::Tunnel { eof: true } => false,
            ReadState::Done if conn.protocol == Protocol::Http => conn.head.len() < crate::http::MAX_PIPELINED,
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
}
