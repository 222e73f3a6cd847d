/**
 * systemd socket activation (`sd_listen_fds(3)`): the listening sockets a socket unit (or
 * `systemd-socket-activate`) passed as fds 3... with `LISTEN_FDS`, `LISTEN_PID` and
 * `LISTEN_FDNAMES`. Each is served by the `--socket`, `--http-socket` or
 * `--fastcgi-socket` that names the same address (uWSGI's rule), or `systemd:NAME` for its
 * `FileDescriptorName=`; a socket no option names is a mistake, reported at start.
 *
 * What an inherited descriptor is comes from /proc (its inode in `/proc/self/net/unix`,
 * `tcp`, `tcp6`): no system call Node lacks, the same on both reactors. An inherited Unix
 * socket's file belongs to systemd: tsgi never removes it.
 */
import { closeSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, TsgiError } from '../errors.js';
import { keepInherited, parseAddress, type BoundSocket, type Listener } from './sockets.js';

/** `sd_listen_fds`'s first descriptor. */
const FIRST_FD = 3;
/** `systemd:NAME`: the inherited socket whose FileDescriptorName= is NAME. */
const BY_NAME = 'systemd:';

/** A listening socket systemd passed. */
export interface InheritedSocket {
  readonly fd: number;
  /** Its FileDescriptorName= (`LISTEN_FDNAMES`), systemd's `unknown` when unnamed. */
  readonly name: string;
  /** `127.0.0.1:8000`, `[::]:8000` or the socket path (`@name` for an abstract one). */
  readonly local: string;
  readonly tcp?: { host: string; port: number };
  /** A Unix socket whose file an old tsgi master made (an upgrade), not systemd. */
  readonly own?: boolean;
}

/**
 * The sockets passed to this process (`own`: those whose Unix socket file tsgi made, in an
 * upgrade), or none when `LISTEN_PID` names another process
 * (the variables were meant for a parent). The variables are taken out of the
 * environment (`sd_listen_fds(1)`), so the workers and the app's children do not take
 * them for theirs.
 */
export function inheritedSockets(env: NodeJS.ProcessEnv = process.env, own: ReadonlySet<number> = new Set()): InheritedSocket[] {
  const { LISTEN_FDS: count, LISTEN_PID: pid, LISTEN_FDNAMES: names = '' } = env;
  for (const name of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete env[name];
  if (count === undefined || Number(pid) !== process.pid) return [];
  if (!/^\d+$/.test(count)) throw new TsgiError(ErrorCodes.LISTEN, `LISTEN_FDS=${count}: expected a number of descriptors`);
  const nameList = names === '' ? [] : names.split(':');
  const tables = socketTables();
  return Array.from({ length: Number(count) }, (_, i) => ({
    ...describe(FIRST_FD + i, nameList[i] ?? 'unknown', tables),
    ...(own.has(FIRST_FD + i) && { own: true }),
  }));
}

interface SocketTables {
  /** inode → the socket's path, for listening Unix stream sockets. */
  unix: Map<string, string>;
  /** inode → its address, for listening TCP sockets. */
  tcp: Map<string, { host: string; port: number }>;
}

function socketTables(): SocketTables {
  const read = (file: string): string[][] => {
    try {
      return readFileSync(`/proc/self/net/${file}`, 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/));
    } catch {
      return []; // no IPv6 in this kernel, say
    }
  };
  const unix = new Map<string, string>();
  // Num RefCount Protocol Flags Type St Inode Path: Flags 00010000 is __SO_ACCEPTCON
  // (listening), Type 0001 SOCK_STREAM.
  for (const f of read('unix')) if (f[3] === '00010000' && f[4] === '0001' && f[7]) unix.set(f[6]!, f[7]);
  const tcp = new Map<string, { host: string; port: number }>();
  // sl local_address rem_address st ... inode: st 0A is LISTEN.
  for (const f of [...read('tcp'), ...read('tcp6')]) {
    if (f[3] !== '0A' || !f[1]) continue;
    const [hex, port] = f[1].split(':') as [string, string];
    tcp.set(f[9]!, { host: hostOf(hex), port: Number.parseInt(port, 16) });
  }
  return { unix, tcp };
}

