/**
 * The master's listening sockets: bound once, before any privilege drop, and handed to
 * the workers as inherited file descriptors. The master never listens on them itself (a
 * listening socket in a process that never accepts would only fill its queue): each
 * worker listens on its copy with the configured backlog, and the socket stays listening
 * for as long as any process holds it, so reloads and respawns refuse no connection.
 * Every worker gets the shared sockets; with `--worker-sockets` each worker place also has
 * sockets of its own (`workerListenersOf`), which only that place's workers get.
 *
 * Node has no public call that binds a socket without accepting on it. `net` exports the
 * one node:cluster uses for exactly this (`_createServerHandle`: a bound, not listening
 * handle), stable since Node 0.x; it is the only internal this module relies on.
 */
import { chownSync, closeSync } from 'node:fs';
import { chmod, lstat, readFile, unlink } from 'node:fs/promises';
import net from 'node:net';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';
import type { WireProtocol } from '../native/binding.js';
import { createServerHandle, describeErrno, type ServerHandle } from './server-handle.js';

/** A socket to serve, as the options name it. */
export interface Listener {
  readonly protocol: WireProtocol;
  /** The address as the user wrote it. */
  readonly name: string;
  /** The option that named it (`--socket`), for error messages. */
  readonly option: string;
  /** A worker place's own socket (`--worker-sockets`): the place, 1..processes. Absent
   * for a socket every worker shares. */
  readonly worker?: number;
}

/** `--socket NAME`, or `--worker-sockets: worker 2's --socket NAME`: a listener in messages. */
function describeListener({ option, name, worker }: Listener): string {
  return worker === undefined ? `${option} ${name}` : `--worker-sockets: worker ${worker}'s ${option} ${name}`;
}

const OPTION_OF: Record<WireProtocol, string> = { uwsgi: '--socket', fastcgi: '--fastcgi-socket', http: '--http-socket' };

/** The sockets the options ask for (`--socket`, `--fastcgi-socket`, `--http-socket`), or
 * `fallback` for uwsgi when none. */
export function listenersOf(config: { socket: string[]; 'fastcgi-socket': string[]; 'http-socket': string[] }, fallback: string): Listener[] {
  const listeners: Listener[] = [
    ...config.socket.map((name) => ({ protocol: 'uwsgi' as const, name, option: OPTION_OF.uwsgi })),
    ...config['fastcgi-socket'].map((name) => ({ protocol: 'fastcgi' as const, name, option: OPTION_OF.fastcgi })),
    ...config['http-socket'].map((name) => ({ protocol: 'http' as const, name, option: OPTION_OF.http })),
  ];
  return listeners.length > 0 ? listeners : [{ protocol: 'uwsgi', name: fallback, option: OPTION_OF.uwsgi }];
}

/** Whether an address names a Unix socket: `unix:PATH`, or anything with a `/`. */
export function isUnixSocket(spec: string): boolean {
  return spec.startsWith('unix:') || spec.includes('/');
}

/** `HOST:PORT` or `[V6]:PORT`: 1 the host as written, 2 a V6 host, 3 another host, 4 the port. */
const TCP_ADDRESS = /^(\[([^\]]+)\]|([^:]*)):(\d{1,5})$/;

/**
 * Worker `wid`'s own address for the socket named `name` (`--worker-sockets`): a Unix
 * socket `PATH` gives `PATH.wid`; a TCP `HOST:PORT` gives `HOST:(PORT+wid)`, the host
 * written as it was (`[::1]`, a name, nothing for `:PORT`); port 0 stays 0, so each
 * worker binds a free port of its own. A name that is no address comes back as it is:
 * binding the shared socket of that name reports the mistake first.
 */
export function workerAddress(name: string, wid: number): string {
  if (isUnixSocket(name)) return `${name}.${wid}`;
  const match = TCP_ADDRESS.exec(name);
  if (!match) return name;
  const port = Number(match[4]);
  return port === 0 ? name : `${match[1]}:${port + wid}`;
}

/**
 * Every worker place's own sockets (`--worker-sockets`): for each of `listeners`, one per
 * place 1..`processes`, in that order. A port that leaves no room for the last place
 * (past 65535) is a mistake in the options, refused before anything is bound.
 */
