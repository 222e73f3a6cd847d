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
 * death, forks, the new worker loads and accepts from the socket the master kept bound;
 * its row `tsgi-respawn-fork` is the same replacement from its fork, when its pid appears
 * under the master, to that answer), `tsgi-respawn-standby` (the same under
 * --standby-worker: the replacement is the process forked ahead, which only loads the app;
 * its CPU is what it spent from the kill on), `uwsgi` (uWSGI --http-socket with --master and one
 * worker, bench/apps/hello.py, when installed). --root runs tsgi from another checkout's
 * dist/ (an A/B against a baseline build). --write saves bench/results/startup.json and
 * startup.md. The load average is printed with the results: on a busy machine the ratios
 * to node:http, measured in the same rounds, say more than the milliseconds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
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
 * CPU time `pid` has run, ms (Linux /proc/PID/schedstat: time on a CPU, whatever the load).
 * @param {number} pid
 */
const cpuMs = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return 0; // exited meanwhile
  }
};

/** The CPU time of the process tree measured last (`pid` and its children), ms. */
let lastCpu = NaN;
/** @param {number} pid */
const treeCpuMs = (pid) => cpuMs(pid) + childrenOf(pid).reduce((sum, child) => sum + cpuMs(child), 0);

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
    lastCpu = treeCpuMs(/** @type {number} */ (child.pid));
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

/** The replacement's fork → answer of each tsgi-respawn round (a row of its own). */
const forkToAnswer = /** @type {number[]} */ ([]);

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
        // The fork, seen as the replacement's pid under the master (a request meanwhile
        // waits in the socket's backlog, so this looks on its own timer).
        let forked = NaN;
        const look = setInterval(() => {
          if (childrenOf(/** @type {number} */ (master.pid)).some((pid) => pid !== worker)) ((forked = performance.now()), clearInterval(look));
        }, 1);
        // The master keeps the socket bound: a request waits in its backlog for the
        // replacement (one the dying worker took fails, and is sent again).
        while (!(await answered(port))) await new Promise((resolve) => setTimeout(resolve, 1));
        const done = performance.now();
        clearInterval(look);
        const replacement = childrenOf(/** @type {number} */ (master.pid)).find((pid) => pid !== worker);
        lastCpu = replacement === undefined ? NaN : cpuMs(replacement);
        forkToAnswer.push(done - forked);
        return done - killed;
      }),
  },
  {
    key: 'tsgi-respawn-standby',
    label: 'tsgi --standby-worker, a worker SIGKILLed until the standby, taking its place, answers',
    measure: () =>
      launch(process.execPath, tsgiArgs(['--processes', '1', '--standby-worker']), async (master, port) => {
        const pid = /** @type {number} */ (master.pid);
        // The worker names itself `tsgi worker 1`; the standby, forked once it is ready, not.
        const named = (/** @type {number} */ child) => readFileSync(`/proc/${child}/cmdline`, 'utf8').startsWith('tsgi worker');
        let standby;
        while ((standby = childrenOf(pid).find((child) => !named(child))) === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
        // Booted once its CPU time stops growing: its modules loaded, it waits for a start message.
        let spent = -1;
        for (let still = 0; still < 3;) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          const now = cpuMs(standby);
          still = now === spent ? still + 1 : 0;
          spent = now;
        }
        const worker = childrenOf(pid).find(named);
        if (worker === undefined) throw new Error('the master has no worker');
        const killed = performance.now();
        process.kill(worker, 'SIGKILL');
        while (!(await answered(port))) await new Promise((resolve) => setTimeout(resolve, 1));
        const done = performance.now();
        // The CPU the standby spent from its start message to the answer.
        lastCpu = cpuMs(standby) - spent;
        return done - killed;
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
/** @type {Record<string, number[]>} */
const cpus = Object.fromEntries(chosen.map((s) => [s.key, []]));
const loadBefore = os.loadavg()[0];
for (let round = 0; round < rounds; round++) {
  for (const setup of chosen) {
    const ms = await setup.measure();
    times[setup.key]?.push(ms);
    cpus[setup.key]?.push(lastCpu);
    process.stderr.write(`round ${round + 1}: ${setup.key} ${ms.toFixed(0)} ms\n`);
  }
}

/** @param {number[]} list */
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
const machine = machineInfo();
/** @type {{ key: string, label: string }[]} */
const rows = chosen.flatMap((s) =>
  s.key === 'tsgi-respawn' ? [s, { key: 'tsgi-respawn-fork', label: 'tsgi, that replacement from its fork to its first answer' }] : [s],
);
times['tsgi-respawn-fork'] = forkToAnswer;
cpus['tsgi-respawn-fork'] = cpus['tsgi-respawn'] ?? [];
const loadAfter = os.loadavg()[0];
const results = rows.map((s) => ({
  key: s.key,
  label: s.label,
  medianMs: median(times[s.key] ?? []),
  cpuMs: median(cpus[s.key] ?? []),
  runsMs: times[s.key] ?? [],
}));
const base = results.find((r) => r.key === 'node-http')?.medianMs;
const lines = [
  '# tsgi start-up',
  '',
  `${new Date().toISOString().slice(0, 10)}: ${machineLine(machine)}; ${rounds} alternating rounds, medians (\`node bench/startup.mjs --write\`);`,
  `load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`,
  "Launch to the first answered request (hello app, HTTP, GET /), except tsgi-respawn: a worker SIGKILLed until its replacement answers (and that, from the replacement's fork).",
  'CPU: the time the processes ran on a CPU until that answer (/proc/PID/schedstat; the master and its workers summed, the replacement alone for a respawn), which a busy machine changes far less than the wall clock.',
  '',
  '| setup | median | ×node:http | CPU | runs (ms) |',
  '|---|---:|---:|---:|---|',
  ...results.map(
    (r) =>
      `| ${r.label} | ${r.medianMs.toFixed(0)} ms | ${base ? (r.medianMs / base).toFixed(2) + '×' : ''} | ${r.cpuMs.toFixed(0)} ms | ${r.runsMs.map((t) => t.toFixed(0)).join(', ')} |`,
  ),
];
const markdown = lines.join('\n');
process.stdout.write(`${markdown}\n`);
if (argv.includes('--write')) {
  writeFileSync(
    path.join(here, 'results/startup.json'),
    `${JSON.stringify({ benchmark: 'startup', date: new Date().toISOString(), machine, load: [loadBefore, loadAfter], rounds, results }, null, 2)}\n`,
  );
  writeFileSync(path.join(here, 'results/startup.md'), `${markdown}\n`);
  process.stderr.write('startup: wrote bench/results/startup.json and startup.md\n');
}
