/**
 * What `ps` and `top` call tsgi's processes, in one place, with uWSGI's options:
 * `tsgi master` and `tsgi worker N` (uWSGI's auto-procname names, always on here unless
 * `--auto-procname false`); `--procname` names every process, `--procname-master` the
 * master; `--procname-prefix`, `--procname-prefix-spaced` (the prefix and a space) and
 * `--procname-append` go around each name.
 *
 * Linux keeps the title in the process's argument space: a title longer than the command
 * line tsgi was started with is cut there (Node's process.title).
 */
import type { Config } from '../config/index.js';

/** The name of the master (`wid` undefined) or of worker `wid`, or null to leave it. */
export function processName(config: Config, wid?: number): string | null {
  const own = wid === undefined ? (config['procname-master'] ?? config.procname) : config.procname;
  const base = own ?? (config['auto-procname'] ? (wid === undefined ? 'tsgi master' : `tsgi worker ${wid}`) : null);
  if (base === null) return null;
  const spaced = config['procname-prefix-spaced'];
  return `${config['procname-prefix'] ?? ''}${spaced === undefined ? '' : `${spaced} `}${base}${config['procname-append'] ?? ''}`;
}

/** Names this process as `processName` says, the master (no `wid`) or a worker. */
export function nameProcess(config: Config, wid?: number): void {
  const name = processName(config, wid);
  if (name !== null) process.title = name;
}
