/**
 * The README's first screen, as a newcomer copies it: the app.mjs of "Serve an app in three
 * steps" saved as it is printed, and its command line run as it is printed (with a free
 * port for `:8080`, and the repository's CLI for `npx tsgi`), answer the curl it names.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

let dir: string | undefined;
let tsgi: Tsgi | undefined;
afterEach(async () => {
  tsgi?.child.kill('SIGINT');
  await tsgi?.exited;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The section "Serve an app in three steps": its code blocks in order, with their language. */
function threeSteps(): Array<{ lang: string; code: string }> {
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('## Serve an app in three steps');
  expect(start, 'the README has its three steps').toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/^```(\w+)\n([^]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

it("serves the README's three-step app with the README's command", async () => {
  const [install, app, run] = threeSteps();
  expect(install).toEqual({ lang: 'sh', code: 'npm install tsgi\n' });
  expect(app!.lang).toBe('js');
  const file = /^\/\/ (\S+)\n/.exec(app!.code)?.[1];
  expect(file).toBe('app.mjs');
  const command = run!.code.split('#')[0]!.trim().split(/\s+/);
  expect(command.slice(0, 2)).toEqual(['npx', 'tsgi']);
  const curl = /curl (http:\/\/127\.0\.0\.1:8080\/\S*)/.exec(run!.code)?.[1];
  expect(curl, 'the step names the URL to try').toBeDefined();

  dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-readme-'));
  writeFileSync(path.join(dir, file!), app!.code);
  const port = await freePort();
  const args = command.slice(2).map((arg) => (arg === ':8080' ? `127.0.0.1:${port}` : arg === file ? path.join(dir!, file!) : arg));
  tsgi = await startTsgi(args);
  const response = await fetch(curl!.replace(':8080', `:${port}`) + 'readme');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain');
  expect(await response.text()).toBe('hello from /readme\n');
  // --processes 2, as printed: two workers serve.
  expect(tsgi.workers()).toHaveLength(2);
});
