#!/usr/bin/env node
/**
 * End-to-end requests/s through nginx `uwsgi_pass`: tsgi against uWSGI 2.0 (python3).
 *
 *   npm run build && npm run bench:uwsgi
 *   node bench/e2e-uwsgi.mjs [--duration 10] [--connections 50] [--threads 2] [--rounds 3]
 *                            [--warmup 2] [--nginx-workers 1] [--only tsgi|uwsgi]
 *
 * What it measures: wrk (keep-alive HTTP/1.1, `-t2 -c50 -d10s` by default) against one
 * private nginx (bench/lib/nginx.mjs; one worker, access log off) whose `/tsgi/` and
 * `/uwsgi/` locations `uwsgi_pass` to, one process each:
 *   tsgi:  node dist/cli.js --socket 127.0.0.1:PORT --module bench/apps/hello.mjs
 *   uWSGI: uwsgi --plugin python3 --socket 127.0.0.1:PORT --wsgi-file bench/apps/hello.py
 *          --processes 1 --master --disable-logging (+ --need-app --die-on-term --listen)
 * Both apps return the same 14-byte hello world with a Content-Length. nginx opens a new
 * upstream connection per request (uwsgi has no keep-alive), so this is connection setup
 * + uwsgi parsing + app call + response, per request. Runs are interleaved (the order
 * alternates every round) and repeated; the table shows medians of req/s and of wrk's
 * p50/p99 latency, and the ratio tsgi/uWSGI. On a small machine wrk, nginx and the
 * server share the CPUs: compare the ratio, not the absolute numbers.
 *
 * A missing nginx, wrk, uwsgi (or its python3 plugin) or an unbuilt dist/ is reported
 * and that setup skipped, never silently.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, findNginx, freePort, nginxVersion, startNginx, stopProcess, waitForPort } from './lib/nginx.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';

// ---- options ----------------------------------------------------------------------------

const DEFAULTS = { duration: 10, connections: 50, threads: 2, rounds: 3, warmup: 2, 'nginx-workers': 1, only: '' };

function usage() {
  return `usage: node bench/e2e-uwsgi.mjs [--duration SECONDS] [--connections N] [--threads N] [--rounds N] [--warmup SECONDS] [--nginx-workers N] [--only tsgi|uwsgi]
defaults: ${Object.entries(DEFAULTS)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `--${k} ${v}`)
    .join(' ')}\n`;
}

function parseOptions(argv) {
  const options = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write(usage());
      process.exit(0);
    }
    if (!match || !(match[1] in DEFAULTS)) {
      process.stderr.write(`e2e-uwsgi: unknown argument ${argv[i]}\n${usage()}`);
      process.exit(2);
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) {
      process.stderr.write(`e2e-uwsgi: --${match[1]} needs a value\n`);
      process.exit(2);
    }
    if (match[1] === 'only') {
      if (!['tsgi', 'uwsgi'].includes(value)) {
        process.stderr.write(`e2e-uwsgi: --only takes tsgi or uwsgi, got ${value}\n`);
        process.exit(2);
      }
      options.only = value;
      continue;
    }
    const n = Number(value);
    const min = match[1] === 'warmup' ? 0 : 1;
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`e2e-uwsgi: --${match[1]} must be a whole number >= ${min}, got ${value}\n`);
      process.exit(2);
    }
    options[match[1]] = n;
  }
  if (options.threads > options.connections) options.threads = options.connections;
  return options;
}

// ---- processes -----------------------------------------------------------------------------

const children = new Set();

/** Starts a backend and waits for its port; returns { child, output() } or throws with its output. */
async function startBackend(name, command, args, port) {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const keep = (d) => {
    output += d;
    if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const spawnFailed = new Promise((_, reject) => child.once('error', (e) => reject(new Error(`${command}: ${e.message}`))));
  spawnFailed.catch(() => {});
  try {
    await Promise.race([
      waitForPort(port, { child, timeoutMs: 15_000, describe: () => `${name} output:\n${output.trim().split('\n').slice(-25).join('\n') || '(none)'}` }),
      spawnFailed,
    ]);
  } catch (error) {
    await stopProcess(child, { signal: 'SIGINT', graceMs: 2_000 });
    throw error;
  }
  return { name, child, output: () => output };
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`${url}: no response within 5 s`)));
    req.on('error', reject);
  });
}

// ---- wrk ------------------------------------------------------------------------------------

