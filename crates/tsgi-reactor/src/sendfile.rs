//! A file in a connection's output queue: a range of an open file sent with
//! `sendfile(2)`, from the kernel's page cache to the socket, never through JavaScript
//! or a buffer of ours.
//!
//! A [`FilePiece`] owns its descriptor: it is closed when the piece is sent, and when the
//! queue is dropped before that (an abort, the peer gone, the connection closed). A file
//! that ends before its range does (it shrank, or was truncated, while being sent) is an
//! error: the response announced a length it can no longer keep, so the connection is
//! closed rather than left waiting for bytes that will never come.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most one `sendfile` call is asked for: the kernel caps a call at about 2 GiB
/// anyway, and a bounded call keeps one connection from holding the loop for long.
const MAX_CALL: u64 = 1 << 30;

/// Bytes sent with `sendfile(2)` by every reactor of the process since it started:
/// the stats' proof that a file went out without a copy.
static SENT: AtomicU64 = AtomicU64::new(0);

/// Bytes sent with `sendfile(2)` in this process so far.
pub fn sent_bytes() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// The current position of the open file `fd` (`lseek(fd, 0, SEEK_CUR)`): where a
/// caller's descriptor is read from next, as `tsgi.file_wrapper` sends it.
pub fn position(fd: RawFd) -> io::Result<u64> {
    // SAFETY: lseek only reads the descriptor's position; a bad `fd` is an error.
    let at = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    if at < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(at as u64)
}

/// A range of an open file, waiting in the queue.
pub struct FilePiece {
    fd: OwnedFd,
    offset: u64,
    remaining: u64,
}

impl FilePiece {
    /// `length` bytes of `fd` from `offset`; the piece owns `fd` from now on.
    pub fn new(fd: OwnedFd, offset: u64, length: u64) -> Self {
        FilePiece { fd, offset, remaining: length }
    }

    /// `length` bytes from `offset` of the file open as `fd`: the piece takes `fd` if
    /// `owned` (and closes it), else a duplicate of it (the caller's stays the caller's,
    /// and may be closed at once).
    pub fn from_raw(fd: RawFd, owned: bool, offset: u64, length: u64) -> io::Result<Self> {
        let fd = if owned {
            // SAFETY: the caller hands over `fd`, open and used by nothing else from now on.
            unsafe { OwnedFd::from_raw_fd(fd) }
        } else {
            // SAFETY: `fd` is open for the duration of this call (the caller's); the
            // duplicate is ours.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `dup` was just opened, and nothing else has it.
            unsafe { OwnedFd::from_raw_fd(dup) }
        };
        Ok(FilePiece::new(fd, offset, length))
    }

    /// Bytes not yet sent.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// One `sendfile(2)` of what is left, to the socket `to`. `Ok(n)` with the bytes sent
    /// (the piece moves on by them); an `UnexpectedEof` error if the file ended first.
    pub fn send(&mut self, to: RawFd) -> io::Result<usize> {
        let mut offset =
            libc::off_t::try_from(self.offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let count = self.remaining.min(MAX_CALL) as usize;
        // SAFETY: `offset` is a live local the kernel updates; both descriptors are ours
        // (the socket's owner keeps it open while its queue is flushed).
        let sent = unsafe { libc::sendfile(to, self.fd.as_raw_fd(), &mut offset, count) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if sent == 0 && count > 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended before its announced length"));
        }
        let sent = sent as u64;
        self.offset += sent;
        self.remaining -= sent;
        SENT.fetch_add(sent, Ordering::Relaxed);
        Ok(sent as usize)
    }
}
