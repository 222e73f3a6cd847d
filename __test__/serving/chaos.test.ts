/**
 * The chaos harness: real faults against a real tsgi master and its workers, a real
 * nginx in front (`uwsgi_pass`), and a constant-rate load that records every request.
 * Each scenario asserts what the fault may cost and adds a row to the table printed at
 * the end (requests sent, failed, and how long recovering took).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { alive, childrenOf, killTree, Load, refused, reportTable, startTsgi, until, type ChaosRow, type Tsgi } from '../helpers/chaos.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';
import { freePort } from '../../scripts/lib/processes.mjs';

announceNginx();

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const rows: ChaosRow[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  if (rows.length > 0) console.log(`\nchaos harness (nginx uwsgi_pass in front; ${os.cpus().length} cores):\n${reportTable(rows)}\n`);
});

/** tsgi (the CLI, `--module` the chaos app unless `args` names another) behind nginx. */
async function stack(args: string[], ready?: RegExp | null, options?: { fdLimit?: number }): Promise<{ tsgi: Tsgi; nginx: Nginx; port: number }> {
  const port = await freePort();
  const module = args.includes('--module') ? [] : ['--module', APP];
  const tsgi = await startTsgi(['--socket', `127.0.0.1:${port}`, ...module, '--disable-logging', '--log-5xx', ...args], ready, options);
  cleanups.push(() => tsgi.kill());
  const nginx = await startNginx({ locations: [{ path: '/', uwsgiPass: `127.0.0.1:${port}` }], accessLog: false });
  cleanups.push(() => nginx.stop());
  return { tsgi, nginx, port };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-chaos-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Reads a raw stats socket to its end (what uwsgitop does). */
function readStats(port: number): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    let text = '';
    net
      .connect(port, '127.0.0.1')
      .setEncoding('utf8')
      .on('data', (d: string) => (text += d))
      .on('end', () => resolve(JSON.parse(text)))
      .on('error', reject);
  });
}

