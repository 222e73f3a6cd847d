/**
 * The command line as a user meets it: the built-in example app, --module and --callable,
 * a Unix socket with --chmod-socket, and the one-line errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/processes.mjs';
import { exchange, nginxVars, packet, parseResponse, waitFor } from '../helpers/uwsgi.js';

const CLI = path.resolve('dist/cli.js');
/** tsgi refuses to run workers as root without leave; CI runs as root. */
const AS_ROOT = process.getuid?.() === 0 ? ['--allow-root'] : [];
let children: ChildProcess[] = [];
let dirs: string[] = [];

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children = [];
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-cli-'));
  dirs.push(dir);
  return dir;
}

/** Runs the CLI to completion (for the error cases). */
function run(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...AS_ROOT, ...args]);
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code) => resolve({ code, stderr, stdout }));
  });
}

/** Starts the CLI and waits for its "serving" line. */
async function start(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, ...AS_ROOT, ...args]);
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await waitFor(() => stderr.includes('serving') || child.exitCode !== null, { what: 'the server to start' });
  expect(child.exitCode, stderr).toBeNull();
  return child;
}

describe('the command line', () => {
  it('serves the built-in example app: the environ, a POST echo, a stream', async () => {
    const port = await freePort();
    await start(['--socket', `127.0.0.1:${port}`]);
    const address = `127.0.0.1:${port}`;
    const home = parseResponse((await exchange(address, packet(nginxVars('GET', '/?a=1')))).data);
    expect(home.statusLine).toBe('HTTP/1.1 200 OK');
    expect(home.body.toString()).toContain('Hello from tsgi.');
    expect(home.body.toString()).toContain('QUERY_STRING = "a=1"');
    const echo = parseResponse((await exchange(address, packet(nginxVars('POST', '/', { CONTENT_LENGTH: '5', CONTENT_TYPE: 'text/x-test' }), 'hello'))).data);
    expect(echo.headers).toContainEqual(['Content-Type', 'text/x-test']);
    expect(echo.body.toString()).toBe('hello');
    const stream = parseResponse((await exchange(address, packet(nginxVars('GET', '/stream')))).data);
    expect(stream.body.toString().split('\n').filter(Boolean)).toHaveLength(10);
  });

  it('serves --module with --callable on a Unix socket with --chmod-socket', async () => {
    const dir = tempDir();
    const module = path.join(dir, 'app.mjs');
    writeFileSync(module, "export const hello = (e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['hi ' + e.PATH_INFO]);\n");
    const socket = path.join(dir, 'app.sock');
    await start(['--socket', socket, '--chmod-socket', '600', '--module', module, '--callable', 'hello']);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const response = parseResponse((await exchange(socket, packet(nginxVars('GET', '/there')))).data);
    expect(response.body.toString()).toBe('hi /there');
  });

  it.each([
    ['a missing module', (dir: string) => ['--module', path.join(dir, 'nope.mjs')], /^tsgi: --module .*nope\.mjs: cannot load/, 1],
    [
      'an export that is not a function',
      (dir: string) => ['--module', writeModule(dir, 'export default 42;')],
      /^tsgi: --module .*: export "default" is not a function \(it is number\)/,
      1,
    ],
    ['a module without an app', (dir: string) => ['--module', writeModule(dir, 'export const x = 1;')], /^tsgi: --module .*: exports no app/, 1],
    ['a mistyped option', () => ['--sokcet', '127.0.0.1:3031'], /^tsgi: unknown option --sokcet; did you mean --socket\?/, 2],
    ['a bad value', () => ['--chmod-socket', '999'], /^tsgi: --chmod-socket "999": expected an octal file mode/, 2],
  ])('rejects %s in one line that names the option', async (_name, args, message, code) => {
    const result = await run(args(tempDir()));
    expect(result.code).toBe(code);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });

  it('rejects a port in use in one line that names the option', async () => {
    const holder = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const result = await run(['--socket', `127.0.0.1:${port}`]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`tsgi: --socket 127.0.0.1:${port}: address already in use (EADDRINUSE)`);
    } finally {
      holder.close();
    }
  });

  it('prints its version and which native binding loaded', async () => {
    const result = await run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^tsgi \d+\.\d+\.\d+\nnode v20/);
    // The route that won, as the loader recorded it (__test__/install/loader.test.ts covers each one).
    if (process.env.TSGI_NATIVE === '0') expect(result.stdout).toMatch(/native binding: none; the pure-TypeScript reactor serves\n  not used: TSGI_NATIVE=0/);
    else expect(result.stdout).toMatch(/native binding: (prebuild|env) \(\/.+\.node\)\n/);
  });
});

function writeModule(dir: string, source: string): string {
  const file = path.join(dir, 'app.mjs');
  writeFileSync(file, source);
  return file;
}

describe('signals', () => {
  it('SIGTERM stops accepting, lets the request in flight finish, and exits 0', async () => {
    const dir = tempDir();
    const module = writeModule(
      dir,
      "export default async (e, start) => { await new Promise((r) => setTimeout(r, 500)); start('200 OK', [['Content-Type', 'text/plain']]); return ['finished']; };\n",
    );
    const port = await freePort();
    const child = await start(['--socket', `127.0.0.1:${port}`, '--module', module]);
    const address = `127.0.0.1:${port}`;
    const inFlight = exchange(address, packet(nginxVars('GET', '/slow')));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // No longer accepting: a new connection is refused.
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => (socket.destroy(), resolve(false)));
      socket.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    const response = parseResponse((await inFlight).data);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('finished');
    expect(await exited).toBe(0);
  });
});
