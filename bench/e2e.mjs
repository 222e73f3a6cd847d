#!/usr/bin/env node
/**
 * End to end: tsgi against the servers people would otherwise use, through a real nginx
 * and direct, in one run (issue 9). Every setup (bench/e2e/setups.mjs) serves the same app
 * (bench/apps/hello.mjs and its twins) three ways, each at 1 and at 50 connections:
 *   hello: GET …/hello → "Hello, World!\n"     64k: GET …/64k → 64 KiB
 *   post:  POST …/post with 1 MiB (wrk's Lua script) → "received 1048576 bytes\n"
 * One private nginx (scripts/lib/nginx.mjs: one worker, no access log, buffers that hold a
 * 64 KiB response and a 1 MiB body in memory) has a location per setup behind it; the
 * direct ones get wrk on their own port. Each (setup, workload, connections) is checked
 * for the right answer, then measured with wrk in rounds, interleaved (the order rotates
 * every round, so drifting machine noise hits all alike); the medians of req/s, p50, p99
 * and the CPU time per request of nginx and of the backend (process trees, from /proc).
 *
 *   npm run build && npm run bench:e2e                # everything, ~25 min; writes bench/results/
 *   npm run bench:quick                               # hello at 50 connections, 1 round, < 2 min
 *   node bench/e2e.mjs [--duration 4] [--rounds 3] [--warmup 1] [--connections 1,50]
 *                      [--workloads hello,64k,post] [--only KEY,...] [--nginx-workers 1]
 *                      [--no-install] [--no-write] [--quick]
 *
 * Missing peers are installed (apt-get: nginx, wrk, uwsgi + uwsgi-plugin-python3, php-fpm;
 * npm: node-fastcgi) unless --no-install or --quick; a setup that still cannot run is
 * listed as SKIPPED with the reason, never dropped silently. The full run writes
 * bench/results/e2e.json, e2e.md and e2e.svg (not with --quick, --no-write, nor when
 * --only, --workloads or --connections narrow it), and
 * `node scripts/render-performance.mjs` puts them into docs/benchmarks.md. --quick never fails: it is a regression
 * guard for CI that prints the ratios, not a gate.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePeers } from './e2e/peers.mjs';
import { QUICK_SETUPS, SETUPS } from './e2e/setups.mjs';
import { children, optionParser, runBenchmark, runRounds, summarize, tail } from './lib/e2e.mjs';
import { machineInfo } from './lib/machine.mjs';
import { startNginx } from '../scripts/lib/nginx.mjs';
import { stopProcess } from '../scripts/lib/processes.mjs';
import { e2eMarkdown, e2eSvg } from './lib/report.mjs';

/**
 * A setup being run: its label for these versions, and what its start() gave.
 * @typedef {Omit<import('./e2e/setups.mjs').Setup, 'label'> & { label: string, failed?: boolean, cpuPids?: () => Array<number | undefined> } & Partial<import('./e2e/setups.mjs').Started>} Running
 */

/**
 * A cell: one setup, workload and connection count, measured by runRounds.
 * @typedef {import('./lib/e2e.mjs').Measured & { setup: Running, workload: string, connections: number }} Cell
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const POST_BYTES = 1 << 20;
/** @type {Record<string, { method?: string, expect: string }>} */
const WORKLOADS = {
  hello: { expect: 'Hello, World!\n' },
  '64k': { expect: 'x'.repeat(64 * 1024) },
  post: { method: 'POST', expect: `received ${POST_BYTES} bytes\n` },
};

const { parse: parseOptions } = optionParser({
  script: 'e2e',
  defaults: { duration: 4, rounds: 3, warmup: 1, connections: [1, 50], workloads: Object.keys(WORKLOADS), 'nginx-workers': 1, only: '' },
  only: SETUPS.map((s) => s.key),
  flags: ['quick', 'no-install', 'no-write'],
  minimums: { warmup: 0 },
  lists: { workloads: Object.keys(WORKLOADS), connections: null },
});

/**
 * --quick: the regression guard's settings, whatever else was given.
 * @param {ReturnType<typeof parseOptions>} options
 */
function quickOptions(options) {
  return { ...options, duration: 3, rounds: 1, warmup: 1, connections: [50], workloads: ['hello'], only: options.only.length ? options.only : QUICK_SETUPS };
}

/**
 * One request, the way a check needs it: { status, body }. A fresh connection each.
 * @param {string} url
 * @param {{ method?: string, body?: Buffer }} [options]
 * @returns {Promise<{ status: number | undefined, body: string }>}
 */
