/**
 * Adaptive workers (--cheaper, docs/operations.md) under a real load: a burst of many
 * concurrent slow requests raises the worker count within the overload windows, and once
 * it stops the count falls back to --cheaper after the idle time, one worker at a time,
 * each finishing its requests; a trickle runs throughout, and nothing fails. A CPU-bound
 * load (few requests, a busy event loop) raises it too. The ramp's row is printed.
 */
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Load, reportTable, startTsgi, until, type ChaosRow, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const rows: ChaosRow[] = [];
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

afterAll(() => {
  if (rows.length > 0) console.log(`\ncheaper ramp (${process.env.TSGI_NATIVE === '0' ? 'pure' : 'native'} reactor):\n${reportTable(rows)}\n`);
});

/** The worker processes the master runs now (not those still finishing after retirement
 * is asked: they are gone once they exited). */
function running(master: Tsgi): number {
  return master.workers().length;
}

async function cheaperTsgi(args: string[]): Promise<{ master: Tsgi; url: (p: string) => string }> {
  const port = await freePort();
  const master = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--disable-logging', '--log-5xx', ...args]);
  cleanups.push(() => master.kill());
  return { master, url: (p) => `http://127.0.0.1:${port}${p}` };
}

describe('--cheaper: adaptive workers under load', () => {
  it('many concurrent slow requests raise 1 worker to 4 within the overload windows; idle, it falls back to 1; nothing fails', async () => {
    const { master, url } = await cheaperTsgi(['--processes', '4', '--cheaper', '1', '--cheaper-overload', '0.5', '--cheaper-idle', '1']);
    expect(running(master)).toBe(1);
    // A connection per request, as many clients': every worker gets its share at once.
    const trickle = new Load(url, 5, '/ok', { keepAlive: false }).start();
    const burst = new Load(url, 150, '/slow?ms=200', { keepAlive: false }).start();
    const started = Date.now();
    const full = await master.line(/cheaper: .*: 3 → 4 worker\(s\)/, 25_000);
    await until(() => running(master) === 4, '4 workers');
    const upMs = full.at - started;
    // Every step waited its window: three additions, each after --cheaper-overload.
    const steps = master.lines.filter((l) => /cheaper: all \d worker\(s\) busy for --cheaper-overload 0.5 s|cheaper: .*listen queue/.test(l.text));
    expect(steps).toHaveLength(3);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.at - steps[i - 1]!.at).toBeGreaterThanOrEqual(450);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the burst goes on at 4
    const burstResult = await burst.stop();
    const stopped = Date.now();
    await until(() => running(master) === 1, 'back to 1 worker', 25_000);
    const settleMs = Date.now() - stopped;
    const trickleResult = await trickle.stop();
    // The master's lines reach us through its log writer, possibly after /proc shows the exit.
    const retiredLines = () => master.lines.filter((l) => /cheaper: worker \d idle for --cheaper-idle 1 s/.test(l.text));
    await until(() => retiredLines().length >= 3, 'three retirements logged', 5_000);
    const retirements = retiredLines();
    expect(retirements).toHaveLength(3);
    // One retirement per idle time.
    for (let i = 1; i < retirements.length; i++) expect(retirements[i]!.at - retirements[i - 1]!.at).toBeGreaterThanOrEqual(950);
    const sent = burstResult.sent + trickleResult.sent;
    const failed = [...burstResult.failed, ...trickleResult.failed];
    rows.push({
      scenario: `--cheaper 1 --processes 4, overload 0.5 s, idle 1 s: 150/s × 200 ms burst + 5/s trickle`,
      sent,
      failed: failed.length,
      recovery: `1 → 4 workers in ${(upMs / 1000).toFixed(1)} s; back to 1 in ${(settleMs / 1000).toFixed(1)} s after the burst`,
    });
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    expect(master.lines.map((l) => l.text).join('\n')).not.toMatch(/aborted|killed/);
  }, 60_000);

  it('a CPU-bound load (the event loop busy, few requests in flight) adds a worker', async () => {
    const { master, url } = await cheaperTsgi(['--processes', '3', '--cheaper', '1', '--cheaper-overload', '0.5', '--cheaper-idle', '30']);
    // 40 requests a second of 20 ms of CPU: the one worker's loop is at work most of the time.
    const load = new Load(url, 40, '/work?ms=20', { keepAlive: false }).start();
    // Busy by its event loop (or, as it falls behind, by the connections queueing).
    const added = await master.line(/cheaper: .*: 1 → 2 worker\(s\)/, 20_000);
    expect(added.text).toMatch(/cheaper: (all 1 worker\(s\) busy|\d+ connection\(s\) waiting in the listen queue) for --cheaper-overload 0.5 s/);
    const { failed } = await load.stop();
    expect(failed).toEqual([]);
  }, 60_000);
});