/** An address of /proc/net/tcp{,6}: 32-bit words in the kernel's (little-endian) order. */
function hostOf(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  return canonicalHost(groups.join(':'));
}

/** One spelling per address (`::1`, not `0:0:0:0:0:0:0:1`), as the URL parser writes it. */
function canonicalHost(host: string): string {
  return host.includes(':') ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : new URL(`http://${host}/`).hostname;
}

function describe(fd: number, name: string, tables: SocketTables): InheritedSocket {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    throw new TsgiError(ErrorCodes.LISTEN, `LISTEN_FDS: descriptor ${fd} (${name}) is not open`);
  }
  const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
  const unixPath = inode && tables.unix.get(inode);
  if (unixPath) return { fd, name, local: unixPath };
  const tcp = inode && tables.tcp.get(inode);
  if (tcp) return { fd, name, local: `${tcp.host.includes(':') ? `[${tcp.host}]` : tcp.host}:${tcp.port}`, tcp };
  throw new TsgiError(
    ErrorCodes.LISTEN,
    `LISTEN_FDS: descriptor ${fd} (${name}) is ${inode ? 'a socket' : link} but not a listening TCP or Unix stream socket; tsgi serves only those (ListenStream=)`,
  );
}

/**
 * The inherited socket `listener` names, taken out of `inherited`, as a socket to serve;
 * undefined when none does (the listener is then bound as usual).
 */
export async function takeInherited(listener: Listener, inherited: InheritedSocket[]): Promise<BoundSocket | undefined> {
  const { name: spec, protocol } = listener;
  let index: number;
  if (spec.startsWith(BY_NAME)) {
    const wanted = spec.slice(BY_NAME.length);
    index = inherited.findIndex((s) => s.name === wanted);
    if (index === -1) {
      const passed = inherited.length ? inherited.map((s) => `${s.name} (${s.local})`).join(', ') : 'none (no LISTEN_FDS)';
      throw new TsgiError(ErrorCodes.LISTEN, `${listener.option} ${spec}: systemd passed no socket named ${JSON.stringify(wanted)}; it passed ${passed}`);
    }
  } else {
    if (inherited.length === 0) return undefined;
    const address = await parseAddress(spec);
    index = inherited.findIndex((s) =>
      'path' in address
        ? s.local === path.resolve(address.path)
        : s.tcp !== undefined && s.tcp.port === address.port && canonicalHost(s.tcp.host) === canonicalHost(address.host),
    );
    if (index === -1) return undefined;
  }
  const [socket] = inherited.splice(index, 1) as [InheritedSocket];
  return keepInherited({
    name: spec,
    protocol,
    fd: socket.fd,
    local: socket.local,
    inherited: true,
    ...(socket.tcp && { port: socket.tcp.port }),
    // An old master's Unix socket: removed at exit (--vacuum) as the old master would have.
    ...(socket.own && !socket.tcp && { path: socket.local }),
    // A worker place's own socket (--worker-sockets) stays that place's.
    ...(listener.worker !== undefined && { worker: listener.worker }),
  });
}

/** Inherited sockets no option named: closed, and reported as the mistake they are. */
export function refuseUnclaimed(unclaimed: readonly InheritedSocket[]): void {
  if (unclaimed.length === 0) return;
  for (const socket of unclaimed) closeSync(socket.fd);
  const list = unclaimed.map((s) => `fd ${s.fd} ${s.local} (${s.name})`).join(', ');
  throw new TsgiError(
    ErrorCodes.LISTEN,
    `LISTEN_FDS: systemd passed ${list}, which no --socket, --http-socket or --fastcgi-socket names; give the same address (or systemd:NAME for FileDescriptorName=NAME) to the option of the protocol to serve on it`,
  );
}
