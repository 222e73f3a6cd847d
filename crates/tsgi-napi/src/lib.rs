//! tsgi-napi: the N-API binding of the tsgi reactor.
//!
//! Thin on purpose: it registers the reactor's epoll fd with Node's own libuv loop
//! (`uv_poll`), so that when sockets are ready Node calls us on its main thread (no
//! thread hop), and on each wake-up makes **one** call into JavaScript with the whole
//! batch. JavaScript writes responses through [`BindingReactor::write`], one call per
//! response piece, with the head as a latin-1 string copied straight into the
//! connection's queue.
//!
//! A panic never unwinds into Node: the poll callback catches it (the reactor already
//! isolates panics per connection), and every exported method is `catch_unwind`, so a
//! panic there becomes a JavaScript exception.
#![deny(clippy::undocumented_unsafe_blocks)]

mod parse_batch;
mod process;
mod uv;

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;

use tsgi_reactor::batch::{self, Batch};
use tsgi_reactor::{Config, Protocol, Reactor, WriteEnd};

/// Options of a reactor (the subset of the server options the native side enforces).
#[napi(object)]
pub struct BindingReactorOptions {
    /// Largest uwsgi vars block, bytes (`buffer-size`). @default 65535
    pub buffer_size: Option<u32>,
    /// Most vars per request (`max-vars`). @default 1000
    pub max_vars: Option<u32>,
    /// Largest request body, bytes; 0 = no limit (`limit-post`). @default 0
    pub limit_post: Option<f64>,
    /// Head, body-idle and write-stall timeout, ms (`socket-timeout`). @default 10000
    pub socket_timeout_ms: Option<u32>,
    /// Idle time allowed between requests on a kept-alive HTTP connection, ms (`http-keepalive-timeout`). @default 65000
    pub keepalive_timeout_ms: Option<u32>,
    /// An HTTP request must arrive whole within this of its first byte, ms (`http-request-timeout`). @default 300000
    pub request_timeout_ms: Option<u32>,
    /// Queue size above which `write` asks for a DRAIN before more, bytes. @default 262144
    pub write_high_water: Option<u32>,
    /// Longest lingering close, ms. @default 5000
    pub linger_ms: Option<u32>,
    /// Longest HTTP request line, bytes (`http-max-request-line`). @default 8192
    pub http_max_request_line: Option<u32>,
    /// Largest HTTP head, bytes (`http-max-head`). @default 16384
    pub http_max_head: Option<u32>,
    /// Most HTTP header fields (`http-max-headers`). @default 100
    pub http_max_headers: Option<u32>,
    /// Most chunk-extension bytes on one chunk-size line (`http-max-chunk-extension`). @default 4096
    pub http_max_chunk_extension: Option<u32>,
    /// Most open connections; at it, accepting stops until one closes (`max-conns`). @default 10000
    pub max_conns: Option<u32>,
    /// Most requests at once on one FastCGI connection (`fastcgi-max-reqs`). @default 100
    pub fastcgi_max_reqs: Option<u32>,
    /// Whether a FastCGI connection may carry several requests at once (`fastcgi-multiplex`). @default true
    pub fastcgi_multiplex: Option<bool>,
}

impl BindingReactorOptions {
    fn into_config(self) -> Config {
        let mut config = Config::default();
        if let Some(v) = self.buffer_size {
            config.uwsgi.max_vars_block = v.min(u32::from(u16::MAX)) as u16;
            config.fastcgi.max_params_bytes = v;
        }
        if let Some(v) = self.max_vars {
            config.uwsgi.max_vars = v;
            config.fastcgi.max_vars = v;
        }
        if let Some(v) = self.limit_post {
            config.uwsgi.max_body = v.max(0.0) as u64;
            config.fastcgi.max_body = v.max(0.0) as u64;
            config.http.max_body = v.max(0.0) as u64;
        }
        if let Some(v) = self.http_max_request_line {
            config.http.max_request_line = v;
        }
        if let Some(v) = self.http_max_head {
            config.http.max_head_bytes = v;
        }
        if let Some(v) = self.http_max_headers {
            config.http.max_headers = v;
        }
        if let Some(v) = self.http_max_chunk_extension {
            config.http.max_chunk_extension = v;
        }
        if let Some(v) = self.max_conns {
            config.max_conns = v.max(1) as usize;
        }
        if let Some(v) = self.fastcgi_max_reqs {
            config.fastcgi_max_reqs = v.max(1) as usize;
        }
        if let Some(v) = self.fastcgi_multiplex {
            config.fastcgi_multiplex = v;
        }
        if let Some(v) = self.socket_timeout_ms {
            config.socket_timeout_ms = u64::from(v);
        }
        if let Some(v) = self.keepalive_timeout_ms {
            config.keepalive_timeout_ms = u64::from(v);
        }
        if let Some(v) = self.request_timeout_ms {
            config.request_timeout_ms = u64::from(v);
        }
        if let Some(v) = self.write_high_water {
            config.write_high_water = v as usize;
        }
        if let Some(v) = self.linger_ms {
            config.linger_ms = u64::from(v);
        }
        config
    }
}

