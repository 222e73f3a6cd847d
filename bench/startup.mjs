#!/usr/bin/env node
/**
 * Start-up: from launching a server to its first answered request, the floor under every
 * respawn, reload and recycle. Each setup serves the hello app over HTTP on a fresh port;
 * the clock starts at spawn() and stops when a GET / has been answered 200 (polled every
 * millisecond until the port accepts). Rounds alternate the setups, so a busy machine
 * slows them alike; the figure is the median of the rounds.
 *
 *   node bench/startup.mjs [--rounds 5] [--only node-http,tsgi,...] [--root DIR] [--write]
 *
 * Setups: `node-http` (bench/apps/hello-node-http.mjs, one process), `tsgi` (master and one
 * worker), `tsgi-no-master` (--master false: one process), `tsgi-respawn` (a worker
 * SIGKILLed under a running master, until its replacement answers: the master sees the
 * death, forks, the new worker loads and accepts from the socket the master kept bound),
 * `uwsgi` (uWSGI --http-socket with --master and one worker, bench/apps/hello.py, when
 * installed). --root runs tsgi from another checkout's dist/ (an A/B against a baseline
 * build). --write saves bench/results/startup.json and startup.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';
import { optionValue } from './lib/args.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
/** @param {string} name @param {string} fallback */
const value = (name, fallback) => optionValue(argv, name, fallback);
const rounds = Number(value('rounds', '5'));
const root = path.resolve(value('root', path.join(here, '..')));
const cli = path.join(root, 'dist/cli.js');
const apps = path.join(here, 'apps');
const uwsgiBin = findExecutable('uwsgi');

/** @typedef {{ key: string, label: string, measure: () => Promise<number> }} Setup */

/**
 * Answers whether GET / on `port` was answered 200 (false: refused or failed).
 * @param {number} port
 * @returns {Promise<boolean>}
 */
const answered = (port) =>
  new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
    });
    request.on('error', () => resolve(false));
  });

/**
 * Polls `port` every millisecond until a request is answered; rejects if `child` exits first.
 * @param {number} port
 * @param {import('node:child_process').ChildProcess} child
 * @param {() => string} output
 */
async function untilAnswered(port, child, output) {
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (await answered(port)) return;
    if (exited) throw new Error(`exited before answering:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Launches `command args` (PORT in args replaced) and times launch → first answer.
 * @param {string} command
 * @param {(port: number) => string[]} args
 * @param {(child: import('node:child_process').ChildProcess, port: number) => Promise<number>} [then] a second measure on the running server
 */
async function launch(command, args, then) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(command, args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk) => (output += chunk));
  try {
    await untilAnswered(port, child, () => output);
    const first = performance.now() - started;
    return then ? await then(child, port) : first;
  } finally {
    await stopProcess(child, { signal: 'SIGTERM' });
  }
}

/**
 * The pids of `pid`'s children (Linux /proc).
 * @param {number} pid
 * @returns {number[]}
 */
const childrenOf = (pid) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);

const tsgiArgs = (/** @type {string[]} */ extra) => (/** @type {number} */ port) => [
  cli,
  '--http-socket',
  `127.0.0.1:${port}`,
  '--module',
  path.join(apps, 'hello.mjs'),
  '--allow-root',
  ...extra,
];

/** @type {Setup[]} */
const SETUPS = [
  {
    key: 'node-http',
    label: `node:http ${process.version} (bench/apps/hello-node-http.mjs)`,
    measure: () => launch(process.execPath, (port) => [path.join(apps, 'hello-node-http.mjs'), String(port)]),
  },
  { key: 'tsgi', label: 'tsgi, master and 1 worker', measure: () => launch(process.execPath, tsgiArgs(['--processes', '1'])) },
  { key: 'tsgi-no-master', label: 'tsgi --master false (one process)', measure: () => launch(process.execPath, tsgiArgs(['--master', 'false'])) },
  {
    key: 'tsgi-respawn',
    label: 'tsgi, a worker SIGKILLed until its replacement answers',
    measure: () =>
      launch(process.execPath, tsgiArgs(['--processes', '1']), async (master, port) => {
        const [worker] = childrenOf(/** @type {number} */ (master.pid));
        if (worker === undefined) throw new Error('the master has no worker');
        const killed = performance.now();
        process.kill(worker, 'SIGKILL');
        // The master keeps the socket bound: a request waits in its backlog for the
        // replacement (one the dying worker took fails, and is sent again).
        while (!(await answered(port))) await new Promise((resolve) => setTimeout(resolve, 1));
        return performance.now() - killed;
      }),
  },
];
if (uwsgiBin) {
  const version = spawnSync(uwsgiBin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  SETUPS.push({
    key: 'uwsgi',
    label: `uWSGI ${version} --http-socket, --master, 1 worker (bench/apps/hello.py)`,
    measure: () =>
      launch(uwsgiBin, (port) => [
        '--plugin',
        'python3',
        '--http-socket',
        `127.0.0.1:${port}`,
        '--wsgi-file',
        path.join(apps, 'hello.py'),
        '--master',
        '--processes',
        '1',
        '--disable-logging',
        '--need-app',
        '--die-on-term',
      ]),
  });
}

const only = value('only', '').split(',').filter(Boolean);
const chosen = only.length > 0 ? SETUPS.filter((s) => only.includes(s.key)) : SETUPS;

/** @type {Record<string, number[]>} */
const times = Object.fromEntries(chosen.map((s) => [s.key, []]));
for (let round = 0; round < rounds; round++) {
  for (const setup of chosen) {
    const ms = await setup.measure();
    times[setup.key]?.push(ms);
    process.stderr.write(`round ${round + 1}: ${setup.key} ${ms.toFixed(0)} ms\n`);
  }
}

/** @param {number[]} list */
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
const machine = machineInfo();
const results = chosen.map((s) => ({ key: s.key, label: s.label, medianMs: median(times[s.key] ?? []), runsMs: times[s.key] ?? [] }));
const base = results.find((r) => r.key === 'node-http')?.medianMs;
const lines = [
  '# tsgi start-up',
  '',
  `${new Date().toISOString().slice(0, 10)}: ${machineLine(machine)}; ${rounds} alternating rounds, medians (\`node bench/startup.mjs --write\`).`,
  'Launch to the first answered request (hello app, HTTP, GET /), except tsgi-respawn: a worker SIGKILLed until its replacement answers.',
  '',
  '| setup | median | ×node:http | runs (ms) |',
  '|---|---:|---:|---|',
  ...results.map(
    (r) =>
      `| ${r.label} | ${r.medianMs.toFixed(0)} ms | ${base ? (r.medianMs / base).toFixed(2) + '×' : ''} | ${r.runsMs.map((t) => t.toFixed(0)).join(', ')} |`,
  ),
];
const markdown = lines.join('\n');
process.stdout.write(`${markdown}\n`);
if (argv.includes('--write')) {
  writeFileSync(
    path.join(here, 'results/startup.json'),
    `${JSON.stringify({ benchmark: 'startup', date: new Date().toISOString(), machine, rounds, results }, null, 2)}\n`,
  );
  writeFileSync(path.join(here, 'results/startup.md'), `${markdown}\n`);
  process.stderr.write('startup: wrote bench/results/startup.json and startup.md\n');
}
