//! The few libuv functions the binding needs, resolved from the node binary at load time.
//!
//! libuv is outside Node-API's ABI promise, but Node-API hands out the loop
//! (`napi_get_uv_event_loop`) precisely so addons can use it, and the handle functions
//! below have been stable through libuv 1.x. The handle's size is asked of libuv at run
//! time rather than assumed.

use std::ffi::c_void;
use std::os::raw::c_int;

/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
pub const UV_READABLE: c_int = 1;

/// Signature of a `uv_poll_cb`.
pub type PollCallback = extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
/// Signature of a `uv_close_cb`.
pub type CloseCallback = extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: CloseCallback);
    fn uv_backend_fd(event_loop: *const c_void) -> c_int;
}

/// The epoll fd of `event_loop` (Linux), or -1.
///
/// # Safety
/// `event_loop` is a live loop.
pub unsafe fn backend_fd(event_loop: *mut c_void) -> c_int {
    // SAFETY: the caller's loop; libuv only reads it.
    unsafe { uv_backend_fd(event_loop) }
}

/// A `uv_poll_t` on an fd, with `data` (the handle's first field) pointing at `data`.
pub struct Poll(*mut c_void);

impl Poll {
    /// Starts polling `fd` for readability on `event_loop`, calling `cb`.
    ///
    /// # Safety
    /// `event_loop` is the live loop of the current thread; `data` stays valid until the
    /// close callback of [`Poll::close`] has run.
    pub unsafe fn start(
        event_loop: *mut c_void,
        fd: c_int,
        data: *mut c_void,
        cb: PollCallback,
    ) -> Result<Poll, c_int> {
        // SAFETY: calloc gives zeroed memory of the size libuv says a poll handle needs.
        let handle = unsafe { libc::calloc(1, uv_handle_size(UV_POLL)) };
        if handle.is_null() {
            return Err(-12);
        }
        // SAFETY: a fresh handle, the caller's loop and fd.
        let rc = unsafe { uv_poll_init(event_loop, handle, fd) };
        if rc != 0 {
            // SAFETY: never initialised, so libuv holds no pointer to it.
            unsafe { libc::free(handle) };
            return Err(rc);
        }
        // SAFETY: `void* data` is the first field of every uv handle.
        unsafe { *(handle as *mut *mut c_void) = data };
        // SAFETY: initialised above.
        let rc = unsafe { uv_poll_start(handle, UV_READABLE, cb) };
        if rc != 0 {
            // SAFETY: initialised; libuv frees nothing, our callback frees the memory.
            unsafe { uv_close(handle, free_handle) };
            return Err(rc);
        }
        Ok(Poll(handle))
    }

    /// The `data` pointer of a handle passed to a poll callback.
    ///
    /// # Safety
    /// `handle` is a handle made by [`Poll::start`].
    pub unsafe fn data(handle: *mut c_void) -> *mut c_void {
        // SAFETY: as in `start`.
        unsafe { *(handle as *mut *mut c_void) }
    }

    /// Stops polling and closes the handle; `on_closed` runs (with the handle, whose
    /// data is still readable) on a later loop turn and must call [`Poll::free`].
    pub fn close(self, on_closed: CloseCallback) {
        // SAFETY: a started handle, closed exactly once (self is consumed).
        unsafe {
            uv_poll_stop(self.0);
            uv_close(self.0, on_closed);
        }
    }

    /// Frees a closed handle's memory.
    ///
    /// # Safety
    /// Only from the close callback.
    pub unsafe fn free(handle: *mut c_void) {
        // SAFETY: allocated with calloc in `start`; libuv is done with it.
        unsafe { libc::free(handle) };
    }
}

extern "C" fn free_handle(handle: *mut c_void) {
    // SAFETY: the close callback of a handle from `start`.
    unsafe { Poll::free(handle) };
}
