/**
 * Binding a socket at once. Node binds inside `server.listen()` and reports a failure
 * only on a later tick; `net._createServerHandle`, the call node:cluster uses to bind
 * without listening (stable since Node 0.x), answers at once with a bound handle or the
 * errno. The master binds its sockets with it, and the pure-TypeScript reactor asks it
 * why a bind failed, so both can throw where the native binding throws.
 */
import net from 'node:net';
import util from 'node:util';

/** What `net._createServerHandle` returns: a libuv handle, or a negative errno. */
export interface ServerHandle {
  readonly fd: number;
  getsockname(out: { address?: string; port?: number }): number;
  close(): void;
}

type CreateServerHandle = (address: string, port: number, addressType: number) => ServerHandle | number;

/** `(host, port, 4 | 6)` for TCP, `(path, -1, -1)` for a Unix socket. */
export const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

/** `address already in use (EADDRINUSE)`, as the native binding words it. */
export function describeErrno(errno: number): string {
  const [name, text] = util.getSystemErrorMap().get(errno) ?? [`errno ${errno}`, 'cannot bind'];
  return `${text} (${name})`;
}