/// State shared by the JavaScript object and the libuv handle.
struct Shared {
    reactor: RefCell<Reactor>,
    env: sys::napi_env,
    on_batch: sys::napi_ref,
    buffers: sys::napi_ref,
    arena: (*mut u8, usize),
    index: (*mut u32, usize),
    async_context: sys::napi_async_context,
    poll: Cell<Option<uv::Poll>>,
}

impl Shared {
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

    fn stop(&self) {
        if let Some(poll) = self.poll.take() {
            poll.close(on_poll_closed);
        }
        self.reactor.borrow_mut().close();
    }
}

extern "C" fn on_poll(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: the handle's data is an `Rc<Shared>` leaked in `BindingReactor::new` and
    // reclaimed only in the close callback, which libuv runs after the last poll callback.
    let shared = unsafe { &*(uv::Poll::data(handle) as *const Shared) };
    // A panic must never unwind into libuv or Node. The reactor already isolates panics
    // per connection; this is the last line.
    if catch_unwind(AssertUnwindSafe(|| shared.run())).is_err() {
        eprintln!("tsgi: internal error in the reactor (a panic outside any connection); closing it");
        shared.stop();
    }
}

extern "C" fn on_poll_closed(handle: *mut c_void) {
    // SAFETY: reclaims the reference leaked in `BindingReactor::new`; libuv calls this once.
    unsafe {
        drop(Rc::from_raw(uv::Poll::data(handle) as *const Shared));
        uv::Poll::free(handle);
    }
}

extern "C" fn on_env_cleanup(data: *mut c_void) {
    // SAFETY: `data` is the `Shared` of a reactor whose hook is removed in `close` before
    // its last reference can go; while the hook is registered the poll handle holds one.
    let shared = unsafe { &*(data as *const Shared) };
    shared.stop();
}

/// A reactor: listeners and connections of one worker, polled by Node's event loop.
#[napi(js_name = "Reactor")]
pub struct BindingReactor {
    shared: Rc<Shared>,
    closed: bool,
}

fn napi_check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::GenericFailure, format!("{what} failed (napi status {status})")))
    }
}

