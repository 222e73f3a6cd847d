/**
 * `--shutdown-delay` with the CLI, as Kubernetes stops a pod: SIGTERM arrives while the
 * endpoints still route to it. Health (`--health-path`, the stats' `/readyz`) turns 503 at
 * once, a client opening a connection every 10 ms sees none refused for the delay, then
 * the graceful stop; a second SIGTERM skips the wait.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/processes.mjs';
import { Load, refused, startTsgi, until, type Tsgi } from '../helpers/chaos.js';

let tsgi: Tsgi | undefined;
afterEach(async () => {
  tsgi?.kill();
  await tsgi?.exited;
  tsgi = undefined;
});

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

describe('--shutdown-delay', () => {
  it('SIGTERM: health 503 at once, no connection refused for 2 s, then a graceful stop', async () => {
    const [port, statsPort] = [await freePort(), await freePort()];
    const base = `http://127.0.0.1:${port}`;
    const stats = `http://127.0.0.1:${statsPort}`;
    tsgi = await startTsgi([
      ...['--http-socket', `127.0.0.1:${port}`, '--processes', '2', '--health-path', '/healthz', '--shutdown-delay', '2'],
      ...['--stats', `127.0.0.1:${statsPort}`, '--stats-http'],
    ]);
    expect(await status(`${base}/healthz`)).toBe(200);
    expect(await status(`${stats}/readyz`)).toBe(200);
    expect(await status(`${stats}/livez`)).toBe(200);

    // A new connection every 10 ms, as clients routed by a load balancer not yet told.
    const load = new Load((p) => `${base}${p}`, 100, '/', { keepAlive: false }).start();
    const health = new Load((p) => `${base}${p}`, 100, '/healthz', { keepAlive: false }).start();
    await until(() => load.outcomes.some((o) => o.status === 200), 'the load to be served');
    const sigterm = Date.now();
    process.kill(tsgi.pid, 'SIGTERM');
    const first503 = await until(() => health.outcomes.find((o) => o.status === 503), 'health 503', 5000, 2);
    await until(async () => (await status(`${stats}/readyz`)) === 503, '/readyz 503', 5000);
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    const stopped = Date.now();
    const { failed } = await load.stop();
    await health.stop();

    // The health probe answered 503 from the SIGTERM on, measured from a request begun after it.
    const to503 = first503.end - sigterm;
    console.log(`--shutdown-delay 2: SIGTERM to health 503: ${to503} ms; exit ${stopped - sigterm} ms after SIGTERM`);
    expect(to503).toBeLessThan(500);
    const duringDelay = load.outcomes.filter((o) => o.start >= sigterm && o.start < sigterm + 1900);
    expect(duringDelay.length).toBeGreaterThan(100);
    expect(duringDelay.filter((o) => o.status !== 200)).toEqual([]);
    // The wait lasted the delay; the stop itself then refused new connections.
    expect(stopped - sigterm).toBeGreaterThanOrEqual(2000);
    expect(failed.every((o) => o.start >= sigterm + 2000)).toBe(true);
    expect(await refused(port)).toBe(true);
    await tsgi.line(/SIGTERM: draining: --health-path answers 503, serving on for --shutdown-delay 2 s/);
  });

  it('a second SIGTERM skips the wait', async () => {
    const port = await freePort();
    tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--health-path', '/healthz', '--shutdown-delay', '60']);
    process.kill(tsgi.pid, 'SIGTERM');
    await until(async () => (await status(`http://127.0.0.1:${port}/healthz`)) === 503, 'health 503');
    const second = Date.now();
    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - second).toBeLessThan(5000);
  });

  it('--health-path must be a path', async () => {
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--health-path', 'healthz'], null);
    expect(await tsgi.exited).toEqual({ code: 2, signal: null });
    expect(tsgi.lines.map((l) => l.text).join('\n')).toContain('--health-path healthz: expected a path beginning with /, e.g. /healthz');
  });
});
