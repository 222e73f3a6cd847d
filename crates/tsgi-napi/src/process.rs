//! What tsgi's processes need from the OS that Node does not offer: a worker dying with
//! its master and sharing memory with it; the master telling systemd how it is.

use std::ffi::c_void;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::ptr;

use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Asks the kernel to send `signal` to this process when its parent dies (Linux
/// `PR_SET_PDEATHSIG`), so a worker never outlives a master killed with SIGKILL. Node
/// spawns children with no hook between fork and exec, so the worker sets it itself;
/// the caller then checks that its parent is still the master, to close the race with
/// a master that died before this call.
#[napi(catch_unwind)]
pub fn set_parent_death_signal(signal: i32) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Error::from_reason(format!("prctl(PR_SET_PDEATHSIG): {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

/// Maps `length` bytes of the file `fd` (the master's scoreboard) shared with every other
/// process that maps or reads it, and returns them as a Buffer: the worker's writes reach
/// the master with no system call. The mapping is removed when the Buffer is collected.
#[napi(catch_unwind)]
pub fn map_shared(env: &Env, fd: i32, length: u32) -> Result<BufferSlice<'_>> {
    let len = length as usize;
    if len == 0 {
        return Err(Error::new(Status::InvalidArg, "mapShared: length must be above 0"));
    }
    // SAFETY: a fresh shared mapping of an fd the caller owns; checked for failure below.
    let data = unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
    if data == libc::MAP_FAILED {
        return Err(Error::from_reason(format!("mmap of fd {fd}: {}", std::io::Error::last_os_error())));
    }
    let unmap = move |_env: Env, address: usize| {
        // SAFETY: the mapping made above, unmapped once, when its Buffer is gone.
        unsafe { libc::munmap(address as *mut c_void, len) };
    };
    // SAFETY: `data` is valid for `len` bytes until `unmap` runs, which Node calls once
    // the Buffer is collected.
    let buffer = unsafe { BufferSlice::from_external(env, data.cast(), len, data as usize, unmap)? };
    if buffer.as_ptr() != data.cast_const().cast() {
        // A runtime without external buffers got a copy, which the master would never see.
        return Err(Error::from_reason("mapShared: this runtime does not allow external buffers"));
    }
    Ok(buffer)
}

/// Sends `state` (`READY=1`, `STATUS=...`) in one datagram to systemd's notification
/// socket `path` (`$NOTIFY_SOCKET`; a leading `@` names an abstract socket), as
/// `sd_notify(3)` does. Node has no Unix datagram sockets; the master calls this, so the
/// sender is the service's main process, the only one systemd listens to by default
/// (`NotifyAccess=main`).
#[napi(catch_unwind)]
pub fn notify(path: String, state: String) -> Result<()> {
    let failed = |error: std::io::Error| Error::from_reason(format!("{path}: {error}"));
    let address = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    }
    .map_err(failed)?;
    let socket = UnixDatagram::unbound().map_err(failed)?;
    socket.send_to_addr(state.as_bytes(), &address).map_err(failed)?;
    Ok(())
}