#[napi]
impl BindingReactor {
    /// Creates a reactor. `onBatch(words)` is called once per wake-up; `arena` and `index`
    /// are the shared buffers the batch is written into (see batch.rs for the layout).
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        on_batch: Unknown,
        arena: Unknown,
        index: Unknown,
        options: Option<BindingReactorOptions>,
    ) -> Result<Self> {
        let raw_env = env.raw();
        let config = options.map(BindingReactorOptions::into_config).unwrap_or_default();
        // SAFETY: values of this call, on the JS thread.
        let (arena_ptr, arena_len) = unsafe { typed_array(raw_env, arena.raw(), sys::TypedarrayType::uint8_array)? };
        // SAFETY: as above.
        let (index_ptr, index_len) = unsafe { typed_array(raw_env, index.raw(), sys::TypedarrayType::uint32_array)? };
        if arena_len < 2 * (4 + usize::from(config.uwsgi.max_vars_block)) || index_len < 16 * 1024 {
            return Err(Error::new(Status::InvalidArg, "arena or index too small for a maximal request head"));
        }
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
        let shared = Rc::new(Shared {
            reactor: RefCell::new(reactor),
            env: raw_env,
            on_batch: on_batch_ref,
            buffers: buffers_ref,
            arena: (arena_ptr.cast(), arena_len),
            index: (index_ptr.cast(), index_len),
            async_context,
            poll: Cell::new(None),
        });
        let data = Rc::into_raw(shared.clone()) as *mut c_void;
        // SAFETY: the loop is this thread's; `data` stays valid until `on_poll_closed`.
        let poll = unsafe { uv::Poll::start(event_loop.cast(), fd, data, on_poll) }.map_err(|rc| {
            // SAFETY: the handle was not started, so the leaked reference is ours again.
            unsafe { drop(Rc::from_raw(data as *const Shared)) };
            Error::from_reason(format!("uv_poll_start failed ({rc})"))
        })?;
        shared.poll.set(Some(poll));
        // SAFETY: the hook is removed in `close`, before `shared` can be dropped.
        unsafe { sys::napi_add_env_cleanup_hook(raw_env, Some(on_env_cleanup), Rc::as_ptr(&shared) as *mut c_void) };
        Ok(BindingReactor { shared, closed: false })
    }

    /// Binds `address` and serves `protocol` ("uwsgi") on it; returns the bound address.
    #[napi(catch_unwind)]
    pub fn listen(&self, address: String, protocol: String, backlog: u32, mode: u32) -> Result<String> {
        let protocol = parse_protocol(&protocol)?;
        let info = self
            .shared
            .reactor
            .borrow_mut()
            .listen(&address, protocol, backlog, mode)
            .map_err(|e| Error::new(Status::GenericFailure, io_error_message(&e)))?;
        Ok(info.local)
    }

    /// Serves `protocol` on a socket inherited from the master process, first listening
    /// on it with `backlog` if given (the master binds without listening).
    #[napi(catch_unwind)]
    pub fn adopt(&self, fd: i32, protocol: String, backlog: Option<u32>) -> Result<()> {
        let protocol = parse_protocol(&protocol)?;
        self.shared
            .reactor
            .borrow_mut()
            .adopt(fd, protocol, backlog)
            .map_err(|e| Error::from_reason(io_error_message(&e)))
    }

    /// Queues response bytes for request `token`: `head` (a latin-1 string, or null) and
    /// `body` (a string, encoded as UTF-8, a Uint8Array, or null); `end` says whether the
    /// response goes on (0), is complete with the connection kept for the next request (1),
    /// or is complete with the connection closed after it (2). Returns the bytes still
    /// queued for the connection (wait for DRAIN when over the high-water mark), or -1 if
    /// the request is gone.
    #[napi(catch_unwind)]
    pub fn write(&self, token: u32, head: Unknown, body: Unknown, end: u32) -> Result<i64> {
        let Some(end) = WriteEnd::from_word(end) else {
            return Err(Error::new(Status::InvalidArg, format!("write: end must be 0, 1 or 2, got {end}")));
        };
        let env = self.shared.env;
        let mut reactor = self.shared.reactor.borrow_mut();
        let Some(out) = reactor.output(token) else { return Ok(-1) };
        // SAFETY: values of this call, on the JS thread.
        let appended = unsafe {
            append_value(env, out, head.raw(), Encoding::Latin1)
                .and_then(|()| append_value(env, out, body.raw(), Encoding::Utf8))
        };
        if let Err(error) = appended {
            reactor.cancel_write(token);
            return Err(error);
        }
        Ok(reactor.commit_write(token, end))
    }

    /// Sends `text` (a string or Uint8Array) to the web server's error log with the
    /// request `token` (FastCGI STDERR). Returns false where the protocol has no such
    /// channel (uwsgi) or the request is gone: the caller logs it itself.
    #[napi(catch_unwind)]
    pub fn write_error(&self, token: u32, text: Unknown) -> Result<bool> {
        let env = self.shared.env;
        let mut bytes = Vec::new();
        // SAFETY: a value of this call, on the JS thread.
        unsafe { append_value(env, &mut bytes, text.raw(), Encoding::Utf8)? };
        Ok(self.shared.reactor.borrow_mut().write_error(token, &bytes))
    }

    /// HTTP: the app answers 101 to the upgrade request `token`: from now on the bytes of
    /// the connection are the app's both ways. False if the request is gone or not one.
    #[napi(catch_unwind)]
    pub fn upgrade(&self, token: u32) -> bool {
        self.shared.reactor.borrow_mut().upgrade(token)
    }

    /// Stops (`true`) or resumes reading the body of `token`.
    #[napi(catch_unwind)]
    pub fn pause(&self, token: u32, paused: bool) {
        self.shared.reactor.borrow_mut().pause(token, paused);
    }

    /// Resets the connection of `token` (the response cannot be completed).
    #[napi(catch_unwind)]
    pub fn abort(&self, token: u32) {
        self.shared.reactor.borrow_mut().abort(token);
    }

    /// Stops taking new work (a graceful stop): closes the listeners and the kept-alive
    /// connections waiting for a next request; the others close after their current
    /// response.
    #[napi(catch_unwind)]
    pub fn stop_listening(&self) {
        self.shared.reactor.borrow_mut().stop_listening();
    }

    /// Open connections.
    /// Connections accepted since the reactor started.
    #[napi(getter)]
    pub fn accepted(&self) -> f64 {
        self.shared.reactor.borrow().accepted() as f64
    }

    #[napi(getter)]
    pub fn connections(&self) -> u32 {
        self.shared.reactor.borrow().connections() as u32
    }

    /// Closes listeners and connections and stops polling; the process may then exit.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let shared = &self.shared;
        // SAFETY: removes the hook added in `new` with the same arguments, then releases
        // the references taken there, on the JS thread.
        unsafe {
            sys::napi_remove_env_cleanup_hook(shared.env, Some(on_env_cleanup), Rc::as_ptr(shared) as *mut c_void);
            sys::napi_delete_reference(shared.env, shared.on_batch);
            sys::napi_delete_reference(shared.env, shared.buffers);
            sys::napi_async_destroy(shared.env, shared.async_context);
        }
        shared.stop();
    }
}

