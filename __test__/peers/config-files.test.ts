/**
 * Configuration end to end: the README's uwsgi.ini, copied as it is next to a JavaScript
 * app, run by the real CLI behind a real nginx; a mistake in a file as the CLI reports
 * it; and serve() from code answering, reloading and closing.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { refused, startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { request } from '../helpers/http.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx } from '../helpers/nginx.js';
import { freePort } from '../../scripts/lib/processes.mjs';

announceNginx();

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-config-files-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The README's example uwsgi.ini, as printed there. */
function readmeUwsgiIni(): string {
  const readme = readFileSync('README.md', 'utf8');
  const block = [...readme.matchAll(/^```ini\n([^]*?)^```$/gm)].map((m) => m[1]!).find((text) => text.includes('a uwsgi.ini of the usual shape'));
  if (!block) throw new Error("the README's example uwsgi.ini is gone");
  return block;
}

/** An app that shows what the configuration gave it: its environment and directory. */
const APP =
  "export default (environ, start) => (start('200 OK', [['Content-Type', 'text/plain']]), [`${process.env.GREETING} (${process.env.NODE_ENV}) ${environ.PATH_INFO} in ${process.cwd()}\\n`]);\n";

/** `--print-config`'s rows: [where the value came from, `option = value`]. */
function printed(lines: readonly string[]): Array<[string, string]> {
  return lines.flatMap((line, i): Array<[string, string]> =>
    line.startsWith('; ') && /^[a-z]/.test(lines[i + 1] ?? '') ? [[line.slice(2), lines[i + 1]!]] : [],
  );
}

/** Runs the CLI to its end; its output lines, stdout and stderr together. */
async function run(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const tsgi = await startTsgi(args, null);
  const { code } = await tsgi.exited;
  return { code, lines: tsgi.lines.map((l) => l.text) };
}

/** With `env` added to this process's environment, which the CLI inherits. */
async function withEnv<T>(env: Record<string, string>, work: () => Promise<T>): Promise<T> {
  Object.assign(process.env, env);
  try {
    return await work();
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
  }
}

/** The stats document on a Unix socket (uWSGI's: it is written on connect). */
function stats(socket: string): Promise<{ workers: unknown[] }> {
  return new Promise((resolve, reject) => {
    let text = '';
    net
      .connect(socket)
      .setEncoding('utf8')
      .on('data', (d: string) => (text += d))
      .on('end', () => resolve(JSON.parse(text) as { workers: unknown[] }))
      .on('error', reject);
  });
}

describe.skipIf(!hasNginx)(`the README's uwsgi.ini, unchanged, behind nginx (${nginxVersionText ?? 'not installed'})`, () => {
  it('serves with its socket, mode, processes, pidfile, stats, env and buffer size; warns once per Python option; vacuums on SIGTERM', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'uwsgi.ini'), readmeUwsgiIni());
    writeFileSync(path.join(dir, 'app.mjs'), APP);
    const tsgi: Tsgi = await startTsgi([path.join(dir, 'uwsgi.ini')]);
    cleanups.push(() => tsgi.kill());
    const socket = path.join(dir, 'uwsgi.sock');
    // Room for a 40 KB cookie in nginx, so that tsgi's buffer-size is what refuses it.
    const nginx = await startNginx({ locations: [{ path: '/', uwsgiPass: `unix:${socket}` }], httpExtra: 'large_client_header_buffers 4 64k;' });
    cleanups.push(() => nginx.stop());

    const reply = await request(nginx.url('/hello'));
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe(`hello from uwsgi (production) /hello in ${dir}\n`);
    expect((await request(nginx.url('/'), { headers: { cookie: `a=${'x'.repeat(40_000)}` } })).status).toBe(431);
    expect((await request(nginx.url('/'), { headers: { cookie: `a=${'x'.repeat(20_000)}` } })).status).toBe(200);

    expect(statSync(socket).mode & 0o777).toBe(0o660);
    expect(readFileSync(path.join(dir, 'uwsgi.pid'), 'utf8')).toBe(`${tsgi.pid}\n`);
    expect(tsgi.workers()).toHaveLength(2);
    expect((await stats(path.join(dir, 'stats.sock'))).workers).toHaveLength(2);
    const warnings = tsgi.lines.map((l) => l.text).filter((text) => text.includes('a uWSGI option tsgi does not have'));
    expect(warnings).toEqual([
      `tsgi: warning: ${dir}/uwsgi.ini:18: virtualenv: a uWSGI option tsgi does not have, ignored: a Python virtualenv; Node finds the app's packages in node_modules`,
      `tsgi: warning: ${dir}/uwsgi.ini:19: enable-threads: a uWSGI option tsgi does not have, ignored: Python's GIL switch; a Node app needs none`,
      `tsgi: warning: ${dir}/uwsgi.ini:20: die-on-term: a uWSGI option tsgi does not have, ignored: SIGTERM is a graceful shutdown already`,
    ]);

    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(path.join(dir, 'uwsgi.pid'))).toBe(false);
  });
});

