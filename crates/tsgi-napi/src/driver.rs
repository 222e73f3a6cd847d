//! What drives a reactor from Node's event loop: the state a `Reactor` object shares with
//! its libuv poll handle ([`Driver`]), what one wake-up does, and the callbacks libuv and
//! Node call it back through.
//!
//! The reactor's epoll fd is registered with Node's own loop (`uv_poll`, see uv.rs), so
//! when sockets are ready Node calls us on its main thread (no thread hop), and each
//! wake-up makes **one** call into JavaScript with the whole batch. A panic never unwinds
//! into libuv or Node: the poll callback catches it (the reactor already isolates panics
//! per connection) and closes the reactor.
//!
//! The listeners wait in the loop's own epoll set with `EPOLLEXCLUSIVE`, so that one
//! worker of those sharing a socket wakes per connection (see tsgi-reactor's accept.rs for
//! why the reactor's set cannot do it). libuv finds the callback of an event by the fd in
//! its data word: theirs names the bell, an eventfd never written that a second `uv_poll`
//! watches, whose callback tells the reactor to accept. The bell is watched for as long
//! as the reactor is, and the listeners leave the loop's set when the reactor closes
//! (`stop`), before libuv could see an event naming a bell it no longer polls.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};

use tsgi_reactor::batch::Batch;
use tsgi_reactor::{Config, Reactor};

use crate::convert::{napi_check, typed_array};
use crate::uv;

/// State shared by the JavaScript object and the libuv handle.
pub struct Driver {
    pub reactor: RefCell<Reactor>,
    pub env: sys::napi_env,
    on_batch: sys::napi_ref,
    buffers: sys::napi_ref,
    arena: (*mut u8, usize),
    index: (*mut u32, usize),
    async_context: sys::napi_async_context,
    poll: Cell<Option<uv::Poll>>,
    /// The bell's handle, and its eventfd (-1 when listeners wait in the reactor's set).
    bell: Cell<Option<uv::Poll>>,
    bell_fd: c_int,
}