fn parse_protocol(name: &str) -> Result<Protocol> {
    match name {
        "uwsgi" => Ok(Protocol::Uwsgi),
        "fastcgi" => Ok(Protocol::Fastcgi),
        "http" => Ok(Protocol::Http),
        other => Err(Error::new(Status::InvalidArg, format!("unknown protocol {other:?}"))),
    }
}

/// "address already in use (EADDRINUSE)": the message Node users expect, with the code.
fn io_error_message(e: &std::io::Error) -> String {
    let code = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => " (EADDRINUSE)",
        Some(libc::EACCES) => " (EACCES)",
        Some(libc::EADDRNOTAVAIL) => " (EADDRNOTAVAIL)",
        Some(libc::ENOENT) => " (ENOENT)",
        _ => "",
    };
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_lowercase();
    format!("{text}{code}")
}

/// The data pointer and element count of a typed array of type `want`.
///
/// # Safety
/// `value` is a live value of `env`, on the JS thread.
unsafe fn typed_array(
    env: sys::napi_env,
    value: sys::napi_value,
    want: sys::napi_typedarray_type,
) -> Result<(*mut c_void, usize)> {
    let mut is_typed_array = false;
    // SAFETY: per the function's contract.
    unsafe { sys::napi_is_typedarray(env, value, &mut is_typed_array) };
    let mut array_type = 0;
    let mut length = 0usize;
    let mut data = ptr::null_mut();
    if is_typed_array {
        // SAFETY: a typed array; unused out-parameters may be null.
        unsafe {
            sys::napi_get_typedarray_info(
                env,
                value,
                &mut array_type,
                &mut length,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
    }
    if !is_typed_array || array_type != want || (data.is_null() && length > 0) {
        return Err(Error::new(Status::InvalidArg, "expected a string, a Uint8Array or null"));
    }
    Ok((data, length))
}

enum Encoding {
    Latin1,
    Utf8,
}

/// Appends a string (in `encoding`) or the bytes of a typed array to `out`; null and
/// undefined append nothing.
///
/// # Safety
/// `value` is a live value of `env`, on the JS thread.
unsafe fn append_value(
    env: sys::napi_env,
    out: &mut Vec<u8>,
    value: sys::napi_value,
    encoding: Encoding,
) -> Result<()> {
    let mut kind = 0;
    // SAFETY: per the function's contract.
    unsafe { sys::napi_typeof(env, value, &mut kind) };
    match kind {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(()),
        sys::ValueType::napi_string => {
            let get = match encoding {
                Encoding::Latin1 => sys::napi_get_value_string_latin1,
                Encoding::Utf8 => sys::napi_get_value_string_utf8,
            };
            let mut len = 0usize;
            // SAFETY: a null buffer asks for the length only.
            unsafe { get(env, value, ptr::null_mut(), 0, &mut len) };
            // Node-API always writes a terminating NUL, so room for one more byte.
            out.reserve(len + 1);
            let start = out.len();
            let mut written = 0usize;
            // SAFETY: `reserve` made room for `len + 1` bytes after `start`; Node-API
            // writes at most that and reports how many bytes precede the NUL.
            unsafe {
                get(env, value, out.as_mut_ptr().add(start).cast(), len + 1, &mut written);
                out.set_len(start + written.min(len));
            }
            Ok(())
        }
        sys::ValueType::napi_object => {
            // SAFETY: per the function's contract.
            let (data, length) = unsafe { typed_array(env, value, sys::TypedarrayType::uint8_array)? };
            if length > 0 {
                // SAFETY: Node-API gives the element pointer (offset applied) and the
                // length of a Uint8Array that stays alive for this call.
                out.extend_from_slice(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) });
            }
            Ok(())
        }
        _ => Err(Error::new(Status::InvalidArg, "expected a string, a Uint8Array or null")),
    }
}

