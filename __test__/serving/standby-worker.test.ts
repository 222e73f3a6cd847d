/**
 * --standby-worker: one worker process forked ahead, waiting for its start message. The
 * next worker the master needs (a respawn, a recycle) is that process; another
 * is forked once it is ready. One forked with an older configuration is never used.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, childrenOf, startTsgi, type Tsgi, until, useTsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const { tsgi, cleanups } = useTsgi();

function get(port: number, urlPath = '/ok'): Promise<{ status: number; pid: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, pid: Number(res.headers['x-pid']), body }));
      })
      .on('error', reject);
  });
}

/** The master's children that serve: a worker names itself `tsgi worker N` when it
 * starts; the standby, not started, is still `node …/worker-main.js`. */
function serving(master: Tsgi): number[] {
  return master.workers().filter((pid) => isWorker(pid));
}

function isWorker(pid: number): boolean {
  try {
    return /^tsgi worker \d+/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/** The one child of the master that is not serving: the standby. */
async function standbyOf(master: Tsgi, not: number[] = []): Promise<number> {
  return until(() => {
    const waiting = master.workers().filter((pid) => !isWorker(pid) && !not.includes(pid) && alive(pid));
    return waiting.length === 1 ? waiting[0] : undefined;
  }, 'a standby worker, forked ahead and not serving');
}

describe('--standby-worker', () => {
  it('a worker killed from outside is replaced by the standby process, and a new standby follows', async () => {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-standby-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const control = path.join(dir, 'ctl.sock');
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', '2', '--standby-worker', '--control-socket', control]);
    const standby = await standbyOf(master);
    // tsgi ctl status names it.
    const status = JSON.parse(execFileSync(process.execPath, [path.resolve('dist/cli.js'), 'ctl', control, 'status'], { encoding: 'utf8' })) as {
      standby: number;
    };
    expect(status.standby).toBe(standby);
    const before = serving(master);
    expect(before).toHaveLength(2);
    expect(before).not.toContain(standby);

    process.kill(before[0]!, 'SIGKILL');
    const took = await master.line(new RegExp(`worker \\d \\(pid ${standby}\\): the standby worker takes place \\d`));
    expect(took.text).toMatch(/worker 1|worker 2/);
    await until(() => serving(master).includes(standby), 'the standby to serve');
    // It serves: every worker answers, the former standby among them.
    const pids = new Set<number>();
    await until(async () => (pids.add((await get(port)).pid), pids.has(standby)), 'an answer from the former standby');
    // A new standby waits again, and the killed worker is gone.
    const next = await standbyOf(master, [standby]);
    expect(next).not.toBe(standby);
    expect(alive(before[0]!)).toBe(false);
    expect(serving(master).sort()).toEqual([before[1]!, standby].sort());
  });

  it('a recycle (--max-requests) takes the standby too', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', '1', '--standby-worker', '--max-requests', '3']);
    const standby = await standbyOf(master);
    for (let i = 0; i < 3; i++) expect((await get(port)).status).toBe(200);
    await master.line(new RegExp(`worker 1 \\(pid ${standby}\\): the standby worker takes place 1`));
    await until(async () => (await get(port)).pid === standby, 'the former standby to answer');
  });

  it('a reload starts its workers afresh and ends the standby; the next standby has the environment of the reload', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-standby-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ini = path.join(dir, 'tsgi.ini');
    const port = await freePort();
    const write = (colour: string) =>
      writeFileSync(ini, `[tsgi]\nhttp-socket = 127.0.0.1:${port}\nmodule = ${APP}\nprocesses = 1\nstandby-worker = true\nenv = COLOUR=${colour}\n`);
    write('red');
    const master = await tsgi(['--ini', ini]);
    const standby = await standbyOf(master);
    expect((await get(port, '/env?name=COLOUR')).body).toBe('red');

    write('blue');
    process.kill(master.pid, 'SIGHUP');
    await master.line(/reload \(SIGHUP\): done/, 15_000);
    expect(master.lines.some((l) => l.text.includes(`(pid ${standby}): the standby worker takes place`))).toBe(false);
    await until(async () => (await get(port, '/env?name=COLOUR')).body === 'blue', 'the new environment to serve');
    // The old standby is gone; a new one, forked with the new configuration, waits.
    await until(() => !alive(standby), 'the old standby to be ended');
    const next = await standbyOf(master, [standby]);
    const serves = serving(master)[0]!;
    process.kill(serves, 'SIGKILL');
    await master.line(new RegExp(`worker 1 \\(pid ${next}\\): the standby worker takes place 1`));
    await until(async () => {
      const answer = await get(port, '/env?name=COLOUR').catch(() => null);
      return answer?.pid === next && answer.body === 'blue';
    }, 'the new standby to serve with the new environment');
    // A reload that changes nothing does not use it either.
    const after = await standbyOf(master, [standby, next]);
    process.kill(master.pid, 'SIGHUP');
    await until(() => master.lines.filter((l) => /reload \(SIGHUP\): done/.test(l.text)).length === 2, 'the second reload', 15_000);
    expect(master.lines.some((l) => l.text.includes(`(pid ${after}): the standby worker takes place`))).toBe(false);
    await until(() => !alive(after), 'the standby to be ended by the reload');
  });

  it('is ended with the master: nothing is left behind after a graceful stop', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--processes', '1', '--standby-worker']);
    const standby = await standbyOf(master);
    const all = childrenOf(master.pid);
    process.kill(master.pid, 'SIGTERM');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    await until(() => all.every((pid) => !alive(pid)), 'every child, the standby too, to be gone');
    expect(alive(standby)).toBe(false);
    expect(master.lines.map((l) => l.text).join('\n')).not.toMatch(/standby worker \(pid \d+\) (was killed|exited)/);
  });

  it.each([
    [['--worker-sockets'], 'tsgi: --standby-worker cannot be used with --worker-sockets: a worker there gets the sockets of its place when it starts'],
    [['--master', 'false'], 'tsgi: --standby-worker needs the master (leave out --master false): one process serves alone, nothing replaces it'],
  ])('%j is refused, in one line: %s', async (args, line) => {
    const master = await startTsgi(['--socket', '127.0.0.1:0', '--module', APP, '--standby-worker', ...args], null);
    cleanups.push(() => master.kill());
    expect((await master.exited).code).toBe(2);
    expect(master.lines.map((l) => l.text)).toEqual([line]);
  });
});
