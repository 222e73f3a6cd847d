//! Listening sockets: parse an address the way uWSGI users write it, bind it, and hand
//! back a non-blocking fd.
//!
//! `HOST:PORT`, `[V6]:PORT` and `:PORT` (every IPv4 interface) give TCP; anything with a
//! `/` (or a `unix:` prefix) is a Unix socket path.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{IntoRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP address, already resolved.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl Address {
    /// Parses `spec` as uWSGI's `--socket` does.
    pub fn parse(spec: &str) -> io::Result<Address> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{spec:?}: {why}"));
        if let Some(path) = spec.strip_prefix("unix:") {
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if spec.contains('/') {
            return Ok(Address::Unix(PathBuf::from(spec)));
        }
        if spec.is_empty() {
            return Err(invalid("empty address"));
        }
        let host_port = if spec.starts_with(':') { format!("0.0.0.0{spec}") } else { spec.to_string() };
        if !host_port.contains(':') {
            return Err(invalid("expected HOST:PORT, :PORT or a socket path containing '/'"));
        }
        let mut addrs = host_port.to_socket_addrs().map_err(|e| invalid(&e.to_string()))?;
        addrs.next().map(Address::Tcp).ok_or_else(|| invalid("the name resolves to no address"))
    }
}

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub struct Bound {
    /// The listening fd; the caller owns it.
    pub fd: RawFd,
    /// The address as bound (for port 0, the port the kernel chose).
    pub local: String,
}

/// Binds `address` with the given backlog. For Unix sockets, `mode` sets the file mode
/// (applied through the umask at bind time, so the socket is never more open than asked).
pub fn bind(address: &Address, backlog: u32, mode: u32) -> io::Result<Bound> {
    let backlog = backlog.min(i32::MAX as u32) as libc::c_int;
    match address {
        Address::Tcp(addr) => {
            // std sets SO_REUSEADDR, so a restart does not wait for TIME_WAIT to clear.
            let listener = TcpListener::bind(addr)?;
            let local = listener.local_addr()?.to_string();
            listener.set_nonblocking(true)?;
            let fd = listener.into_raw_fd();
            relisten(fd, backlog)?;
            Ok(Bound { fd, local })
        }
        Address::Unix(path) => {
            remove_stale_socket(path)?;
            let listener = with_umask(!mode & 0o777, || UnixListener::bind(path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            listener.set_nonblocking(true)?;
            let fd = listener.into_raw_fd();
            relisten(fd, backlog)?;
            Ok(Bound { fd, local: path.display().to_string() })
        }
    }
}

/// std listens with a fixed backlog of 128; Linux lets a second `listen` set the real one.
fn relisten(fd: RawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: listen(2) takes no pointers; on a bad fd it fails with EBADF, checked below.
    if unsafe { libc::listen(fd, backlog) } < 0 {
        let err = io::Error::last_os_error();
        crate::sys::close(fd);
        return Err(err);
    }
    Ok(())
}

/// A socket file left by a server that died is removed; one that still answers belongs
/// to a live server, and binding over it would steal its address, so that is an error.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the path exists and is not a socket"));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(io::ErrorKind::AddrInUse, "another server is listening on this socket")),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}

fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask(2) takes no pointers and cannot fail; the previous mask is restored
    // right after.
    let old = unsafe { libc::umask(mask as libc::mode_t) };
    let result = f();
    // SAFETY: umask(2) takes no pointers and cannot fail.
    unsafe { libc::umask(old) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_address_forms_uwsgi_users_write() {
        assert_eq!(Address::parse("127.0.0.1:3031").unwrap(), Address::Tcp("127.0.0.1:3031".parse().unwrap()));
        assert_eq!(Address::parse("[::1]:3031").unwrap(), Address::Tcp("[::1]:3031".parse().unwrap()));
        assert_eq!(Address::parse(":3031").unwrap(), Address::Tcp("0.0.0.0:3031".parse().unwrap()));
        assert_eq!(Address::parse("/run/app.sock").unwrap(), Address::Unix("/run/app.sock".into()));
        assert_eq!(Address::parse("./app.sock").unwrap(), Address::Unix("./app.sock".into()));
        assert_eq!(Address::parse("unix:app.sock").unwrap(), Address::Unix("app.sock".into()));
        assert!(Address::parse("3031").is_err());
        assert!(Address::parse("").is_err());
        assert!(Address::parse("127.0.0.1:notaport").is_err());
    }

    #[test]
    fn a_unix_socket_gets_the_requested_mode_and_a_stale_one_is_replaced() {
        let dir = std::env::temp_dir().join(format!("tsgi-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let address = Address::Unix(path.clone());
        let first = bind(&address, 16, 0o660).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o660);
        // A live server owns the path: refuse.
        let err = bind(&address, 16, 0o660).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // The server died and left its file: take the path over.
        crate::sys::close(first.fd);
        let second = bind(&address, 16, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        crate::sys::close(second.fd);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_port_in_use_is_an_error() {
        let first = bind(&Address::parse("127.0.0.1:0").unwrap(), 16, 0).unwrap();
        let err = bind(&Address::parse(&first.local).unwrap(), 16, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        crate::sys::close(first.fd);
    }
}
