//! The options of a reactor as JavaScript gives them, [`BindingReactorOptions`], and their
//! mapping onto `tsgi_reactor::Config` and back.
//!
//! Each field's doc, `@default` included, reaches the generated `native/index.d.ts`. The
//! defaults themselves are `Config::default()`'s (tsgi-reactor, tsgi-wire); the binding
//! reports them through `defaultOptions()`, and `__test__/unit/binding-contract.test.ts`
//! holds both them and the `@default` docs to the option table (`src/config/options.ts`),
//! where the server takes its defaults from.

use napi_derive::napi;

use tsgi_reactor::Config;

/// Options of a reactor: the limits and timeouts the native side enforces. A field left
/// out keeps its default.
#[napi(object)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BindingReactorOptions {
    /// Largest request head, bytes: the uwsgi vars block (at most 65535) and the FastCGI
    /// params stream (`buffer-size`).
    ///
    /// @default 65535
    pub buffer_size: Option<u32>,
    /// Most vars per request (`max-vars`).
    ///
    /// @default 1000
    pub max_vars: Option<u32>,
    /// Largest request body, bytes; 0 = no limit (`limit-post`).
    ///
    /// @default 0
    pub limit_post: Option<f64>,
    /// Head, body-idle and write-stall timeout, ms (`socket-timeout`).
    ///
    /// @default 10000
    pub socket_timeout_ms: Option<u32>,
    /// Idle time allowed between requests on a kept-alive HTTP connection, ms
    /// (`http-keepalive-timeout`).
    ///
    /// @default 65000
    pub keepalive_timeout_ms: Option<u32>,
    /// An HTTP request must arrive whole within this of its first byte, ms
    /// (`http-request-timeout`).
    ///
    /// @default 300000
    pub request_timeout_ms: Option<u32>,
    /// A tunnel (a WebSocket after its 101) with no byte either way for this long is
    /// closed, ms; 0: never (`tunnel-timeout`).
    ///
    /// @default 600000
    pub tunnel_timeout_ms: Option<u32>,
    /// Queue size above which `write` asks for a DRAIN before more, bytes.
    ///
    /// @default 262144
    pub write_high_water: Option<u32>,
    /// Longest lingering close, ms.
    ///
    /// @default 5000
    pub linger_ms: Option<u32>,
    /// Longest HTTP request line, bytes (`http-max-request-line`).
    ///
    /// @default 8192
    pub http_max_request_line: Option<u32>,
    /// Largest HTTP head, bytes (`http-max-head`).
    ///
    /// @default 16384
    pub http_max_head: Option<u32>,
    /// Most HTTP header fields (`http-max-headers`).
    ///
    /// @default 100
    pub http_max_headers: Option<u32>,
    /// Most chunk-extension bytes on one chunk-size line (`http-max-chunk-extension`).
    ///
    /// @default 4096
    pub http_max_chunk_extension: Option<u32>,
    /// Most open connections; at it, accepting stops until one closes (`max-conns`).
    ///
    /// @default 10000
    pub max_conns: Option<u32>,
    /// Most requests at once on one FastCGI connection (`fastcgi-max-reqs`).
    ///
    /// @default 100
    pub fastcgi_max_reqs: Option<u32>,
    /// Whether a FastCGI connection may carry several requests at once (`fastcgi-multiplex`).
    ///
    /// @default true
    pub fastcgi_multiplex: Option<bool>,
    /// TCP listeners hand over a connection only once its first bytes have arrived, with
    /// TCP_DEFER_ACCEPT (`defer-accept`).
    ///
    /// @default true
    pub defer_accept: Option<bool>,
    /// A connection on a listening socket shared by several processes wakes one idle
    /// process, not all of them: listeners wait in Node's own epoll set with
    /// EPOLLEXCLUSIVE (`exclusive-accept`).
    ///
    /// @default true
    pub exclusive_accept: Option<bool>,
}

