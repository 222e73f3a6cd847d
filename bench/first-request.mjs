#!/usr/bin/env node
/**
 * Install to first request: what a new user waits for between `npm install tsgi` and an
 * answer. In an empty temp folder it runs the README's first screen ("Serve an app in three
 * steps") as written there: `npm install` (of this checkout, `npm pack`ed first, untimed,
 * so the package comes from the local tarball and only its dependencies from the
 * registry), the app file as printed, and the `npx tsgi ...` line (its `:8080` a free
 * port); the clock starts with npm install and stops when GET / is
 * answered 200 with the app's body. Printed: the install, the start (launch to first
 * answer; and again without npx, as a service unit would start it) and the sum.
 *
 *   node bench/first-request.mjs [--cold] [--keep]
 *
 * --cold gives npm an empty cache (every dependency downloaded, as on a fresh machine);
 * without it npm uses this machine's cache. --keep leaves the folder. Needs `npm run
 * build` (dist/, prebuilds/): the tarball is packed as the checkout is, without scripts.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, stopProcess, waitForPort } from '../scripts/lib/processes.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const cold = argv.includes('--cold');
const keep = argv.includes('--keep');

/** The README's "Serve an app in three steps": the npm install line, the app file (its
 * name from the code block's first comment) and the npx tsgi line. */
function firstScreen() {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('## Serve an app in three steps');
  const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
  const blocks = [...section.matchAll(/^```(\w+)\n([^]*?)^```$/gm)].map((m) => ({ lang: m[1], code: m[2] }));
  const lines = blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.code.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()));
  const find = (/** @type {RegExp} */ pattern) => {
    const line = lines.find((l) => pattern.test(l));
    if (!line) throw new Error(`the README's three steps have no line matching ${pattern}:\n${section}`);
    return line;
  };
  const app = blocks.find((b) => b.lang === 'js');
  const file = app && /^\/\/ (\S+)\n/.exec(app.code)?.[1];
  if (!app || !file) throw new Error(`the README's three steps have no app file:\n${section}`);
  return { install: find(/^npm install tsgi$/), app: { file, code: app.code }, serve: find(/^npx tsgi /) };
}

/**
 * Launches `command` in `cwd` (its own process group: npx runs tsgi as a child and does not
 * pass SIGTERM on) and times it to the first answer on `port`; then stops the group.
 * @param {string[]} command
 * @param {string} cwd
 * @param {number} port
 * @returns {Promise<{ ms: number, body: string }>}
 */
async function timeToAnswer(command, cwd, port) {
  const started = performance.now();
  const child = spawn(command[0], command.slice(1), { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: npmEnv, detached: true });
  let output = '';
  child.stderr?.on('data', (chunk) => (output += chunk));
  try {
    // The port accepts once the master has bound it (every 25 ms looked at); the request
    // then waits in the socket's backlog until a worker has loaded the app and takes it.
    await waitForPort(port, { child, timeoutMs: 120_000, describe: () => output });
    const response = await fetch(`http://127.0.0.1:${port}/`, { headers: { Connection: 'close' } });
    const body = await response.text();
    const elapsed = performance.now() - started;
    if (response.status !== 200) throw new Error(`GET / answered ${response.status}:\n${output}`);
    return { ms: elapsed, body };
  } finally {
    await stopProcess(child, { group: true });
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-first-request-'));
const npmEnv = cold ? { ...process.env, npm_config_cache: path.join(dir, '.npm-cache') } : process.env;
const ms = (/** @type {number} */ t) => `${Math.round(t)} ms`;

try {
  const screen = firstScreen();
  const packed = JSON.parse(
    (await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, maxBuffer: 16 << 20 })).stdout,
  )[0];
  const tarball = path.join(dir, packed.filename);
  const project = path.join(dir, 'app');
  await run('mkdir', [project]);

  const t0 = performance.now();
  // `npm install tsgi`, the tarball in the place of the name.
  await run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: project, env: npmEnv, maxBuffer: 16 << 20 });
  const t1 = performance.now();
  writeFileSync(path.join(project, screen.app.file), screen.app.code);
  const port = await freePort();
  const serve = screen.serve.split(/\s+/).map((arg) => arg.replace(/^:\d+$/, `127.0.0.1:${port}`));
  // tsgi refuses to run workers as root without leave (README, Behind nginx).
  if (process.getuid?.() === 0) serve.push('--allow-root');
  const first = await timeToAnswer(serve, project, port);
  if (first.body !== 'hello from /\n') throw new Error(`GET / answered ${JSON.stringify(first.body)}, not the README app's "hello from /"`);
  // The same start without npx (what `npm start` or a service unit would run): npx's share.
  const direct = await timeToAnswer([process.execPath, path.join(project, 'node_modules/tsgi/dist/cli.js'), ...serve.slice(2)], project, port);
  console.log(
    `Install to first request (${machineLine(machineInfo())}, npm cache ${cold ? 'cold' : 'warm'}; ${packed.filename}, ${(packed.size / 1024).toFixed(0)} KiB):`,
  );
  console.log(`  ${screen.install.replace('tsgi', tarball)}`);
  console.log(`  (${screen.app.file}, as the README prints it)`);
  console.log(`  ${serve.join(' ')}`);
  console.log(`install ${ms(t1 - t0)}, start to first answer ${ms(first.ms)} (without npx: ${ms(direct.ms)}), total ${ms(t1 - t0 + first.ms)}`);
} finally {
  if (keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
