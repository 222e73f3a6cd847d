//! tsgi-reactor: the socket loop of a tsgi worker.
//!
//! Listeners, connections, buffers, timeouts and limits over one epoll set, driving the
//! codecs of `tsgi-wire`. It knows nothing of N-API: `tsgi-napi` registers
//! [`Reactor::fd`] with Node's event loop, calls [`Reactor::poll`] when it is readable
//! and hands the filled [`batch::Batch`] to JavaScript in one call.
#![deny(missing_docs)]
// Every `unsafe` block says why it is sound, in a `// SAFETY:` line above it (httparse does
// the same, in CI).
#![deny(clippy::undocumented_unsafe_blocks)]

mod accept;
pub mod batch;
mod config;
mod conn;
mod conns;
mod fastcgi;
mod http;
pub mod listen;
mod notices;
mod outbuf;
mod reactor;
mod refusal;
mod sendfile;
mod stream;
mod sys;
mod table;
mod timers;
mod tunnel;
mod uwsgi;
mod write;

#[cfg(test)]
mod tests;

pub use accept::ListenerInfo;
pub use config::Config;
pub use conn::Protocol;
pub use outbuf::Held;
pub use reactor::Reactor;
pub use sendfile::{position as file_position, sent_bytes as sent_file_bytes, FilePiece};
pub use table::SLOT_BITS as TOKEN_SLOT_BITS;
pub use write::WriteEnd;
