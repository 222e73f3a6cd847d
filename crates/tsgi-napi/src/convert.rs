//! Raw Node-API values in and out: typed arrays, strings and bytes appended to a queue,
//! protocol names, and the wording of the errors JavaScript sees. Everything here works
//! on `napi_value`s of the current call, on the JS thread; the `unsafe` functions say so.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;

use tsgi_reactor::Protocol;

/// What `write`, `writeError` and the constructor refuse: any other kind of value.
const NOT_BYTES: &str = "expected a string, a Uint8Array or null";

/// The wire protocol a listener speaks, from its JavaScript name.
pub fn parse_protocol(name: &str) -> Result<Protocol> {
    match name {
        "uwsgi" => Ok(Protocol::Uwsgi),
        "fastcgi" => Ok(Protocol::Fastcgi),
        "http" => Ok(Protocol::Http),
        other => Err(Error::new(Status::InvalidArg, format!("unknown protocol {other:?}"))),
    }
}

/// A Node-API call's status as a `Result`, naming the call when it failed.
pub fn napi_check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::GenericFailure, format!("{what} failed (napi status {status})")))
    }
}

/// "address already in use (EADDRINUSE)": the message Node users expect, with the code.
pub fn io_error_message(e: &std::io::Error) -> String {
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
pub unsafe fn typed_array(
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
        return Err(Error::new(Status::InvalidArg, NOT_BYTES));
    }
    Ok((data, length))
}

/// Below this size a body chunk is copied into the connection's queue; from it on, the
/// queue holds the chunk itself until sent (a reference costs more than a small copy).
const HOLD_MIN: usize = 32 * 1024;

/// A Uint8Array the reactor sends without copying: referenced, so that it stays alive
/// (and its bytes where they are) until the queue drops it.
pub struct HeldArray {
    env: sys::napi_env,
    reference: sys::napi_ref,
    data: *const u8,
    len: usize,
}

impl tsgi_reactor::Held for HeldArray {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the reference keeps the array's buffer alive, and a buffer's bytes do not
        // move; the app does not change a chunk it has handed over (as with socket.write).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for HeldArray {
    fn drop(&mut self) {
        // SAFETY: the queue lives on the JS thread; the reference is ours to delete once.
        unsafe { sys::napi_delete_reference(self.env, self.reference) };
    }
}

/// `value` as a [`HeldArray`] if it is a Uint8Array of at least [`HOLD_MIN`] bytes; `None`
/// for anything else (then appended by [`append_value`]).
///
/// # Safety
/// `value` is a live value of `env`, on the JS thread.
pub unsafe fn held_array(env: sys::napi_env, value: sys::napi_value) -> Option<HeldArray> {
    let mut kind = 0;
    // SAFETY: per the function's contract.
    unsafe { sys::napi_typeof(env, value, &mut kind) };
    if kind != sys::ValueType::napi_object {
        return None;
    }
    // SAFETY: per the function's contract.
    let (data, len) = unsafe { typed_array(env, value, sys::TypedarrayType::uint8_array) }.ok()?;
    if len < HOLD_MIN {
        return None;
    }
    let mut reference = ptr::null_mut();
    // SAFETY: per the function's contract; one strong reference, deleted on drop.
    if unsafe { sys::napi_create_reference(env, value, 1, &mut reference) } != sys::Status::napi_ok {
        return None;
    }
    Some(HeldArray { env, reference, data: data.cast_const().cast(), len })
}

/// How a JavaScript string becomes bytes.
pub enum Encoding {
    /// One byte per UTF-16 unit (response heads: field values are latin-1 on the wire).
    Latin1,
    Utf8,
}

/// Appends a string (in `encoding`) or the bytes of a typed array to `out`; null and
/// undefined append nothing.
///
/// # Safety
/// `value` is a live value of `env`, on the JS thread.
pub unsafe fn append_value(
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
        _ => Err(Error::new(Status::InvalidArg, NOT_BYTES)),
    }
}