/// What [`parse_batch`] found: requests parsed, vars in them, bytes consumed.
#[napi(object)]
pub struct BindingParsedBatch {
    pub requests: u32,
    pub vars: f64,
    pub bytes: f64,
}

/// For the codec micro-benchmarks (`bench/codec/`), never the server: parses `count`
/// requests of `protocol` ("uwsgi", "fastcgi" or "http") laid end to end at the start of
/// `buffer`, each with its body, with tsgi-wire's codecs, in one call so that the crossing
/// into native code is amortized as in the reactor's batch. Throws, naming the request
/// and the codec's error code, if one is incomplete or refused.
#[napi(catch_unwind)]
pub fn parse_batch(protocol: String, buffer: &[u8], count: u32) -> Result<BindingParsedBatch> {
    let wire = match parse_protocol(&protocol)? {
        Protocol::Uwsgi => parse_batch::Wire::Uwsgi,
        Protocol::Fastcgi => parse_batch::Wire::Fastcgi,
        Protocol::Http => parse_batch::Wire::Http,
    };
    let parsed = parse_batch::parse_batch(wire, buffer, count).map_err(|why| Error::new(Status::InvalidArg, why))?;
    Ok(BindingParsedBatch { requests: parsed.requests, vars: parsed.vars as f64, bytes: parsed.bytes as f64 })
}

/// The known CGI keys in id order (id = index + 1); `src/codec/keys.ts` must match.
#[napi]
pub fn known_keys() -> Vec<&'static str> {
    tsgi_wire::keys::KNOWN_KEYS.to_vec()
}

/// The batch layout constants; `src/native/batch.ts` must match (a test compares them).
#[napi]
pub fn batch_layout() -> std::collections::HashMap<&'static str, u32> {
    [
        ("REQUEST", batch::REQUEST),
        ("BODY", batch::BODY),
        ("BODY_END", batch::BODY_END),
        ("ABORT", batch::ABORT),
        ("DRAIN", batch::DRAIN),
        ("LOG", batch::LOG),
        ("REQUEST_HEADER_WORDS", batch::REQUEST_HEADER_WORDS as u32),
        ("VAR_WORDS", batch::VAR_WORDS as u32),
        ("PROTOCOL_UWSGI", batch::PROTOCOL_UWSGI),
        ("PROTOCOL_FASTCGI", batch::PROTOCOL_FASTCGI),
        ("PROTOCOL_HTTP", batch::PROTOCOL_HTTP),
        ("FLAG_KEEP_ALIVE", batch::FLAG_KEEP_ALIVE),
        ("FLAG_AWAITING_CONTINUE", batch::FLAG_AWAITING_CONTINUE),
        ("FLAG_UPGRADE", batch::FLAG_UPGRADE),
        ("FLAG_BODY_COMPLETE", batch::FLAG_BODY_COMPLETE),
        ("FLAG_MANAGE_PATH_INFO", batch::FLAG_MANAGE_PATH_INFO),
        ("WRITE_MORE", WriteEnd::More as u32),
        ("WRITE_END_KEEP_ALIVE", WriteEnd::KeepAlive as u32),
        ("WRITE_END_CLOSE", WriteEnd::Close as u32),
    ]
    .into_iter()
    .collect()
}