/** Milliseconds from wrk's "1.23ms" / "456.00us" / "1.02s" / "2.00m". */
function toMs(text) {
  const m = /^([0-9.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
  return Number(m[1]) * factor;
}

function parseWrk(text) {
  const number = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const latency = (pct) => {
    const m = new RegExp(`^\\s*${pct}%\\s+([0-9.]+(?:us|ms|s|m))\\s*$`, 'm').exec(text);
    return m ? toMs(m[1]) : NaN;
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

function runWrk(wrk, url, { threads, connections, duration }) {
  return new Promise((resolve, reject) => {
    const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--latency', url];
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

// ---- statistics and output -------------------------------------------------------------------

function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmtRps = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmtMs = (n) => (Number.isFinite(n) ? `${n < 1 ? n.toFixed(3) : n.toFixed(2)} ms` : 'n/a');

function uwsgiVersion(bin) {
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return (result.stdout || '').trim() || '?';
}

function somaxconn() {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) || 128;
  } catch {
    return 128;
  }
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const skipped = []; // [setup, reason]
  const say = (text) => process.stdout.write(`${text}\n`);

  const nginxBin = findNginx();
  const wrk = findExecutable('wrk');
  if (!nginxBin || !wrk) {
    const missing = [!nginxBin && 'nginx (apt-get install nginx, or NGINX=/path)', !wrk && 'wrk (apt-get install wrk)'].filter(Boolean);
    say(`e2e-uwsgi: SKIPPED every setup: ${missing.join(' and ')} not installed; nothing measured.`);
    process.exitCode = 1;
    return;
  }

  // Which backends can run.
  const setups = [];
  const wanted = (name) => !options.only || options.only === name;
  const cli = path.join(root, 'dist/cli.js');
  if (!wanted('tsgi')) skipped.push(['tsgi', '--only uwsgi']);
  else if (!existsSync(cli) || !existsSync(path.join(root, 'native'))) skipped.push(['tsgi', `${path.relative(root, cli)} or native/ missing: run npm run build first`]);
  else setups.push({ key: 'tsgi', label: `tsgi (node ${process.version})` });
  const uwsgiBin = findExecutable('uwsgi');
  if (!wanted('uwsgi')) skipped.push(['uwsgi', '--only tsgi']);
  else if (!uwsgiBin) skipped.push(['uWSGI', 'uwsgi not installed (apt-get install uwsgi uwsgi-plugin-python3)']);
  else setups.push({ key: 'uwsgi', label: `uWSGI ${uwsgiVersion(uwsgiBin)} (python3)` });

  let nginx;
  const backends = new Map();
  const cleanup = async () => {
    await nginx?.stop().catch(() => {});
    for (const backend of backends.values()) await stopProcess(backend.child, { signal: 'SIGINT', graceMs: 3_000 });
    for (const child of children) await stopProcess(child, { signal: 'SIGINT', graceMs: 1_000 });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\ne2e-uwsgi: interrupted, stopping everything');
    cleanup().finally(() => process.exit(130));
  });

  try {
    // Start the backends: one process each.
    for (const setup of setups) {
      const port = await freePort();
      try {
        if (setup.key === 'tsgi') {
          setup.backend = await startBackend('tsgi', process.execPath, [cli, '--socket', `127.0.0.1:${port}`, '--module', path.join(root, 'bench/apps/hello.mjs')], port);
        } else {
          const listen = Math.min(1024, somaxconn());
          setup.backend = await startBackend(
            'uWSGI',
            uwsgiBin,
            ['--plugin', 'python3', '--socket', `127.0.0.1:${port}`, '--wsgi-file', path.join(root, 'bench/apps/hello.py'), '--processes', '1', '--master', '--disable-logging', '--need-app', '--die-on-term', '--listen', String(listen)],
            port,
          );
        }
        setup.port = port;
        backends.set(setup.key, setup.backend);
      } catch (error) {
        skipped.push([setup.label, `did not start: ${error.message}`]);
        setup.failed = true;
      }
    }
    const live = setups.filter((s) => !s.failed);

    if (live.length > 0) {
      nginx = await startNginx({
        nginx: nginxBin,
        workerProcesses: options['nginx-workers'],
        workerConnections: Math.max(4096, options.connections * 4),
        errorLogLevel: 'warn',
        accessLog: false,
        locations: live.map((s) => ({ path: `/${s.key}/`, uwsgiPass: `127.0.0.1:${s.port}` })),
      });
    }

    // Check each chain answers with the hello world before measuring it.
    for (const setup of live) {
      setup.url = nginx.url(`/${setup.key}/`);
      try {
        const reply = await get(setup.url);
        if (reply.status !== 200 || reply.body !== EXPECTED_BODY) throw new Error(`expected 200 ${JSON.stringify(EXPECTED_BODY)}, got ${reply.status} ${JSON.stringify(reply.body.slice(0, 200))}`);
      } catch (error) {
        skipped.push([setup.label, `check request through nginx failed: ${error.message}\n${setup.backend.output().trim().split('\n').slice(-15).join('\n')}\nnginx error.log:\n${nginx.errorLog().trim().split('\n').slice(-10).join('\n')}`]);
        setup.failed = true;
      }
    }
    const measured = live.filter((s) => !s.failed);

    say(`# tsgi vs uWSGI behind nginx (uwsgi_pass), hello world`);
    say('');
    say(`${nginxVersion(nginxBin)} (${options['nginx-workers']} worker), wrk -t${options.threads} -c${options.connections} -d${options.duration}s --latency, ${options.rounds} round(s) interleaved, ${options.warmup}s warm-up; ${os.cpus().length} CPUs (${os.cpus()[0]?.model?.trim() ?? '?'}), ${os.platform()} ${os.release()}`);
    for (const [setup, reason] of skipped) say(`SKIPPED ${setup}: ${reason}`);
    say('');
    if (measured.length === 0) {
      say('nothing measured.');
      process.exitCode = 1;
      return;
    }

    if (options.warmup > 0) {
      for (const setup of measured) await runWrk(wrk, setup.url, { ...options, duration: options.warmup });
    }
    for (const setup of measured) setup.runs = [];
    for (let round = 0; round < options.rounds && !interrupted; round++) {
      const order = round % 2 === 0 ? measured : [...measured].reverse();
      for (const setup of order) {
        const run = await runWrk(wrk, setup.url, options);
        setup.runs.push(run);
        process.stderr.write(`round ${round + 1}/${options.rounds} ${setup.key}: ${fmtRps(run.rps)} req/s, p50 ${fmtMs(run.p50)}, p99 ${fmtMs(run.p99)}${run.non2xx || run.socketErrors ? `, ERRORS: ${run.non2xx} non-2xx, ${run.socketErrorText}` : ''}\n`);
        if (setup.backend.child.exitCode !== null || setup.backend.child.signalCode !== null) {
          throw new Error(`${setup.label} died during the run:\n${setup.backend.output().trim().split('\n').slice(-20).join('\n')}`);
        }
      }
    }

    say('| server | req/s (median) | p50 latency | p99 latency | req/s per round | errors |');
    say('|---|---:|---:|---:|---|---:|');
    for (const setup of measured) {
      setup.rps = median(setup.runs.map((r) => r.rps));
      const errors = setup.runs.reduce((sum, r) => sum + r.non2xx + r.socketErrors, 0);
      say(`| ${setup.label} | ${fmtRps(setup.rps)} | ${fmtMs(median(setup.runs.map((r) => r.p50)))} | ${fmtMs(median(setup.runs.map((r) => r.p99)))} | ${setup.runs.map((r) => fmtRps(r.rps)).join(', ')} | ${errors} |`);
    }
    const tsgi = measured.find((s) => s.key === 'tsgi');
    const uwsgi = measured.find((s) => s.key === 'uwsgi');
    say('');
    if (tsgi && uwsgi) say(`tsgi / uWSGI (median req/s): **${(tsgi.rps / uwsgi.rps).toFixed(2)}×**`);
    else say(`tsgi / uWSGI: n/a (${tsgi ? 'uWSGI' : 'tsgi'} was skipped, see above)`);
    const withErrors = measured.filter((s) => s.runs.some((r) => r.non2xx || r.socketErrors));
    if (withErrors.length) {
      say('');
      say(`WARNING: errors during the runs (${withErrors.map((s) => s.key).join(', ')}); nginx error.log:\n${nginx.errorLog().trim().split('\n').slice(-10).join('\n')}`);
    }
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().catch((error) => {
  process.stderr.write(`e2e-uwsgi: ${error?.stack ?? error}\n`);
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  process.exitCode = 1;
});
