/**
 * The connection table of the pure-TypeScript reactor (crates/tsgi-reactor/src/conns.rs):
 * every open connection; adding one as it is accepted, with its protocol's state; closing
 * one (the requests JavaScript has get ABORT, a connection waiting at max-conns takes its
 * place); and whether it is read. The native table names connections by slot and generation
 * (table.rs) for epoll; a Conn object is its own name here, and a closed one says so. The
 * native epoll interest is, here, the socket paused or resumed ({@link updateInterest}).
 */
import type net from 'node:net';
import type { WireProtocol } from '../native/binding.js';
import { admitWaiting } from './accept.js';
import { Conn, Stage } from './conn.js';
import { FastcgiConn } from './fastcgi.js';
import { HttpConn } from './http.js';
import type { PureReactor } from './reactor.js';
import { armTimer } from './timers.js';
import { UwsgiConn } from './uwsgi.js';
import { AbortReason } from '../native/batch.js';

/** Takes a connection just accepted on a listener speaking `protocol`. */
export function addConn(r: PureReactor, socket: net.Socket, protocol: WireProtocol): void {
  const now = Date.now();
  const proto = protocol === 'uwsgi' ? new UwsgiConn() : protocol === 'fastcgi' ? new FastcgiConn() : new HttpConn();
  const conn = new Conn(socket, proto, now);
  conn.deadline = now + r.config.socketTimeoutMs;
  r.conns.add(conn);
  r.accept.accepted++;
  armTimer(r);
  socket.on('data', (chunk: Buffer) => r.onData(conn, chunk));
  socket.on('end', () => r.cycle(() => r.onEof(conn)));
  socket.on('error', () => r.cycle(() => closeConn(r, conn, true, AbortReason.PEER_GONE)));
  socket.on('close', () => conn.closed || r.cycle(() => closeConn(r, conn, false, AbortReason.PEER_GONE)));
  socket.on('drain', () => r.onDrained(conn));
}

/** Closes a connection; its requests JavaScript still has get an ABORT with `reason`.
 * `reset` sends RST instead of FIN; `graceful` sends what is queued first. */
export function closeConn(r: PureReactor, conn: Conn, reset: boolean, reason: number, graceful = false): void {
  if (conn.closed) return;
  conn.closed = true;
  r.conns.delete(conn);
  r.notices.forget(conn);
  const socket = conn.socket;
  if (reset) resetSocket(socket);
  else if (graceful) socket.destroySoon();
  else socket.destroy();
  for (const stream of conn.streams.splice(0)) {
    r.streams.remove(stream);
    if (stream.inApp) r.notices.push({ kind: 'abort', token: stream.token, reason });
  }
  admitWaiting(r);
}

/** Whether the connection should be read now (the native epoll interest). */
export function updateInterest(conn: Conn): void {
  if (conn.closed) return;
  const reading = conn.stage !== Stage.Serving || conn.proto.wantsRead(conn);
  if (reading === conn.reading) return;
  conn.reading = reading;
  if (reading) conn.socket.resume();
  else conn.socket.pause();
}

/** Closes with RST (a TCP socket; a Unix socket has none, and just closes). */
function resetSocket(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
