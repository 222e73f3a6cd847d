/**
 * Accepting, for the pure-TypeScript reactor (crates/tsgi-reactor/src/accept.rs): the
 * listening servers (bound here, or adopted from the master), what happens at max-conns,
 * and the graceful stop. Node accepts on its own and cannot leave a connection in the
 * kernel's listen queue, so at max-conns accepted sockets wait here unread until a
 * connection closes; after EMFILE libuv closes what waits itself, so there is no rest to
 * manage, only its log lines.
 */
import net from 'node:net';
import type { WireProtocol } from '../native/binding.js';
import { Level } from './batch.js';
import { addConn } from './conns.js';
import { listenNow } from './listen.js';
import { refreshDeadline } from './timers.js';
import type { PureReactor } from './reactor.js';

/** While accepting keeps failing for want of descriptors, one log line per this long (libuv
 * reports every failed accept). */
const STARVED_LOG_MS = 10_000;

/** The listeners and the state of accepting. */
export class Accepting {
  readonly servers: net.Server[] = [];
  /** Sockets accepted at max-conns, served as connections close. */
  readonly waiting: Array<[net.Socket, WireProtocol]> = [];
  /** Connections accepted since the start. */
  accepted = 0;
  /** When the last out-of-descriptors line was logged (ms; 0: never). */
  starvedLoggedAt = 0;
  /** Accepts that failed for want of descriptors since that line, not logged one by one. */
  starvedUnlogged = 0;
}

/** An accept failed (listen errors are thrown by listen()/adopt()). For want of descriptors:
 * one line, then at most one per STARVED_LOG_MS saying how many failures it stands for. */
function acceptFailed(r: PureReactor, error: NodeJS.ErrnoException): void {
  if (r.shut) return;
  if (error.code !== 'EMFILE' && error.code !== 'ENFILE') return r.notices.log(Level.ERROR, `accept: ${error.message}`);
  const accept = r.accept;
  const now = Date.now();
  if (accept.starvedLoggedAt !== 0 && now < accept.starvedLoggedAt + STARVED_LOG_MS) {
    accept.starvedUnlogged++;
    return;
  }
  const more = accept.starvedUnlogged === 0 ? '' : `; ${accept.starvedUnlogged} more times since the last such line`;
  accept.starvedLoggedAt = now;
  accept.starvedUnlogged = 0;
  // libuv then accepts and closes what waits, so that clients learn at once.
  r.notices.log(Level.ERROR, `accept: ${error.message}; waiting connections are closed while descriptors are short (raise the fd limit, ulimit -n)${more}`);
}

function server(r: PureReactor, protocol: WireProtocol): net.Server {
  if (protocol !== 'uwsgi' && protocol !== 'fastcgi' && protocol !== 'http') throw new Error(`unknown protocol ${JSON.stringify(protocol)}`);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  server.on('connection', (socket) => onConnection(r, socket, protocol));
  server.on('error', (error) => acceptFailed(r, error));
  return server;
}

export function listen(r: PureReactor, address: string, protocol: WireProtocol, backlog: number, mode: number): string {
  const s = server(r, protocol);
  const local = listenNow(s, address, backlog, mode);
  r.accept.servers.push(s);
  return local;
}

export function adopt(r: PureReactor, fd: number, protocol: WireProtocol, backlog?: number): void {
  const s = server(r, protocol);
  // The master binds without listening: listen() on an fd listens on it.
  s.listen({ fd, backlog: backlog ?? 1024 });
  if (!s.listening) throw new Error(`cannot listen on file descriptor ${fd}`);
  r.accept.servers.push(s);
}

function onConnection(r: PureReactor, socket: net.Socket, protocol: WireProtocol): void {
  if (r.shut) {
    socket.destroy();
    return;
  }
  const accept = r.accept;
  if (r.conns.size >= r.config.maxConns) {
    // Node has no way to leave connections in the listen queue: they wait here, unread.
    if (accept.waiting.length === 0)
      r.cycle(() => r.notices.log(Level.WARN, `max-conns ${r.config.maxConns} connections open; not accepting until one closes (raise --max-conns)`));
    socket.pause();
    socket.on('error', () => {});
    accept.waiting.push([socket, protocol]);
    return;
  }
  addConn(r, socket, protocol);
}

/** A connection closed: sockets waiting at max-conns are served while there is room. */
export function admitWaiting(r: PureReactor): void {
  const waiting = r.accept.waiting;
  while (waiting.length > 0 && r.conns.size < r.config.maxConns) {
    const [socket, protocol] = waiting.shift()!;
    if (socket.destroyed) continue;
    socket.removeAllListeners('error');
    addConn(r, socket, protocol);
    socket.resume();
  }
}

/** A graceful stop: no new connections; kept-alive ones wait a moment for a next request
 * and close after it (ProtoConn.stop), busy ones close after their response. */
export function stopListening(r: PureReactor): void {
  for (const s of r.accept.servers.splice(0)) s.close();
  for (const [socket] of r.accept.waiting.splice(0)) socket.destroy();
  r.draining = true;
  const now = Date.now();
  for (const conn of r.conns) {
    conn.proto.stop(conn, now);
    refreshDeadline(r, conn);
  }
}
