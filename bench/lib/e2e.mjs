/**
 * What the end-to-end benchmarks (bench/e2e.mjs, bench/e2e-adapters.mjs) share:
 * option parsing, backend processes, the check request, wrk runs and their parsing,
 * interleaved rounds, CPU time from /proc, medians and the report. Plain ESM with JSDoc
 * types, like scripts/lib/, so the bench scripts run without a build.
 *
 * A script describes its contenders as "setups": { key, name, label, backend, url, cpu? }
 * (key: the --only name and the nginx location, name: short, for ratios, label: with the
 * version, for the table; backend: what startBackend returned; optionally wrk: wrk options
 * of its own, nginxPid: the nginx in front of it). runRounds() fills setup.runs,
 * summarize() the medians.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { nginxVersion } from '../../scripts/lib/nginx.mjs';
import { stopProcess, waitForPort } from '../../scripts/lib/processes.mjs';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/**
 * A backend process, as startBackend returns it (nginx alone stands in with its own child
 * and error log).
 * @typedef {object} Backend
 * @property {string} [name]
 * @property {ChildProcess} child
 * @property {() => string} output
 * @property {NodeJS.Signals} [stopSignal] how it stops gracefully; default SIGINT
 */

/**
 * wrk's options for one run.
 * @typedef {object} WrkOptions
 * @property {number} threads
 * @property {number} connections
 * @property {number} duration seconds
 * @property {string} [script] a Lua file (wrk -s)
 */

/**
 * One measured run: wrk's numbers and output, and what runRounds adds.
 * @typedef {ReturnType<typeof parseWrk> & { raw: string, accepts?: number, backendCpuUs?: number, nginxCpuUs?: number }} Run
 */

/**
 * What runRounds measures and summarize sums up: a setup, or a cell of one.
 * @typedef {object} Measured
 * @property {string} key
 * @property {string} [label]
 * @property {string} url
 * @property {Backend} backend
 * @property {Partial<WrkOptions>} [wrk] wrk options of its own
 * @property {number} [nginxPid] the nginx in front of it
 * @property {() => Array<number | undefined>} [cpuPids] the root pids of the backend's process trees
 * @property {Run[]} [runs] filled by runRounds
 * @property {number} [rps] the medians, filled by summarize
 * @property {number} [p50]
 * @property {number} [p99]
 * @property {number} [backendCpuUs]
 * @property {number} [nginxCpuUs]
 * @property {number} [errors]
 */

/**
 * The options runRounds and environmentLine read.
 * @typedef {object} RoundOptions
 * @property {number} rounds
 * @property {number} warmup seconds
 * @property {number} duration seconds
 * @property {number} threads
 * @property {number} connections
 */

// ---- options ----------------------------------------------------------------------------

/**
 * The command line of a bench script. `spec`:
 *   script:   'e2e-uwsgi' (error messages and usage),
 *   defaults: { duration: 10, ..., only: '' } (every numeric option, in usage order; `only`
 *             if the script has --only),
 *   only:     the setup keys --only accepts (one, or several separated by commas),
 *   flags:    boolean options without a value, e.g. ['json'],
 *   minimums: { warmup: 0 } (numeric options may not go below these; default 1),
 *   lists:    { workloads: ['hello', 'post'], connections: null }: options that take a
 *             comma-separated list, of these choices, or of whole numbers >= 1 (null); their
 *             defaults are lists too.
 * @template {Record<string, unknown>} D
 * @template {string} [F=never]
 * @param {{ script: string, defaults: D, only?: string[], flags?: F[], minimums?: Record<string, number>, lists?: Record<string, string[] | null> }} spec
 * @returns {{ parse: (argv: string[]) => Omit<D, 'only'> & { only: string[] } & Record<F, boolean>, usage: () => string }}
 */