function request(url, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } : {} },
      (res) => {
        let text = '';
        res.setEncoding('latin1').on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('no response within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const say = (text = '') => process.stdout.write(`${text}\n`);

async function main() {
  let options = parseOptions(process.argv.slice(2));
  const quick = options.quick;
  if (quick) options = quickOptions(options);
  // Only a run of every setup, workload and connection count replaces the committed results.
  const narrowed = process.argv.some((arg) => /^--(only|workloads|connections)\b/.test(arg));
  const writeResults = !quick && !narrowed && !options['no-write'];
  const peers = ensurePeers(root, { install: !quick && !options['no-install'] });
  const skipped = []; // { setup, reason }
  const wrk = peers.bins.wrk;
  if (!wrk) {
    say(`e2e: SKIPPED every setup: ${peers.missing.wrk}; nothing measured.`);
    process.exitCode = quick ? 0 : 1;
    return;
  }

  const cli = path.join(root, 'dist/cli.js');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsgi-e2e-'));
  /** @type {import('./e2e/setups.mjs').SetupContext} */
  const ctx = { root, cli, bins: peers.bins, app: (file) => path.join(root, 'bench/apps', file) };
  const chosen = SETUPS.filter((s) => options.only.length === 0 || options.only.includes(s.key));
  /** @type {Running[]} */
  const setups = [];
  for (const setup of chosen) {
    const missing = setup.needs.filter((peer) => peers.missing[peer]).map((peer) => peers.missing[peer]);
    if (setup.group === 'tsgi' && !existsSync(cli)) missing.push('dist/cli.js missing: run npm run build first');
    if (setup.key.startsWith('tsgi') && !existsSync(path.join(root, 'prebuilds')))
      missing.push('prebuilds/ missing (the native binding): run npm run build first');
    if (missing.length) skipped.push({ setup: setup.key, reason: missing.join('; ') });
    else setups.push({ ...setup, label: setup.label(peers.versions) });
  }

  /** @type {import('../scripts/lib/nginx.mjs').Nginx | undefined} */
  let nginx;
  const cleanup = async () => {
    await nginx?.stop().catch(() => {});
    for (const s of setups) if (s.backend) await stopProcess(s.backend.child, { signal: s.backend.stopSignal ?? 'SIGINT', graceMs: 3_000 });
    for (const child of children) await stopProcess(child, { signal: 'SIGINT', graceMs: 1_000 });
    rmSync(tmp, { recursive: true, force: true });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\ne2e: interrupted, stopping everything');
    cleanup().finally(() => process.exit(130));
  });

  try {
    for (const setup of setups) {
      try {
        Object.assign(setup, await setup.start(ctx));
        const own = setup.backend; // none for nginx alone: its CPU is nginx's column
        setup.cpuPids = () => (own ? [own.child.pid] : []);
      } catch (error) {
        skipped.push({ setup: setup.key, reason: `did not start: ${error instanceof Error ? error.message : error}` });
        setup.failed = true;
      }
    }
    const behindNginx = setups.filter((s) => !s.failed && s.via === 'nginx');
    if (behindNginx.length) {
      nginx = await startNginx({
        nginx: peers.bins.nginx ?? undefined,
        workerProcesses: options['nginx-workers'],
        workerConnections: 4096,
        errorLogLevel: 'warn',
        accessLog: false,
        // The 64 KiB response and the 1 MiB request body stay in memory, never in a temp file.
        httpExtra: 'client_body_buffer_size 2m; proxy_buffers 16 16k; fastcgi_buffers 16 16k; uwsgi_buffers 16 16k;',
        locations: behindNginx.map((s) => ({ path: `/${s.key}/`, ...s.upstream })),
      });
    }
    const postScript = path.join(tmp, 'post.lua');
    writeFileSync(
      postScript,
      `-- every request a POST of ${POST_BYTES} bytes\nwrk.method = "POST"\nwrk.body = string.rep("x", ${POST_BYTES})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
    );
    const postBody = Buffer.alloc(POST_BYTES, 'x');

    // The cells: (setup, workload, connections), each checked before it is measured.
    /** @type {Cell[]} */
    const cells = [];
    for (const setup of setups.filter((s) => !s.failed)) {
      const front = setup.via === 'nginx' ? nginx : undefined;
      if (setup.via === 'nginx' && !front) throw new Error(`${setup.key}: nginx is not running`);
      const base = front ? front.url(`/${setup.key}/`) : `http://127.0.0.1:${setup.port}/`;
      if (!setup.backend) {
        // nginx alone (no backend): nginx's own process is what is measured.
        if (!front) throw new Error(`${setup.key}: no backend and no nginx`);
        setup.backend = { child: front.child, output: front.errorLog };
      }
      for (const workload of options.workloads) {
        if (setup.workloads && !setup.workloads.includes(workload)) continue;
        const spec = WORKLOADS[workload];
        const url = `${base}${workload}`;
        try {
          const reply = await request(url, { method: spec.method, body: spec.method ? postBody : undefined });
          if (reply.status !== 200 || reply.body !== spec.expect)
            throw new Error(`expected 200 with ${spec.expect.length} bytes, got ${reply.status} ${JSON.stringify(reply.body.slice(0, 120))}`);
        } catch (error) {
          const nginxLog = front ? `\nnginx error.log:\n${tail(front.errorLog(), 5)}` : '';
          skipped.push({
            setup: `${setup.key} ${workload}`,
            reason: `check failed: ${error instanceof Error ? error.message : error}\n${tail(setup.backend.output(), 8)}${nginxLog}`,
          });
          continue;
        }
        for (const connections of options.connections) {
          cells.push({
            key: `${setup.key} ${workload} c${connections}`,
            setup,
            workload,
            connections,
            url,
            backend: setup.backend,
            cpuPids: setup.cpuPids,
            nginxPid: front?.pid,
            wrk: { connections, threads: Math.min(2, connections), script: spec.method ? postScript : undefined },
          });
        }
      }
    }

    say(`# tsgi end to end${quick ? ' (quick)' : ''}`);
    for (const { setup, reason } of skipped) say(`SKIPPED ${setup}: ${reason}`);
    if (cells.length === 0) {
      say('nothing measured.');
      process.exitCode = quick ? 0 : 1;
      return;
    }
    const seconds = cells.length * options.rounds * (options.duration + 0.3) + cells.length * options.warmup;
    process.stderr.write(`e2e: ${cells.length} cells × ${options.rounds} rounds of ${options.duration} s: about ${Math.ceil(seconds / 60)} min\n`);
    await runRounds(cells, { ...options, threads: 2, connections: 50 }, wrk, { cpu: {}, isInterrupted: () => interrupted });
    summarize(cells);

    const results = {
      benchmark: 'e2e',
      date: new Date().toISOString(),
      machine: machineInfo(),
      versions: peers.versions,
      options: {
        duration: options.duration,
        rounds: options.rounds,
        warmup: options.warmup,
        connections: options.connections,
        workloads: options.workloads,
        nginxWorkers: options['nginx-workers'],
        quick,
      },
      skipped,
      setups: setups.filter((s) => !s.failed).map(({ key, name, label, group, via, pair, baselines }) => ({ key, name, label, group, via, pair, baselines })),
      cells: cells.map((c) => ({
        setup: c.setup.key,
        workload: c.workload,
        connections: c.connections,
        rps: c.rps,
        p50Ms: c.p50,
        p99Ms: c.p99,
        backendCpuUs: c.backendCpuUs,
        nginxCpuUs: c.nginxCpuUs,
        errors: c.errors,
        runs: (c.runs ?? []).map((r) => Math.round(r.rps)),
      })),
    };
    // Rendered from the numbers as saved, so docs/benchmarks.md (rendered from the file) says the same.
    const saved = JSON.parse(JSON.stringify(results, roundNumbers));
    const markdown = e2eMarkdown(saved);
    say();
    say(markdown);
    if (writeResults) {
      const dir = path.join(root, 'bench/results');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'e2e.json'), `${JSON.stringify(saved, null, 2)}\n`);
      writeFileSync(path.join(dir, 'e2e.md'), `${markdown}\n`);
      writeFileSync(path.join(dir, 'e2e.svg'), e2eSvg(saved));
      process.stderr.write('e2e: wrote bench/results/e2e.json, e2e.md, e2e.svg (node scripts/render-performance.mjs puts them into docs/benchmarks.md)\n');
    }
  } finally {
    if (!interrupted) await cleanup();
  }
}

/**
 * JSON.stringify replacer: numbers to 3 significant decimals, NaN to null.
 * @param {string} key
 * @param {unknown} value
 */
function roundNumbers(key, value) {
  if (typeof value !== 'number') return value;
  if (!Number.isFinite(value)) return null;
  return Number.isInteger(value) ? value : Number(value.toFixed(3));
}

const quickRun = process.argv.includes('--quick');
runBenchmark('e2e', main, quickRun ? 0 : 1);