describe.skipIf(!hasNginx)(`chaos: faults against tsgi behind nginx (${nginxVersionText ?? 'not installed'})`, () => {
  it('a worker SIGKILLed mid-request costs only its requests in flight; its replacement serves within a second', async () => {
    const { tsgi, nginx } = await stack(['--processes', '2']);
    const slow = new Load(nginx.url, 60, '/slow?ms=300').start();
    const fast = new Load(nginx.url, 60, '/ok').start();
    await sleep(1500);
    // The victim: the worker that answered most (it surely holds requests now).
    const answered = new Map<number, number>();
    for (const o of [...slow.outcomes, ...fast.outcomes]) if (o.pid) answered.set(o.pid, (answered.get(o.pid) ?? 0) + 1);
    const [victim] = [...answered.entries()].sort((a, b) => b[1] - a[1]).map(([pid]) => pid);
    const survivor = tsgi.workers().find((pid) => pid !== victim)!;
    const killedAt = Date.now();
    process.kill(victim!, 'SIGKILL');
    await sleep(2500);
    const results = [await slow.stop(), await fast.stop()];
    const failed = results.flatMap((r) => r.failed);
    // Every failure was a request in flight when the worker died; nothing after it failed.
    for (const f of failed) expect(f.start, JSON.stringify(f)).toBeLessThanOrEqual(killedAt + 5);
    expect(failed.length).toBeLessThanOrEqual(30);
    // The other worker's requests in flight at that moment were answered.
    expect(slow.outcomes.some((o) => o.pid === survivor && o.start < killedAt && o.end > killedAt && o.status === 200)).toBe(true);
    const replacement = await until(() => tsgi.workers().find((pid) => pid !== survivor && pid !== victim), 'a replacement worker');
    const firstServed = Math.min(...fast.outcomes.filter((o) => o.pid === replacement && o.status === 200).map((o) => o.end));
    const recovery = firstServed - killedAt;
    expect(recovery).toBeLessThan(2000); // 1 s, plus the app's start, plus a loaded CI machine
    expect((await tsgi.line(/worker \d \(pid \d+\) killed by SIGKILL \(killed from outside: out of memory\?\); respawning/)).text).toContain(String(victim));
    rows.push({
      scenario: 'worker SIGKILL mid-request (2 workers)',
      sent: results.reduce((n, r) => n + r.sent, 0),
      failed: failed.length,
      recovery: `replacement served ${recovery} ms after the kill; failures: only requests in flight`,
    });
  });

  it('10 SIGHUP reloads during 30 s of load: no request fails', async () => {
    const { tsgi, nginx } = await stack(['--processes', '2']);
    const before = tsgi.workers();
    const fast = new Load(nginx.url, 100, '/ok').start();
    const slow = new Load(nginx.url, 20, '/slow?ms=400').start();
    for (let i = 0; i < 10; i++) {
      await sleep(3000);
      process.kill(tsgi.pid, 'SIGHUP');
    }
    await sleep(1500);
    const results = [await fast.stop(), await slow.stop()];
    const failed = results.flatMap((r) => r.failed);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const done = tsgi.lines.filter((l) => /reload \(.*\): done in \d+ ms/.test(l.text));
    expect(done.length).toBe(10);
    const after = tsgi.workers();
    expect(after).toHaveLength(2);
    for (const pid of after) expect(before).not.toContain(pid);
    const times = done.map((l) => Number(/done in (\d+) ms/.exec(l.text)![1]));
    rows.push({
      scenario: '10 SIGHUP reloads in 30 s (2 workers)',
      sent: results.reduce((n, r) => n + r.sent, 0),
      failed: failed.length,
      recovery: `new workers accepting ${median(times)} ms after each SIGHUP (median; max ${Math.max(...times)} ms)`,
    });
  }, 60_000);

  it('a SIGHUP that changes processes 2 → 3, an env value and --harakiri in the config file under load: no request fails; the new workers have them', async () => {
    const ini = path.join(tempDir(), 'tsgi.ini');
    writeFileSync(ini, '[tsgi]\nprocesses = 2\nenv = COLOR=red\nharakiri = 30\n');
    const { tsgi, nginx } = await stack(['--ini', ini]);
    const before = tsgi.workers();
    expect(before).toHaveLength(2);
    expect(await (await fetch(nginx.url('/env?name=COLOR'))).text()).toBe('red');
    const fast = new Load(nginx.url, 100, '/ok').start();
    const slow = new Load(nginx.url, 20, '/slow?ms=400').start();
    await sleep(1500);
    writeFileSync(ini, '[tsgi]\nprocesses = 3\nenv = COLOR=blue\nharakiri = 2\n');
    const hupAt = Date.now();
    process.kill(tsgi.pid, 'SIGHUP');
    expect((await tsgi.line(/reload \(SIGHUP\): configuration read again/)).text).toMatch(/changed: env, processes, harakiri$/);
    const done = await tsgi.line(/reload \(SIGHUP\): done in (\d+) ms/);
    await until(() => before.every((pid) => !alive(pid)), 'the old workers to finish and exit');
    const settled = Date.now() - hupAt;
    await sleep(1000);
    const results = [await fast.stop(), await slow.stop()];
    const failed = results.flatMap((r) => r.failed);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const after = tsgi.workers();
    expect(after).toHaveLength(3);
    for (const pid of after) expect(before).not.toContain(pid);
    // Every new worker served, with the new environment.
    expect(new Set(fast.outcomes.filter((o) => o.start > done.at + 200).map((o) => o.pid))).toEqual(new Set(after));
    expect(await (await fetch(nginx.url('/env?name=COLOR'))).text()).toBe('blue');
    // --harakiri 2 holds: a busy loop is killed after 2 s, not 30.
    const spinAt = Date.now();
    await fetch(nginx.url('/spin'));
    expect(Date.now() - spinAt).toBeLessThan(5000);
    expect((await tsgi.line(/harakiri: worker \d \(pid \d+\): event loop blocked/)).text).toContain('--harakiri 2 ');
    rows.push({
      scenario: 'SIGHUP re-reading the config: processes 2 → 3, env, --harakiri',
      sent: results.reduce((n, r) => n + r.sent, 0),
      failed: failed.length,
      recovery: `new workers accepting ${/done in (\d+) ms/.exec(done.text)![1]} ms after the SIGHUP; old ones gone after ${settled} ms`,
    });
  }, 60_000);

  it('SIGUSR2 under load: a new master takes the socket over; no request fails, the pidfile names it, the old master exits', async () => {
    const pidfile = path.join(tempDir(), 'tsgi.pid');
    const { tsgi, nginx } = await stack(['--processes', '2', '--pidfile', pidfile]);
    const before = tsgi.workers();
    const fast = new Load(nginx.url, 100, '/ok').start();
    const slow = new Load(nginx.url, 20, '/slow?ms=400').start();
    await sleep(1500);
    const usr2At = Date.now();
    process.kill(tsgi.pid, 'SIGUSR2');
    const serves = await tsgi.line(/upgrade \(SIGUSR2\): the new master \(pid (\d+)\) serves/, 30_000);
    const successor = Number(/pid (\d+)/.exec(serves.text)![1]);
    cleanups.push(() => killTree(successor));
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    const settled = Date.now() - usr2At;
    expect(Number(readFileSync(pidfile, 'utf8'))).toBe(successor);
    const workers = childrenOf(successor);
    expect(workers).toHaveLength(2);
    await sleep(1000);
    const results = [await fast.stop(), await slow.stop()];
    const failed = results.flatMap((r) => r.failed);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    for (const pid of before) expect(alive(pid)).toBe(false);
    // Once the old master is gone, only the new master's workers answer.
    const late = fast.outcomes.filter((o) => o.start > usr2At + settled);
    expect(late.length).toBeGreaterThan(50);
    expect(new Set(late.map((o) => o.pid))).toEqual(new Set(workers));
    rows.push({
      scenario: 'SIGUSR2 upgrade in place (2 workers)',
      sent: results.reduce((n, r) => n + r.sent, 0),
      failed: failed.length,
      recovery: `new master serving ${serves.at - usr2At} ms after the signal; old master gone after ${settled} ms; 0 connections refused`,
    });
  }, 60_000);

  it('SIGTERM with 50 slow requests in flight: all complete, new connections are refused, exit 0', async () => {
    const { tsgi, nginx, port } = await stack(['--processes', '2']);
    const load = new Load(nginx.url, 0);
    const inFlight = Array.from({ length: 50 }, () => load.fire('/slow?ms=1500'));
    await sleep(500);
    const termAt = Date.now();
    process.kill(tsgi.pid, 'SIGTERM');
    await until(() => refused(port), 'the socket to refuse connections', 2000);
    const refusedAfter = Date.now() - termAt;
    await Promise.all(inFlight);
    const { sent, failed } = await load.stop();
    expect(failed).toEqual([]);
    expect(sent).toBe(50);
    const exit = await tsgi.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    rows.push({
      scenario: 'SIGTERM with 50 slow requests in flight',
      sent,
      failed: failed.length,
      recovery: `refusing new connections after ${refusedAfter} ms; all answered; exit 0`,
    });
  });

  it('a busy-looping request under --harakiri 2 is killed within 2-4 s, logged with its URI; other requests are not affected', async () => {
    const { tsgi, nginx } = await stack(['--processes', '2', '--harakiri', '2']);
    const load = new Load(nginx.url, 50, '/ok').start();
    await sleep(500);
    const spinStart = Date.now();
    await load.fire('/spin?because=test');
    const spin = load.outcomes.find((o) => o.path.startsWith('/spin'))!;
    await sleep(1500);
    const { sent, failed } = await load.stop();
    expect(spin.status).toBe(502); // the worker died: nginx says so
    const killedAfter = spin.end - spinStart;
    expect(killedAfter).toBeGreaterThanOrEqual(2000);
    expect(killedAfter).toBeLessThan(4000);
    const logged = await tsgi.line(/harakiri: worker \d \(pid \d+\): event loop blocked for [\d.]+ s in GET \/spin\?because=test for [\d.]+ s/);
    expect(logged.text).toContain('--harakiri 2');
    // Only requests that reached the stuck worker in the same batch as /spin may fail.
    const others = failed.filter((o) => o !== spin);
    for (const o of others) expect(Math.abs(o.start - spinStart), JSON.stringify(o)).toBeLessThan(100);
    await until(() => tsgi.workers().length === 2, 'the replacement');
    rows.push({
      scenario: 'busy loop under --harakiri 2 (2 workers)',
      sent,
      failed: failed.length,
      recovery: `stuck worker killed ${killedAfter} ms after the request began; ${others.length} other request(s) failed`,
    });
  });

  it('an app that crashes at start: backoff, the master stays up, the stats show the crash loop; a fixed app and SIGHUP recover', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, 'process.exit(3); // crashes as it starts\n');
    const statsPort = await freePort();
    const { tsgi, nginx } = await stack(['--module', module, '--processes', '1', '--stats', `127.0.0.1:${statsPort}`], /stats on/);
    await tsgi.line(/\(a crash loop\), next try in/, 10_000);
    await sleep(2000);
    expect(alive(tsgi.pid)).toBe(true);
    const attempts = tsgi.lines.filter((l) => /exited with code 3 before it was ready/.test(l.text));
    const waits = attempts.map((l) => Number(/next try in ([\d.]+) s/.exec(l.text)?.[1] ?? 0));
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    expect(attempts.length).toBeLessThan(12); // backing off, not a storm
    for (let i = 2; i < waits.length; i++) expect(waits[i]).toBeGreaterThan(waits[i - 1]!);
    const stats = await readStats(statsPort);
    expect(stats.crash_loop).toBe(true);
    expect(stats.workers[0].failures).toBeGreaterThanOrEqual(3);
    // The fix is deployed: a reload starts it without waiting out the backoff.
    writeFileSync(module, "export default (e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['fixed\\n']);\n");
    const fixedAt = Date.now();
    process.kill(tsgi.pid, 'SIGHUP');
    await tsgi.line(/worker\(s\) ready/, 10_000);
    const servedAfter = Date.now() - fixedAt;
    const load = new Load(nginx.url, 0);
    await load.fire('/');
    const { sent, failed } = await load.stop();
    expect(failed).toEqual([]);
    expect((await readStats(statsPort)).crash_loop).toBe(false);
    rows.push({
      scenario: 'app crashing at start',
      sent,
      failed: failed.length,
      recovery: `${attempts.length} attempts in ${((attempts.at(-1)!.at - attempts[0]!.at) / 1000).toFixed(1)} s, waits ${waits.filter(Boolean).join(', ')} s; master up; serving ${servedAfter} ms after the fix's SIGHUP`,
    });
  });

  it('a master out of file descriptors when a worker dies: it says why, stays up, the other worker serves, and the place is filled once descriptors return', async () => {
    const statsPort = await freePort();
    const { tsgi, nginx } = await stack(['--processes', '2', '--stats', `127.0.0.1:${statsPort}`, '--stats-http'], undefined, { fdLimit: 48 });
    const load = new Load(nginx.url, 50, '/ok').start();
    // Idle connections to the stats port take every descriptor the master has left (those
    // past the limit libuv accepts and closes at once).
    const held: net.Socket[] = [];
    for (let i = 0; i < 60; i++) held.push(net.connect(statsPort, '127.0.0.1').on('error', () => {}));
    cleanups.push(() => held.forEach((s) => s.destroy()));
    const open = () => readdirSync(`/proc/${tsgi.pid}/fd`).length;
    await until(() => open() >= 46 || undefined, 'the master to hold (almost) 48 descriptors');
    const [victim, survivor] = tsgi.workers();
    const killedAt = Date.now();
    process.kill(victim!, 'SIGKILL');
    const said = await tsgi.line(
      /cannot start worker \d: the master is out of file descriptors \(EMFILE, too many open files\).*; the other workers go on serving; next try in/,
    );
    expect(alive(tsgi.pid)).toBe(true);
    expect(tsgi.workers()).toEqual([survivor]);
    await sleep(500);
    const during = await load.stop();
    // Only the killed worker's requests in flight could fail; the survivor answered the rest.
    expect(during.failed.filter((f) => f.start > killedAt + 5)).toEqual([]);
    expect(during.sent - during.failed.length).toBeGreaterThan(0);
    held.forEach((s) => s.destroy());
    const replacement = await until(() => tsgi.workers().find((pid) => pid !== survivor && pid !== victim), 'a replacement once descriptors are back', 15_000);
    await until(async () => (await fetch(nginx.url('/ok'))).headers.get('x-pid') === String(replacement) || undefined, 'the replacement serving', 15_000);
    rows.push({
      scenario: 'worker dies while the master is out of fds (ulimit -n 48)',
      sent: during.sent,
      failed: during.failed.length,
      recovery: `master up; "${said.text.slice(said.text.indexOf('cannot start'), said.text.indexOf(':', said.text.indexOf('cannot start')) + 1)} …EMFILE"; replacement once fds returned`,
    });
  });

  it.each([
    ['/big', 'the same 1 MiB buffer'],
    ['/big-fresh', 'a new 1 MiB buffer each'],
  ])('1,000 slow readers of %s (%s) over HTTP: the worker stays under 300 MB and fresh requests are answered', async (route, what) => {
    const port = await freePort();
    const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--disable-logging', '--max-conns', '2000', '--listen', '2048']);
    cleanups.push(() => tsgi.kill());
    const [worker] = tsgi.workers();
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${worker}/status`, 'utf8'))![1]) / 1024;
    const readers: net.Socket[] = [];
    cleanups.push(() => readers.forEach((s) => s.destroy()));
    let started = 0;
    for (let i = 0; i < 1000; i++) {
      const reader = net.connect(port, '127.0.0.1', () => reader.write(`GET ${route} HTTP/1.1\r\nHost: x\r\n\r\n`));
      // Reads its first bytes, then nothing more: the rest of the response waits.
      reader.once('data', () => (started++, reader.pause())).on('error', () => {});
      readers.push(reader);
    }
    let peak = 0;
    const latencies: number[] = [];
    while (started < 1000) {
      peak = Math.max(peak, rss());
      const at = Date.now();
      expect((await fetch(`http://127.0.0.1:${port}/ok`)).status).toBe(200);
      latencies.push(Date.now() - at);
      await sleep(50);
    }
    // Every response begun; the worker holds what the sockets did not take.
    for (let i = 0; i < 10; i++) {
      peak = Math.max(peak, rss());
      const at = Date.now();
      expect((await fetch(`http://127.0.0.1:${port}/ok`)).status).toBe(200);
      latencies.push(Date.now() - at);
      await sleep(50);
    }
    expect(peak).toBeLessThan(300);
    rows.push({
      scenario: `1,000 slow readers of ${route} (${what}), HTTP direct`,
      sent: latencies.length,
      failed: 0,
      recovery: `worker RSS peak ${peak.toFixed(0)} MB; fresh /ok answered in median ${median(latencies)} ms, max ${Math.max(...latencies)} ms`,
    });
  });

  it('a timer that throws while 5 slow requests are in flight: the 5 complete, the worker is replaced, the stats count it', async () => {
    const statsPort = await freePort();
    const { tsgi, nginx } = await stack(['--processes', '1', '--stats', `127.0.0.1:${statsPort}`, '--uncaught-exception-grace', '5']);
    const [victim] = tsgi.workers();
    const slow = Array.from({ length: 5 }, () => fetch(nginx.url('/slow?ms=1000')));
    await until(async () => (await readStats(statsPort)).workers[0].in_flight >= 5 || undefined, '5 requests in flight');
    const thrownAt = Date.now();
    expect((await fetch(nginx.url('/throw-later'))).status).toBe(200);
    const said = await tsgi.line(
      /worker 1 \(pid \d+\): accepting nothing more; finishing 5 request\(s\) in flight \(GET \/slow\?ms=1000(, GET \/slow\?ms=1000){4}\) within --uncaught-exception-grace 5 s, then exiting/,
    );
    await tsgi.line(/uncaught exception: Error: thrown in a timer on purpose/);
    await tsgi.line(/^\s+at Timeout\.|chaos-app\.mjs:/);
    const replies = await Promise.all(slow);
    expect(replies.map((r) => [r.status, r.headers.get('x-pid')])).toEqual(Array.from({ length: 5 }, () => [200, String(victim)]));
    // A new worker serves meanwhile; the old one is gone once its requests are done.
    const replacement = await until(() => tsgi.workers().find((pid) => pid !== victim), 'a replacement');
    await until(async () => (await fetch(nginx.url('/ok'))).headers.get('x-pid') === String(replacement) || undefined, 'the replacement serving');
    await until(() => !alive(victim!) || undefined, 'the old worker gone');
    const stats = await readStats(statsPort);
    expect(stats.workers[0].uncaught_exceptions).toBe(1);
    expect(alive(tsgi.pid)).toBe(true);
    rows.push({
      scenario: 'a timer throws with 5 slow requests in flight (1 worker)',
      sent: 6,
      failed: replies.filter((r) => r.status !== 200).length,
      recovery: `the 5 completed; replacement serving ${Date.now() - thrownAt} ms after the throw; logged with its stack and the ${said.text.match(/finishing (\d+)/)![1]} requests`,
    });
  });

  it('--max-requests 100 under load: workers recycle, no request fails', async () => {
    const { tsgi, nginx } = await stack(['--processes', '2', '--max-requests', '100', '--max-requests-delta', '20']);
    const load = new Load(nginx.url, 150, '/ok').start();
    await sleep(6000);
    const { sent, failed } = await load.stop();
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const recycled = tsgi.lines.filter((l) => /--max-requests 1[24]0 reached; replacing it/.test(l.text));
    // Each place reached its limit at least once (how often depends on the machine's pace).
    expect(new Set(recycled.map((l) => /--max-requests (\d+)/.exec(l.text)![1]))).toEqual(new Set(['120', '140']));
    const served = new Set(load.outcomes.map((o) => o.pid));
    // Replacements served (those made in the run's last moments may not have yet).
    expect(served.size).toBeGreaterThan(2);
    expect(served.size).toBeGreaterThanOrEqual(recycled.length);
    rows.push({
      scenario: '--max-requests 100 (delta 20, 2 workers)',
      sent,
      failed: failed.length,
      recovery: `${recycled.length} recycles, ${served.size} worker processes served`,
    });
  });

  it('a master killed with SIGKILL takes its workers along within a second and leaves the socket free', async () => {
    const { tsgi, port } = await stack(['--processes', '2']);
    const workers = tsgi.workers();
    expect(workers).toHaveLength(2);
    const killedAt = Date.now();
    process.kill(tsgi.pid, 'SIGKILL');
    await until(() => workers.every((pid) => !alive(pid)), 'the workers to exit', 1000, 5);
    const gone = Date.now() - killedAt;
    // The last holder's exit closes the socket a moment after the process is gone.
    await until(() => refused(port), 'the port to refuse connections', 1000, 5);
    const free = Date.now() - killedAt;
    rows.push({
      scenario: 'master SIGKILL (2 workers)',
      sent: 0,
      failed: 0,
      recovery: `workers gone ${gone} ms after; the port refuses connections after ${free} ms`,
    });
  });

  it('a worker growing past --reload-on-rss is recycled; no request fails', async () => {
    const { tsgi, nginx } = await stack(['--processes', '2', '--reload-on-rss', '160']);
    const load = new Load(nginx.url, 30, '/grow').start();
    await sleep(8000);
    const { sent, failed } = await load.stop();
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const recycled = tsgi.lines.filter((l) => /resident memory \d+ MB over --reload-on-rss 160; replacing it/.test(l.text));
    expect(recycled.length).toBeGreaterThanOrEqual(2);
    rows.push({ scenario: 'memory growth, --reload-on-rss 160 (2 workers)', sent, failed: failed.length, recovery: `${recycled.length} recycles` });
  }, 30_000);

  it('the stats JSON (and /metrics) match the live processes and the requests served, and hold no query string', async () => {
    const statsPort = await freePort();
    const httpStatsPort = await freePort();
    const { tsgi, nginx, port } = await stack(['--processes', '3', '--stats', `:${statsPort}`]);
    const load = new Load(nginx.url, 0);
    for (let i = 0; i < 30; i++) await load.fire('/ok?secret=hunter2');
    for (let i = 0; i < 2; i++) await load.fire('/throw');
    const { sent, failed } = await load.stop();
    expect(failed.map((f) => [f.path, f.status])).toEqual([
      ['/throw', 500],
      ['/throw', 500],
    ]);
    await sleep(300); // the last request's counters reach the scoreboard
    const stats = await readStats(statsPort);
    expect(stats.pid).toBe(tsgi.pid);
    expect(stats.workers.map((w: { pid: number }) => w.pid).sort((a: number, b: number) => a - b)).toEqual(childrenOf(tsgi.pid));
    expect(stats.workers.map((w: { id: number }) => w.id)).toEqual([1, 2, 3]);
    expect(stats.workers.every((w: { accepting: number; status: string }) => w.accepting === 1 && w.status === 'idle')).toBe(true);
    expect(stats.workers.reduce((n: number, w: { requests: number }) => n + w.requests, 0)).toBe(32);
    expect(stats.workers.reduce((n: number, w: { exceptions: number }) => n + w.exceptions, 0)).toBe(2);
    expect(stats.sockets).toEqual([expect.objectContaining({ name: `127.0.0.1:${port}`, proto: 'uwsgi', queue: 0 })]);
    expect(JSON.stringify(stats)).not.toContain('hunter2');
    rows.push({
      scenario: 'stats against the live processes (3 workers)',
      sent,
      failed: failed.length,
      recovery: 'pids, requests, exceptions (the 2 failures are the app throwing on purpose) and sockets match',
    });

    // The same over HTTP, with the Prometheus exposition.
    const httpTsgi = await startTsgi(['--socket', '127.0.0.1:0', '--module', APP, '--processes', '2', '--stats', `127.0.0.1:${httpStatsPort}`, '--stats-http']);
    cleanups.push(() => httpTsgi.kill());
    const metrics = await (await fetch(`http://127.0.0.1:${httpStatsPort}/metrics`)).text();
    expect(metrics).toMatch(/^# TYPE tsgi_worker_requests_total counter$/m);
    expect(metrics).toMatch(/^tsgi_workers 2$/m);
    expect(metrics.match(/^tsgi_worker_up\{worker="\d"\} 1$/gm)).toHaveLength(2);
    const json = (await (await fetch(`http://127.0.0.1:${httpStatsPort}/`)).json()) as { workers: unknown[] };
    expect(json.workers).toHaveLength(2);
    expect((await fetch(`http://127.0.0.1:${httpStatsPort}/nope`)).status).toBe(404);
  });
});
