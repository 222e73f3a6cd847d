/**
 * Listening sockets for the pure-TypeScript reactor, bound synchronously as the native
 * `listen` binds them (crates/tsgi-reactor/src/listen.rs): the same address forms, a Unix
 * socket created with its mode (through the umask) and a stale one replaced, and errors
 * thrown at once, worded as the binding words them ("address already in use (EADDRINUSE)").
 *
 * Node reports a failed bind only on a later tick (and looks up even an IP literal
 * before binding it), so TCP sockets are bound through src/net/server-handle.ts, which answers
 * at once. Two questions Node can only answer asynchronously (is a Unix socket file still
 * served? what does a host name resolve to?) are asked of a short-lived child process.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { createServerHandle, describeErrno } from '../net/server-handle.js';

export type Address = { path: string } | { host: string; port: number };

/** uWSGI's address forms: `HOST:PORT`, `[V6]:PORT`, `:PORT`, a path with `/`, `unix:PATH`. */
export function parseAddress(spec: string): Address {
  if (spec.startsWith('unix:')) return { path: spec.slice(5) };
  if (spec.includes('/')) return { path: spec };
  if (spec === '') throw new Error(`${JSON.stringify(spec)}: empty address`);
  const match = /^(?:\[([^\]]+)\]|([^:]*)):([^:]*)$/.exec(spec.startsWith(':') ? `0.0.0.0${spec}` : spec);
  if (!match) throw new Error(`${JSON.stringify(spec)}: expected HOST:PORT, :PORT or a socket path containing '/'`);
  const port = /^\d{1,5}$/.test(match[3]!) ? Number(match[3]) : NaN;
  if (!(port <= 65535)) throw new Error(`${JSON.stringify(spec)}: invalid port value`);
  const host = match[1] ?? match[2]!;
  return { host: net.isIP(host) ? host : resolveSync(spec, host), port };
}

/** Runs a few lines of Node in a child and answers what they print. */
function childSays(script: string, arg: string): { status: number | null; out: string } {
  const child = spawnSync(process.execPath, ['-e', script, arg], { encoding: 'utf8', timeout: 5000 });
  return { status: child.status, out: child.stdout.trim() };
}

function resolveSync(spec: string, host: string): string {
  const { status, out } = childSays(
    "require('dns').lookup(process.argv[1], (e, a) => { if (e) { console.log(e.code); process.exit(1) } console.log(a) })",
    host,
  );
  if (status !== 0) throw new Error(`${JSON.stringify(spec)}: failed to lookup address information (${out || 'no answer'})`);
  return out;
}

/** A socket file left by a dead server is removed; one a live server answers on is an error. */
function removeStaleSocket(path: string): void {
  let stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stats.isSocket()) throw new Error('the path exists and is not a socket');
  const { out } = childSays(
    "require('net').connect(process.argv[1]).on('connect', () => { console.log('live'); process.exit(0) }).on('error', (e) => console.log(e.code))",
    path,
  );
  if (out === 'live') throw new Error('another server is listening on this socket');
  if (out !== 'ECONNREFUSED') throw new Error(`cannot tell whether the socket is live (${out})`);
  unlinkSync(path);
}

/** Binds and listens now; answers the address as bound (the real port for port 0). */
export function listenNow(server: net.Server, spec: string, backlog: number, mode: number): string {
  const address = parseAddress(spec);
  if ('path' in address) {
    removeStaleSocket(address.path);
    // The socket is created with its mode, never more open than asked.
    const previous = process.umask(~mode & 0o777);
    try {
      // Binds a Unix socket at once; only a failure's error waits for a later tick.
      server.listen({ path: address.path, backlog });
    } finally {
      process.umask(previous);
    }
    if (!server.listening) {
      const probe = createServerHandle(address.path, -1, -1);
      if (typeof probe !== 'number') probe.close();
      throw new Error(typeof probe === 'number' ? describeErrno(probe) : 'cannot listen');
    }
    chmodSync(address.path, mode);
    return address.path;
  }
  // Node looks up even an IP literal asynchronously before binding: bind the handle here.
  const handle = createServerHandle(address.host, address.port, net.isIP(address.host));
  if (typeof handle === 'number') throw new Error(describeErrno(handle));
  // libuv defers EADDRINUSE from bind() to listen(); getsockname() reports it now.
  const status = handle.getsockname({});
  if (status !== 0) {
    handle.close();
    throw new Error(describeErrno(status));
  }
  server.listen(handle, backlog);
  if (!server.listening) throw new Error('cannot listen');
  const bound = server.address() as net.AddressInfo;
  return `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
}
