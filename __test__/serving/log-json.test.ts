/**
 * --log-json for every line: with it, what tsgi itself writes to the log (the start, a
 * configuration warning, an app's error with its stack, a reload, the stop) is one JSON
 * object per line in the shape pino and bunyan write (`time`, `level`, `msg`, `pid`), as
 * the request lines are; an app's own output is the app's and passes as it is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const running: Tsgi[] = [];
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const tsgi of running.splice(0)) tsgi.kill();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => res.resume().on('end', () => resolve(res.statusCode!))).on('error', reject);
  });
}

interface Entry {
  time: string;
  level: string;
  msg: string;
  pid: number;
  name?: string;
  wid?: number;
  stack?: string;
  status?: number;
}

describe('--log-json: every line of the log is one JSON object', () => {
  it('the start, a warning, an app error with its stack, the request lines, a reload and the stop', async () => {
    const port = await freePort();
    // A uwsgi socket other machines can reach: a warning from the master once it binds.
    const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--log-json', '--socket', '0.0.0.0:0', '--processes', '2']);
    running.push(tsgi);
    expect(await get(port, '/throw')).toBe(500);
    expect(await get(port, '/ok')).toBe(200);
    await tsgi.line(/"msg":"GET \/throw: app error: Error: thrown on purpose"/);
    await tsgi.line(/"uri":"\/ok"/);
    process.kill(tsgi.pid, 'SIGHUP');
    await tsgi.line(/reload \(SIGHUP\): done in/, 15_000);
    process.kill(tsgi.pid, 'SIGTERM');
    await tsgi.exited;

    const lines = tsgi.lines.map((l) => l.text).filter((text) => text !== '');
    const entries = lines.map((text) => {
      expect(() => JSON.parse(text), text).not.toThrow();
      return JSON.parse(text) as Entry;
    });
    for (const entry of entries) {
      expect(typeof entry.time, JSON.stringify(entry)).toBe('string');
      expect(new Date(entry.time).toISOString()).toBe(entry.time);
      expect(['info', 'warn', 'error']).toContain(entry.level);
      expect(typeof entry.msg).toBe('string');
      expect(entry.pid).toBeGreaterThan(0);
    }
    const find = (pattern: RegExp) => entries.find((e) => pattern.test(e.msg));
    expect(find(/which other machines can reach/)).toMatchObject({ level: 'warn', pid: tsgi.pid, name: 'tsgi' });
    expect(find(/worker\(s\) ready/)).toMatchObject({ level: 'info', pid: tsgi.pid });
    const appError = find(/app error/)!;
    expect(appError).toMatchObject({ level: 'error', msg: 'GET /throw: app error: Error: thrown on purpose' });
    expect(appError.wid).toBeGreaterThanOrEqual(1);
    expect(appError.pid).not.toBe(tsgi.pid);
    expect(appError.stack).toMatch(/^GET \/throw: app error: Error: thrown on purpose\n\s+at /);
    expect(find(/^reload \(SIGHUP\): starting 2 new worker/)).toMatchObject({ level: 'info' });
    // Two workers write their own lines: in either order.
    const requests = entries.filter((e) => e.status !== undefined).map((e) => [e.level, e.msg, e.status]);
    expect(requests.sort()).toEqual([
      ['info', 'GET /ok => 200', 200],
      ['info', 'GET /throw => 500', 500],
    ]);
  });

  it("a uwsgi.ini's warnings, made before the start, are JSON too", async () => {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-log-json-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ini = path.join(dir, 'uwsgi.ini');
    writeFileSync(ini, `[uwsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nlog-json = true\nthreads = 4\n`);
    const tsgi = await startTsgi(['--ini', ini]);
    running.push(tsgi);
    const warning = JSON.parse((await tsgi.line(/threads/)).text) as Entry;
    expect(warning).toMatchObject({ level: 'warn', pid: tsgi.pid, name: 'tsgi' });
    expect(warning.msg).toMatch(/uwsgi\.ini:5: threads: a uWSGI option tsgi does not have, ignored: a worker runs the app on one thread/);
  });
});
