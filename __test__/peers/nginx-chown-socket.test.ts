/**
 * `--chown-socket` behind an nginx whose workers really run as `www-data`, as Debian's
 * packaged nginx does: without it the socket is root's (0660) and nginx answers 502, the
 * README's own setup failing; with `--chown-socket www-data:www-data` it is served. Needs
 * root (to chown, and for nginx to switch its workers' user) and a `www-data` user.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childrenOf, startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { announceNginx, hasNginx, startNginx, type Nginx } from '../helpers/nginx.js';

announceNginx();

/** www-data's uid and gid, from /etc/passwd; null when there is no such user. */
function wwwData(): { uid: number; gid: number } | null {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('www-data:'));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

const web = wwwData();
const asRoot = process.getuid?.() === 0;
const skipReason = !asRoot ? 'not root: cannot chown a socket nor run nginx workers as www-data' : !web ? 'no www-data user in /etc/passwd' : null;
if (hasNginx && skipReason) console.warn(`\n*** --chown-socket with nginx as www-data: SKIPPED (${skipReason})\n`);

/** The real uid of a process, from /proc; -1 once it is gone. */
function uidOf(pid: number): number {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  } catch {
    return -1;
  }
}

describe.skipIf(!hasNginx || skipReason !== null)('--chown-socket: nginx workers running as www-data', () => {
  let dir: string;
  let tsgi: Tsgi | undefined;
  let nginx: Nginx | undefined;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-chown-'));
    // The directory is root's; www-data must be able to reach the socket in it.
    chmodSync(dir, 0o755);
  });
  afterEach(async () => {
    await nginx?.stop();
    nginx = undefined;
    tsgi?.kill();
    await tsgi?.exited;
    tsgi = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** tsgi on a Unix socket with `args`, and an nginx as www-data in front of it. */
  async function serve(name: string, args: string[], ready?: RegExp): Promise<{ socket: string; nginx: Nginx }> {
    const socket = path.join(dir, name);
    tsgi = await startTsgi(['--socket', socket, ...args], ready);
    nginx = await startNginx({ user: 'www-data', locations: [{ path: '/', uwsgiPass: `unix:${socket}` }] });
    // The workers, not only the configuration, run as www-data (once forked, they switch).
    await until(() => {
      const workers = childrenOf(nginx!.pid);
      return workers.length > 0 && workers.every((worker) => uidOf(worker) === web!.uid);
    }, "nginx's workers to run as www-data");
    return { socket, nginx };
  }

  it('without it the socket is root:root 0660 and nginx answers 502 (permission denied)', async () => {
    const { socket, nginx } = await serve('plain.sock', []);
    expect(statSync(socket)).toMatchObject({ uid: 0, gid: 0 });
    const response = await fetch(nginx.url('/'));
    expect(response.status).toBe(502);
    expect(nginx.errorLog()).toMatch(/Permission denied/);
  });

  it.each([
    ['with the master', []],
    ['with --master false', ['--master', 'false']],
  ])('USER:GROUP: the socket is www-data:www-data 0660 and nginx is served (%s)', async (_, extra) => {
    const { socket, nginx } = await serve(
      `owned-${extra.length}.sock`,
      ['--chown-socket', 'www-data:www-data', ...extra],
      extra.length ? /no master/ : undefined,
    );
    const stats = statSync(socket);
    expect({ uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o777 }).toEqual({ uid: web!.uid, gid: web!.gid, mode: 0o660 });
    const response = await fetch(nginx.url('/'));
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('tsgi');
  });

  it('the README recipe: chowned for nginx before the master drops to --uid/--gid', async () => {
    const { socket, nginx } = await serve('dropped.sock', ['--chown-socket', 'www-data:www-data', '--uid', 'nobody', '--gid', 'nogroup']);
    expect(statSync(socket)).toMatchObject({ uid: web!.uid, gid: web!.gid });
    const nobody = Number(/^nobody:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))![1]);
    expect(uidOf(tsgi!.pid)).toBe(nobody);
    expect((await fetch(nginx.url('/'))).status).toBe(200);
  });

  it('USER alone changes the owner and leaves the group (uWSGI: -1), by number too', async () => {
    const socket = path.join(dir, 'user-only.sock');
    tsgi = await startTsgi(['--socket', socket, '--chown-socket', String(web!.uid)]);
    expect(statSync(socket)).toMatchObject({ uid: web!.uid, gid: 0 });
  });

  it('a group that does not exist is a one-line start-up error naming the option (exit 2)', async () => {
    tsgi = await startTsgi(['--socket', path.join(dir, 'nobody.sock'), '--chown-socket', 'www-data:no-such-group'], null);
    expect(await tsgi.exited).toEqual({ code: 2, signal: null });
    expect(tsgi.lines.map((l) => l.text).join('\n')).toMatch(/--chown-socket www-data:no-such-group: no such group "no-such-group" in \/etc\/group/);
  });
});
