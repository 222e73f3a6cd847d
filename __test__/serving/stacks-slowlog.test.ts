/**
 * Seeing inside a running worker: `--harakiri-verbose` logs the JavaScript stack of a
 * worker stuck in a busy loop before the kill, and the kill still comes in time;
 * `--slowlog-timeout` logs a slow request once, with the stack when its loop spins and
 * saying the loop is idle when it awaits a timer, and lets it finish. Real masters and
 * workers, through the CLI, on both reactors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Tsgi, until, useTsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/observe-app.mjs');
const { tsgi, cleanups } = useTsgi();

async function serving(args: string[]): Promise<{ master: Tsgi; url: string }> {
  const port = await freePort();
  const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, ...args]);
  return { master, url: `http://127.0.0.1:${port}` };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-slowlog-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The lines of `file` so far ('' while it is empty or absent). */
function linesOf(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('--harakiri-verbose', () => {
  it("logs the stuck worker's JavaScript stack, the app's spinning function on top, and kills it in time", async () => {
    const { master, url } = await serving(['--harakiri', '2', '--harakiri-graceful-timeout', '0.5', '--harakiri-verbose']);
    const sent = Date.now();
    const answer = fetch(`${url}/spin`).then(
      (r) => r.status,
      () => 'reset',
    );
    const killed = await master.line(/worker 1 \(pid \d+\) killed by SIGKILL; respawning/, 15_000);
    // --harakiri 2 + --harakiri-graceful-timeout 0.5 + at most 1 s for the stack + the
    // master's 0.2 s look: 3.7 s at most, with room for a busy machine's delays.
    expect(killed.at - sent).toBeGreaterThanOrEqual(2500);
    expect(killed.at - sent).toBeLessThan(5000);
    const texts = master.lines.map((l) => l.text);
    const head = texts.findIndex((t) => /harakiri: worker 1 \(pid \d+\): JavaScript stack \(GET \/spin\):$/.test(t));
    expect(head).toBeGreaterThan(-1);
    const frames = texts.slice(head + 1).filter((t) => /harakiri: worker 1 \(pid \d+\): {3}at /.test(t));
    expect(frames[0]).toMatch(/at spinFor \(file:\/\/.*observe-app\.mjs:\d+:\d+\)$/);
    expect(frames[1]).toMatch(/at spinForever \(file:\/\/.*observe-app\.mjs:\d+:\d+\)$/);
    expect(frames[2]).toMatch(/at app \(file:\/\/.*observe-app\.mjs:\d+:\d+\)$/);
    // The stack comes before the kill, and the worker's system call after it, as uWSGI's.
    expect(texts.findIndex((t) => t === killed.text)).toBeGreaterThan(head + 3);
    expect(texts.findIndex((t) => /harakiri: worker 1 .*-- (syscall|wchan)> /.test(t))).toBeGreaterThan(head + 3);
    expect(await answer).toBe('reset');
  });
});

describe('--slowlog-timeout', () => {
  it('logs a request sleeping past it once, saying the loop is idle, and the request completes', async () => {
    const file = path.join(tempDir(), 'slow.log');
    const { master, url } = await serving(['--slowlog-timeout', '1', '--slowlog', file]);
    const response = await fetch(`${url}/sleep?ms=2600`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok\n');
    await master.line(/GET \/sleep\?ms=2600 => generated 3 bytes/);
    const lines = await until(() => (linesOf(file).length > 0 ? linesOf(file) : null), 'the slowlog line');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] slowlog: worker 1 \(pid \d+\): GET \/sleep\?ms=2600 running for 1\.\d s \(--slowlog-timeout 1\); event loop idle: the request awaits I\/O or a timer, no JavaScript of it is running; waiting on the app's answer \(no response begun; 0 request body bytes received\)$/,
    );
    // Not in the main log: --slowlog took the lines.
    expect(master.lines.map((l) => l.text)).not.toContainEqual(expect.stringContaining('slowlog:'));
  });

  it('logs a request spinning past it once, with the stack of what spins, and the request completes', async () => {
    const { master, url } = await serving(['--slowlog-timeout', '1']);
    const response = await fetch(`${url}/spin-for?ms=2500`);
    expect(response.status).toBe(200);
    await master.line(/GET \/spin-for\?ms=2500 => generated/);
    const texts = master.lines.map((l) => l.text).filter((t) => t.includes('slowlog:'));
    const heads = texts.filter((t) => t.includes('running for'));
    expect(heads).toHaveLength(1);
    expect(heads[0]).toMatch(/GET \/spin-for\?ms=2500 running for 1\.\d s \(--slowlog-timeout 1\); event loop blocked for [\d.]+ s; JavaScript stack:$/);
    const frames = texts.filter((t) => / {3}at /.test(t));
    expect(frames[0]).toMatch(/at spinFor \(file:\/\/.*observe-app\.mjs:\d+:\d+\)$/);
    expect(frames[1]).toMatch(/at app \(file:\/\/.*observe-app\.mjs:\d+:\d+\)$/);
  });

  it('refuses --slowlog without --slowlog-timeout, in one line naming the option', async () => {
    const master = await tsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--slowlog', '/tmp/never.log'], null);
    expect((await master.exited).code).not.toBe(0);
    expect(master.lines.map((l) => l.text)).toContainEqual(expect.stringMatching(/--slowlog \/tmp\/never\.log: needs --slowlog-timeout SECONDS/));
  });

  it('refuses a --slowlog file it cannot open, in one line naming the option', async () => {
    const file = path.join(tempDir(), 'no-such-dir', 'slow.log');
    const master = await tsgi(['--http-socket', '127.0.0.1:0', '--module', APP, '--slowlog-timeout', '1', '--slowlog', file], null);
    expect((await master.exited).code).not.toBe(0);
    const said = master.lines.map((l) => l.text).filter((t) => t.includes('--slowlog'));
    expect(said).toEqual([expect.stringMatching(/^tsgi: --slowlog .*slow\.log: cannot open it for appending: ENOENT/)]);
  });
});