describe('the command line with config files', () => {
  it('--print-config shows what the file, the environment and the flags gave', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'uwsgi.ini'), readmeUwsgiIni());
    const { code, lines: rows } = await run([path.join(dir, 'uwsgi.ini'), '--harakiri', '60', '--print-config', ...(isRoot ? ['--allow-root'] : [])]);
    expect(code).toBe(0);
    expect(printed(rows)).toEqual(
      expect.arrayContaining([
        [`${dir}/uwsgi.ini:12 [uwsgi]`, 'max-requests = 1000'],
        [`${dir}/uwsgi.ini:13 [uwsgi]`, 'buffer-size = 32768'],
        ['--harakiri', 'harakiri = 60'],
        [expect.stringMatching(/uwsgi\.ini:\d+ \[uwsgi\]$/), `socket = ${dir}/uwsgi.sock`],
        [expect.stringMatching(/uwsgi\.ini:\d+ \[uwsgi\]$/), 'env = GREETING=hello from uwsgi'],
      ]),
    );
  });

  it('--print-config refuses what a start would refuse: a log template with an unknown variable', async () => {
    const { code, lines } = await run(['--log-format', '%(ftime) %(nope)', '--print-config', '--allow-root']);
    expect(code).toBe(2);
    expect(lines).toEqual([expect.stringMatching(/^tsgi: --log-format: unknown variable %\(nope\): not a uWSGI log variable .*; known: /)]);
  });

  it('a mistake in a file stops it before anything is bound: exit code 2, the file, the line, the value', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.ini'), `[tsgi]\nsocket = ${dir}/app.sock\nprocesses = many\n`);
    const { code, lines } = await run([path.join(dir, 'app.ini')]);
    expect(code).toBe(2);
    expect(lines).toEqual([`tsgi: ${dir}/app.ini:3: processes "many": expected a whole number`]);
    expect(existsSync(path.join(dir, 'app.sock'))).toBe(false);
  });

  it('every mistake of a file in one run: five refused keys, each with its line, then exit code 2', async () => {
    const dir = tempDir();
    const ini = ['[tsgi]', `socket = ${dir}/app.sock`, 'processes = many', 'harakiri = soon', 'proceses = 2', 'lazy-apps = true', 'buffer-size = 4k'];
    writeFileSync(path.join(dir, 'app.ini'), ini.join('\n'));
    const { code, lines } = await run([path.join(dir, 'app.ini')]);
    expect(code).toBe(2);
    expect(lines).toEqual([
      `tsgi: ${dir}/app.ini:5: proceses: unknown option; did you mean processes?`,
      expect.stringMatching(new RegExp(`^tsgi: ${dir}/app\\.ini:6: lazy-apps: a uWSGI option tsgi does not have`)),
      `tsgi: ${dir}/app.ini:3: processes "many": expected a whole number`,
      `tsgi: ${dir}/app.ini:4: harakiri "soon": expected a number of seconds`,
      `tsgi: ${dir}/app.ini:7: buffer-size "4k": expected a whole number`,
      'tsgi: 5 problems; nothing was started',
    ]);
    expect(existsSync(path.join(dir, 'app.sock'))).toBe(false);
  });

  it('env reaches the app with --master false too, the process being its own worker', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.mjs'), APP);
    const port = await freePort();
    const tsgi = await startTsgi(
      ['--master', 'false', '--http-socket', `127.0.0.1:${port}`, '--module', path.join(dir, 'app.mjs'), '--env', 'GREETING=alone', '--env', 'NODE_ENV=test'],
      /\(no master\)/,
    );
    cleanups.push(() => tsgi.kill());
    expect((await request(`http://127.0.0.1:${port}/x`)).body.toString()).toBe(`alone (test) /x in ${process.cwd()}\n`);
  });

  it('--chdir to a directory that is not there stops it, naming where the value came from', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.ini'), '[tsgi]\nchdir = %dgone\n');
    expect(await run(['--chdir', path.join(dir, 'gone')])).toEqual({ code: 2, lines: [`tsgi: --chdir "${dir}/gone": cannot change to it: no such directory`] });
    expect(await run([path.join(dir, 'app.ini')])).toEqual({
      code: 2,
      lines: [`tsgi: ${dir}/app.ini:2: chdir "${dir}/gone": cannot change to it: no such directory`],
    });
  });

  it('TSGI_* variables take precedence over the file, and the command line over them', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.yaml'), 'tsgi:\n  processes: 2\n  max-requests: 5\n  harakiri: 7\n');
    const { lines } = await withEnv({ TSGI_PROCESSES: '3', TSGI_HARAKIRI: '8' }, () =>
      run([path.join(dir, 'app.yaml'), '--harakiri', '9', '--print-config', ...(isRoot ? ['--allow-root'] : [])]),
    );
    expect(printed(lines)).toEqual(
      expect.arrayContaining([
        ['TSGI_PROCESSES', 'processes = 3'],
        [`${dir}/app.yaml:3 [tsgi]`, 'max-requests = 5'],
        ['--harakiri', 'harakiri = 9'],
      ]),
    );
  });
});

