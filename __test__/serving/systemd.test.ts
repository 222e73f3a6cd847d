/**
 * systemd's protocols with the CLI as a unit would run it: notifications to a
 * `$NOTIFY_SOCKET` recorder (what systemd would read, and from which pid) over a start, a
 * reload and a stop; socket activation through systemd's own `systemd-socket-activate`,
 * a TCP and a Unix socket adopted, served, and the Unix socket's file left in place.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkPortFree, freePort } from '../../scripts/lib/processes.mjs';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { activationLauncher, python, socketActivate, startNotifyRecorder, type Notification, type NotifyRecorder } from '../helpers/systemd.js';

const native = process.env.TSGI_NATIVE !== '0';
let dir: string;
let tsgi: Tsgi | undefined;
let recorder: NotifyRecorder | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-systemd-'));
});
afterEach(async () => {
  tsgi?.kill();
  await tsgi?.exited;
  tsgi = undefined;
  recorder?.stop();
  recorder = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** GET over TCP or a Unix socket: status and body. */
function get(target: { port: number } | { socketPath: string }, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...target, host: '127.0.0.1', path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** An app that takes `delayMs` to load and answers what systemd's variables the worker sees. */
function envApp(delayMs: number): string {
  const file = path.join(dir, 'env-app.mjs');
  writeFileSync(
    file,
    `await new Promise((resolve) => setTimeout(resolve, ${delayMs}));
export default { fetch: () => Response.json({ NOTIFY_SOCKET: process.env.NOTIFY_SOCKET ?? null, WATCHDOG_USEC: process.env.WATCHDOG_USEC ?? null, LISTEN_FDS: process.env.LISTEN_FDS ?? null }) };
`,
  );
  return file;
}

const isState = (key: string) => (n: Notification) => n.fields[key] !== undefined;

describe.skipIf(!python.bin)('NOTIFY_SOCKET', () => {
  // The datagrams need the native binding: the pure project checks what tsgi says without it.
  const told = 'READY=1 once every worker is ready, RELOADING=1 then READY=1 around a reload, STOPPING=1, WATCHDOG=1, all from the master';
  const untold = 'without the native binding, says systemd is not told (it cannot send a datagram)';
  it(native ? told : untold, () => (native ? notifies() : saysItCannot()));

  async function notifies() {
    recorder = await startNotifyRecorder(dir);
    const port = await freePort();
    const startedAt = Date.now();
    tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--processes', '2', '--module', envApp(400)], null, {
      env: { NOTIFY_SOCKET: recorder.path, WATCHDOG_USEC: '300000' },
    });
    const ready = await recorder.next(isState('READY'));
    // Each worker took 400 ms to load its app: READY=1 waited for them.
    expect(ready.at - startedAt).toBeGreaterThanOrEqual(400);
    expect(ready.fields.STATUS).toMatch(/^2 worker\(s\) serving on 127\.0\.0\.1:\d+$/);
    expect(ready.pid).toBe(tsgi.pid);
    // The workers do not see the variables: only the main process speaks for the service.
    expect(JSON.parse((await get({ port })).body)).toEqual({ NOTIFY_SOCKET: null, WATCHDOG_USEC: null, LISTEN_FDS: null });

    // WATCHDOG_USEC=300000: a ping every 150 ms.
    const firstPing = await recorder.next(isState('WATCHDOG'));
    await recorder.next(isState('WATCHDOG'), recorder.messages.indexOf(firstPing) + 1);

    const beforeHup = process.hrtime.bigint() / 1000n;
    const mark = recorder.messages.length;
    process.kill(tsgi.pid, 'SIGHUP');
    const reloading = await recorder.next(isState('RELOADING'), mark);
    const since = BigInt(reloading.fields.MONOTONIC_USEC!);
    // CLOCK_MONOTONIC, taken after the signal and before systemd got the message.
    expect(since).toBeGreaterThanOrEqual(beforeHup);
    expect(since).toBeLessThanOrEqual(reloading.monotonicUsec);
    const reloaded = await recorder.next(isState('READY'), recorder.messages.indexOf(reloading));
    expect(reloaded.fields.STATUS).toBe('reloaded (SIGHUP)');

    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    const states = recorder.messages.filter((n) => n.fields.WATCHDOG === undefined);
    expect(states.map((n) => Object.keys(n.fields)[0])).toEqual(['READY', 'RELOADING', 'READY', 'STOPPING']);
    expect(states.at(-1)!.fields.STATUS).toBe('stopping: the workers finish their requests');
    expect(new Set(recorder.messages.map((n) => n.pid))).toEqual(new Set([tsgi.pid]));
  }

  async function saysItCannot() {
    recorder = await startNotifyRecorder(dir);
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0'], undefined, { env: { NOTIFY_SOCKET: recorder.path } });
    await tsgi.line(/NOTIFY_SOCKET is set, but the native binding did not load .*use Type=exec/);
    expect(recorder.messages).toEqual([]);
  }
});