impl BindingReactorOptions {
    /// `Config::default()` with the options given applied.
    pub fn into_config(self) -> Config {
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
        if let Some(v) = self.defer_accept {
            config.defer_accept = v;
        }
        if let Some(v) = self.exclusive_accept {
            config.exclusive_accept = v;
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
        if let Some(v) = self.tunnel_timeout_ms {
            config.tunnel_timeout_ms = u64::from(v);
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

impl From<&Config> for BindingReactorOptions {
    /// Every field set, read back from `config` (`defaultOptions()` is this of
    /// `Config::default()`).
    ///
    /// `buffer_size` is read from the uwsgi limit: both protocols get the same value from
    /// it, except that the uwsgi one stops at 65535 (its length field is 16 bits), which is
    /// also the option's default. tsgi-wire's own FastCGI default is 64 KiB; a reactor
    /// built with no `buffer_size` keeps it, but the server always gives one.
    fn from(config: &Config) -> Self {
        let u32_of = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        BindingReactorOptions {
            buffer_size: Some(u32::from(config.uwsgi.max_vars_block)),
            max_vars: Some(config.uwsgi.max_vars),
            limit_post: Some(config.uwsgi.max_body as f64),
            socket_timeout_ms: Some(u32_of(config.socket_timeout_ms)),
            keepalive_timeout_ms: Some(u32_of(config.keepalive_timeout_ms)),
            request_timeout_ms: Some(u32_of(config.request_timeout_ms)),
            tunnel_timeout_ms: Some(u32_of(config.tunnel_timeout_ms)),
            write_high_water: Some(u32_of(config.write_high_water as u64)),
            linger_ms: Some(u32_of(config.linger_ms)),
            http_max_request_line: Some(config.http.max_request_line),
            http_max_head: Some(config.http.max_head_bytes),
            http_max_headers: Some(config.http.max_headers),
            http_max_chunk_extension: Some(config.http.max_chunk_extension),
            max_conns: Some(u32_of(config.max_conns as u64)),
            fastcgi_max_reqs: Some(u32_of(config.fastcgi_max_reqs as u64)),
            fastcgi_multiplex: Some(config.fastcgi_multiplex),
            defer_accept: Some(config.defer_accept),
            exclusive_accept: Some(config.exclusive_accept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options unlike the defaults in every field.
    fn unusual() -> BindingReactorOptions {
        BindingReactorOptions {
            buffer_size: Some(4096),
            max_vars: Some(7),
            limit_post: Some(1e6),
            socket_timeout_ms: Some(1),
            keepalive_timeout_ms: Some(2),
            request_timeout_ms: Some(3),
            tunnel_timeout_ms: Some(4),
            write_high_water: Some(5),
            linger_ms: Some(6),
            http_max_request_line: Some(100),
            http_max_head: Some(200),
            http_max_headers: Some(3),
            http_max_chunk_extension: Some(0),
            max_conns: Some(9),
            fastcgi_max_reqs: Some(2),
            fastcgi_multiplex: Some(false),
            defer_accept: Some(false),
            exclusive_accept: Some(false),
        }
    }

    #[test]
    fn every_option_reaches_the_config_and_reads_back() {
        let options = unusual();
        assert_ne!(options, BindingReactorOptions::from(&Config::default()));
        assert_eq!(BindingReactorOptions::from(&options.clone().into_config()), options);
    }

    #[test]
    fn the_defaults_are_the_config_defaults() {
        let defaults = BindingReactorOptions::from(&Config::default());
        assert_eq!(BindingReactorOptions::from(&defaults.clone().into_config()), defaults);
        let none = BindingReactorOptions::from(&BindingReactorOptions::default().into_config());
        assert_eq!(none, defaults);
    }

    #[test]
    fn buffer_size_sets_both_protocols_and_uwsgi_stops_at_65535() {
        let config =
            BindingReactorOptions { buffer_size: Some(100_000), ..BindingReactorOptions::default() }.into_config();
        assert_eq!((config.uwsgi.max_vars_block, config.fastcgi.max_params_bytes), (u16::MAX, 100_000));
    }
}
