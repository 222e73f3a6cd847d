//! The settings of one reactor and their defaults, written once.
//!
//! Every field is a server option (`src/config/options.ts` names them and validates them
//! once, in JavaScript); the binding copies the options it is given over
//! [`Config::default`], so a default lives here and nowhere else on the native side.

use tsgi_wire::{fastcgi, http, uwsgi};

/// Settings of one reactor. Every limit is a server option; see `Config::default` for
/// the defaults and `src/config/options.ts` for the option names.
#[derive(Debug, Clone)]
pub struct Config {
    /// uwsgi parsing limits (`buffer-size`, `max-vars`, `limit-post`).
    pub uwsgi: uwsgi::Limits,
    /// FastCGI parsing limits (the same options).
    pub fastcgi: fastcgi::Limits,
    /// HTTP parsing limits.
    pub http: http::Limits,
    /// `max-conns`: at this many open connections the worker stops accepting until one
    /// closes (the rest wait in the listen queue). Reported as `FCGI_MAX_CONNS`.
    pub max_conns: usize,
    /// `fastcgi-max-reqs`: most requests at once on one FastCGI connection; over it a
    /// `BEGIN_REQUEST` is answered `FCGI_OVERLOADED`. Reported as `FCGI_MAX_REQS`.
    pub fastcgi_max_reqs: usize,
    /// `fastcgi-multiplex`: whether one FastCGI connection may carry several requests at
    /// once; if not, a second is answered `FCGI_CANT_MPX_CONN`. `FCGI_MPXS_CONNS`.
    pub fastcgi_multiplex: bool,
    /// `defer-accept`: TCP listeners hand over a connection only once its first bytes are
    /// there (`TCP_DEFER_ACCEPT`, for up to `socket-timeout`), as uWSGI's do: a proxy
    /// writes its request at once, and the read right after accept then finds it.
    pub defer_accept: bool,
    /// `exclusive-accept`: the host (the binding) has the listeners wait in its own
    /// epoll set, with `EPOLLEXCLUSIVE` (see accept.rs); false keeps them in the reactor's.
    pub exclusive_accept: bool,
    /// `socket-timeout`: the head must arrive within it of the accept; the body and a
    /// stalled response may idle for at most this long. Milliseconds.
    pub socket_timeout_ms: u64,
    /// `http-keepalive-timeout`: how long a kept-alive HTTP connection may wait for its
    /// next request. Longer than a proxy's idle upstream timeout, so the proxy closes first
    /// (else it may send a request on a connection we are closing). Milliseconds.
    pub keepalive_timeout_ms: u64,
    /// `http-request-timeout`: an HTTP request, head and body, must arrive whole within
    /// this of its first byte, however steadily it trickles (408). Milliseconds.
    pub request_timeout_ms: u64,
    /// `tunnel-timeout`: how long a tunnel (a WebSocket after its `101`) may pass with no
    /// byte either way before it is closed; 0: never. Milliseconds.
    pub tunnel_timeout_ms: u64,
    /// A write that leaves more than this queued asks JavaScript to wait for DRAIN.
    pub write_high_water: usize,
    /// How long a closing connection drains unread bytes, so the peer reads our
    /// response instead of a reset. Milliseconds.
    pub linger_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uwsgi: uwsgi::Limits::default(),
            fastcgi: fastcgi::Limits::default(),
            http: http::Limits::default(),
            max_conns: 10_000,
            fastcgi_max_reqs: 100,
            fastcgi_multiplex: true,
            defer_accept: true,
            exclusive_accept: true,
            socket_timeout_ms: 10_000,
            keepalive_timeout_ms: 65_000,
            request_timeout_ms: 300_000,
            tunnel_timeout_ms: 600_000,
            write_high_water: 256 * 1024,
            linger_ms: 5_000,
        }
    }
}
