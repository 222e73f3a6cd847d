#!/usr/bin/env node
/**
 * Static files: tsgi's --static-map against nginx's own static serving, direct over HTTP,
 * in one run (issue 21). One worker each (tsgi --processes 1, nginx worker_processes 1,
 * `sendfile on`, no access log), the same folder:
 *   1mib: GET /s/1mib.bin with wrk (-t1, --connections, default 10), in rounds, the order
 *         rotated every round; medians of req/s, p50, p99, and the throughput.
 *   1gib: GET /s/1gib.bin with curl, one at a time (--big-rounds, default 3); the median
 *         download speed, and each server's worker VmRSS before and after.
 * Also the pure-TypeScript reactor (TSGI_NATIVE=0) and tsgi --disable-sendfile, for
 * scale. Prints a table, the ratios to nginx and the load average before and after.
 *
 *   npm run build && node bench/static-files.mjs [--duration 5] [--rounds 3] [--warmup 1]
 *        [--connections 10] [--big-rounds 3] [--big-mib 1024] [--only tsgi,nginx,...]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, fmtMs, fmtRatio, fmtRps, killAll, median, runWrk, startBackend, tsgiBenchFlags } from './lib/e2e.mjs';
import { optionValue } from './lib/args.mjs';
import { startNginx } from '../scripts/lib/nginx.mjs';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'dist', 'cli.js');
const MiB = 1024 * 1024;
const argv = process.argv.slice(2);
const options = {
  duration: Number(optionValue(argv, 'duration', '5')),
  rounds: Number(optionValue(argv, 'rounds', '3')),
  warmup: Number(optionValue(argv, 'warmup', '1')),
  connections: Number(optionValue(argv, 'connections', '10')),
  threads: 1,
  bigRounds: Number(optionValue(argv, 'big-rounds', '3')),
  bigMiB: Number(optionValue(argv, 'big-mib', '1024')),
  only: (optionValue(argv, 'only', '') ?? '').split(',').filter(Boolean),
};

const wrk = findExecutable('wrk');
const curl = findExecutable('curl');
if (!wrk || !curl) throw new Error('wrk and curl are needed: apt-get install wrk curl');

/** The folder both serve: a random MiB, and a big file of random MiBs over and over. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-static-bench-'));
writeFileSync(path.join(dir, '1mib.bin'), randomBytes(MiB));
const block = randomBytes(MiB);
const bigFd = openSync(path.join(dir, '1gib.bin'), 'w');
for (let i = 0; i < options.bigMiB; i++) writeSync(bigFd, block);
closeSync(bigFd);

/**
 * A server being measured: its wrk runs, its big-file speeds (bytes/s), its worker's RSS (KiB).
 * @typedef {{ key: string, label: string, url: (p: string) => string, workerPid: () => number | undefined, stop: () => Promise<unknown>, runs?: Array<{ rps: number, p50: number, p99: number }>, big?: number[], rss?: { before: number, after: number } }} Setup
 */
/** @type {Setup[]} */
const setups = [];
/** @param {string} key */
const wanted = (key) => options.only.length === 0 || options.only.includes(key);
/** @param {number | undefined} pid */
const rssKiB = (pid) => (pid ? Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) : NaN);

/**
 * tsgi serving the folder at /s over HTTP, one worker.
 * @param {string} key
 * @param {string} label
 * @param {string[]} [extra]
 * @param {Record<string, string>} [env]
 */
async function startTsgi(key, label, extra = [], env = {}) {
  const port = await freePort();
  const args = [CLI, ...tsgiBenchFlags(), '--http-socket', `127.0.0.1:${port}`, '--processes', '1', '--static-map', `/s=${dir}`, ...extra];
  const backend = await startBackend(label, process.execPath, args, port, { env: { ...process.env, ...env } });
  const worker = () => Number(/worker\(s\) ready \(pid (\d+)\)/.exec(backend.output())?.[1]) || undefined;
  setups.push({ key, label, url: (p) => `http://127.0.0.1:${port}${p}`, workerPid: worker, stop: () => stopProcess(backend.child) });
}

/** nginx's own static serving of the same folder. */
async function startStaticNginx() {
  const nginx = await startNginx({ accessLog: false, locations: [{ path: '/s/', extra: [`alias ${dir}/;`, 'sendfile on;', 'tcp_nopush on;'] }] });
  const worker = () => {
    const kids = readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    return kids[0];
  };
  setups.push({ key: 'nginx', label: 'nginx (static, sendfile on)', url: nginx.url, workerPid: worker, stop: () => nginx.stop() });
}

