/**
 * Who the processes run as: `--uid`/`--gid` are taken after the sockets are bound and the
 * pidfile written (so ports below 1024 and root-owned directories work), by the master
 * itself, so neither it nor its workers keep root; and workers never run as root unless
 * `--allow-root` says so.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, TsgiError } from '../errors.js';
import type { SocketOwner } from '../net/sockets.js';

/** A name or a number, as a number if it is one. */
function id(value: string): string | number {
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** The fields of the line of `file` (/etc/passwd, /etc/group) whose name or id is `key`. */
function entryOf(file: string, key: string | number): string[] | undefined {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === key || (typeof key === 'number' && fields[2] !== undefined && Number(fields[2]) === key)) return fields;
  }
  return undefined;
}

/** The primary group of `user` (a name or uid) from /etc/passwd. */
function primaryGroup(user: string | number): number {
  const entry = entryOf('/etc/passwd', user);
  if (!entry) throw new TsgiError(ErrorCodes.INVALID_OPTION, `--uid ${user}: no such user`);
  return Number(entry[3]);
}

/**
 * `--chown-socket USER[:GROUP]`, as uWSGI reads it: names or numbers, the group left
 * alone when not given (uWSGI's -1), and a name looked up in /etc/passwd and /etc/group.
 */
export function socketOwner(spec: string): SocketOwner {
  const [user = '', group] = spec.split(':', 2);
  const lookup = (file: string, value: string, what: string): number => {
    const key = id(value);
    if (typeof key === 'number') return key;
    const entry = entryOf(file, key);
    if (!entry) throw new TsgiError(ErrorCodes.INVALID_OPTION, `--chown-socket ${spec}: no such ${what} ${JSON.stringify(value)} in ${file}`);
    return Number(entry[2]);
  };
  if (user === '' || group === '') throw new TsgiError(ErrorCodes.INVALID_OPTION, `--chown-socket ${spec}: expected USER or USER:GROUP (names or numbers)`);
  return { uid: lookup('/etc/passwd', user, 'user'), gid: group === undefined ? -1 : lookup('/etc/group', group, 'group') };
}

/** Fails before anything is bound when the workers would run as root without leave. */
export function checkNotRoot(uid: string | undefined, allowRoot: boolean): void {
  if (allowRoot || uid !== undefined || process.getuid?.() !== 0) return;
  throw new TsgiError(
    ErrorCodes.INVALID_OPTION,
    'refusing to run workers as root: give --uid (and --gid) to run as another user; in a container image, run as a non-root user instead (USER node in the Dockerfile: the official node images have that user), or pass --allow-root',
  );
}

/** Becomes `uid`/`gid` (supplementary groups: the user's, or none), for good. */
export function dropPrivileges(uid: string | undefined, gid: string | undefined, allowRoot: boolean): void {
  if (uid === undefined && gid === undefined) return;
  const user = uid === undefined ? undefined : id(uid);
  const group = gid !== undefined ? id(gid) : primaryGroup(user!);
  try {
    // The user's own groups too (a socket directory shared with nginx's group, say).
    if (typeof user === 'string') (process as NodeJS.Process & { initgroups(user: string, extra: string | number): void }).initgroups(user, group);
    else process.setgroups!([group]);
    process.setgid!(group);
    if (user !== undefined) process.setuid!(user);
  } catch (error) {
    const which = user === undefined ? `--gid ${gid}` : `--uid ${uid}`;
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `${which}: cannot switch to it: ${(error as Error).message}`, { cause: error });
  }
  if (process.getuid!() === 0 && !allowRoot) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `--uid ${uid}: that is root; refusing to run workers as root without --allow-root`);
  }
}
