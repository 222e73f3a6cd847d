/**
 * Loading the app as users name it: `tsgi app.mjs` (the shape of `node app.mjs`),
 * `app.mjs:export`, a TypeScript module through a loader (the master's Node flags reach
 * the workers; --node-args adds more), and the errors a module that cannot load gets:
 * what Node would say (file:line, the line with a caret, the stack without the loader's
 * frames), never a crash loop. A bare function tells its interface by its parameters, and
 * one that fails the way a Node handler called as TSGI fails gets the --adapter to use.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const FIXTURES = path.resolve('__test__/fixtures/loading');
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** tsgi over HTTP on a free port with `args`; resolves once its worker is ready. */
async function serve(args: string[], nodeFlags: string[] = []): Promise<{ tsgi: Tsgi; get: (p: string) => Promise<Response> }> {
  const port = await freePort();
  const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--disable-logging', ...args], undefined, { nodeFlags });
  cleanups.push(() => tsgi.kill());
  return { tsgi, get: (p) => fetch(`http://127.0.0.1:${port}${p}`) };
}

/** tsgi with `args`, which must fail to start: its exit code and output. */
async function refused(args: string[]): Promise<{ code: number | null; text: string }> {
  const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', ...args], null);
  cleanups.push(() => tsgi.kill());
  const { code } = await tsgi.exited;
  return { code, text: tsgi.lines.map((l) => l.text).join('\n') };
}

describe('naming the app', () => {
  it('tsgi app.mjs serves the module named alone', async () => {
    const { get } = await serve([path.join(FIXTURES, 'app.mjs')]);
    expect(await (await get('/x')).text()).toBe('default /x\n');
  });

  it('app.mjs:api serves that export; --callable naming another is refused', async () => {
    const { get } = await serve(['--module', `${path.join(FIXTURES, 'app.mjs')}:api`]);
    expect(await (await get('/y')).text()).toBe('api /y\n');
    const both = await refused(['--module', `${path.join(FIXTURES, 'app.mjs')}:api`, '--callable', 'other']);
    expect(both.code).toBe(1);
    expect(both.text).toMatch(/names export "api" and --callable names "other"; keep one/);
  });

  it('a uWSGI Python module name gets a hint toward a file path', async () => {
    const { code, text } = await refused(['--module', 'myproject.wsgi:application']);
    expect(code).toBe(1);
    expect(text).toMatch(/--module myproject\.wsgi:application: cannot load .*: no such file; --module takes a file path, not a Python module name/);
  });
});

describe('TypeScript', () => {
  const typed = path.join(FIXTURES, 'typed-app.ts');

  it('without a loader: one line naming the ways that work', async () => {
    const { code, text } = await refused([typed]);
    expect(code).toBe(1);
    expect(text).toMatch(/does not run TypeScript by itself.*node --import tsx .*NODE_OPTIONS=--import=tsx.*--node-args "--import tsx".*compile with tsc/);
    expect(text).not.toMatch(/^\s+at /m);
  });

  it("node --import tsx tsgi app.ts: the workers get the master's Node flags", async () => {
    const { get } = await serve([typed], ['--import', 'tsx']);
    expect(await (await get('/t')).text()).toBe('typed /t\n');
  });

  it('--node-args "--import tsx" gives the workers a loader', async () => {
    const { get } = await serve(['--node-args', '--import tsx', typed]);
    expect(await (await get('/u')).text()).toBe('typed /u\n');
  });
});

describe('a module that cannot load', () => {
  it('a syntax error: file:line, the line and its caret, the error; exit 1 without a retry loop', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-syntax-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'broken.mjs');
    writeFileSync(file, 'export default function app(environ, start) {\n  start("200 OK", []);\n  return [1;\n}\n');
    const { code, text } = await refused([file]);
    expect(code).toBe(1);
    // The place as Node shows it in the log, then the start-up error in one line.
    expect(text).toContain(`${file}:3\n  return [1;\n           ^\n\nSyntaxError: Unexpected token ';'`);
    expect(text).toContain(`tsgi: --module ${file}: cannot load ${file}: SyntaxError: Unexpected token ';' (at ${file}:3)`);
    expect(text.match(/cannot load/g)).toHaveLength(2);
  });

  it('a throw in a module it imports: the stack points at that file, without the loader', async () => {
    const { code, text } = await refused([path.join(FIXTURES, 'imports-a-throw.mjs')]);
    expect(code).toBe(1);
    expect(text).toMatch(/Error: the database URL is missing\n\s+at .*throws-at-import\.mjs:3:\d+/);
    expect(text).toMatch(/tsgi: .*cannot load .*: Error: the database URL is missing \(at .*throws-at-import\.mjs:3:\d+\)$/m);
    expect(text).not.toMatch(/node:internal|dist\/process/);
  });
});

describe('telling a bare function’s interface', () => {
  it('parameters named (req, res): served as a Node handler, and the log says why', async () => {
    const { tsgi, get } = await serve([path.join(FIXTURES, 'named-node-handler.mjs')]);
    expect(await (await get('/n')).text()).toBe('node /n\n');
    expect(tsgi.lines.some((l) => /served as a Node handler \(its parameters are \(req, res\); --adapter tsgi serves it as a TSGI app\)/.test(l.text))).toBe(
      true,
    );
  });

  it('a Node handler taken for a TSGI app: 500s, and once in the log which --adapter serves it', async () => {
    const { tsgi, get } = await serve([path.join(FIXTURES, 'minified-node-handler.mjs')]);
    expect((await get('/1')).status).toBe(500);
    expect((await get('/2')).status).toBe(500);
    await tsgi.line(/this looks like a Node \(req, res\) handler called as a TSGI app: serve it with --adapter node/);
    expect(tsgi.lines.filter((l) => l.text.includes('this looks like a Node')).length).toBe(1);
  });
});