impl Driver {
    /// Makes a reactor with `config` and starts polling it on `env`'s loop: `on_batch` is
    /// called with each batch, written into `arena` (a Uint8Array) and `index` (a
    /// Uint32Array), which are kept alive until [`Driver::release`].
    pub fn start(env: &Env, config: Config, on_batch: Unknown, arena: Unknown, index: Unknown) -> Result<Rc<Driver>> {
        let raw_env = env.raw();
        // SAFETY: values of this call, on the JS thread.
        let (arena_ptr, arena_len) = unsafe { typed_array(raw_env, arena.raw(), sys::TypedarrayType::uint8_array)? };
        // SAFETY: as above.
        let (index_ptr, index_len) = unsafe { typed_array(raw_env, index.raw(), sys::TypedarrayType::uint32_array)? };
        if arena_len < 2 * (4 + usize::from(config.uwsgi.max_vars_block)) || index_len < 16 * 1024 {
            return Err(Error::new(Status::InvalidArg, "arena or index too small for a maximal request head"));
        }
        let exclusive_accept = config.exclusive_accept;
        let reactor = Reactor::new(config).map_err(|e| Error::from_reason(format!("reactor: {e}")))?;
        let fd = reactor.fd();
        // SAFETY: plain Node-API calls on the JS thread with values of this call.
        let (on_batch_ref, buffers_ref, async_context, event_loop) = unsafe {
            let mut on_batch_ref = ptr::null_mut();
            napi_check(
                sys::napi_create_reference(raw_env, on_batch.raw(), 1, &mut on_batch_ref),
                "napi_create_reference",
            )?;
            // One array holding both buffers, referenced strongly, keeps them alive.
            let mut holder = ptr::null_mut();
            napi_check(sys::napi_create_array_with_length(raw_env, 2, &mut holder), "napi_create_array")?;
            sys::napi_set_element(raw_env, holder, 0, arena.raw());
            sys::napi_set_element(raw_env, holder, 1, index.raw());
            let mut buffers_ref = ptr::null_mut();
            napi_check(sys::napi_create_reference(raw_env, holder, 1, &mut buffers_ref), "napi_create_reference")?;
            let mut name = ptr::null_mut();
            sys::napi_create_string_utf8(raw_env, c"tsgi.reactor".as_ptr(), -1, &mut name);
            let mut async_context = ptr::null_mut();
            napi_check(sys::napi_async_init(raw_env, ptr::null_mut(), name, &mut async_context), "napi_async_init")?;
            let mut event_loop = ptr::null_mut();
            napi_check(sys::napi_get_uv_event_loop(raw_env, &mut event_loop), "napi_get_uv_event_loop")?;
            (on_batch_ref, buffers_ref, async_context, event_loop)
        };
        // The bell: an eventfd never written, for the listeners' events in the loop's set.
        let bell_fd = match exclusive_accept {
            // SAFETY: eventfd(2) takes no pointers; a failure is -1.
            true => unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) },
            false => -1,
        };
        let driver = Rc::new(Driver {
            reactor: RefCell::new(reactor),
            env: raw_env,
            on_batch: on_batch_ref,
            buffers: buffers_ref,
            arena: (arena_ptr.cast(), arena_len),
            index: (index_ptr.cast(), index_len),
            async_context,
            poll: Cell::new(None),
            bell: Cell::new(None),
            bell_fd,
        });
        let data = Rc::into_raw(driver.clone()) as *mut c_void;
        // SAFETY: the loop is this thread's; `data` stays valid until `on_poll_closed`.
        let poll = unsafe { uv::Poll::start(event_loop.cast(), fd, data, on_poll) }.map_err(|rc| {
            // SAFETY: the handle was not started, so the leaked reference is ours again.
            unsafe { drop(Rc::from_raw(data as *const Driver)) };
            Error::from_reason(format!("uv_poll_start failed ({rc})"))
        })?;
        driver.poll.set(Some(poll));
        if exclusive_accept && bell_fd >= 0 {
            driver.ring_on_host(event_loop.cast());
        }
        // SAFETY: the hook is removed in `release`, before `driver` can be dropped.
        unsafe { sys::napi_add_env_cleanup_hook(raw_env, Some(on_env_cleanup), Rc::as_ptr(&driver) as *mut c_void) };
        Ok(driver)
    }

    /// Watches the bell and moves the listeners to the loop's epoll set; if either fails,
    /// they stay in the reactor's set, where every worker wakes per connection.
    fn ring_on_host(self: &Rc<Self>, event_loop: *mut c_void) {
        // SAFETY: this thread's live loop.
        let backend = unsafe { uv::backend_fd(event_loop) };
        if backend < 0 {
            return;
        }
        let data = Rc::into_raw(self.clone()) as *mut c_void;
        // SAFETY: the loop is this thread's; `data` stays valid until `on_poll_closed`.
        match unsafe { uv::Poll::start(event_loop, self.bell_fd, data, on_bell) } {
            Ok(bell) => {
                self.bell.set(Some(bell));
                if self.reactor.borrow_mut().accept_on_host(backend, self.bell_fd as u64).is_err() {
                    if let Some(bell) = self.bell.take() {
                        bell.close(on_poll_closed);
                    }
                }
            }
            // SAFETY: the handle was not started, so the leaked reference is ours again.
            Err(_) => unsafe { drop(Rc::from_raw(data as *const Driver)) },
        }
    }

    /// One wake-up: poll, hand the batch to JavaScript, flush what it wrote; again while
    /// the reactor has more for right away.
    fn run(&self) {
        loop {
            let (words, more) = {
                let mut reactor = self.reactor.borrow_mut();
                // SAFETY: both buffers are kept alive by `self.buffers` (a strong
                // reference), are only touched on this thread, and JavaScript reads them
                // only during the call below, after this borrow ends.
                let (arena, index) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(self.arena.0, self.arena.1),
                        std::slice::from_raw_parts_mut(self.index.0, self.index.1),
                    )
                };
                let mut batch = Batch::new(arena, index);
                let more = reactor.poll(&mut batch);
                (batch.words(), more)
            };
            if words > 0 {
                self.call_js(words as u32);
            }
            self.reactor.borrow_mut().flush_corked();
            if !more {
                break;
            }
        }
    }

    fn call_js(&self, words: u32) {
        let env = self.env;
        // SAFETY: on the JS thread, inside a libuv callback; every napi_value lives in
        // the handle scope opened here. `napi_make_callback` runs the microtask queue as
        // it returns, so promise continuations of the batch also run corked.
        unsafe {
            let mut scope = ptr::null_mut();
            sys::napi_open_handle_scope(env, &mut scope);
            let mut callback = ptr::null_mut();
            let mut recv = ptr::null_mut();
            let mut arg = ptr::null_mut();
            let mut result = ptr::null_mut();
            sys::napi_get_reference_value(env, self.on_batch, &mut callback);
            // napi_make_callback converts the receiver to an object: undefined would throw.
            sys::napi_get_global(env, &mut recv);
            sys::napi_create_uint32(env, words, &mut arg);
            let status = sys::napi_make_callback(env, self.async_context, recv, callback, 1, &arg, &mut result);
            if status == sys::Status::napi_pending_exception {
                // The batch handler catches app errors itself; this is a bug in ours.
                // Report it as Node reports an exception thrown by an event callback.
                let mut error = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut error);
                sys::napi_fatal_exception(env, error);
            }
            sys::napi_close_handle_scope(env, scope);
        }
    }

    /// Stops polling and closes the reactor's listeners and connections.
    fn stop(&self) {
        if let Some(poll) = self.poll.take() {
            poll.close(on_poll_closed);
        }
        // The listeners leave the loop's set before the bell stops being watched.
        self.reactor.borrow_mut().close();
        if let Some(bell) = self.bell.take() {
            bell.close(on_poll_closed);
        }
    }

    /// Lets go of what [`Driver::start`] took from JavaScript (the callback, the buffers,
    /// the async context, the cleanup hook), then stops. Called once, by `close`.
    pub fn release(self: &Rc<Self>) {
        // SAFETY: removes the hook added in `start` with the same arguments, then releases
        // the references taken there, on the JS thread.
        unsafe {
            sys::napi_remove_env_cleanup_hook(self.env, Some(on_env_cleanup), Rc::as_ptr(self) as *mut c_void);
            sys::napi_delete_reference(self.env, self.on_batch);
            sys::napi_delete_reference(self.env, self.buffers);
            sys::napi_async_destroy(self.env, self.async_context);
        }
        self.stop();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.bell_fd >= 0 {
            // SAFETY: ours, and both handles are closed (each held a reference).
            unsafe { libc::close(self.bell_fd) };
        }
    }
}

