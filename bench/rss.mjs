#!/usr/bin/env node
/**
 * A worker's memory over many requests: its resident set (VmRSS) when it starts, after a
 * warm-up, and every --every requests up to --requests, with a hello app.
 *
 *   npm run build && node bench/rss.mjs [--requests 1000000] [--every 100000] [--warmup 50000]
 *                                      [--connections 50] [--only native,pure]
 *
 * tsgi --processes 1 --http-socket serves bench/apps/hello.mjs (a master and one worker,
 * as deployed); wrk -t1 keeps its connections and runs in slices until --every more
 * requests are done, and the worker's VmRSS is read from /proc after each slice. The
 * targets (docs/performance.md): at most 60 MB, and flat within ±5% from the warm-up on.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMain, optionParser, startBackend, tsgiBenchFlags, wanted } from './lib/e2e.mjs';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';
import { loadAverage } from './lib/machine.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** @type {Record<string, Record<string, string>>} */
const SETUPS = { native: {}, pure: { TSGI_NATIVE: '0' } };

const { parse } = optionParser({
  script: 'rss',
  defaults: { requests: 1_000_000, every: 100_000, warmup: 50_000, connections: 50, only: '' },
  only: Object.keys(SETUPS),
  minimums: { warmup: 0 },
});

/**
 * A /proc/PID/status field in MB.
 * @param {number} pid
 * @param {string} field
 */
function statusMb(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
}

/** @param {number} pid */
function childOf(pid) {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.trim();
  return Number(out.split('\n')[0]);
}

/**
 * wrk until `count` requests are done, in slices; the requests it made.
 * @param {string} wrk
 * @param {string} url
 * @param {number} connections
 * @param {number} count
 */
function requests(wrk, url, connections, count) {
  let done = 0;
  let rate = 0;
  while (done < count) {
    // A first second to learn the rate, then slices that end near `count`.
    const seconds = rate === 0 ? 1 : Math.max(1, Math.min(5, Math.round((count - done) / rate)));
    const out = spawnSync(wrk, ['-t1', `-c${connections}`, `-d${seconds}s`, url], { encoding: 'utf8' }).stdout;
    const made = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    if (made === 0) throw new Error(`wrk made no request:\n${out}`);
    if (/Non-2xx|Socket errors/.test(out))
      process.stdout.write(
        `  wrk: ${out
          .split('\n')
          .filter((l) => /Non-2xx|Socket errors/.test(l))
          .join('; ')}\n`,
      );
    done += made;
    rate = made / seconds;
  }
  return done;
}

async function main() {
  const options = parse(process.argv.slice(2));
  const wrk = findExecutable('wrk');
  if (!wrk) throw new Error('wrk is not installed (apt-get install wrk)');
  const cli = path.join(root, 'dist', 'cli.js');
  console.log(`# worker RSS over ${options.requests.toLocaleString('en-US')} requests`);
  console.log(`${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAverage()}; wrk -t1 -c${options.connections}\n`);
  for (const [key, env] of Object.entries(SETUPS)) {
    if (!wanted(options, key)) continue;
    const port = await freePort();
    const args = [cli, '--http-socket', `127.0.0.1:${port}`, '--processes', '1', '--module', path.join(root, 'bench/apps/hello.mjs'), ...tsgiBenchFlags()];
    const backend = await startBackend(`tsgi ${key}`, process.execPath, args, port, { env: { ...process.env, ...env } });
    try {
      const worker = childOf(/** @type {number} */ (backend.child.pid));
      const url = `http://127.0.0.1:${port}/hello`;
      /** @type {Array<[string, number]>} */
      const samples = [['start', statusMb(worker, 'VmRSS')]];
      let total = options.warmup > 0 ? requests(wrk, url, options.connections, options.warmup) : 0;
      samples.push([`warm-up (${total.toLocaleString('en-US')})`, statusMb(worker, 'VmRSS')]);
      while (total < options.requests) {
        total += requests(wrk, url, options.connections, Math.min(options.every, options.requests - total));
        samples.push([total.toLocaleString('en-US'), statusMb(worker, 'VmRSS')]);
      }
      const after = samples.slice(1).map(([, mb]) => mb);
      const base = after[0];
      const drift = (Math.max(...after) - Math.min(...after)) / base;
      console.log(`## ${key}\n\n| after requests | VmRSS |\n|---|---:|`);
      for (const [when, mb] of samples) console.log(`| ${when} | ${mb.toFixed(1)} MB |`);
      console.log(
        `\nfrom the warm-up on: ${Math.min(...after).toFixed(1)}..${Math.max(...after).toFixed(1)} MB (range ${(100 * drift).toFixed(1)}% of the warm-up's), peak VmHWM ${statusMb(worker, 'VmHWM').toFixed(1)} MB\n`,
      );
    } finally {
      await stopProcess(backend.child, { signal: 'SIGINT', graceMs: 5_000 });
    }
  }
  console.log(`load average after: ${loadAverage()}`);
}

runMain(main);