describe.skipIf(!socketActivate.bin)('LISTEN_FDS: systemd-socket-activate', () => {
  it('adopts a TCP socket by its address and a Unix socket by its name, serves both, and leaves the socket file', async () => {
    const port = await freePort();
    const socketPath = path.join(dir, 'api.sock');
    tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--http-socket', 'systemd:api', '--module', envApp(0)], null, {
      launcher: activationLauncher([`127.0.0.1:${port}`, socketPath], { names: ['web', 'api'] }),
    });
    await tsgi.line(new RegExp(`Listening on ${socketPath.replace(/[.]/g, '\\.')} as 4`));
    // The first connection starts the service (no --accept), and waits in the queue.
    const tcp = await get({ port });
    expect(tcp.status).toBe(200);
    expect(JSON.parse(tcp.body)).toEqual({ NOTIFY_SOCKET: null, WATCHDOG_USEC: null, LISTEN_FDS: null });
    expect((await get({ socketPath })).status).toBe(200);
    await tsgi.line(new RegExp(`over HTTP on 127\\.0\\.0\\.1:${port} \\(from systemd\\)`));
    await tsgi.line(new RegExp(`over HTTP on ${socketPath.replace(/[.]/g, '\\.')} \\(from systemd\\)`));

    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    // systemd's file: --vacuum (on by default) leaves it.
    expect(existsSync(socketPath) && statSync(socketPath).isSocket()).toBe(true);
  });

  it('adopts an IPv6 socket by its address, however the address is spelled', async () => {
    const port = await freePort('::1');
    tsgi = await startTsgi(['--http-socket', `[0:0:0:0:0:0:0:1]:${port}`], null, { launcher: activationLauncher([`[::1]:${port}`]) });
    await tsgi.line(/Listening on \[::1\]:\d+ as 3/);
    const response = await fetch(`http://[::1]:${port}/`);
    expect(response.status).toBe(200);
    await tsgi.line(new RegExp(`over HTTP on \\[::1\\]:${port} \\(from systemd\\)`));
  });

  it("--worker-sockets: a worker's own address passed by systemd stays that worker's", async () => {
    // Worker 1's own port is the next one: both must be free.
    let port = await freePort();
    while (
      !(await checkPortFree(port + 1).then(
        () => true,
        () => false,
      ))
    )
      port = await freePort();
    tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--worker-sockets', '--module', envApp(0)], null, {
      launcher: activationLauncher([`127.0.0.1:${port}`, `127.0.0.1:${port + 1}`]),
    });
    await tsgi.line(/Listening on 127\.0\.0\.1:\d+ as 4/);
    expect((await get({ port })).status).toBe(200);
    expect((await get({ port: port + 1 })).status).toBe(200);
    await tsgi.line(new RegExp(`over HTTP on 127\\.0\\.0\\.1:${port + 1} \\(worker 1's own\\)`));
  });

  it('--master false: the one process serves the inherited socket and tells systemd', async () => {
    const port = await freePort();
    recorder = await startNotifyRecorder(dir);
    tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--master', 'false', '--module', envApp(0)], null, {
      launcher: activationLauncher([`127.0.0.1:${port}`], { env: { NOTIFY_SOCKET: recorder.path } }),
    });
    await tsgi.line(/Listening on 127\.0\.0\.1:\d+ as 3/);
    const served = await get({ port });
    expect(JSON.parse(served.body)).toEqual({ NOTIFY_SOCKET: null, WATCHDOG_USEC: null, LISTEN_FDS: null });
    await tsgi.line(new RegExp(`over http on 127\\.0\\.0\\.1:${port} \\(no master, from systemd\\)`));
    if (native) expect((await recorder.next(isState('READY'))).pid).toBe(tsgi.pid);
    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    if (native) expect(recorder.messages.map((n) => Object.keys(n.fields)[0])).toEqual(['READY', 'STOPPING']);
  });

  it('a passed socket no option names is a start-up error that says which and how to name it', async () => {
    const [web, other] = [await freePort(), await freePort()];
    tsgi = await startTsgi(['--http-socket', `127.0.0.1:${web}`], null, {
      launcher: activationLauncher([`127.0.0.1:${web}`, `127.0.0.1:${other}`], { names: ['web', 'admin'] }),
    });
    await tsgi.line(/Listening on 127\.0\.0\.1:\d+ as 4/);
    await get({ port: web }).catch(() => {}); // starts it; refused once tsgi gives up
    expect(await tsgi.exited).toEqual({ code: 1, signal: null });
    expect(tsgi.lines.map((l) => l.text).join('\n')).toContain(
      `LISTEN_FDS: systemd passed fd 4 127.0.0.1:${other} (admin), which no --socket, --http-socket or --fastcgi-socket names`,
    );
  });
});
