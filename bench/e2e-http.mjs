#!/usr/bin/env node
/**
 * End-to-end requests/s over HTTP/1.1 straight to the server (no nginx): tsgi's HTTP
 * listener against Node's own node:http and uWSGI 2.0's HTTP sockets, side by side in one run.
 *
 *   npm run build && npm run bench:http
 *   node bench/e2e-http.mjs [--duration 10] [--connections 50] [--threads 2] [--rounds 3]
 *                           [--warmup 2] [--uwsgi-threads 0]
 *                           [--only tsgi,tsgi-pure,node-http,uwsgi-http11,uwsgi-http] [--json]
 *
 * What it measures: wrk (keep-alive HTTP/1.1, `-t2 -c50 -d10s` by default) against each
 * server's own port, one hello world each, serving from one process:
 *   tsgi:         node dist/cli.js --http-socket 127.0.0.1:PORT --module bench/apps/hello.mjs
 *   tsgi-pure:    the same with TSGI_NATIVE=0: the pure-TypeScript reactor (node:net and
 *                 the TypeScript codecs), the fallback where no binary fits
 *   node-http:    node bench/apps/hello-node-http.mjs PORT 127.0.0.1 (http.createServer)
 *   uwsgi-http11: uwsgi --plugin python3 --http11-socket 127.0.0.1:PORT --wsgi-file
 *                 bench/apps/hello.py --processes 1 --master --disable-logging --need-app
 *                 --die-on-term --listen N --threads 50 (--uwsgi-threads; 0: --connections)
 *   uwsgi-http:   the same with --http-socket, no --threads and --add-header
 *                 'Connection: close': no keep-alive, a new connection per request (uWSGI's
 *                 classic HTTP socket). It closes after each response without saying so;
 *                 wrk then sends its next request on the closed connection and counts a
 *                 read error per request. The header tells wrk to reconnect instead.
 * Why threads on the http11 socket: a uWSGI core that has answered on a kept-alive
 * connection waits on that connection for the next request (until the client closes it or
 * --socket-timeout), it does not go back to accept(). With one core, wrk's first
 * connection is served in a tight loop and the other 49 are never answered (wrk does not
 * even count them as timeouts: the numbers look great and mean nothing). So the http11
 * setup gets a thread per wrk connection (one process; the GIL serializes the app calls).
 * (--async 50, with or without --ugreen, is no way out: an http11 socket then answered
 * 2 to 3 req/s with read errors, in uWSGI 2.0.21.)
 *
 * All answer 200 with the same 14-byte "Hello, World!\n", Content-Type text/plain and a
 * Content-Length; each is checked before it is measured, and whether it keeps the
 * connection: three sequential requests on one keep-alive client, counting the TCP
 * connections they took. During each run the machine's accepted TCP connections are
 * counted (/proc/net/snmp PassiveOpens, system-wide): wrk's 50 with keep-alive, one per
 * request without. Runs are interleaved (the order rotates every round) and repeated; the
 * table shows medians of req/s, wrk's p50/p99 latency and the backend's CPU time per
 * request (its process tree, from /proc/PID/stat), then the ratios of tsgi against each
 * baseline. wrk and the server share the machine's CPUs: compare the ratios, not the
 * absolute numbers.
 *
 * --json prints the results as JSON on stdout (the report then goes to stderr).
 * A missing wrk, uwsgi (or its python3 plugin) or an unbuilt dist/ (or a tsgi without
 * --http-socket) is reported and that setup skipped, never silently.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkSetup,
  children,
  connectionsForSequentialRequests,
  environmentLine,
  fmtRatio,
  fmtRps,
  killAll,
  median,
  optionParser,
  ratioLine,
  runRounds,
  somaxconn,
  startBackend,
  summarize,
  tableLines,
  tsgiBenchFlags,
  wanted,
} from './lib/e2e.mjs';
import { findExecutable, freePort, stopProcess } from './lib/nginx.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';
const KEYS = ['tsgi', 'tsgi-pure', 'node-http', 'uwsgi-http11', 'uwsgi-http'];
/** Short names, for the ratios. */
const NAMES = { tsgi: 'tsgi', 'tsgi-pure': 'tsgi pure-TypeScript', 'node-http': 'node:http', 'uwsgi-http11': 'uWSGI http11-socket', 'uwsgi-http': 'uWSGI http-socket' };
/** Whether the setup is meant to keep connections. */
const KEEPS = { tsgi: true, 'tsgi-pure': true, 'node-http': true, 'uwsgi-http11': true, 'uwsgi-http': false };

const { parse: parseOptions } = optionParser({
  script: 'e2e-http',
  defaults: { duration: 10, connections: 50, threads: 2, rounds: 3, warmup: 2, 'uwsgi-threads': 0, only: '' },
  only: KEYS,
  flags: ['json'],
  minimums: { warmup: 0, 'uwsgi-threads': 0 },
});

const uwsgiVersion = (bin) => (spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout || '').trim() || '?';

