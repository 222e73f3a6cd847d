//! A connection's queue of response bytes waiting for the socket: bytes copied in, large
//! body chunks held where they are ([`Held`]), sent in order with one `sendmsg`, and
//! ranges of files ([`FilePiece`]), sent with `sendfile(2)` when they reach the front.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

use crate::sendfile::FilePiece;
use crate::sys::MAX_IOV;

/// Above this capacity an emptied queue gives its memory back, so one large response
/// does not pin megabytes to an idle connection.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Bytes the queue sends without copying them: a body chunk whose owner keeps it alive
/// and unchanged until the queue drops it (a JavaScript buffer, through a reference).
pub trait Held {
    /// The bytes, the same at every call.
    fn bytes(&self) -> &[u8];
}

/// One piece of the queue.
enum Piece {
    Copied(Vec<u8>),
    Held(Box<dyn Held>),
    File(FilePiece),
}

impl Piece {
    /// The bytes of a piece in memory; a file's are in the file (empty here).
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Copied(bytes) => bytes,
            Piece::Held(held) => held.bytes(),
            Piece::File(_) => &[],
        }
    }

    /// Bytes in the piece, in memory or in the file.
    fn len(&self) -> usize {
        match self {
            Piece::File(file) => usize::try_from(file.remaining()).unwrap_or(usize::MAX),
            _ => self.bytes().len(),
        }
    }
}

/// Bytes queued for one socket: appended at the end, sent from `pos` of the first piece.
/// Usually a single copied piece; a held one is followed by a new copied piece for what
/// comes after it.
pub struct OutBuf {
    pieces: VecDeque<Piece>,
    pos: usize,
}