export function optionParser(spec) {
  const { script, defaults, only: choices = [], flags = [], minimums = {}, lists = {} } = spec;
  /** @param {string} name */
  const metavar = (name) => (name === 'duration' || name === 'warmup' ? 'SECONDS' : 'N');
  const usage = () => {
    const parts = Object.keys(defaults).map((name) =>
      name === 'only'
        ? `[--only ${choices.join('|')}]`
        : name in lists
          ? `[--${name} ${(lists[name] ?? ['N']).join('|')},...]`
          : `[--${name} ${metavar(name)}]`,
    );
    parts.push(...flags.map((flag) => `[--${flag}]`));
    return `usage: node bench/${script}.mjs ${parts.join(' ')}
defaults: ${Object.entries(defaults)
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `--${k} ${v}`)
      .join(' ')}\n`;
  };
  /**
   * @param {string} message
   * @param {boolean} [withUsage]
   * @returns {never}
   */
  function fail(message, withUsage = false) {
    process.stderr.write(`${script}: ${message}\n${withUsage ? usage() : ''}`);
    process.exit(2);
  }
  /** @param {readonly (string | number)[]} list */
  const listChoices = (list) => (list.length <= 2 ? list.join(' or ') : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`);

  /**
   * Parses argv; `options.only` is the list of wanted keys ([]: all). Exits on --help and mistakes.
   * @param {string[]} argv
   */
  const parse = (argv) => {
    /** @type {Record<string, unknown>} */
    const options = { ...defaults, only: [] };
    for (const flag of flags) options[flag] = false;
    for (let i = 0; i < argv.length; i++) {
      const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
      if (argv[i] === '--help' || argv[i] === '-h') {
        process.stdout.write(usage());
        process.exit(0);
      }
      if (match && flags.some((flag) => flag === match[1]) && match[2] === undefined) {
        options[match[1]] = true;
        continue;
      }
      if (!match || !(match[1] in defaults)) return fail(`unknown argument ${argv[i]}`, true);
      const value = match[2] ?? argv[++i];
      if (value === undefined) return fail(`--${match[1]} needs a value`);
      if (match[1] === 'only') {
        const keys = value.split(',');
        if (keys.some((key) => !choices.includes(key))) fail(`--only takes ${listChoices(choices)}, got ${value}`);
        options.only = keys;
        continue;
      }
      if (match[1] in lists) {
        const allowed = lists[match[1]];
        const items = allowed ? value.split(',') : value.split(',').map(Number);
        const bad = allowed ? items.some((item) => !allowed.includes(String(item))) : items.some((n) => typeof n !== 'number' || !Number.isInteger(n) || n < 1);
        if (bad) fail(`--${match[1]} takes ${allowed ? `a list of ${listChoices(allowed)}` : 'a list of whole numbers >= 1'}, got ${value}`);
        options[match[1]] = items;
        continue;
      }
      const n = Number(value);
      const min = minimums[match[1]] ?? 1;
      if (!Number.isInteger(n) || n < min) fail(`--${match[1]} must be a whole number >= ${min}, got ${value}`);
      options[match[1]] = n;
    }
    if (typeof options.threads === 'number' && typeof options.connections === 'number' && options.threads > options.connections) {
      options.threads = options.connections;
    }
    // What the loop above checked, key by key, against `defaults`, `flags` and `lists`.
    return /** @type {Omit<D, 'only'> & { only: string[] } & Record<F, boolean>} */ (options);
  };
  return { parse, usage };
}

/**
 * Whether setup `key` is to run under `options.only`.
 * @param {{ only: string[] }} options
 * @param {string} key
 */
export const wanted = (options, key) => options.only.length === 0 || options.only.includes(key);

// ---- processes -----------------------------------------------------------------------------

/**
 * Every child still running (backends, wrk); killAll() is the last resort on a crash.
 * @type {Set<ChildProcess>}
 */
export const children = new Set();

export function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Runs a benchmark's `main`; a failure is printed with the benchmark's name, every server
 * it started is killed, and the exit code is `failCode`.
 * @param {string} name
 * @param {() => Promise<void>} main
 * @param {number} [failCode]
 */
export function runBenchmark(name, main, failCode = 1) {
  main().catch((error) => {
    process.stderr.write(`${name}: ${error?.stack ?? error}\n`);
    killAll();
    process.exitCode = failCode;
  });
}

/**
 * Runs a benchmark's `main`: on Ctrl-C or a failure its children are killed, and it exits
 * 130 or 1.
 * @param {() => Promise<void>} main
 */
export function runMain(main) {
  process.on('SIGINT', () => (killAll(), process.exit(130)));
  main().catch((error) => {
    console.error(error);
    killAll();
    process.exit(1);
  });
}

/**
 * The last `lines` lines of `text`, trimmed.
 * @param {string} text
 * @param {number} lines
 */
export const tail = (text, lines) => text.trim().split('\n').slice(-lines).join('\n');

/**
 * What every benchmark adds to tsgi's command line: no request log (uWSGI runs with
 * --disable-logging too, so neither pays for one), and leave to run as root where the
 * benchmark runs as root (tsgi refuses otherwise).
 */
export function tsgiBenchFlags() {
  return ['--disable-logging', ...(process.getuid?.() === 0 ? ['--allow-root'] : [])];
}

/**
 * Starts a backend and waits for its TCP port (or Unix socket); returns { name, child,
 * output() } or throws with its output. `spawnOptions`: cwd, env (as for child_process.spawn).
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {number | string} port
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv }} [spawnOptions]
 * @returns {Promise<Backend>}
 */
export async function startBackend(name, command, args, port, spawnOptions = {}) {
  const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  /** @param {string} d */
  const keep = (d) => {
    output += d;
    if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const spawnFailed = new Promise((_, reject) => child.once('error', (e) => reject(new Error(`${command}: ${e.message}`))));
  spawnFailed.catch(() => {});
  try {
    await Promise.race([waitForPort(port, { child, timeoutMs: 15_000, describe: () => `${name} output:\n${tail(output, 25) || '(none)'}` }), spawnFailed]);
  } catch (error) {
    await stopProcess(child, { signal: 'SIGINT', graceMs: 2_000 });
    throw error;
  }
  return { name, child, output: () => output };
}

/**
 * Whether `child` has exited.
 * @param {ChildProcess} child
 */
export const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/**
 * GET `url`: { status, headers, body }. On a fresh connection (`Connection: close`) unless
 * `agent` is given, e.g. a keep-alive http.Agent.
 * @param {string} url
 * @param {{ agent?: http.Agent | false }} [options]
 * @returns {Promise<{ status: number | undefined, headers: http.IncomingHttpHeaders, body: string }>}
 */
export function get(url, { agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`${url}: no response within 5 s`)));
    req.on('error', reject);
  });
}

/**
 * Checks that `setup.url` answers 200 with `expectedBody`; resolves with the reply, or
 * rejects with the backend's and nginx's last log lines (`nginx`: null when the backend is
 * asked directly).
 * @param {Measured} setup
 * @param {import('../../scripts/lib/nginx.mjs').Nginx | null} nginx
 * @param {string} expectedBody
 */
export async function checkSetup(setup, nginx, expectedBody) {
  try {
    const reply = await get(setup.url);
    if (reply.status !== 200 || reply.body !== expectedBody)
      throw new Error(`expected 200 ${JSON.stringify(expectedBody)}, got ${reply.status} ${JSON.stringify(reply.body.slice(0, 200))}`);
    return reply;
  } catch (error) {
    const nginxLog = nginx ? `\nnginx error.log:\n${tail(nginx.errorLog(), 10)}` : '';
    throw new Error(
      `check request${nginx ? ' through nginx' : ''} failed: ${error instanceof Error ? error.message : error}\n${tail(setup.backend.output(), 15)}${nginxLog}`,
    );
  }
}

/**
 * How many TCP connections `requests` sequential GETs of `url` took on one keep-alive
 * http.Agent, as a client that keeps connections does: 1 when the server keeps the
 * connection, `requests` when it closes it after each response.
 * @param {string} url
 * @param {number} [requests]
 */
export async function connectionsForSequentialRequests(url, requests = 3) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let opened = 0;
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => {
    opened++;
    return createConnection(...args);
  };
  try {
    for (let i = 0; i < requests; i++) {
      // A pause, so that a server's close after the response is seen before the next request.
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      await get(url, { agent });
    }
    return opened;
  } finally {
    agent.destroy();
  }
}

/** The count of TCP connections this machine has accepted so far (all ports: PassiveOpens
 * in /proc/net/snmp), or NaN without /proc. Take it before and after a run. */
export function tcpPassiveOpens() {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('Tcp:'));
    const names = (lines[0] ?? '').split(/\s+/);
    return Number((lines[1] ?? '').split(/\s+/)[names.indexOf('PassiveOpens')]);
  } catch {
    return NaN;
  }
}

export function somaxconn() {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) || 128;
  } catch {
    return 128;
  }
}

// ---- CPU time ------------------------------------------------------------------------------

/** @type {number | undefined} */
let clockTicks;
/** Clock ticks per second of /proc/PID/stat's times (getconf CLK_TCK; 100 on Linux). */
function ticksPerSecond() {
  if (clockTicks === undefined) {
    const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(result.stdout?.trim()) || 100;
  }
  return clockTicks;
}

/**
 * { pid, ppid, ticks } from /proc/PID/stat, ticks = utime + stime + cutime + cstime
 * (cutime/cstime: children already reaped, so a worker that exits is still counted).
 * @param {number | string} pid
 * @returns {{ pid: number | string, ppid: number, ticks: number } | null}
 */
function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) };
  } catch {
    return null; // gone, or no /proc
  }
}

/**
 * CPU seconds (user + system) used so far by process `rootPid` and its descendants, or NaN
 * without /proc. Take it before and after a run; the difference is the run's cost.
 * @param {number | undefined} rootPid
 * @returns {number}
 */
export function treeCpuSeconds(rootPid) {
  if (rootPid === undefined || !readStat(rootPid)) return NaN;
  let entries;
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return NaN;
  }
  const stats = entries.map(readStat).filter((stat) => stat !== null);
  /** @type {Map<number, NonNullable<ReturnType<typeof readStat>>[]>} */
  const byParent = new Map();
  for (const stat of stats) {
    const siblings = byParent.get(stat.ppid) ?? [];
    siblings.push(stat);
    byParent.set(stat.ppid, siblings);
  }
  let ticks = 0;
  const queue = [stats.find((s) => s.pid === String(rootPid)) ?? readStat(rootPid)];
  while (queue.length) {
    const stat = queue.pop();
    if (!stat) continue; // gone since the check above
    ticks += stat.ticks;
    queue.push(...(byParent.get(Number(stat.pid)) ?? []));
  }
  return ticks / ticksPerSecond();
}

// ---- wrk ------------------------------------------------------------------------------------

/**
 * Milliseconds from wrk's "1.23ms" / "456.00us" / "1.02s" / "2.00m".
 * @param {string} text
 */
export function toMs(text) {
  const m = /^([0-9.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  const factor = /** @type {Record<string, number>} */ ({ us: 0.001, ms: 1, s: 1000, m: 60_000 })[m[2] ?? ''] ?? NaN;
  return Number(m[1]) * factor;
}

/** @param {string} text wrk's output */
export function parseWrk(text) {
  /** @param {RegExp} re */
  const number = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  /** @param {number} pct */
  const latency = (pct) => {
    const m = new RegExp(`^\\s*${pct}%\\s+([0-9.]+(?:us|ms|s|m))\\s*$`, 'm').exec(text);
    return m?.[1] ? toMs(m[1]) : NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: number(/^Requests\/sec:\s+([0-9.]+)/m),
    requests: number(/^\s*(\d+) requests in/m),
    p50: latency(50),
    p99: latency(99),
    non2xx: number(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    socketErrorText: socket ? socket[0] : '',
  };
}

/**
 * One wrk run; `script`: a Lua file (wrk -s), e.g. one that makes every request a POST.
 * @param {string} wrk
 * @param {string} url
 * @param {WrkOptions} options
 * @returns {Promise<Run>}
 */
export function runWrk(wrk, url, { threads, connections, duration, script }) {
  return new Promise((resolve, reject) => {
    const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--latency', ...(script ? ['-s', script] : []), url];
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} exited with ${signal ?? code}:\n${out}`));
      const result = parseWrk(out);
      if (!Number.isFinite(result.rps)) return reject(new Error(`could not read wrk's output:\n${out}`));
      resolve({ ...result, raw: out });
    });
  });
}

