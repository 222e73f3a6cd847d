//! tsgi-napi: the N-API binding of the tsgi reactor. This file is its exports: the
//! `Reactor` class and the exported functions; what they stand on is in the modules:
//!
//! - `options`: the reactor options JavaScript gives, their defaults and their mapping
//!   onto `tsgi_reactor::Config`;
//! - `driver`: the reactor polled from Node's event loop, one call into JavaScript per
//!   wake-up with the whole batch;
//! - `uv`: the few libuv functions that takes;
//! - `convert`: raw Node-API values in and out, and the wording of errors;
//! - `process`: what the processes need from the OS: a worker's parent-death signal and
//!   shared memory, the master's systemd notifications (re-exported here);
//! - `parse_batch`: the codec micro-benchmarks' entry, built only with the `bench` feature.
//!
//! JavaScript writes responses through [`BindingReactor::write`], one call per response
//! piece, with the head as a latin-1 string copied straight into the connection's queue.
//! A panic never unwinds into Node: every exported method is `catch_unwind`, so a panic
//! there becomes a JavaScript exception (and the poll callback catches its own).
#![deny(clippy::undocumented_unsafe_blocks)]

mod convert;
mod driver;
mod options;
#[cfg(any(test, feature = "bench"))]
mod parse_batch;
mod process;
mod uv;

use std::collections::HashMap;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::JsValue;
use napi_derive::napi;

use tsgi_reactor::batch;
use tsgi_reactor::{Config, FilePiece, WriteEnd};

use convert::{append_value, held_array, io_error_message, parse_protocol, Encoding};
use driver::Driver;
pub use options::BindingReactorOptions;
pub use process::{map_shared, notify, set_parent_death_signal};

/// A reactor: listeners and connections of one worker, polled by Node's event loop.
#[napi(js_name = "Reactor")]
pub struct BindingReactor {
    driver: Rc<Driver>,
    closed: bool,
}