export function workerListenersOf(listeners: readonly Listener[], processes: number): Listener[] {
  return listeners.flatMap((listener) => {
    const port = isUnixSocket(listener.name) ? 0 : Number(TCP_ADDRESS.exec(listener.name)?.[4] ?? 0);
    // Past 65535 already, binding the shared socket reports it.
    if (port <= 65535 && port + processes > 65535) {
      throw new TsgiError(
        ErrorCodes.INVALID_OPTION,
        `--worker-sockets: ${listener.option} ${listener.name}: worker ${processes}'s port would be ${port + processes}, past 65535; with --processes ${processes}, name a port up to ${65535 - processes}`,
      );
    }
    return Array.from({ length: processes }, (_, i) => ({ ...listener, name: workerAddress(listener.name, i + 1), worker: i + 1 }));
  });
}

/** A bound socket the workers inherit. */
export interface BoundSocket {
  /** The address as the user wrote it (`--socket VALUE`). */
  readonly name: string;
  readonly protocol: WireProtocol;
  /** The descriptor in the master. */
  readonly fd: number;
  /** The address as bound: `127.0.0.1:3031` (the real port for port 0) or the socket path. */
  readonly local: string;
  /** A Unix socket's path (removed on exit with --vacuum). */
  readonly path?: string;
  /** TCP: the bound port (for finding its listen queue). */
  readonly port?: number;
  /** A worker place's own socket (`--worker-sockets`): only that place's workers get it. */
  readonly worker?: number;
  /** Passed by systemd (`LISTEN_FDS`): its file, if a Unix socket, is never removed. */
  readonly inherited?: boolean;
}

/** Handles stay referenced here: a collected handle would close its descriptor. */
const handles = new Map<number, ServerHandle>();
/** Inherited descriptors (`LISTEN_FDS`) not closed yet. */
const inheritedOpen = new Set<number>();

/** Serves an inherited socket (src/net/activation.ts): closed by closeSockets, once. */
export function keepInherited(socket: BoundSocket): BoundSocket {
  inheritedOpen.add(socket.fd);
  return socket;
}

/** Where to bind: uWSGI's address forms (`HOST:PORT`, `[V6]:PORT`, `:PORT` for every IPv4
 * interface, a path with `/` or `unix:PATH`). `defaultHost` replaces an empty host. */
export async function parseAddress(spec: string, defaultHost = '0.0.0.0'): Promise<{ path: string } | { host: string; port: number; family: 4 | 6 }> {
  if (isUnixSocket(spec)) return { path: spec.startsWith('unix:') ? spec.slice(5) : spec };
  const match = TCP_ADDRESS.exec(spec);
  if (!match || Number(match[4]) > 65535) {
    throw new TsgiError(ErrorCodes.LISTEN, `${JSON.stringify(spec)}: expected HOST:PORT, :PORT or a socket path containing '/'`);
  }
  const port = Number(match[4]);
  const host = match[2] ?? (match[3] || defaultHost);
  if (net.isIP(host)) return { host, port, family: net.isIP(host) as 4 | 6 };
  try {
    // node:dns only for a name: loading it sets up the resolver (reads /etc/resolv.conf...).
    const { lookup } = await import('node:dns/promises');
    const resolved = await lookup(host);
    return { host: resolved.address, port, family: resolved.family as 4 | 6 };
  } catch (error) {
    throw new TsgiError(ErrorCodes.LISTEN, `${JSON.stringify(spec)}: ${(error as Error).message}`, { cause: error });
  }
}

/** A socket file left by a server that died is removed; one that answers belongs to a live
 * server, and binding over it would steal its address. */
export async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!stats) return;
  if (!stats.isSocket()) throw new TsgiError(ErrorCodes.LISTEN, 'the path exists and is not a socket');
  const live = await new Promise<boolean>((resolve, reject) => {
    const probe = net.connect(path);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? resolve(false) : reject(error)));
  });
  if (live) throw new TsgiError(ErrorCodes.LISTEN, 'another server is listening on this socket (EADDRINUSE)');
  await unlink(path);
}

/** A Unix socket's owner (`--chown-socket`): ids for chown(2), -1 for one left as it is. */
export interface SocketOwner {
  readonly uid: number;
  readonly gid: number;
}

/** Gives a Unix socket file its owner, if one is asked for; a refusal (not root, say)
 * names the option. */
