/**
 * Who the processes run as: `--uid`/`--gid` are taken after the sockets are bound and the
 * pidfile written (so ports below 1024 and root-owned directories work), by the master
 * itself, so neither it nor its workers keep root; and workers never run as root unless
 * `--allow-root` says so.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, TsgiError } from '../errors.js';

/** A name or a number, as a number if it is one. */
function id(value: string): string | number {
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** The primary group of `user` (a name or uid) from /etc/passwd. */
function primaryGroup(user: string | number): number {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === user || Number(uid) === user) return Number(gid);
  }
  throw new TsgiError(ErrorCodes.INVALID_OPTION, `--uid ${user}: no such user`);
}

/** Fails before anything is bound when the workers would run as root without leave. */
export function checkNotRoot(uid: string | undefined, allowRoot: boolean): void {
  if (allowRoot || uid !== undefined || process.getuid?.() !== 0) return;
  throw new TsgiError(ErrorCodes.INVALID_OPTION, 'refusing to run workers as root: give --uid (and --gid) to run as another user, or --allow-root');
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
