/**
 * The typed examples (examples/typed-tsgi, examples/typed-hono) as their headers say to
 * build them: the `npx tsc --strict ...` line each prints, run as printed (its output
 * folder moved under node_modules/.cache, where the examples' imports resolve), must pass;
 * the compiled app, run by the `npx tsgi build/app.js` line, answers. Here in unit/, run
 * once (native): what it holds is the examples' types and their build, which no reactor
 * changes; tsc is the slow part. The TypeScript run as it is through tsx, over both
 * reactors and behind nginx, is the framework matrix's (peers/frameworks.test.ts).
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { request } from '../helpers/http.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const run = promisify(execFile);
const OUT = path.resolve(`node_modules/.cache/tsgi-typed-examples-${process.pid}`);
const started: Tsgi[] = [];

afterAll(async () => {
  for (const tsgi of started) tsgi.child.kill('SIGTERM');
  await Promise.all(started.map((tsgi) => tsgi.exited));
  rmSync(OUT, { recursive: true, force: true });
});

/** The command line of `example`'s header that starts with `npx <tool> `, split at spaces. */
function documented(example: string, tool: 'tsc' | 'tsgi'): string[] {
  const line = readFileSync(`examples/${example}/app.ts`, 'utf8')
    .split('\n')
    .map((text) => text.replace(/^\s*\*\s*/, ''))
    .find((text) => text.startsWith(`npx ${tool} `) && text.includes('build'));
  if (!line) throw new Error(`examples/${example}/app.ts no longer says how to run npx ${tool} on its build`);
  return line.split(' ').slice(2);
}

const EXAMPLES = ['typed-tsgi', 'typed-hono'] as const;

/** Compiles `example` as its header says; the folder of the output. */
async function compile(example: string): Promise<string> {
  const out = path.join(OUT, example);
  const tscArgs = documented(example, 'tsc').map((arg) => (arg === 'build' ? out : arg));
  expect(tscArgs).toContain('--strict');
  await run(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), ...tscArgs]).catch((error: { stdout?: string }) => {
    throw new Error(`tsc ${tscArgs.join(' ')} failed:\n${error.stdout ?? String(error)}`);
  });
  return out;
}

/** Serves the compiled `example` as its header says; the HTTP address. */
async function serve(example: string, out: string): Promise<string> {
  const address = `127.0.0.1:${await freePort()}`;
  const tsgiArgs = documented(example, 'tsgi').map((arg) => arg.replace(/^build\//, `${out}/`).replace(/^:8080$/, address));
  started.push(await startTsgi(tsgiArgs));
  return address;
}

const built = new Map<string, string>();

// Both compiles at once: most of tsc's time is its start and the standard library.
beforeAll(async () => {
  const outs = await Promise.all(EXAMPLES.map(compile));
  EXAMPLES.forEach((example, i) => built.set(example, outs[i]!));
}, 120_000);

describe('the typed examples, compiled by tsc --strict as they say, served by tsgi', () => {
  it('examples/typed-tsgi: a request header read with no cast', async () => {
    const address = await serve('typed-tsgi', built.get('typed-tsgi')!);
    const reply = await request(`http://${address}/`, { headers: { 'User-Agent': 'compiled-client' } });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toEqual({ hello: 'typed TSGI', agent: 'compiled-client', path: '/' });
  });

  it('examples/typed-hono: a typed JSON body', async () => {
    const address = await serve('typed-hono', built.get('typed-hono')!);
    const reply = await request(`http://${address}/todos`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from(JSON.stringify({ title: 'compile', done: true })),
    });
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body.toString())).toEqual({ created: { title: 'compile', done: true } });
  });
});