describe('serve() from code', () => {
  const ROOT = isRoot ? { allowRoot: true } : {};
  const version = (text: string) => `export default (e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['${text}']);\n`;
  const get = async (address: string) => (await request(`http://${address}/`)).body.toString();

  it('answers a request, reloads onto new code, closes, and leaves the host process its signals', async () => {
    const { serve } = await import('../../dist/index.js');
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, version('one'));
    const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
    const container = await serve({ httpSocket: '127.0.0.1:0', module, processes: 2, disableLogging: true, ...ROOT });
    cleanups.push(() => container.close({ graceful: false }));
    expect(['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(signals);
    expect(container.addresses).toEqual([{ protocol: 'http', name: '127.0.0.1:0', address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }]);
    const { address } = container.addresses[0]!;
    expect(await get(address)).toBe('one');
    const before = [...container.pids];
    expect(before).toHaveLength(2);

    writeFileSync(module, version('two'));
    expect(await container.reload()).toBe(true);
    expect(await get(address)).toBe('two');
    await until(() => container.pids.length === 2 && container.pids.every((pid) => !before.includes(pid)), 'the old workers to go');

    expect(await container.close()).toBe(0);
    expect(await refused(Number(address.split(':')[1]))).toBe(true);
  });

  it('with handleSignals, takes SIGHUP as a reload, and lets the signals go on close', async () => {
    const { serve } = await import('../../dist/index.js');
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, version('one'));
    const listening = () => ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1'].map((s) => process.listenerCount(s));
    const before = listening();
    const container = await serve({ httpSocket: '127.0.0.1:0', module, disableLogging: true, ...ROOT }, { handleSignals: true });
    cleanups.push(() => container.close({ graceful: false }));
    expect(listening()).toEqual(before.map((n) => n + 1));
    const [first] = container.pids;
    writeFileSync(module, version('two'));
    process.kill(process.pid, 'SIGHUP');
    await until(() => container.pids.length === 1 && container.pids[0] !== first, 'SIGHUP to replace the worker');
    expect(await get(container.addresses[0]!.address)).toBe('two');
    await container.close();
    expect(listening()).toEqual(before);
  });

  it("refuses a module that cannot load with the worker's error, and bad options before starting anything", async () => {
    const { serve, ErrorCodes } = await import('../../dist/index.js');
    const dir = tempDir();
    await expect(serve({ httpSocket: '127.0.0.1:0', module: path.join(dir, 'missing.mjs'), ...ROOT })).rejects.toMatchObject({ code: ErrorCodes.MODULE_LOAD });
    await expect(serve({ httpSocket: '127.0.0.1:0', maxRequest: 5 } as never)).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      message: 'serve(): maxRequest: unknown option; did you mean maxRequests?',
    });
    await expect(serve({ master: false })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      message: 'serve(): master: serve() always runs a master; to serve in this process, use new Server(app)',
    });
    await expect(serve({ chdir: dir })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      message: 'serve(): chdir: would move the whole host process; give absolute paths, or start the host process where it should run',
    });
  });
});
