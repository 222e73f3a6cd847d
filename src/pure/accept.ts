/**
 * Accepting, for the pure-TypeScript reactor (crates/tsgi-reactor/src/accept.rs): the
 * listening servers (bound here, or adopted from the master), what happens at max-conns,
 * and the graceful stop. Node accepts on its own and cannot leave a connection in the
 * kernel's listen queue, so at max-conns accepted sockets wait here unread until a
 * connection closes; Node also rests after EMFILE itself, so there is no rest to manage.
 */
import net from 'node:net';
import type { WireProtocol } from '../native/binding.js';
import { Level } from './batch.js';
import { addConn } from './conns.js';
import { listenNow } from './listen.js';
import { refreshDeadline } from './timers.js';
import type { PureReactor } from './reactor.js';

/** The listeners and the state of accepting. */
export class Accepting {
  readonly servers: net.Server[] = [];
  /** Sockets accepted at max-conns, served as connections close. */
  readonly waiting: Array<[net.Socket, WireProtocol]> = [];
  /** Connections accepted since the start. */
  accepted = 0;
}

function server(r: PureReactor, protocol: WireProtocol): net.Server {
  if (protocol !== 'uwsgi' && protocol !== 'fastcgi' && protocol !== 'http') throw new Error(`unknown protocol ${JSON.stringify(protocol)}`);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  server.on('connection', (socket) => onConnection(r, socket, protocol));
  // Listen errors are thrown by listen()/adopt(); later ones (EMFILE on accept) are logged.
  server.on('error', (error) => r.shut || r.notices.log(Level.ERROR, `accept: ${error.message}`));
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
