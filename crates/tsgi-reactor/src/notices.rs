//! Notices to JavaScript, and how the next batch is asked for.
//!
//! Most of what JavaScript learns comes with the bytes that caused it, written straight
//! into the batch being filled. The rest arises where no batch is open for it (a flush
//! failing after JavaScript returned, a queue draining, a timeout) or after the events of
//! a batch (a log line, an abort caused by a close): it becomes a notice, delivered at the
//! end of the next batch in the order it arose. Outside a batch, pushing a notice rings an
//! eventfd in the epoll set, so that a batch comes; a connection whose request did not fit
//! in a batch is queued here too, to be read first thing in the next one.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

use crate::batch::{AbortReason, Batch, Level};
use crate::sys;

/// Something to tell JavaScript in the next batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The request `token` ended abnormally.
    Abort(u32, AbortReason),
    /// The input of the request `token` ended (an HTTP tunnel's client closed its side).
    BodyEnd(u32),
    /// The response queue of `token` drained after a write reported it full.
    Drain(u32),
    /// A log line.
    Log(Level, String),
}

/// The notices waiting for a batch, the connections to read again in it, and the bell
/// that asks for it.
pub(crate) struct Notices {
    queue: VecDeque<Notice>,
    /// Connection slots to read again first thing in the next batch, in the order asked.
    retry: Vec<u32>,
    /// An eventfd in the epoll set: readable means "poll again".
    wakefd: RawFd,
    /// A batch is being filled: what is pushed now is delivered at its end, no ring needed.
    in_batch: bool,
}

impl Notices {
    /// No notices yet, and a bell registered in `epfd` under `key`.
    pub(crate) fn new(epfd: RawFd, key: u64) -> io::Result<Notices> {
        // SAFETY: eventfd(2) takes no pointers; a failure is -1, checked below.
        let wakefd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wakefd < 0 {
            return Err(io::Error::last_os_error());
        }
        if let Err(e) = sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, wakefd, libc::EPOLLIN as u32, key) {
            sys::close(wakefd);
            return Err(e);
        }
        Ok(Notices { queue: VecDeque::new(), retry: Vec::new(), wakefd, in_batch: false })
    }

    /// Queues `notice` for the next batch, asking for one if none is being filled.
    pub(crate) fn push(&mut self, notice: Notice) {
        self.queue.push_back(notice);
        if !self.in_batch {
            self.ring();
        }
    }

    /// Queues a log line.
    pub(crate) fn log(&mut self, level: Level, text: String) {
        self.push(Notice::Log(level, text));
    }

    /// Asks for a batch: the epoll fd becomes readable, so Node's loop polls again.
    pub(crate) fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is 8 live bytes for the duration of the call, the length passed; the
        // eventfd is ours until `Drop`. A full counter (EAGAIN) means it rings already.
        unsafe { libc::write(self.wakefd, one.as_ptr().cast(), 8) };
    }

    /// The bell was heard: quiets it until the next ring.
    pub(crate) fn heard(&self) {
        let mut counter = [0u8; 8];
        let _ = sys::read(self.wakefd, &mut counter);
    }

    /// The connection in `slot` is read again first thing in the next batch (its request
    /// did not fit in this one, or bytes wait in its buffer).
    pub(crate) fn retry(&mut self, slot: u32) {
        if !self.retry.contains(&slot) {
            self.retry.push(slot);
        }
    }

    /// A batch starts: the connections to read again, oldest first.
    pub(crate) fn begin_batch(&mut self) -> Vec<u32> {
        self.in_batch = true;
        std::mem::take(&mut self.retry)
    }

    /// The batch's writes are flushed: notices pushed from now on ring, and those already
    /// waiting ask for the next batch.
    pub(crate) fn end_batch(&mut self) {
        self.in_batch = false;
        if !self.queue.is_empty() {
            self.ring();
        }
    }

    /// A batch is being filled.
    pub(crate) fn in_batch(&self) -> bool {
        self.in_batch
    }

    /// Work is waiting for another batch right away.
    pub(crate) fn pending(&self) -> bool {
        !self.retry.is_empty() || !self.queue.is_empty()
    }

    /// Writes the waiting notices into `batch`, as many as fit, oldest first.
    pub(crate) fn deliver(&mut self, batch: &mut Batch) {
        while let Some(notice) = self.queue.front() {
            let fits = match notice {
                Notice::Abort(token, reason) => batch.abort(*token, *reason),
                Notice::Drain(token) => batch.drain(*token),
                Notice::BodyEnd(token) => batch.body_end(*token),
                Notice::Log(level, text) => batch.log(*level, text),
            };
            if !fits {
                if batch.is_empty() {
                    // Too long for an empty batch: only a log line can be. Print it here.
                    if let Some(Notice::Log(_, text)) = self.queue.pop_front() {
                        eprintln!("tsgi: {text}");
                    }
                    continue;
                }
                return;
            }
            self.queue.pop_front();
        }
    }
}

impl Drop for Notices {
    fn drop(&mut self) {
        sys::close(self.wakefd);
    }
}
