/**
 * The limits and timeouts of the pure-TypeScript reactor (crates/tsgi-reactor/src/config.rs):
 * the reactor options in, one settings object out. The defaults are the option table's
 * (src/server/reactor-options.ts); the Rust `Config::default` is held to them by a test.
 */
import type { FastcgiLimits } from '../codec/fastcgi.js';
import type { HttpLimits } from '../codec/http/errors.js';
import type { UwsgiLimits } from '../codec/uwsgi.js';
import type { ReactorOptions } from '../native/binding.js';

/** The limits and timeouts the reactor enforces, as the codecs and connections read them. */
export interface ReactorConfig {
  uwsgi: UwsgiLimits;
  fastcgi: FastcgiLimits;
  http: HttpLimits;
  maxConns: number;
  fastcgiMaxReqs: number;
  fastcgiMultiplex: boolean;
  socketTimeoutMs: number;
  keepaliveTimeoutMs: number;
  requestTimeoutMs: number;
  tunnelTimeoutMs: number;
  writeHighWater: number;
  lingerMs: number;
}

/** The reactor options as the limits the codecs and connections read. Every option is
 * given (src/server/reactor-options.ts fills them from the option table): no defaults here.
 * `deferAccept` is not among them: Node offers no way to set TCP_DEFER_ACCEPT on a
 * listening socket, so this reactor accepts as connections come; nor `exclusiveAccept`:
 * libuv registers a listener in its epoll set without EPOLLEXCLUSIVE, so a connection on
 * a shared socket wakes every worker and the first to accept takes it. */
export function configOf(o: ReactorOptions): ReactorConfig {
  const limitPost = Math.max(0, o.limitPost);
  return {
    uwsgi: { maxVarsBlock: Math.min(o.bufferSize, 0xffff), maxVars: o.maxVars, maxBody: limitPost },
    fastcgi: { maxParamsBytes: o.bufferSize, maxVars: o.maxVars, maxBody: limitPost },
    http: {
      maxRequestLine: o.httpMaxRequestLine,
      maxHeadBytes: o.httpMaxHead,
      maxHeaders: o.httpMaxHeaders,
      maxBody: limitPost,
      maxChunkExtension: o.httpMaxChunkExtension,
    },
    maxConns: Math.max(1, o.maxConns),
    fastcgiMaxReqs: Math.max(1, o.fastcgiMaxReqs),
    fastcgiMultiplex: o.fastcgiMultiplex,
    socketTimeoutMs: o.socketTimeoutMs,
    keepaliveTimeoutMs: o.keepaliveTimeoutMs,
    requestTimeoutMs: o.requestTimeoutMs,
    tunnelTimeoutMs: o.tunnelTimeoutMs,
    writeHighWater: o.writeHighWater,
    lingerMs: o.lingerMs,
  };
}
