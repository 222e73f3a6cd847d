//! The connection table: every open connection by slot, and its place in the epoll set.
//!
//! A connection is named by its token (slot and generation, [`crate::table`]), which is
//! what epoll reports back, so an event for a closed connection never reaches the next
//! one in its slot. Adding registers it (late, for one answered within its first batch);
//! its epoll interest follows its state ([`Reactor::update_interest`]); closing it aborts
//! the requests JavaScript still has and lets accepting resume below `max-conns`.

use std::os::fd::RawFd;

use crate::batch::{AbortReason, Level};
use crate::conn::{Conn, Protocol};
use crate::notices::Notice;
use crate::reactor::{Reactor, KIND_CONN, KIND_SHIFT};
use crate::sys;

impl Reactor {
    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Takes a connection just accepted on a listener speaking `protocol`; `None` (the
    /// socket closed, logged) when the table is full.
    pub(crate) fn add_conn(&mut self, fd: RawFd, protocol: Protocol) -> Option<u32> {
        let Some(vacant) = self.conns.vacant() else {
            sys::close(fd);
            self.cx.notices.log(Level::Error, "too many connections in one worker; connection refused".to_string());
            return None;
        };
        let token = vacant.token();
        let now = sys::now_ms();
        let mut conn = Conn::new(fd, token, protocol, now);
        conn.link.deadline = now + self.cx.config.socket_timeout_ms;
        let (slot, _) = vacant.insert(conn);
        self.accept.accepted += 1;
        self.arm_timer(true);
        self.update_interest(slot);
        Some(slot)
    }

    /// Closes a connection. Its requests that JavaScript has and has not finished get an
    /// ABORT with `reason`. `reset` sends RST instead of FIN.
    pub(crate) fn close_conn(&mut self, slot: u32, reset: bool, reason: AbortReason) {
        let Some(conn) = self.conns.remove(slot) else { return };
        let link = conn.link;
        if reset {
            sys::set_linger_zero(link.fd);
        }
        sys::close(link.fd); // also removes it from the epoll set
        for stream_slot in link.streams {
            let Some(mut stream) = self.streams.remove(stream_slot) else { continue };
            if stream.in_app {
                self.cx.notices.push(Notice::Abort(stream.token, reason));
            }
            self.cx.scratch.decoders.recycle(&mut stream.proto);
        }
        if self.accept.paused && self.conns.len() < self.cx.config.max_conns {
            self.resume_accepting();
        }
    }

    /// The epoll interest a connection needs in its current state.
    pub(crate) fn update_interest(&mut self, slot: u32) {
        let epfd = self.epfd;
        let in_batch = self.cx.notices.in_batch();
        let Some(conn) = self.conns.get_mut(slot) else { return };
        let reading = conn.wants_read();
        let link = &mut conn.link;
        let mut want = 0u32;
        if reading {
            want |= (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        }
        if link.out.queued() > 0 {
            want |= libc::EPOLLOUT as u32;
        }
        if want == link.interest {
            return;
        }
        if link.interest == 0 && want != 0 && in_batch {
            // Not in the epoll set yet: a connection answered within this batch closes
            // before it ever needs to be, which saves an epoll_ctl per request. Those
            // still open when the batch ends are added by `flush_corked`.
            if !link.unregistered {
                link.unregistered = true;
                self.unregistered.push(slot);
            }
            return;
        }
        let data = (KIND_CONN << KIND_SHIFT) | u64::from(link.token);
        let op = if link.interest == 0 { libc::EPOLL_CTL_ADD } else { libc::EPOLL_CTL_MOD };
        let result = if want == 0 {
            sys::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, link.fd, 0, 0)
        } else {
            sys::epoll_ctl(epfd, op, link.fd, want, data)
        };
        if result.is_ok() {
            link.interest = want;
        }
    }
}