impl Default for OutBuf {
    fn default() -> Self {
        OutBuf { pieces: VecDeque::from([Piece::Copied(Vec::new())]), pos: 0 }
    }
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
        self.pieces.iter().map(Piece::len).fold(0usize, usize::saturating_add) - self.pos
    }

    /// The queue's tail, to append to.
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if !matches!(self.pieces.back(), Some(Piece::Copied(_))) {
            self.pieces.push_back(Piece::Copied(Vec::new()));
        }
        match self.pieces.back_mut() {
            Some(Piece::Copied(bytes)) => bytes,
            _ => unreachable!("a copied piece was just pushed"),
        }
    }

    /// Queues `held` after what is queued, without copying it.
    pub fn hold(&mut self, held: Box<dyn Held>) {
        if held.bytes().is_empty() {
            return;
        }
        // An empty copied tail before it would only cost an iovec.
        if self.pieces.len() > 1 && matches!(self.pieces.back(), Some(Piece::Copied(bytes)) if bytes.is_empty()) {
            self.pieces.pop_back();
        }
        self.pieces.push_back(Piece::Held(held));
    }

    /// Queues a range of a file after what is queued; it goes out with `sendfile(2)` and
    /// its descriptor is closed once sent, or when the queue is dropped.
    pub fn send_file(&mut self, file: FilePiece) {
        if file.remaining() == 0 {
            return;
        }
        if self.pieces.len() > 1 && matches!(self.pieces.back(), Some(Piece::Copied(bytes)) if bytes.is_empty()) {
            self.pieces.pop_back();
        }
        self.pieces.push_back(Piece::File(file));
    }

    /// Sends as much as the socket takes.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<Flushed> {
        loop {
            // An empty piece in memory before a file (a queue's first, empty tail) goes.
            while self.pieces.len() > 1 && self.pieces[0].len() == self.pos && !matches!(self.pieces[0], Piece::File(_))
            {
                self.pieces.pop_front();
                self.pos = 0;
            }
            if let Some(Piece::File(file)) = self.pieces.front_mut() {
                match file.send(fd) {
                    Ok(_) if file.remaining() == 0 => {
                        self.pieces.pop_front();
                        if self.pieces.is_empty() {
                            self.pieces.push_back(Piece::Copied(Vec::new()));
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Partly),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let sent = if self.pieces.len() == 1 {
                // The usual case: one copied piece, one plain send.
                let bytes = &self.pieces[0].bytes()[self.pos..];
                if bytes.is_empty() {
                    break;
                }
                crate::sys::send(fd, bytes)
            } else {
                self.send_pieces(fd)
            };
            match sent {
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Partly),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        // Everything is out: one copied piece stays, to append to, unless it grew large.
        let mut kept = match self.pieces.pop_front() {
            Some(Piece::Copied(bytes)) if bytes.capacity() <= KEEP_CAPACITY => bytes,
            _ => Vec::new(),
        };
        kept.clear();
        self.pieces.clear();
        self.pieces.push_back(Piece::Copied(kept));
        self.pos = 0;
        Ok(Flushed::All)
    }

    /// One `sendmsg` of the first pieces in memory, up to a file (there are bytes in them:
    /// `flush` checked).
    fn send_pieces(&self, fd: RawFd) -> io::Result<usize> {
        let mut slices: [&[u8]; MAX_IOV] = [&[]; MAX_IOV];
        let mut count = 0;
        let in_memory = self.pieces.iter().take_while(|piece| !matches!(piece, Piece::File(_)));
        // A file right after them: tell the kernel more is coming (MSG_MORE).
        let file_next =
            self.pieces.iter().position(|piece| matches!(piece, Piece::File(_))).is_some_and(|at| at <= MAX_IOV);
        for (i, piece) in in_memory.take(MAX_IOV).enumerate() {
            let bytes = if i == 0 { &piece.bytes()[self.pos..] } else { piece.bytes() };
            if !bytes.is_empty() {
                slices[count] = bytes;
                count += 1;
            }
        }
        crate::sys::send_vectored(fd, &slices[..count], file_next)
    }

    /// `n` bytes were sent: fully sent pieces leave the queue (a held one is released).
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(first) = self.pieces.front() else { break };
            let left = first.bytes().len() - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.pos = 0;
            let last = self.pieces.len() == 1;
            match self.pieces.front_mut() {
                Some(Piece::Copied(bytes)) if last => bytes.clear(),
                _ => {
                    self.pieces.pop_front();
                }
            }
        }
        if self.pieces.is_empty() {
            self.pieces.push_back(Piece::Copied(Vec::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;

    use crate::sendfile::FilePiece;

    /// Held bytes that count their release.
    struct Counted(Vec<u8>, Rc<Cell<u32>>);
    impl Held for Counted {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
        }
    }

    /// Reads what the socket holds, without blocking.
    fn drain(peer: &mut UnixStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[test]
    fn held_pieces_go_out_in_order_across_partial_sends_and_are_released_once_sent() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        peer.set_nonblocking(true).unwrap();
        let released = Rc::new(Cell::new(0));
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = OutBuf::default();
        out.tail().extend_from_slice(b"head ");
        out.hold(Box::new(Counted(big.clone(), released.clone())));
        out.tail().extend_from_slice(b" middle ");
        out.hold(Box::new(Counted(b"small held".to_vec(), released.clone())));
        out.tail().extend_from_slice(b" end");
        let total = out.queued();
        assert_eq!(total, 5 + big.len() + 8 + 10 + 4);

        let mut got = Vec::new();
        let mut partly = 0;
        loop {
            match out.flush(ours.as_raw_fd()).unwrap() {
                Flushed::All => break,
                Flushed::Partly => partly += 1,
            }
            assert_eq!(out.queued(), total - got.len() - drain_into(&mut peer, &mut got));
        }
        got.extend(drain(&mut peer));
        assert!(partly > 0, "3 MB fit in one send: the test did not cut anything");
        let mut want = b"head ".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b" middle small held end");
        assert!(got == want, "the bytes arrived in another order or cut");
        assert_eq!(released.get(), 2);
        assert_eq!(out.queued(), 0);
        // The queue goes on as before.
        out.tail().extend_from_slice(b"next");
        assert_eq!(out.flush(ours.as_raw_fd()).unwrap(), Flushed::All);
        assert_eq!(drain(&mut peer), b"next");
    }

    /// Reads into `got`; answers how many bytes were read.
    fn drain_into(peer: &mut UnixStream, got: &mut Vec<u8>) -> usize {
        let more = drain(peer);
        got.extend_from_slice(&more);
        more.len()
    }

    #[test]
    fn a_queue_dropped_before_sending_releases_what_it_holds() {
        let released = Rc::new(Cell::new(0));
        let mut out = OutBuf::default();
        out.hold(Box::new(Counted(vec![1; 10], released.clone())));
        out.hold(Box::new(Counted(Vec::new(), released.clone())));
        assert_eq!(released.get(), 1, "an empty held piece is released at once");
        drop(out);
        assert_eq!(released.get(), 2);
    }

    /// A file of `len` patterned bytes, open for reading.
    fn patterned_file(len: usize) -> (std::fs::File, Vec<u8>) {
        use std::io::{Seek, Write};
        let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut file = tempfile();
        file.write_all(&bytes).unwrap();
        file.rewind().unwrap();
        (file, bytes)
    }

    /// An anonymous temporary file (O_TMPFILE in the system's temporary folder).
    fn tempfile() -> std::fs::File {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .open(std::env::temp_dir())
            .unwrap()
    }

    #[test]
    fn a_file_goes_out_between_its_head_and_tail_with_sendfile_and_is_closed_once_sent() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        peer.set_nonblocking(true).unwrap();
        let (file, bytes) = patterned_file(3_000_000);
        let fd = std::os::fd::OwnedFd::from(file);
        let raw = fd.as_raw_fd();
        let inode = inode_of(raw).expect("the file is open");
        let mut out = OutBuf::default();
        out.send_file(FilePiece::new(fd, 7, 2_000_000));
        out.tail().extend_from_slice(b" tail");
        assert_eq!(out.queued(), 2_000_005);
        let mut got = Vec::new();
        let mut partly = 0;
        while out.flush(ours.as_raw_fd()).unwrap() == Flushed::Partly {
            partly += 1;
            drain_into(&mut peer, &mut got);
        }
        got.extend(drain(&mut peer));
        assert!(partly > 0, "2 MB fit in one send: the test did not cut anything");
        let mut want = bytes[7..2_000_007].to_vec();
        want.extend_from_slice(b" tail");
        assert!(got == want, "the file's range arrived cut or out of order");
        // Closed, or its number already reused by another test running in parallel for
        // another file: either way no longer this file.
        assert_ne!(inode_of(raw), Some(inode), "the file's descriptor is still open");
    }

    /// The (device, inode) of what descriptor `fd` is open on, or None if it is closed.
    fn inode_of(fd: std::os::fd::RawFd) -> Option<(u64, u64)> {
        // SAFETY: a plain C struct, for which all zeroes is a valid value.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes only into the struct it is given; `fd` may or may not be open.
        let open = unsafe { libc::fstat(fd, &mut stat) } == 0;
        open.then_some((stat.st_dev, stat.st_ino))
    }

    #[test]
    fn a_file_that_ends_before_its_range_is_an_error() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        let (file, _) = patterned_file(100);
        let mut out = OutBuf::default();
        out.tail().extend_from_slice(b"head");
        out.send_file(FilePiece::new(file.into(), 0, 1000));
        let error = out.flush(ours.as_raw_fd()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