/** The command line of each setup: [command, args]. */
function commandOf(setup, port, options, bins) {
  const addr = `127.0.0.1:${port}`;
  if (setup.key.startsWith('tsgi')) return [process.execPath, [bins.cli, '--http-socket', addr, '--module', path.join(root, 'bench/apps/hello.mjs'), ...tsgiBenchFlags()]];
  if (setup.key === 'node-http') return [process.execPath, [path.join(root, 'bench/apps/hello-node-http.mjs'), String(port), '127.0.0.1']];
  const http11 = setup.key === 'uwsgi-http11';
  const args = ['--plugin', 'python3', http11 ? '--http11-socket' : '--http-socket', addr, '--wsgi-file', path.join(root, 'bench/apps/hello.py')];
  args.push('--processes', '1', '--master', '--disable-logging', '--need-app', '--die-on-term', '--listen', String(Math.min(1024, somaxconn())));
  if (http11) args.push('--threads', String(options['uwsgi-threads'] || options.connections));
  else args.push('--add-header', 'Connection: close');
  return [bins.uwsgi, args];
}

const keepAliveText = (s) =>
  s.connectionsFor3 === 1 ? 'kept (3 sequential requests on 1 connection)' : `NOT kept (3 sequential requests took ${s.connectionsFor3} connections)`;

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const skipped = []; // [setup, reason]
  const say = (text) => (options.json ? process.stderr : process.stdout).write(`${text}\n`);

  const wrk = findExecutable('wrk');
  if (!wrk) {
    say('e2e-http: SKIPPED every setup: wrk not installed (apt-get install wrk); nothing measured.');
    process.exitCode = 1;
    return;
  }

  // Which servers can run.
  const bins = { cli: path.join(root, 'dist/cli.js'), uwsgi: findExecutable('uwsgi') };
  const uwsgiThreads = options['uwsgi-threads'] || options.connections;
  const uwsgiLabel = bins.uwsgi && `uWSGI ${uwsgiVersion(bins.uwsgi)} (python3)`;
  const candidates = {
    tsgi: [existsSync(bins.cli) && existsSync(path.join(root, 'prebuilds')) ? true : 'dist/cli.js or prebuilds/ missing: run npm run build first', `tsgi, native reactor (node ${process.version})`],
    'tsgi-pure': [existsSync(bins.cli) ? true : 'dist/cli.js missing: run npm run build first', `tsgi, pure-TypeScript reactor, TSGI_NATIVE=0 (node ${process.version})`],
    'node-http': [true, `node:http (node ${process.version})`],
    'uwsgi-http11': [bins.uwsgi ? true : 'uwsgi not installed (apt-get install uwsgi uwsgi-plugin-python3)', `${uwsgiLabel}, --http11-socket, ${uwsgiThreads} thread${uwsgiThreads > 1 ? 's' : ''}`],
    'uwsgi-http': [bins.uwsgi ? true : 'uwsgi not installed (apt-get install uwsgi uwsgi-plugin-python3)', `${uwsgiLabel}, --http-socket (no keep-alive, Connection: close)`],
  };
  const setups = [];
  for (const [key, [available, label]] of Object.entries(candidates)) {
    if (!wanted(options, key)) skipped.push([NAMES[key], `--only ${options.only.join(',')}`]);
    else if (available !== true) skipped.push([NAMES[key], available]);
    else setups.push({ key, name: NAMES[key], label });
  }

  const cleanup = async () => {
    for (const setup of setups) if (setup.backend) await stopProcess(setup.backend.child, { signal: 'SIGINT', graceMs: 3_000 });
    for (const child of children) await stopProcess(child, { signal: 'SIGINT', graceMs: 1_000 });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\ne2e-http: interrupted, stopping everything');
    cleanup().finally(() => process.exit(130));
  });

  try {
    // Start each server, check its answer and whether it keeps the connection.
    for (const setup of setups) {
      const port = await freePort();
      const [command, args] = commandOf(setup, port, options, bins);
      setup.command = [command === process.execPath ? 'node' : command, ...args.map((a) => (path.isAbsolute(a) && a.startsWith(root) ? path.relative(root, a) : / /.test(a) ? `'${a}'` : a))].join(' ');
      try {
        const env = { ...process.env, TSGI_NATIVE: setup.key === 'tsgi-pure' ? '0' : '' };
        setup.backend = await startBackend(setup.name, command, args, port, { cwd: root, env });
        setup.cpuPids = () => [setup.backend.child.pid];
        setup.url = `http://127.0.0.1:${port}/`;
        const reply = await checkSetup(setup, null, EXPECTED_BODY);
        const length = reply.headers['content-length'];
        setup.response = `${reply.status}, Content-Type: ${reply.headers['content-type'] ?? '(none)'}, ${length !== undefined ? `Content-Length: ${length}` : `no Content-Length (${reply.headers['transfer-encoding'] ?? '?'})`}`;
        setup.connectionsFor3 = await connectionsForSequentialRequests(setup.url, 3);
      } catch (error) {
        const reason = setup.key.startsWith('tsgi') && /unknown option --http-socket/.test(error.message) ? `this build of tsgi has no --http-socket (npm run build):\n${error.message}` : error.message;
        skipped.push([setup.label, `did not start or answer: ${reason}`]);
        setup.failed = true;
      }
    }
    const measured = setups.filter((s) => !s.failed);

    say('# tsgi vs node:http vs uWSGI over HTTP/1.1, wrk straight to the server (no nginx), hello world');
    say('');
    say(environmentLine(null, options));
    for (const [setup, reason] of skipped) say(`SKIPPED ${setup}: ${reason}`);
    for (const s of measured) say(`${s.key}: ${s.label}; response ${s.response}; connection ${keepAliveText(s)}\n  ${s.command}`);
    const notKept = measured.filter((s) => KEEPS[s.key] && s.connectionsFor3 !== 1);
    if (measured.some((s) => s.key === 'uwsgi-http11') && uwsgiThreads < options.connections) {
      say(`WARNING: uwsgi-http11 has ${uwsgiThreads} thread(s) for ${options.connections} wrk connections: each thread stays on its kept connection, the other ${options.connections - uwsgiThreads} connections are never answered (wrk does not count them as errors); its req/s is that of ${uwsgiThreads} connection(s)`);
    }
    for (const s of notKept) say(`WARNING: ${s.key} is meant to keep connections and did not: its numbers include a TCP connection per request`);
    say('');
    if (measured.length === 0) {
      say('nothing measured.');
      if (options.json) process.stdout.write(`${JSON.stringify({ benchmark: 'e2e-http', skipped: skipped.map(([setup, reason]) => ({ setup, reason })), results: [] }, null, 2)}\n`);
      process.exitCode = 1;
      return;
    }

    await runRounds(measured, options, wrk, { cpu: {}, countAccepts: true, isInterrupted: () => interrupted });

    summarize(measured);
    for (const s of measured) s.accepts = median(s.runs.map((r) => r.accepts));
    for (const line of tableLines(measured, { cpu: true, nginxCpu: false, extra: [{ header: 'TCP accepts/run (machine-wide)', cell: (s) => fmtRps(s.accepts) }] })) say(line);
    say('');
    const tsgi = measured.find((s) => s.key === 'tsgi');
    const ratios = {};
    for (const key of KEYS.slice(1)) {
      const base = measured.find((s) => s.key === key);
      if (!base && !wanted(options, key)) continue;
      say(ratioLine(tsgi, base, ['tsgi', NAMES[key]]));
      if (tsgi && base) {
        const cpu = tsgi.backendCpuUs / base.backendCpuUs;
        say(`tsgi / ${NAMES[key]} (median backend CPU per request; lower: tsgi is cheaper): ${fmtRatio(cpu)}`);
        ratios[`tsgi/${key}`] = { rps: tsgi.rps / base.rps, backendCpuPerRequest: cpu };
      }
    }
    for (const s of measured) {
      const errors = s.runs.filter((r) => r.non2xx || r.socketErrors);
      if (errors.length) say(`\nWARNING: ${s.key}: errors seen by wrk (${errors.map((r) => `${r.non2xx} non-2xx, ${r.socketErrorText || 'no socket errors'}`).join('; ')})\n${s.backend.output().trim().split('\n').slice(-5).join('\n')}`);
    }

    if (options.json) {
      const round = (n, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);
      const report = {
        benchmark: 'e2e-http',
        options: { ...options, json: undefined },
        wrk: `-t${options.threads} -c${options.connections} -d${options.duration}s --latency`,
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model?.trim() ?? null, platform: `${os.platform()} ${os.release()}`, node: process.version },
        skipped: skipped.map(([setup, reason]) => ({ setup, reason })),
        results: measured.map((s) => ({
          key: s.key,
          label: s.label,
          command: s.command,
          response: s.response,
          connectionsFor3SequentialRequests: s.connectionsFor3,
          rps: round(s.rps),
          p50Ms: round(s.p50, 3),
          p99Ms: round(s.p99, 3),
          backendCpuUsPerRequest: round(s.backendCpuUs, 2),
          tcpAcceptsPerRun: round(s.accepts, 0),
          errors: s.errors,
          runs: s.runs.map((r) => ({
            rps: round(r.rps),
            requests: r.requests,
            p50Ms: round(r.p50, 3),
            p99Ms: round(r.p99, 3),
            backendCpuUsPerRequest: round(r.backendCpuUs, 2),
            tcpAccepts: r.accepts,
            non2xx: r.non2xx,
            socketErrors: r.socketErrors,
          })),
        })),
        ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, { rps: round(v.rps, 3), backendCpuPerRequest: round(v.backendCpuPerRequest, 3) }])),
      };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    }
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().catch((error) => {
  process.stderr.write(`e2e-http: ${error?.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});