// ---- rounds --------------------------------------------------------------------------------

/**
 * Warm-up (options.warmup seconds each), then options.rounds rounds of one wrk run per
 * setup, the order rotated every round (a, b, c; b, c, a; …) so drifting machine noise
 * hits every setup alike. Fills setup.runs; one progress line per run on stderr.
 *
 * A setup's own `wrk` options (connections, threads, script) override `options`.
 * With `cpu: { nginxPid }`, each run also records the CPU seconds per request of the
 * setup's backend (setup.cpuPids(): the root pids whose process trees make the backend;
 * none: NaN) and of nginx (master and workers; setup.nginxPid overrides cpu.nginxPid), from
 * /proc: run.backendCpuUs, run.nginxCpuUs. Without an nginx pid (no nginx in front), only
 * the backend's. With `countAccepts`,
 * run.accepts is the number of TCP connections the machine accepted during the run (a
 * system-wide count: wrk's connections, plus one per request when the server does not
 * keep them).
 * Stops early when `isInterrupted()`; throws if a backend dies.
 * @param {Measured[]} measured
 * @param {RoundOptions} options
 * @param {string} wrk
 * @param {{ cpu?: { nginxPid?: number }, countAccepts?: boolean, isInterrupted?: () => boolean }} [how]
 */
export async function runRounds(measured, options, wrk, { cpu, countAccepts = false, isInterrupted = () => false } = {}) {
  if (options.warmup > 0) {
    for (const setup of measured) await runWrk(wrk, setup.url, { ...options, ...setup.wrk, duration: options.warmup });
  }
  /** @param {Array<number | undefined>} pids */
  const cpuOf = (pids) => (pids.length ? pids.map(treeCpuSeconds).reduce((sum, seconds) => sum + seconds, 0) : NaN);
  for (const setup of measured) setup.runs = [];
  for (let round = 0; round < options.rounds && !isInterrupted(); round++) {
    const shift = round % measured.length;
    const order = [...measured.slice(shift), ...measured.slice(0, shift)];
    for (const setup of order) {
      const nginxPid = setup.nginxPid ?? cpu?.nginxPid;
      const cpuPids = () => setup.cpuPids?.() ?? [];
      const before = cpu && { backend: cpuOf(cpuPids()), nginx: treeCpuSeconds(nginxPid) };
      const acceptsBefore = countAccepts ? tcpPassiveOpens() : NaN;
      const run = await runWrk(wrk, setup.url, { ...options, ...setup.wrk });
      if (countAccepts) run.accepts = tcpPassiveOpens() - acceptsBefore;
      if (cpu && before) {
        /** @param {number} seconds */
        const perRequestUs = (seconds) => (run.requests > 0 ? (seconds * 1e6) / run.requests : NaN);
        run.backendCpuUs = perRequestUs(cpuOf(cpuPids()) - before.backend);
        run.nginxCpuUs = perRequestUs(treeCpuSeconds(nginxPid) - before.nginx);
      }
      (setup.runs ??= []).push(run);
      const nginxCpuText = nginxPid !== undefined ? `, nginx ${fmtUs(run.nginxCpuUs)}` : '';
      const cpuText = cpu ? `, CPU/req: backend ${fmtUs(run.backendCpuUs)}${nginxCpuText}` : '';
      const acceptsText = countAccepts ? `, ${run.accepts} TCP connections accepted` : '';
      process.stderr.write(
        `round ${round + 1}/${options.rounds} ${setup.key}: ${fmtRps(run.rps)} req/s, p50 ${fmtMs(run.p50)}, p99 ${fmtMs(run.p99)}${cpuText}${acceptsText}${run.non2xx || run.socketErrors ? `, ERRORS: ${run.non2xx} non-2xx, ${run.socketErrorText}` : ''}\n`,
      );
      if (exited(setup.backend.child)) {
        throw new Error(`${setup.label} died during the run:\n${tail(setup.backend.output(), 20)}`);
      }
    }
  }
}

