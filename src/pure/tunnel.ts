/**
 * A tunnel (crates/tsgi-reactor/src/tunnel.rs): once the app answers `101 Switching
 * Protocols` to an upgrade request (HTTP, or uwsgi behind nginx's `uwsgi_pass`), the bytes
 * both ways are the app's. What the client sends goes to JavaScript as BODY events of the
 * request (bytes already buffered after the request first); the client closing its side is
 * the request's BODY_END, after which nothing is read and the app may still write; the app's
 * writes go out as they are. Each protocol keeps a {@link Tunnel} as a state of its own
 * (http.ts, uwsgi.ts); what that state does is here, once.
 */
import { AbortReason } from '../native/batch.js';
import type { ReactorConfig } from './config.js';
import { EMPTY, Stage, close, type Conn, type Next } from './conn.js';
import type { PureReactor } from './reactor.js';
import { tunnelIdle, tunnelStalled } from './timers.js';

/** The read side of a connection after `101`. */
export class Tunnel {
  /** The client closed its side. node:net says so once, where the native reactor reads the
   * end again until the bytes before it are handed over: so it is kept until they are. */
  private ended = false;
  /** The client's end was handed to the app (BODY_END). */
  private eof = false;

  /** The app switched protocols on `conn`: the tunnel, or null if the connection is on its way
   * out. Bytes already buffered after the request are the first tunnelled ones: they are
   * handed over in the next batch. */
  static open(r: PureReactor, conn: Conn): Tunnel | null {
    if (conn.stage !== Stage.Serving) return null;
    if (conn.pending.length > 0) r.notices.retryLater(conn);
    return new Tunnel();
  }

  /** Hands what the client sent to the app, then its end if it came. */
  process(r: PureReactor, conn: Conn): Next {
    if (conn.pending.length > 0) {
      if (conn.paused) return 'go';
      const token = conn.current;
      if (token !== undefined) {
        if (!r.batch.fits(4, conn.pending.length)) return 'retry';
        r.batch.body(token, conn.pending, 0, conn.pending.length);
      }
      // Dropped once the response has ended.
      conn.pending = EMPTY;
    }
    return this.ended && !this.eof ? this.end(r, conn) : 'go';
  }

  /** The client closed its side: after the bytes before it, the app's input ends. */
  onEof(r: PureReactor, conn: Conn): Next {
    this.ended = true;
    return this.process(r, conn);
  }

  /** The client is done sending; the app may still be. Once the response has ended too, the
   * connection closes. */
  private end(r: PureReactor, conn: Conn): Next {
    const token = conn.current;
    if (token === undefined) return close(AbortReason.PEER_GONE);
    r.notices.push({ kind: 'body-end', token });
    this.eof = true;
    return 'wait';
  }

  /** Whether the connection is read now: until the client's end, unless the app paused. */
  wantsRead(conn: Conn): boolean {
    return !this.ended && !conn.paused;
  }

  /** Output the peer does not read is cut at socket-timeout; a tunnel where nothing moves
   * either way closes at tunnel-timeout (reads and flushes set the deadline anew). */
  static deadline(conn: Conn, config: ReactorConfig, now: number): number {
    if (conn.queued > 0) return now + config.socketTimeoutMs;
    return config.tunnelTimeoutMs > 0 ? now + config.tunnelTimeoutMs : 0;
  }

  /** The deadline passed: the peer reads nothing of the output (a reset), or nothing moved
   * for tunnel-timeout (a close). */
  static expired(r: PureReactor, conn: Conn): Next {
    return conn.queued > 0 ? tunnelStalled(r, conn) : tunnelIdle(r, conn);
  }
}