#[napi]
impl BindingReactor {
    /// Creates a reactor. `onBatch(words)` is called once per wake-up; `arena` and `index`
    /// are the shared buffers the batch is written into (see batch.rs for the layout).
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        #[napi(ts_arg_type = "(words: number) => void")] on_batch: Unknown,
        #[napi(ts_arg_type = "Uint8Array")] arena: Unknown,
        #[napi(ts_arg_type = "Uint32Array")] index: Unknown,
        options: Option<BindingReactorOptions>,
    ) -> Result<Self> {
        let config = options.unwrap_or_default().into_config();
        Ok(BindingReactor { driver: Driver::start(&env, config, on_batch, arena, index)?, closed: false })
    }

    /// Binds `address` and serves `protocol` on it; returns the bound address.
    #[napi(catch_unwind)]
    pub fn listen(
        &self,
        address: String,
        #[napi(ts_arg_type = "'uwsgi' | 'fastcgi' | 'http'")] protocol: String,
        backlog: u32,
        mode: u32,
    ) -> Result<String> {
        let protocol = parse_protocol(&protocol)?;
        let info = self
            .driver
            .reactor
            .borrow_mut()
            .listen(&address, protocol, backlog, mode)
            .map_err(|e| Error::new(Status::GenericFailure, io_error_message(&e)))?;
        Ok(info.local)
    }

    /// Serves `protocol` on a socket inherited from the master process, first listening
    /// on it with `backlog` if given (the master binds without listening).
    #[napi(catch_unwind)]
    pub fn adopt(
        &self,
        fd: i32,
        #[napi(ts_arg_type = "'uwsgi' | 'fastcgi' | 'http'")] protocol: String,
        backlog: Option<u32>,
    ) -> Result<()> {
        let protocol = parse_protocol(&protocol)?;
        self.driver
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
    pub fn write(
        &self,
        token: u32,
        #[napi(ts_arg_type = "string | null")] head: Unknown,
        #[napi(ts_arg_type = "Uint8Array | string | null")] body: Unknown,
        #[napi(ts_arg_type = "0 | 1 | 2")] end: u32,
    ) -> Result<i64> {
        let Some(end) = WriteEnd::from_word(end) else {
            return Err(Error::new(Status::InvalidArg, format!("write: end must be 0, 1 or 2, got {end}")));
        };
        let env = self.driver.env;
        let mut reactor = self.driver.reactor.borrow_mut();
        // SAFETY: a value of this call, on the JS thread.
        let held = unsafe { held_array(env, body.raw()) };
        let Some(out) = reactor.output(token) else { return Ok(-1) };
        // SAFETY: values of this call, on the JS thread.
        let appended = unsafe {
            append_value(env, out, head.raw(), Encoding::Latin1).and_then(|()| match held {
                Some(_) => Ok(()),
                None => append_value(env, out, body.raw(), Encoding::Utf8),
            })
        };
        if let Err(error) = appended {
            reactor.cancel_write(token);
            return Err(error);
        }
        if let Some(held) = held {
            reactor.hold(token, Box::new(held));
        }
        Ok(reactor.commit_write(token, end))
    }

    /// Queues `head` (a latin-1 string, or null) then `length` bytes of the open file `fd`
    /// from `offset`, sent with `sendfile(2)` (HTTP and uwsgi). The reactor takes `fd` if
    /// `owned` and closes it when sent or when the connection ends; else it sends from a
    /// duplicate and the caller keeps `fd`. `end` and the result are
    /// [`BindingReactor::write`]'s, and -2 when nothing was queued because the request
    /// cannot send files (FastCGI, whose records frame every byte): the caller then reads
    /// the file and writes its bytes, and `fd` stays the caller's.
    // One crossing per file piece, as `write` is one per chunk: the arguments are flat.
    #[allow(clippy::too_many_arguments)]
    #[napi(catch_unwind)]
    pub fn send_file(
        &self,
        token: u32,
        #[napi(ts_arg_type = "string | null")] head: Unknown,
        fd: i32,
        offset: f64,
        length: f64,
        #[napi(ts_arg_type = "0 | 1 | 2")] end: u32,
        owned: bool,
    ) -> Result<i64> {
        let Some(end) = WriteEnd::from_word(end) else {
            return Err(Error::new(Status::InvalidArg, format!("sendFile: end must be 0, 1 or 2, got {end}")));
        };
        if !(offset >= 0.0 && length >= 0.0 && offset.fract() == 0.0 && length.fract() == 0.0) {
            let why = format!("sendFile: offset {offset} and length {length} must be whole and not negative");
            return Err(Error::new(Status::InvalidArg, why));
        }
        let env = self.driver.env;
        let mut reactor = self.driver.reactor.borrow_mut();
        match reactor.sends_files(token) {
            None => return Ok(-1),
            Some(false) => return Ok(-2),
            Some(true) => {}
        }
        let Some(out) = reactor.output(token) else { return Ok(-1) };
        // SAFETY: a value of this call, on the JS thread.
        if let Err(error) = unsafe { append_value(env, out, head.raw(), Encoding::Latin1) } {
            reactor.cancel_write(token);
            return Err(error);
        }
        // Taken last: on any earlier failure `fd` is still the caller's, and closed once.
        let file = match FilePiece::from_raw(fd, owned, offset as u64, length as u64) {
            Ok(file) => file,
            Err(e) => {
                reactor.cancel_write(token);
                return Err(Error::from_reason(format!("sendFile: {}", io_error_message(&e))));
            }
        };
        reactor.send_file(token, file);
        Ok(reactor.commit_write(token, end))
    }

    /// Sends `text` (a string or Uint8Array) to the web server's error log with the
    /// request `token` (FastCGI STDERR). Returns false where the protocol has no such
    /// channel (uwsgi) or the request is gone: the caller logs it itself.
    #[napi(catch_unwind)]
    pub fn write_error(&self, token: u32, #[napi(ts_arg_type = "Uint8Array | string")] text: Unknown) -> Result<bool> {
        let mut bytes = Vec::new();
        // SAFETY: a value of this call, on the JS thread.
        unsafe { append_value(self.driver.env, &mut bytes, text.raw(), Encoding::Utf8)? };
        Ok(self.driver.reactor.borrow_mut().write_error(token, &bytes))
    }

    /// The app answers 101 to the upgrade request `token` (HTTP, or uwsgi): from now on the
    /// bytes of the connection are the app's both ways. False if the request is gone or not one.
    #[napi(catch_unwind)]
    pub fn upgrade(&self, token: u32) -> bool {
        self.driver.reactor.borrow_mut().upgrade(token)
    }

    /// Stops (`true`) or resumes reading the body of `token`.
    #[napi(catch_unwind)]
    pub fn pause(&self, token: u32, paused: bool) {
        self.driver.reactor.borrow_mut().pause(token, paused);
    }

    /// Resets the connection of `token` (the response cannot be completed).
    #[napi(catch_unwind)]
    pub fn abort(&self, token: u32) {
        self.driver.reactor.borrow_mut().abort(token);
    }

    /// Stops taking new work (a graceful stop): closes the listeners and the kept-alive
    /// connections waiting for a next request; the others close after their current
    /// response.
    #[napi(catch_unwind)]
    pub fn stop_listening(&self) {
        self.driver.reactor.borrow_mut().stop_listening();
    }

    /// Connections accepted since the reactor started.
    #[napi(getter)]
    pub fn accepted(&self) -> f64 {
        self.driver.reactor.borrow().accepted() as f64
    }

    /// Bytes sent with `sendfile(2)` by this process so far (the stats' proof that files
    /// go out without a copy through JavaScript).
    #[napi(getter)]
    pub fn sent_file_bytes(&self) -> f64 {
        tsgi_reactor::sent_file_bytes() as f64
    }

    /// Open connections.
    #[napi(getter)]
    pub fn connections(&self) -> u32 {
        self.driver.reactor.borrow().connections() as u32
    }

    /// Closes listeners and connections and stops polling; the process may then exit.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.driver.release();
    }
}