// ---- statistics and output -------------------------------------------------------------------

/**
 * The median of the finite values, or NaN if there are none.
 * @param {Array<number | undefined>} values
 * @returns {number}
 */
export function median(values) {
  const sorted = values
    .filter((n) => typeof n === 'number')
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** @param {number | undefined} n */
export const fmtRps = (n) => (typeof n === 'number' && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
/** @param {number | undefined} n */
export const fmtMs = (n) => (typeof n === 'number' && Number.isFinite(n) ? `${n < 1 ? n.toFixed(3) : n.toFixed(2)} ms` : 'n/a');
/** @param {number | undefined} n */
export const fmtUs = (n) => (typeof n === 'number' && Number.isFinite(n) ? `${n < 10 ? n.toFixed(1) : Math.round(n)} µs` : 'n/a');
/** @param {number} n */
export const fmtRatio = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');

/**
 * Medians of each setup's runs: setup.rps, .p50, .p99, .errors (and .backendCpuUs, .nginxCpuUs).
 * @param {Measured[]} measured
 */
export function summarize(measured) {
  for (const setup of measured) {
    const runs = setup.runs ?? [];
    /** @param {'rps' | 'p50' | 'p99' | 'backendCpuUs' | 'nginxCpuUs'} field */
    const of = (field) => median(runs.map((r) => r[field]));
    setup.rps = of('rps');
    setup.p50 = of('p50');
    setup.p99 = of('p99');
    setup.backendCpuUs = of('backendCpuUs');
    setup.nginxCpuUs = of('nginxCpuUs');
    setup.errors = runs.reduce((sum, r) => sum + r.non2xx + r.socketErrors, 0);
  }
}

/**
 * The line that says where and how the numbers were taken (`nginxBin` null: no nginx).
 * @param {string | null} nginxBin
 * @param {RoundOptions & { 'nginx-workers': number }} options
 * @param {string} [wrkArgs]
 */
export function environmentLine(nginxBin, options, wrkArgs = `-t${options.threads} -c${options.connections} -d${options.duration}s --latency`) {
  const cpus = os.cpus();
  const nginx = nginxBin === null ? '' : `${nginxVersion(nginxBin)} (${options['nginx-workers']} worker), `;
  return `${nginx}wrk ${wrkArgs}, ${options.rounds} round(s) interleaved, ${options.warmup}s warm-up; ${cpus.length} CPUs (${cpus[0]?.model?.trim() ?? '?'}), ${os.platform()} ${os.release()}`;
}

/**
 * Runs the rounds of `measured` and prints their table, with the backend's CPU per
 * request; false (and exit code 1) when nothing is left to measure.
 * @param {Measured[]} measured
 * @param {RoundOptions} options
 * @param {string} wrk
 * @param {(text: string) => void} say
 * @param {() => boolean} isInterrupted
 */
export async function measureBackends(measured, options, wrk, say, isInterrupted) {
  if (measured.length === 0) {
    say('nothing measured.');
    process.exitCode = 1;
    return false;
  }
  await runRounds(measured, options, wrk, { cpu: {}, isInterrupted });
  summarize(measured);
  for (const line of tableLines(measured, { cpu: true, nginxCpu: false })) say(line);
  say('');
  return true;
}

/**
 * The summary table (markdown), as lines; `cpu` adds the CPU-per-request columns (`nginxCpu`
 * false: the backend's only), `extra` more columns before the per-round req/s:
 * [{ header, cell: (setup) => text }] (right-aligned).
 * @param {Measured[]} measured
 * @param {{ cpu?: boolean, nginxCpu?: boolean, extra?: Array<{ header: string, cell: (setup: Measured) => string }> }} [how]
 */
export function tableLines(measured, { cpu = false, nginxCpu = cpu, extra = [] } = {}) {
  /** @type {Array<{ header: string, cell: (setup: Measured) => string }>} */
  const columns = [
    ...(cpu ? [{ header: 'backend CPU/req', cell: (/** @type {Measured} */ s) => fmtUs(s.backendCpuUs) }] : []),
    ...(cpu && nginxCpu ? [{ header: 'nginx CPU/req', cell: (/** @type {Measured} */ s) => fmtUs(s.nginxCpuUs) }] : []),
    ...extra,
  ];
  const lines = [];
  lines.push(`| server | req/s (median) | p50 latency | p99 latency |${columns.map((c) => ` ${c.header} |`).join('')} req/s per round | errors |`);
  lines.push(`|---|---:|---:|---:|${columns.map(() => '---:|').join('')}---|---:|`);
  for (const s of measured) {
    lines.push(
      `| ${s.label} | ${fmtRps(s.rps)} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} |${columns.map((c) => ` ${c.cell(s)} |`).join('')} ${(s.runs ?? []).map((r) => fmtRps(r.rps)).join(', ')} | ${s.errors} |`,
    );
  }
  return lines;
}

/**
 * "tsgi / uWSGI (median req/s): **1.23×**", or why there is no ratio. `subject` and
 * `baseline` are setups (undefined when skipped) or { name } placeholders.
 * @param {Measured | { name: string } | undefined} subject
 * @param {Measured | { name: string } | undefined} baseline
 * @param {[string, string]} names
 */
export function ratioLine(subject, baseline, names) {
  if (subject && 'runs' in subject && subject.runs && baseline && 'runs' in baseline && baseline.runs)
    return `${names[0]} / ${names[1]} (median req/s): **${(Number(subject.rps) / Number(baseline.rps)).toFixed(2)}×**`;
  const ran = (/** @type {typeof subject} */ setup) => Boolean(setup && 'runs' in setup && setup.runs);
  const missing = [!ran(subject) && names[0], !ran(baseline) && names[1]].filter(Boolean);
  return `${names[0]} / ${names[1]}: n/a (${missing.join(' and ')} ${missing.length > 1 ? 'were' : 'was'} skipped, see above)`;
}

/**
 * The warning about errors during the runs, as lines (none if there were none).
 * @param {Measured[]} measured
 * @param {import('../../scripts/lib/nginx.mjs').Nginx} nginx
 */
export function errorWarningLines(measured, nginx) {
  const withErrors = measured.filter((s) => (s.runs ?? []).some((r) => r.non2xx || r.socketErrors));
  if (!withErrors.length) return [];
  return ['', `WARNING: errors during the runs (${withErrors.map((s) => s.key).join(', ')}); nginx error.log:\n${tail(nginx.errorLog(), 10)}`];
}
