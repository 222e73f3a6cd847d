//! A connection's queue of response bytes waiting for the socket.

use std::io;
use std::os::fd::RawFd;

/// Above this capacity an emptied queue gives its memory back, so one large response
/// does not pin megabytes to an idle connection.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Bytes queued for one socket: appended at the end, sent from `pos`.
#[derive(Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    pos: usize,
}

/// What a flush achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued was sent.
    All,
    /// The socket is full; the rest waits for writability.
    Partly,
}

impl OutBuf {
    /// Bytes queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The queue's tail, to append to.
    pub fn tail(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sends as much as the socket takes.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<Flushed> {
        while self.pos < self.buf.len() {
            match crate::sys::send(fd, &self.buf[self.pos..]) {
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Partly),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.pos = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        Ok(Flushed::All)
    }
}
