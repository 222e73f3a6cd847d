/** --cheaper's decisions (src/process/cheaper.ts), look by look, on made-up slot readings:
 * what is busy, what is idle, the windows, the bounds. The serving test
 * (__test__/serving/cheaper.test.ts) runs the same under a real load. */
import { describe, expect, it } from 'vitest';
import { Cheaper, outOfBounds, type WorkerSample } from '../../src/process/cheaper.js';

const settings = { min: 1, max: 4, step: 2, overloadMs: 1000, idleMs: 2000 };

/** A worker whose loop, ticking every 200 ms, worked `utilization` of the time. */
function worker(wid: number, at: number, { inFlight = 0, tunnels = 0, utilization = 0 } = {}): WorkerSample {
  return { wid, pid: 1000 + wid, inFlight, tunnels, loopTick: at, loopActiveMs: at * utilization };
}

/** Looks every 200 ms from `from` to `to` (ms) with the workers `make` gives; the decisions. */
function run(cheaper: Cheaper, from: number, to: number, make: (at: number) => WorkerSample[], running = make(from).length, queue = 0) {
  const decisions: Array<{ at: number; decision: unknown }> = [];
  for (let at = from; at <= to; at += 200) {
    const decision = cheaper.look(at, make(at), running, queue, false);
    if (decision) decisions.push({ at, decision });
  }
  return decisions;
}

describe('--cheaper decisions', () => {
  it('adds --cheaper-step workers once every worker was busy (requests in flight) for the overload window, then waits another', () => {
    const cheaper = new Cheaper(settings);
    const decisions = run(cheaper, 0, 2200, (at) => [worker(1, at, { inFlight: 3 })]);
    expect(decisions).toEqual([
      { at: 1000, decision: { add: 2, why: 'all 1 worker(s) busy for --cheaper-overload 1 s' } },
      { at: 2000, decision: { add: 2, why: 'all 1 worker(s) busy for --cheaper-overload 1 s' } },
    ]);
  });

  it('a busy event loop with nothing in flight is busy; a loop that stopped ticking is busy', () => {
    const elu = new Cheaper(settings);
    // The first look has no utilization yet (no earlier reading): busy from the second.
    expect(run(elu, 0, 1200, (at) => [worker(1, at, { utilization: 0.8 })])).toEqual([
      { at: 1200, decision: { add: 2, why: 'all 1 worker(s) busy for --cheaper-overload 1 s' } },
    ]);
    const blocked = new Cheaper(settings);
    expect(run(blocked, 0, 2400, () => [worker(1, 100)])[0]?.decision).toMatchObject({ add: 2 });
  });

  it('one idle worker among busy ones is no overload; connections in the listen queue are', () => {
    const cheaper = new Cheaper(settings);
    const mixed = (at: number) => [worker(1, at, { inFlight: 2 }), worker(2, at)];
    expect(run(cheaper, 0, 1800, mixed, 2)).toEqual([]);
    expect(run(new Cheaper(settings), 0, 1000, mixed, 2, 5)).toEqual([
      { at: 1000, decision: { add: 2, why: '5 connection(s) waiting in the listen queue for --cheaper-overload 1 s' } },
    ]);
  });

  it('never adds past --processes, nor while a worker starts', () => {
    const cheaper = new Cheaper(settings);
    expect(run(cheaper, 0, 1000, (at) => [1, 2, 3].map((wid) => worker(wid, at, { inFlight: 1 })), 3)[0]?.decision).toMatchObject({ add: 1 });
    const full = new Cheaper(settings);
    expect(run(full, 0, 3000, (at) => [1, 2, 3, 4].map((wid) => worker(wid, at, { inFlight: 1 })), 4)).toEqual([]);
    const starting = new Cheaper(settings);
    expect(starting.look(0, [worker(1, 0, { inFlight: 1 })], 2, 0, true)).toBeNull();
    expect(starting.look(1200, [worker(1, 1200, { inFlight: 1 })], 2, 0, true)).toBeNull();
  });

  it('retires the idle worker of highest id after the idle time, one per idle time, never under --cheaper', () => {
    const cheaper = new Cheaper(settings);
    const idle = (at: number) => [worker(1, at), worker(2, at), worker(3, at)];
    const decisions = run(cheaper, 0, 4000, idle, 3);
    expect(decisions).toEqual([
      { at: 2000, decision: { retire: 3, why: 'idle for --cheaper-idle 2 s' } },
      { at: 4000, decision: { retire: 3, why: 'idle for --cheaper-idle 2 s' } },
    ]);
    expect(run(new Cheaper(settings), 0, 6000, (at) => [worker(1, at)], 1)).toEqual([]);
  });

  it('a worker with a request or a tunnel (a WebSocket) open, or a working loop, is not idle', () => {
    for (const open of [{ inFlight: 1 }, { inFlight: 1, tunnels: 1 }, { utilization: 0.3 }]) {
      // Worker 1 idle, worker 2 not: worker 1 is the one retired, at --cheaper 1.
      const cheaper = new Cheaper({ ...settings, max: 2 });
      expect(
        run(cheaper, 0, 4000, (at) => [worker(1, at), worker(2, at, open)], 2),
        JSON.stringify(open),
      ).toEqual([
        { at: 2000, decision: { retire: 1, why: 'idle for --cheaper-idle 2 s' } },
        { at: 4000, decision: { retire: 1, why: 'idle for --cheaper-idle 2 s' } },
      ]);
    }
  });

  it('a change from outside (ctl, a signal) starts the windows again', () => {
    const cheaper = new Cheaper(settings);
    run(cheaper, 0, 800, (at) => [worker(1, at, { inFlight: 1 })]);
    cheaper.changed(800);
    expect(cheaper.look(1000, [worker(1, 1000, { inFlight: 1 })], 1, 0, false)).toBeNull();
    expect(cheaper.look(1800, [worker(1, 1800, { inFlight: 1 })], 1, 0, false)).toBeNull();
    expect(cheaper.look(2000, [worker(1, 2000, { inFlight: 1 })], 1, 0, false)).toMatchObject({ add: 2 });
  });

  it('names the bound a count is out of', () => {
    expect(outOfBounds(0, { min: 1, max: 4 })).toBe('at least 1 worker(s) run (one is the least)');
    expect(outOfBounds(1, { min: 2, max: 4 })).toBe('at least 2 worker(s) run (--cheaper 2)');
    expect(outOfBounds(5, { min: 2, max: 4 })).toBe('at most 4 worker(s) run (--processes 4)');
    expect(outOfBounds(4, { min: 2, max: 4 })).toBeNull();
  });
});