extern "C" fn on_poll(handle: *mut c_void, _status: c_int, _events: c_int) {
    wake(handle, false);
}

extern "C" fn on_bell(handle: *mut c_void, _status: c_int, _events: c_int) {
    wake(handle, true);
}

/// A poll callback: a listener is ready (`accept`) or the reactor's set.
fn wake(handle: *mut c_void, accept: bool) {
    // SAFETY: the handle's data is an `Rc<Driver>` leaked in `Driver::start` or
    // `ring_on_host` and reclaimed only in the close callback, which libuv runs after the
    // last poll callback.
    let driver = unsafe { &*(uv::Poll::data(handle) as *const Driver) };
    // A panic must never unwind into libuv or Node. The reactor already isolates panics
    // per connection; this is the last line.
    let run = || {
        if accept {
            driver.reactor.borrow_mut().listeners_ready();
        }
        driver.run();
    };
    if catch_unwind(AssertUnwindSafe(run)).is_err() {
        eprintln!("tsgi: internal error in the reactor (a panic outside any connection); closing it");
        driver.stop();
    }
}

extern "C" fn on_poll_closed(handle: *mut c_void) {
    // SAFETY: reclaims the reference leaked in `Driver::start`; libuv calls this once.
    unsafe {
        drop(Rc::from_raw(uv::Poll::data(handle) as *const Driver));
        uv::Poll::free(handle);
    }
}

extern "C" fn on_env_cleanup(data: *mut c_void) {
    // SAFETY: `data` is the `Driver` of a reactor whose hook is removed in `release` before
    // its last reference can go; while the hook is registered the poll handle holds one.
    let driver = unsafe { &*(data as *const Driver) };
    driver.stop();
}