/**
 * One curl download of the big file: bytes per second.
 * @param {string} url
 * @returns {Promise<number>}
 */
function download(url) {
  const bin = /** @type {string} */ (curl);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-sS', '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', url]);
    children.add(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.once('exit', (code) => {
      children.delete(child);
      const [size, speed] = out.split(' ').map(Number);
      if (code !== 0 || size !== options.bigMiB * MiB) reject(new Error(`curl ${url}: exit ${code}, ${size} bytes`));
      else resolve(speed);
    });
  });
}

const load = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

try {
  const loadBefore = load();
  if (wanted('tsgi')) await startTsgi('tsgi', 'tsgi --static-map (native, sendfile)');
  if (wanted('nginx')) await startStaticNginx();
  if (wanted('tsgi-no-sendfile')) await startTsgi('tsgi-no-sendfile', 'tsgi --static-map --disable-sendfile', ['--disable-sendfile']);
  if (wanted('pure')) await startTsgi('pure', 'tsgi --static-map (pure TypeScript)', [], { TSGI_NATIVE: '0' });

  // 1 MiB: wrk in rounds, the order rotated each round.
  for (const setup of setups) await runWrk(/** @type {string} */ (wrk), setup.url('/s/1mib.bin'), { ...options, duration: options.warmup });
  for (let round = 0; round < options.rounds; round++) {
    const order = [...setups.slice(round % setups.length), ...setups.slice(0, round % setups.length)];
    for (const setup of order) {
      const run = await runWrk(/** @type {string} */ (wrk), setup.url('/s/1mib.bin'), options);
      (setup.runs ??= []).push(run);
      process.stderr.write(
        `round ${round + 1}/${options.rounds} ${setup.key}: ${fmtRps(run.rps)} req/s, p99 ${fmtMs(run.p99)}${run.non2xx || run.socketErrors ? ', ERRORS' : ''}\n`,
      );
    }
  }

  // The big file: one download at a time, the worker's RSS around them.
  for (const setup of setups) {
    const before = rssKiB(setup.workerPid());
    setup.big = [];
    for (let i = 0; i < options.bigRounds; i++) setup.big.push(await download(setup.url('/s/1gib.bin')));
    setup.rss = { before, after: rssKiB(setup.workerPid()) };
    process.stderr.write(`${options.bigMiB} MiB ${setup.key}: ${setup.big.map((s) => `${(s / MiB).toFixed(0)} MiB/s`).join(', ')}\n`);
  }

  const nginx = setups.find((setup) => setup.key === 'nginx');
  /** @param {Setup} setup */
  const rps = (setup) => median((setup.runs ?? []).map((run) => run.rps));
  /** @param {Setup} setup */
  const big = (setup) => median(setup.big ?? []);
  const lines = [
    `static files, direct HTTP; wrk -t1 -c${options.connections} -d${options.duration}s × ${options.rounds} rounds (medians); ${options.bigMiB} MiB by curl × ${options.bigRounds}`,
    `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average before ${loadBefore}, after ${load()}`,
    '',
    '| server | 1 MiB req/s | 1 MiB MiB/s | p50 | p99 | vs nginx | big file MiB/s | vs nginx | worker RSS before → after |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const setup of setups) {
    const p50 = median((setup.runs ?? []).map((run) => run.p50));
    const p99 = median((setup.runs ?? []).map((run) => run.p99));
    const rss = setup.rss ? `${(setup.rss.before / 1024).toFixed(1)} → ${(setup.rss.after / 1024).toFixed(1)} MiB` : 'n/a';
    lines.push(
      `| ${setup.label} | ${fmtRps(rps(setup))} | ${rps(setup).toFixed(0)} | ${fmtMs(p50)} | ${fmtMs(p99)} | ${nginx ? fmtRatio(rps(setup) / rps(nginx)) : 'n/a'} | ${(big(setup) / MiB).toFixed(0)} | ${nginx ? fmtRatio(big(setup) / big(nginx)) : 'n/a'} | ${rss} |`,
    );
  }
  console.log(lines.join('\n'));
} finally {
  for (const setup of setups) await setup.stop().catch(() => undefined);
  killAll();
  rmSync(dir, { recursive: true, force: true });
}
