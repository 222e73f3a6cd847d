/**
 * The app's `onStart()` and `onStop()` with the CLI: onStart before the worker is ready,
 * onStop after the last request and every `waitUntil()` promise, on a stop and on a
 * reload's old worker, within the grace; none on SIGINT; a throwing or hanging onStart is
 * a failed start. The module writes what happens, in order, to an events file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/processes.mjs';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';

let dir: string;
let events: string;
let tsgi: Tsgi | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-hooks-'));
  events = path.join(dir, 'events');
  writeFileSync(events, '');
});
afterEach(async () => {
  tsgi?.kill();
  await tsgi?.exited;
  tsgi = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** The events so far: `what pid`, one a line. */
function happened(): string[] {
  return readFileSync(events, 'utf8').split('\n').filter(Boolean);
}

/** A fetch app module whose hooks are `onStart` and `onStop` (bodies of async functions). */
function appModule({ onStart = '', onStop = '', shape = 'exports' }: { onStart?: string; onStop?: string; shape?: 'exports' | 'object' }): string {
  const file = path.join(dir, `app-${Math.random().toString(36).slice(2)}.mjs`);
  const hooks = `async onStart() { ${onStart} }, async onStop() { ${onStop} }`;
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs';
const note = (what) => appendFileSync(${JSON.stringify(events)}, what + ' ' + process.pid + '\\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fetch = (request, env, ctx) => {
  note('request');
  ctx.waitUntil(sleep(500).then(() => note('waitUntil')));
  return new Response('ok');
};
${shape === 'object' ? `export default { fetch, ${hooks} };` : `export default { fetch };\nconst hooks = { ${hooks} };\nexport const onStart = hooks.onStart;\nexport const onStop = hooks.onStop;`}
`,
  );
  return file;
}

describe('onStart and onStop', () => {
  for (const shape of ['exports', 'object'] as const) {
    it(`run in order around the requests and waitUntil() on SIGTERM (hooks as ${shape === 'exports' ? 'module exports' : "the app object's methods"})`, async () => {
      const port = await freePort();
      const module = appModule({ onStart: "await sleep(300); note('onStart');", onStop: "await sleep(100); note('onStop');", shape });
      tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', module]);
      // The worker said it was ready only after onStart() settled.
      expect(happened()).toEqual([expect.stringMatching(/^onStart \d+$/)]);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
      process.kill(tsgi.pid, 'SIGTERM');
      expect(await tsgi.exited).toEqual({ code: 0, signal: null });
      const pid = happened()[0]!.split(' ')[1];
      expect(happened()).toEqual([`onStart ${pid}`, `request ${pid}`, `waitUntil ${pid}`, `onStop ${pid}`]);
    });
  }

  it("a reload runs the new worker's onStart, then the old worker's onStop", async () => {
    const module = appModule({ onStart: "note('onStart');", onStop: "note('onStop');" });
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', module]);
    process.kill(tsgi.pid, 'SIGHUP');
    await until(() => happened().length === 3, 'the old worker to stop');
    const [first, second, third] = happened().map((line) => line.split(' '));
    expect([first![0], second![0], third![0]]).toEqual(['onStart', 'onStart', 'onStop']);
    expect(third![1]).toBe(first![1]);
    expect(second![1]).not.toBe(first![1]);
  });

  it('onStop is bounded by the grace: one that never settles is left after --reload-mercy', async () => {
    const module = appModule({ onStop: "note('onStop'); await new Promise(() => {});" });
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', module, '--reload-mercy', '1']);
    const sigterm = Date.now();
    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - sigterm).toBeLessThan(1900);
    expect(happened()).toEqual([expect.stringMatching(/^onStop /)]);
    await tsgi.line(/worker 1 \(pid \d+\): onStop\(\) still running at the end of the grace; exiting without it/);
  });

  it('a throwing onStop is logged with the worker, and the stop goes on', async () => {
    const module = appModule({ onStop: "throw new Error('flush failed');" });
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', module]);
    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    await tsgi.line(/worker 1 \(pid \d+\): onStop\(\) failed: .*flush failed/);
  });

  it('SIGINT (a fast stop) runs no onStop', async () => {
    const module = appModule({ onStart: "note('onStart');", onStop: "note('onStop');" });
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', module]);
    process.kill(tsgi.pid, 'SIGINT');
    await tsgi.exited;
    expect(happened().map((line) => line.split(' ')[0])).toEqual(['onStart']);
  });

  it('a throwing onStart is a failed start, saying why', async () => {
    const module = appModule({ onStart: "throw new Error('no database');" });
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', module], null);
    expect(await tsgi.exited).toEqual({ code: 1, signal: null });
    expect(tsgi.lines.map((l) => l.text).join('\n')).toMatch(/onStart\(\) failed: .*no database/);
  });

  it('an onStart that never settles fails the start at --start-timeout', async () => {
    const module = appModule({ onStart: 'await new Promise(() => {});' });
    const started = Date.now();
    tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--module', module, '--start-timeout', '1'], null);
    expect(await tsgi.exited).toEqual({ code: 1, signal: null });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(tsgi.lines.map((l) => l.text).join('\n')).toContain('onStart() did not settle within --start-timeout 1 s');
  });
});
