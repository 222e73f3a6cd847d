/**
 * --module with --adapter: what loadApp makes of each shape of export, served and asked
 * for a page; the errors for exports that are not what --adapter says; and the command
 * line serving an Express app with no change to it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdapterName } from '../../src/config/options.js';
import { loadApp } from '../../src/process/load-app.js';
import { request } from '../helpers/http.js';
import { useTestServers } from '../helpers/servers.js';

const servers = useTestServers();
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeModule(name: string, source: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  return file;
}

async function serveModule(module: string, adapter: AdapterName, target: string) {
  const { app } = await loadApp(module, 'application', adapter);
  const base = `http://${servers.serve(app, {}, { protocol: 'http' })}`;
  return request(`${base}${target}`);
}

describe('--adapter auto', () => {
  it.each([
    ['an Express app', 'express-app.mjs', '/express/hello', 'Hello world from 127.0.0.1 over http', 'an Express/Connect app'],
    ['a Koa app', 'koa-app.mjs', '/koa/hello', 'Hello world from 127.0.0.1', 'a Koa app'],
    ['a Fastify app (made ready by tsgi)', 'fastify-app.mjs', '/fastify/hello', '{"hello":"world","ip":"127.0.0.1","protocol":"http"}', 'a Fastify app'],
    ['a Hono app', 'hono-app.mjs', '/hono/hello', 'Hello world', 'a fetch handler ({ fetch })'],
    ['a { fetch } object', 'fetch-object.mjs', '/f', 'GET /f HTTP/1.1 ', 'a fetch handler ({ fetch })'],
  ])('serves %s as it is', async (_name, file, target, body, kind) => {
    const reply = await serveModule(fixture(file), 'auto', target);
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe(body);
    expect(servers.logs.text()).toContain(`is served as ${kind}`);
  });

  it('takes any other function for a TSGI app', async () => {
    const module = writeModule(
      'tsgi.mjs',
      "export default (environ, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return ['tsgi ' + environ.PATH_INFO]; };",
    );
    expect((await serveModule(module, 'auto', '/x')).body.toString()).toBe('tsgi /x');
  });

  it('refuses an object it does not know, naming what it takes', async () => {
    const module = writeModule('object.mjs', 'export default { handler() {} };');
    await expect(loadApp(module, 'application', 'auto')).rejects.toThrow(
      /export "default" is not an app \(it is object without fetch\(\), routing\(\) or callback\(\)\); export a TSGI function, a \{ fetch \} object, or an Express, Koa or Fastify app/,
    );
  });
});

describe('--adapter fetch, node, tsgi', () => {
  it('fetch: a bare function is a fetch handler', async () => {
    const module = writeModule('fetch-fn.mjs', 'export default (request) => new Response(`fetched ${new URL(request.url).pathname}`);');
    expect((await serveModule(module, 'fetch', '/y')).body.toString()).toBe('fetched /y');
  });

  it('node: a bare function is a (req, res) handler', async () => {
    const reply = await serveModule(fixture('node-handler.mjs'), 'node', '/node/nothing');
    expect(reply.status).toBe(404);
    expect(reply.body.toString()).toBe('no /node/nothing\n');
  });

  it('node: an http.Server export is served through its request listeners', async () => {
    const module = writeModule(
      'server.mjs',
      "import http from 'node:http'; export default http.createServer((req, res) => res.end('from the server ' + req.url));",
    );
    expect((await serveModule(module, 'node', '/z')).body.toString()).toBe('from the server /z');
    expect(servers.logs.text()).toContain('is served as an http.Server');
  });

  it.each([
    ['tsgi', 'hono-app.mjs', /export "default" is not a function \(it is object\); --adapter tsgi wants app\(environ, startResponse\)/],
    ['fetch', 'koa-app.mjs', /export "default" has no fetch\(\) \(it is object\); --adapter fetch wants/],
    ['node', 'fetch-object.mjs', /export "default" is no Node handler \(it is object\); --adapter node wants/],
  ] as const)('--adapter %s refuses what it cannot serve (%s)', async (adapter, file, message) => {
    await expect(loadApp(fixture(file), 'application', adapter)).rejects.toMatchObject({
      code: 'TSGI_ERR_NOT_AN_APP',
      message: expect.stringMatching(message),
    });
  });
});

describe('the command line', () => {
  it('passes --adapter on: a (req, res) function served with --adapter node', async () => {
    const cli = path.join(root, 'dist/cli.js');
    // Where workers refuse to run as root unless told (tsgi's master mode), say so.
    const help = await run(cli, ['--help']);
    const asRoot = help.stdout.includes('--allow-root') && process.getuid?.() === 0 ? ['--allow-root'] : [];
    const child = spawn(process.execPath, [cli, '--http-socket', '127.0.0.1:0', '--module', fixture('node-handler.mjs'), '--adapter', 'node', ...asRoot], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => (stderr += data));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address in:\n${stderr}`)), 15_000);
        child.stderr.on('data', () => {
          const match = /over HTTP on (127\.0\.0\.1:\d+)/i.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}:\n${stderr}`)));
      });
      // A TSGI app would have failed on (req, res): the handler's own 404 proves the adapter.
      await expect
        .poll(async () => (await request(`http://${address}/node/other`).catch(() => null))?.body.toString(), { timeout: 10_000 })
        .toBe('no /node/other\n');
      expect(stderr).toContain('is served as a Node handler');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    }
  });

  it('refuses an unknown --adapter with exit code 2, naming the choices', async () => {
    const result = await run(path.join(root, 'dist/cli.js'), ['--adapter', 'express']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('tsgi: --adapter "express": expected one of auto, tsgi, fetch, node');
  });
});

function run(cli: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data));
  child.stderr.on('data', (data: Buffer) => (stderr += data));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}
