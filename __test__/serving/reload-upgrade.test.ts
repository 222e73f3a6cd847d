/**
 * A reload that reads the configuration again (SIGHUP) and an upgrade in place (SIGUSR2),
 * against the CLI as users run it: a config file with a mistake keeps the running
 * configuration, sockets added and dropped by a reload, options kept until a restart, an
 * upgrade over a TCP and a Unix socket with clients straight to tsgi (a connection per
 * request: a refusal would show), and an upgrade whose new master cannot start. The
 * same under nginx and constant load, with the report's rows, is in chaos.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, childrenOf, killTree, Load, refused, startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';
import { activationLauncher, python, socketActivate, startNotifyRecorder } from '../helpers/systemd.js';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const native = process.env.TSGI_NATIVE !== '0';
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** `text` as a pattern that matches it literally. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-reload-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `tsgi ctl SOCKET COMMAND`'s answer. */
function ctlCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.resolve('dist/cli.js'), 'ctl', socket, command], (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

async function tsgi(args: string[]): Promise<Tsgi> {
  const started = await startTsgi(args);
  cleanups.push(() => started.kill());
  return started;
}

/** A GET over TCP or a Unix socket, a connection of its own: status, X-Pid, body. */
function get(target: { port: number } | { socketPath: string }, urlPath = '/ok'): Promise<{ status: number; pid: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ ...target, host: '127.0.0.1', path: urlPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, pid: Number(res.headers['x-pid']), body }));
      })
      .on('error', reject);
  });
}

