/**
 * Timeouts of the pure-TypeScript reactor (crates/tsgi-reactor/src/timers.rs): one coarse
 * timer for every connection's deadline. A connection's deadline is set from its state
 * whenever the state moves ({@link refreshDeadline}); what it is for each state, and what its
 * expiry means, is the protocol's to say (`deadline`, `expired` of its `ProtoConn`), and the
 * log lines several protocols share are written once here. The native timerfd is a
 * `setInterval` here, running while connections exist. Node gives no signal when a peer
 * stops reading a queued response, so each tick also notices whether the queue moved.
 */
import { AbortReason } from '../native/batch.js';
import { Level } from './batch.js';
import { Stage, close, reset, stalledOutput, type Conn, type Next } from './conn.js';
import type { PureReactor } from './reactor.js';

/** Resolution of timeouts. */
const TICK_MS = 100;

/** The interval that ticks while connections exist. */
export class Timer {
  private handle: NodeJS.Timeout | null = null;

  /** Ticks with `tick` from now on, if not already. */
  arm(tick: () => void): void {
    if (this.handle) return;
    this.handle = setInterval(tick, TICK_MS);
    this.handle.unref();
  }

  disarm(): void {
    if (this.handle) clearInterval(this.handle);
    this.handle = null;
  }

  get armed(): boolean {
    return this.handle !== null;
  }
}

/** Runs the timer (it stops itself once no connection is left). */
export function armTimer(r: PureReactor): void {
  r.timer.arm(() => r.cycle(() => tick(r)));
}

/** Sets the deadline the connection's state calls for. */
export function refreshDeadline(r: PureReactor, conn: Conn): void {
  const now = Date.now();
  if (conn.stage === Stage.Linger) conn.deadline = conn.lingerUntil;
  else if (conn.stage === Stage.Refused) conn.deadline = stalledOutput(conn, r.config, now);
  else conn.deadline = conn.proto.deadline(conn, r.config, now);
}

/** One tick: connections whose deadline passed expire. */
function tick(r: PureReactor): void {
  if (r.conns.size === 0 && r.timer.armed) {
    r.timer.disarm();
    return;
  }
  const now = Date.now();
  const timeout = r.config.socketTimeoutMs;
  for (const conn of [...r.conns]) {
    // A response the peer is reading keeps its connection alive; one it reads none of does not.
    const queued = conn.queued;
    if (queued > 0 && (queued !== conn.lastQueued || conn.deadline === 0)) conn.deadline = now + timeout;
    else if (queued === 0 && conn.lastQueued > 0) refreshDeadline(r, conn);
    conn.lastQueued = queued;
    if (conn.deadline === 0 || conn.deadline > now) continue;
    r.apply(conn, conn.stage === Stage.Serving ? conn.proto.expired(r, conn, now) : close(AbortReason.TIMEOUT));
  }
}

/** socket-timeout in seconds, as log lines say it. */
function seconds(r: PureReactor): number {
  return r.config.socketTimeoutMs / 1000;
}

/** No complete head within socket-timeout of its first byte (or of the accept): a close,
 * logged if some of it came. */
export function headTimeout(r: PureReactor, conn: Conn): Next {
  const got = conn.pending.length;
  if (got > 0)
    r.notices.log(
      Level.WARN,
      `${conn.protocol}: no complete request head within socket-timeout ${seconds(r)} s (${got} bytes received); closed (raise --socket-timeout)`,
    );
  return close(AbortReason.TIMEOUT);
}

/** A body of known length stopped coming: the request is aborted. */
export function bodyStalled(r: PureReactor, conn: Conn, remaining: number): Next {
  r.notices.log(
    Level.WARN,
    `${conn.protocol}: request body stalled for socket-timeout ${seconds(r)} s with ${remaining} bytes missing; aborted (raise --socket-timeout)`,
  );
  return reset(AbortReason.TIMEOUT);
}

/** Nothing moved through a tunnel either way for tunnel-timeout: it is closed. */
export function tunnelIdle(r: PureReactor, conn: Conn): Next {
  r.notices.log(Level.WARN, `${conn.protocol}: tunnel idle for tunnel-timeout ${r.config.tunnelTimeoutMs / 1000} s; closed (raise --tunnel-timeout)`);
  return close(AbortReason.TIMEOUT);
}

/** The peer of a tunnel read nothing of the app's output: the request is aborted. */
export function tunnelStalled(r: PureReactor, conn: Conn): Next {
  r.notices.log(Level.WARN, `${conn.protocol}: peer read nothing of the tunnel's output for socket-timeout ${seconds(r)} s; aborted (raise --socket-timeout)`);
  return reset(AbortReason.TIMEOUT);
}

/** The request is read and the peer reads nothing of the response: the request is aborted.
 * The line names uwsgi whatever the protocol (HTTP gets it too), as the native one does. */
export function responseStalled(r: PureReactor): Next {
  r.notices.log(Level.WARN, `uwsgi: peer read nothing of the response for socket-timeout ${seconds(r)} s; aborted (raise --socket-timeout)`);
  return reset(AbortReason.TIMEOUT);
}
