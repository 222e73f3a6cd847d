//! Thin, safe wrappers over the Linux system calls the reactor uses.
//!
//! Each wrapper turns a `-1` into the `errno` as an [`io::Error`]; nothing here keeps state.
//! The reactor is Linux-only (epoll, timerfd, accept4); other platforms use the
//! pure-TypeScript path.

use std::io;
use std::os::fd::RawFd;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A new epoll instance (close-on-exec).
pub fn epoll_create() -> io::Result<RawFd> {
    // SAFETY: epoll_create1(2) takes no pointers; a failure is -1, checked.
    check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

/// Adds (`op` = `EPOLL_CTL_ADD`), changes (`MOD`) or removes (`DEL`) `fd` in `epfd`,
/// with `data` as the value epoll reports back.
pub fn epoll_ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }).map(drop)
}

/// Ready events without waiting.
pub fn epoll_wait_now(epfd: RawFd, events: &mut [libc::epoll_event]) -> io::Result<usize> {
    let max = events.len().min(i32::MAX as usize) as libc::c_int;
    // SAFETY: the kernel writes at most `max` entries into `events`.
    let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), max, 0) };
    check(n).map(|n| n as usize)
}

/// Closes `fd`, ignoring errors (there is nothing useful to do about them on a socket).
pub fn close(fd: RawFd) {
    // SAFETY: close(2) takes no pointers; the caller owns `fd` and never uses it again, so
    // no other owner sees it closed under it.
    unsafe { libc::close(fd) };
}

/// `read(2)` into `buf`. `Ok(0)` is end of stream.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    check_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `send(2)` without SIGPIPE: a vanished peer is an `EPIPE` error, never a signal.
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    check_size(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// The most pieces one [`send_vectored`] takes (well under the kernel's `UIO_MAXIOV`).
pub const MAX_IOV: usize = 64;

/// `sendmsg(2)` of up to [`MAX_IOV`] `pieces` in order, without SIGPIPE (see [`send`]).
/// `more`: a file follows (`MSG_MORE`), so a head and the file's first bytes share packets
/// rather than the head going out alone, as nginx's `tcp_nopush` does.
pub fn send_vectored(fd: RawFd, pieces: &[&[u8]], more: bool) -> io::Result<usize> {
    // On the stack: a held body is sent with this on every writable wake-up.
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_IOV];
    let count = pieces.len().min(MAX_IOV);
    for (slot, piece) in iov.iter_mut().zip(&pieces[..count]) {
        *slot = libc::iovec { iov_base: piece.as_ptr() as *mut _, iov_len: piece.len() };
    }
    // SAFETY: an all-zero msghdr is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = count as _;
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: the kernel only reads the `iov` entries, each of which points into a live
    // slice of `pieces` of its length.
    check_size(unsafe { libc::sendmsg(fd, &msg, flags) })
}

/// Accepts one connection, non-blocking and close-on-exec.
pub fn accept(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: null address pointers are allowed; the peer address is read later if needed.
    check(unsafe {
        libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    })
}

/// `shutdown(fd, SHUT_WR)`: sends FIN after the queued bytes, keeps reading possible.
pub fn shutdown_write(fd: RawFd) {
    // SAFETY: shutdown(2) takes no pointers; on a bad fd it fails harmlessly (ignored: the
    // close that follows reports nothing either).
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
}

/// Makes the next `close` send RST instead of FIN: the peer sees an error, not a clean end.
/// Used when a response cannot be completed, so that a proxy never takes a truncated
/// close-delimited body for a complete one.
pub fn set_linger_zero(fd: RawFd) {
    let l = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `l` outlives the call and the size matches.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// Sets an integer socket option.
pub fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` outlives the call and the size matches.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A non-blocking, close-on-exec monotonic timerfd.
pub fn timerfd_create() -> io::Result<RawFd> {
    // SAFETY: timerfd_create(2) takes no pointers; a failure is -1, checked.
    check(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) })
}

/// Arms `fd` to fire every `interval_ms` (0 disarms it).
pub fn timerfd_set_interval(fd: RawFd, interval_ms: u64) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: (interval_ms / 1000) as libc::time_t,
        tv_nsec: ((interval_ms % 1000) * 1_000_000) as libc::c_long,
    };
    let spec = libc::itimerspec { it_interval: ts, it_value: ts };
    // SAFETY: `spec` outlives the call; the old value is not requested.
    check(unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) }).map(drop)
}

/// Milliseconds on the monotonic clock: timeouts never jump with the wall clock.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// What one read of a non-blocking socket gave.
pub enum Read {
    /// This many bytes.
    Data(usize),
    /// The peer closed.
    Eof,
    /// Nothing yet.
    WouldBlock,
    /// The connection failed (reset).
    Failed,
}

/// Reads what is there, retrying on EINTR.
pub fn read_some(fd: i32, buf: &mut [u8]) -> Read {
    loop {
        return match read(fd, buf) {
            Ok(0) => Read::Eof,
            Ok(n) => Read::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => Read::Failed,
        };
    }
}

/// The peer's (`peer = true`) or our own address of a TCP socket; `None` for a Unix socket.
pub fn socket_addr(fd: RawFd, peer: bool) -> Option<std::net::SocketAddr> {
    // SAFETY: a zeroed sockaddr_storage is a valid out-buffer of the length we pass.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: `ptr` and `len` describe `storage`, which outlives the call.
    let rc = unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    };
    if rc != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(std::net::SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(std::net::SocketAddr::new(ip.into(), u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
}