export function ownSocket(path: string, owner: SocketOwner | undefined): void {
  if (!owner) return;
  try {
    chownSync(path, owner.uid, owner.gid);
  } catch (error) {
    throw new TsgiError(ErrorCodes.LISTEN, `--chown-socket: cannot change the owner of ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Binds a listener; a Unix socket gets `mode` (set through the umask at bind time, so it
 * is never more open than asked, then exactly) and `owner`. Errors name the option and
 * address. */
export async function bindSocket(listener: Listener, mode: number, owner?: SocketOwner): Promise<BoundSocket> {
  try {
    const socket = await bind(listener, mode, owner);
    return listener.worker === undefined ? socket : { ...socket, worker: listener.worker };
  } catch (error) {
    const code = error instanceof TsgiError ? error.code : ErrorCodes.LISTEN;
    throw new TsgiError(code, `${describeListener(listener)}: ${(error as Error).message}`, { cause: error });
  }
}

async function bind({ name, protocol }: Listener, mode: number, owner: SocketOwner | undefined): Promise<BoundSocket> {
  const address = await parseAddress(name);
  let handle: ServerHandle | number;
  if ('path' in address) {
    await removeStaleSocket(address.path);
    const previous = process.umask(~mode & 0o777);
    try {
      handle = createServerHandle(address.path, -1, -1);
    } finally {
      process.umask(previous);
    }
    if (typeof handle === 'number') throw new TsgiError(ErrorCodes.LISTEN, describeErrno(handle));
    try {
      await chmod(address.path, mode);
      ownSocket(address.path, owner);
    } catch (error) {
      handle.close();
      await unlink(address.path).catch(() => {});
      throw error;
    }
    handles.set(handle.fd, handle);
    return { name, protocol, fd: handle.fd, local: address.path, path: address.path };
  }
  handle = createServerHandle(address.host, address.port, address.family);
  if (typeof handle === 'number') throw new TsgiError(ErrorCodes.LISTEN, describeErrno(handle));
  // libuv defers EADDRINUSE from bind() to listen(); getsockname() reports it now.
  const bound: { address?: string; port?: number } = {};
  const status = handle.getsockname(bound);
  if (status !== 0) {
    handle.close();
    throw new TsgiError(ErrorCodes.LISTEN, describeErrno(status));
  }
  handles.set(handle.fd, handle);
  const host = address.family === 6 ? `[${bound.address}]` : bound.address;
  return { name, protocol, fd: handle.fd, local: `${host}:${bound.port}`, port: bound.port };
}

/**
 * Closes the master's copies: the sockets close (new connections are refused) once every
 * worker has closed its own. Unix socket files are removed, as `--vacuum` asks; without
 * it they are left open until the process exits, since libuv removes the file of a Unix
 * socket handle it closes.
 */
export async function closeSockets(sockets: readonly BoundSocket[], vacuum: boolean): Promise<void> {
  for (const socket of sockets) {
    if (socket.inherited) {
      // Once: the number may be another descriptor's by a second call.
      if (inheritedOpen.delete(socket.fd)) closeSync(socket.fd);
      continue;
    }
    if (socket.path && !vacuum) continue;
    handles.get(socket.fd)?.close();
    handles.delete(socket.fd);
    if (socket.path) await unlink(socket.path).catch(() => {});
  }
}

/** The kernel's cap on listen queues (`net.core.somaxconn`), or 4096 if unreadable. */
export async function somaxconn(): Promise<number> {
  const text = await readFile('/proc/sys/net/core/somaxconn', 'utf8').catch(() => '4096');
  return Number.parseInt(text, 10) || 4096;
}

/**
 * Warns when a uwsgi or FastCGI socket is bound where other machines can reach it: those
 * protocols carry no authentication, and whoever connects writes the request's vars
 * itself (REMOTE_ADDR, HTTPS, SCRIPT_NAME...), so they belong on loopback or a Unix socket
 * behind the web server. HTTP sockets are meant to be reached.
 */
export function warnIfExposed(listener: Listener, local: string): void {
  if (listener.protocol === 'http' || isUnixSocket(listener.name)) return;
  const host = local.slice(0, local.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (/^127\./.test(host) || host === '::1' || /^::ffff:127\./i.test(host)) return;
  const protocol = listener.protocol === 'uwsgi' ? 'uwsgi' : 'FastCGI';
  log.warn(
    `${listener.option} ${listener.name}: bound to ${local}, which other machines can reach; the ${protocol} protocol has no authentication and lets whoever connects set any request var (REMOTE_ADDR, HTTPS, SCRIPT_NAME...): bind it to 127.0.0.1 or a Unix socket behind your web server, or firewall the port`,
  );
}