/** The master pid the stats server (`--stats-http`) on `port` reports. */
async function statsPid(port: number): Promise<number> {
  return ((await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { pid: number }).pid;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a reload reads the configuration again', () => {
  it('a config file with a mistake: the error with file and line, the running configuration and workers serve on; fixed, the next reload applies it', async () => {
    const dir = tempDir();
    const ini = path.join(dir, 'tsgi.ini');
    const port = await freePort();
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nprocesses = 2\nenv = COLOR=red\n`);
    const master = await tsgi(['--ini', ini]);
    const before = master.workers();
    expect(before).toHaveLength(2);

    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nprocesses = 3\nproceses = 4\nenv = COLOR=blue\n`);
    process.kill(master.pid, 'SIGHUP');
    await master.line(new RegExp(`${escape(ini)}:5: proceses: unknown option; did you mean processes\\?`));
    await master.line(/reload \(SIGHUP\) refused: 1 problem\(s\) in the configuration; the running configuration and workers serve on/);
    expect(master.lines.some((l) => /starting \d new worker/.test(l.text))).toBe(false);
    expect(alive(master.pid)).toBe(true);
    expect(master.workers()).toEqual(before);
    const served = await get({ port }, '/env?name=COLOR');
    expect(served.body).toBe('red');
    expect(before).toContain(served.pid);

    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nprocesses = 3\nenv = COLOR=blue\n`);
    process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): configuration read again; changed: env, processes$/);
    await master.line(/reload \(SIGHUP\): done in \d+ ms/);
    await until(() => master.workers().length === 3 && master.workers().every((pid) => !before.includes(pid)), '3 new workers alone');
    expect((await get({ port }, '/env?name=COLOR')).body).toBe('blue');
  });

  it('a socket added is bound and served; a socket dropped is closed once the old workers have finished on it', async () => {
    const dir = tempDir();
    const ini = path.join(dir, 'tsgi.ini');
    const [first, second, stats] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${first}\nmodule = ${APP}\n`);
    const master = await tsgi(['--ini', ini, '--stats', `127.0.0.1:${stats}`, '--stats-http']);
    const [old] = master.workers();
    expect(await refused(second)).toBe(true);
    // In flight on the socket to be dropped across the reload: it is answered.
    const slow = get({ port: first }, '/slow?ms=1500');
    const inFlight = async () =>
      ((await (await fetch(`http://127.0.0.1:${stats}/`)).json()) as { workers: Array<{ in_flight: number }> }).workers[0]!.in_flight;
    await until(async () => (await inFlight()) === 1, 'the slow request to reach the worker');

    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${second}\nmodule = ${APP}\n`);
    process.kill(master.pid, 'SIGHUP');
    const said = await master.line(/reload \(SIGHUP\): configuration read again/);
    expect(said.text).toMatch(
      `reload (SIGHUP): configuration read again; changed: http-socket; bound 127.0.0.1:${second}; closing 127.0.0.1:${first} once the old workers are gone`,
    );
    await master.line(/reload \(SIGHUP\): done in \d+ ms/);
    const [fresh] = master.workers().filter((pid) => pid !== old);
    const answer = await get({ port: second });
    expect(answer).toMatchObject({ status: 200, pid: fresh });

    expect(await slow).toMatchObject({ status: 200, pid: old });
    const closed = await master.line(new RegExp(`closed 127\\.0\\.0\\.1:${first}: the configuration no longer names them and their workers are gone`));
    expect(alive(old!)).toBe(false);
    expect(closed.at).toBeGreaterThanOrEqual(master.lines.find((l) => l.text.includes('done in'))!.at);
    expect(await refused(first)).toBe(true);
    expect((await get({ port: second })).status).toBe(200);
  });

  it('a socket added that cannot be bound (its port taken) refuses the reload: one line, the running configuration serves on', async () => {
    const dir = tempDir();
    const ini = path.join(dir, 'tsgi.ini');
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    cleanups.push(() => void taken.close());
    const busy = (taken.address() as net.AddressInfo).port;
    const port = await freePort();
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nenv = COLOR=red\n`);
    const master = await tsgi(['--ini', ini]);
    const before = master.workers();
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nhttp-socket = 127.0.0.1:${busy}\nmodule = ${APP}\nenv = COLOR=blue\n`);
    process.kill(master.pid, 'SIGHUP');
    await master.line(
      new RegExp(
        `reload \\(SIGHUP\\) refused: --http-socket 127\\.0\\.0\\.1:${busy}: address already in use \\(EADDRINUSE\\); the running configuration and workers serve on`,
      ),
    );
    expect(master.workers()).toEqual(before);
    expect((await get({ port }, '/env?name=COLOR')).body).toBe('red');
  });

  it('an option read only at start (--pidfile) is named and kept; the others apply', async () => {
    const dir = tempDir();
    const ini = path.join(dir, 'tsgi.ini');
    const port = await freePort();
    const [pidfile, other] = [path.join(dir, 'a.pid'), path.join(dir, 'b.pid')];
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\npidfile = ${pidfile}\n`);
    const master = await tsgi(['--ini', ini]);
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\npidfile = ${other}\nenv = COLOR=green\n`);
    process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): changed, but kept as they are until a restart \(or an upgrade, SIGUSR2\): pidfile$/);
    await master.line(/reload \(SIGHUP\): configuration read again; changed: env$/);
    await master.line(/reload \(SIGHUP\): done in \d+ ms/);
    expect((await get({ port }, '/env?name=COLOR')).body).toBe('green');
    expect(readFileSync(pidfile, 'utf8')).toBe(`${master.pid}\n`);
    expect(existsSync(other)).toBe(false);
  });
});

describe('SIGUSR2 upgrades in place', () => {
  it('over a TCP and a Unix socket, clients straight to tsgi: none refused; the new master serves both, owns the pidfile and the socket file', async () => {
    const dir = tempDir();
    const port = await freePort();
    const socketPath = path.join(dir, 'app.sock');
    const pidfile = path.join(dir, 'tsgi.pid');
    const stats = await freePort();
    const master = await tsgi([
      ...['--http-socket', `127.0.0.1:${port}`, '--http-socket', socketPath, '--module', APP, '--processes', '2', '--pidfile', pidfile],
      ...['--stats', `127.0.0.1:${stats}`, '--stats-http'],
    ]);
    const before = master.workers();
    // A new connection for every request: a moment without a listener would refuse some.
    const load = new Load((p) => `http://127.0.0.1:${port}${p}`, 100, '/ok', { keepAlive: false }).start();
    const unixAnswers: number[] = [];
    let polling = true;
    // A request that fails counts as 0 (and fails the check below); the loop stops with
    // the test whatever happens, so no request outlives it.
    cleanups.push(() => (polling = false));
    const unixPoll = (async () => {
      while (polling)
        unixAnswers.push(
          await get({ socketPath }).then(
            (answer) => answer.status,
            () => 0,
          ),
        );
    })();
    await until(() => load.outcomes.filter((o) => o.status === 200).length >= 20, 'the load to be served');

    process.kill(master.pid, 'SIGUSR2');
    const serves = await master.line(/upgrade \(SIGUSR2\): the new master \(pid (\d+)\) serves/, 30_000);
    const successor = Number(/pid (\d+)/.exec(serves.text)![1]);
    cleanups.push(() => killTree(successor));
    // The new master's own lines share the old one's stderr, written in batches of their
    // own: its line may come after the old master's.
    await master.line(new RegExp(escapeRegExp(`tsgi[${successor}]: serving ${APP} over HTTP on ${socketPath} (from the old master)`)));
    expect(await master.exited).toEqual({ code: 0, signal: null });
    const exitedAt = Date.now();
    // The old master left the files to the new one.
    expect(readFileSync(pidfile, 'utf8')).toBe(`${successor}\n`);
    expect(statSync(socketPath).isSocket()).toBe(true);
    await until(() => load.outcomes.filter((o) => o.start > exitedAt && o.status === 200).length >= 50, 'requests after the old master exited');
    polling = false;
    await unixPoll;
    const { sent, failed } = await load.stop();
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(sent).toBeGreaterThan(100);
    expect(unixAnswers.every((s) => s === 200)).toBe(true);
    for (const pid of before) expect(alive(pid)).toBe(false);
    const workers = childrenOf(successor);
    expect(workers).toHaveLength(2);
    expect(workers).toContain((await get({ socketPath })).pid);
    expect(workers).toContain((await get({ port })).pid);
    // The stats port too: the old master let it go, the new one serves it.
    expect(await statsPid(stats)).toBe(successor);

    // The new master's own exit removes them (--vacuum), as the old one would have.
    process.kill(successor, 'SIGTERM');
    await until(() => !alive(successor), 'the new master to exit');
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
  });

  it('a new master that cannot start (its config now names an app that fails; asked by tsgi ctl upgrade): the old master serves on, its pid back in the pidfile', async () => {
    const dir = tempDir();
    const ini = path.join(dir, 'tsgi.ini');
    const broken = path.join(dir, 'broken.mjs');
    writeFileSync(broken, "throw new Error('this release is broken');\n");
    const port = await freePort();
    const pidfile = path.join(dir, 'tsgi.pid');
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nprocesses = 2\npidfile = ${pidfile}\n`);
    const stats = await freePort();
    const control = path.join(dir, 'ctl.sock');
    const master = await tsgi(['--ini', ini, '--stats', `127.0.0.1:${stats}`, '--stats-http', '--control-socket', control]);
    const before = master.workers();
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${broken}\nprocesses = 2\npidfile = ${pidfile}\n`);
    const load = new Load((p) => `http://127.0.0.1:${port}${p}`, 50, '/ok', { keepAlive: false }).start();

    // tsgi ctl upgrade takes SIGUSR2's path.
    const asked = await ctlCommand(control, 'upgrade');
    expect(JSON.parse(asked)).toMatchObject({ ok: true, command: 'upgrade' });
    const failedLine = await master.line(
      /upgrade \([^)]*upgrade\) failed: the new master \(pid (\d+)\) exited with code \d+ before it was ready; this master \(pid \d+\) serves on/,
      30_000,
    );
    const successor = Number(/pid (\d+)/.exec(failedLine.text)![1]);
    cleanups.push(() => killTree(successor));
    // The new master's lines (its worker's error) reach the shared stderr in their own batches.
    await master.line(/this release is broken/);
    expect(alive(successor)).toBe(false);
    expect(alive(master.pid)).toBe(true);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${master.pid}\n`);
    const after = Date.now();
    await until(() => load.outcomes.filter((o) => o.start > after && o.status === 200).length >= 20, 'requests after the failure');
    const { failed } = await load.stop();
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(master.workers()).toEqual(before);
    expect(before).toContain((await get({ port })).pid);
    // The stats port, let go for the new master, is served again.
    expect(await statsPid(stats)).toBe(master.pid);
  });

  it('a stop during an upgrade stops the new master too; the old one exits 0', async () => {
    const dir = tempDir();
    const ini = path.join(dir, 'tsgi.ini');
    const slow = path.join(dir, 'slow.mjs');
    writeFileSync(slow, `await new Promise((resolve) => setTimeout(resolve, 20_000));\nexport { default } from ${JSON.stringify(APP)};\n`);
    const port = await freePort();
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\n`);
    const master = await tsgi(['--ini', ini]);
    writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${slow}\n`);
    process.kill(master.pid, 'SIGUSR2');
    const starting = await master.line(/upgrade \(SIGUSR2\): new master \(pid (\d+)\) starting/);
    const successor = Number(/pid (\d+)/.exec(starting.text)![1]);
    cleanups.push(() => killTree(successor));
    // Its worker is loading the app: the new master is up, not ready.
    await until(() => childrenOf(successor).length === 1, "the new master's worker");
    process.kill(master.pid, 'SIGTERM');
    await master.line(new RegExp(`upgrade: this master is stopping; the new master \\(pid ${successor}\\), not ready yet, is stopped too`));
    expect(await master.exited).toEqual({ code: 0, signal: null });
    await until(() => !alive(successor), 'the new master to exit');
    expect(await refused(port)).toBe(true);
  });

  // The notifications need the native binding (a datagram socket): the pure project checks
  // the rest (the socket by name, the file left) and that systemd is not told.
  it.skipIf(!socketActivate.bin || !python.bin)(
    native
      ? "under systemd: its socket passed on by name, the new master's READY=1, MAINPID= from the old one; systemd's socket file stays"
      : "under systemd without the binding: its socket passed on by name; systemd's socket file stays; nothing is sent",
    async () => {
      const dir = tempDir();
      const recorder = await startNotifyRecorder(dir);
      cleanups.push(() => recorder.stop());
      const socketPath = path.join(dir, 'api.sock');
      const master = await startTsgi(['--http-socket', 'systemd:api', '--module', APP], null, {
        launcher: activationLauncher([socketPath], { names: ['api'], env: { NOTIFY_SOCKET: recorder.path } }),
      });
      cleanups.push(() => master.kill());
      await master.line(/Listening on .* as 3/);
      expect((await get({ socketPath })).status).toBe(200);
      await master.line(/worker\(s\) ready/);

      process.kill(master.pid, 'SIGUSR2');
      const serves = await master.line(/upgrade \(SIGUSR2\): the new master \(pid (\d+)\) serves/, 30_000);
      const successor = Number(/pid (\d+)/.exec(serves.text)![1]);
      cleanups.push(() => killTree(successor));
      expect(await master.exited).toEqual({ code: 0, signal: null });
      expect(childrenOf(successor)).toContain((await get({ socketPath })).pid);
      if (native) {
        const handed = await recorder.next((n) => n.fields.MAINPID !== undefined);
        expect(handed).toMatchObject({ pid: master.pid, fields: { MAINPID: String(successor) } });
        const ready = recorder.messages.find((n) => n.fields.READY !== undefined && n.pid === successor);
        expect(ready?.fields.STATUS).toMatch(new RegExp(`^1 worker\\(s\\) serving on ${escape(socketPath)}$`));
      } else {
        expect(recorder.messages).toEqual([]);
      }

      process.kill(successor, 'SIGTERM');
      await until(() => !alive(successor), 'the new master to exit');
      // systemd's file: neither master removes it.
      expect(statSync(socketPath).isSocket()).toBe(true);
    },
  );
});