/// The options a reactor takes when given none (tsgi-reactor's `Config::default()`),
/// every field set. A test holds them to the defaults of the option table.
#[napi(ts_return_type = "Required<BindingReactorOptions>")]
pub fn default_options() -> BindingReactorOptions {
    BindingReactorOptions::from(&Config::default())
}

/// The position of the open file `fd` (where reading it goes on): what
/// `tsgi.file_wrapper` over a caller's descriptor sends from.
#[napi(catch_unwind)]
pub fn file_position(fd: i32) -> Result<f64> {
    tsgi_reactor::file_position(fd).map(|at| at as f64).map_err(|e| Error::from_reason(io_error_message(&e)))
}

/// The known CGI keys in id order (id = index + 1); `src/codec/keys.ts` must match.
#[napi]
pub fn known_keys() -> Vec<&'static str> {
    tsgi_wire::keys::KNOWN_KEYS.to_vec()
}

/// The batch layout constants; `src/native/batch.ts` must match (a test compares them).
#[napi]
pub fn batch_layout() -> HashMap<&'static str, u32> {
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
        ("TOKEN_SLOT_BITS", tsgi_reactor::TOKEN_SLOT_BITS),
    ]
    .into_iter()
    .collect()
}

/// What [`parse_batch`] found: requests parsed, vars in them, bytes consumed.
#[cfg(feature = "bench")]
#[napi(object)]
pub struct BindingParsedBatch {
    pub requests: u32,
    pub vars: f64,
    pub bytes: f64,
}

/// For the codec micro-benchmarks (`bench/codec/`), never the server, and only in the
/// binary built with the `bench` feature (`npm run build:bench-binding`): parses `count`
/// requests of `protocol` laid end to end at the start of `buffer`, each with its body,
/// with tsgi-wire's codecs, in one call so that the crossing into native code is amortized
/// as in the reactor's batch. Throws, naming the request and the codec's error code, if
/// one is incomplete or refused.
#[cfg(feature = "bench")]
#[napi(catch_unwind)]
pub fn parse_batch(
    #[napi(ts_arg_type = "'uwsgi' | 'fastcgi' | 'http'")] protocol: String,
    buffer: &[u8],
    count: u32,
) -> Result<BindingParsedBatch> {
    let wire = match parse_protocol(&protocol)? {
        tsgi_reactor::Protocol::Uwsgi => parse_batch::Wire::Uwsgi,
        tsgi_reactor::Protocol::Fastcgi => parse_batch::Wire::Fastcgi,
        tsgi_reactor::Protocol::Http => parse_batch::Wire::Http,
    };
    let parsed = parse_batch::parse_batch(wire, buffer, count).map_err(|why| Error::new(Status::InvalidArg, why))?;
    Ok(BindingParsedBatch { requests: parsed.requests, vars: parsed.vars as f64, bytes: parsed.bytes as f64 })
}
