#!/usr/bin/env node
/**
 * What /metrics costs: the same hello app with the metrics off (no --stats: nothing is
 * collected) and on (--stats --stats-http: each request counted into the worker's
 * histograms, its runtime sampled each second), and on while a scraper reads /metrics
 * ten times a second, side by side in one run; then what one scrape costs the master.
 *
 *   npm run build && npm run bench:metrics
 *   node bench/metrics-cost.mjs [--duration 5] [--connections 50] [--threads 1] [--rounds 2]
 *                               [--warmup 2] [--processes 1] [--scrapes 200] [--only KEY,...]
 *
 *   off:      tsgi HTTP, --disable-logging
 *   on:       the same with --stats 127.0.0.1:PORT --stats-http
 *   scraped:  the same, /metrics read every 100 ms during the run
 * The figures that matter: the backend CPU per request of `on` less that of `off` (the
 * hot path's cost), and the master's CPU and wall time per scrape (read from
 * /proc/PID/stat around --scrapes sequential scrapes). A missing wrk or an unbuilt dist/
 * is reported and nothing measured.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSetup, environmentLine, fmtUs, measureBackends, optionParser, runBenchmark, startBackend, wanted } from './lib/e2e.mjs';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';
const SCRAPE_EVERY_MS = 100;

/** @type {Record<string, { label: string, stats: boolean, scraped: boolean }>} */
const PLANS = {
  off: { label: 'tsgi HTTP, no --stats (metrics off)', stats: false, scraped: false },
  on: { label: 'tsgi HTTP, --stats --stats-http (metrics on)', stats: true, scraped: false },
  scraped: { label: `tsgi HTTP, metrics on, /metrics read every ${SCRAPE_EVERY_MS} ms`, stats: true, scraped: true },
};

const { parse: parseOptions } = optionParser({
  script: 'metrics-cost',
  defaults: { duration: 5, connections: 50, threads: 1, rounds: 2, warmup: 2, processes: 1, scrapes: 200, only: '' },
  only: Object.keys(PLANS),
  minimums: { warmup: 0 },
});

/** User and system CPU of `pid` so far, µs (/proc/PID/stat, in clock ticks of 10 ms).
 * @param {number} pid */
function cpuUs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** One scrape of `url`: its bytes.
 * @param {string} url */
async function scrape(url) {
  const response = await fetch(url);
  return (await response.arrayBuffer()).byteLength;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  /** @param {string} text */
  const say = (text) => process.stdout.write(`${text}\n`);
  const wrk = findExecutable('wrk');
  const cli = path.join(root, 'dist/cli.js');
  if (!wrk || !statSync(cli, { throwIfNoEntry: false })) {
    say(`metrics-cost: SKIPPED: ${wrk ? 'dist/cli.js missing: run npm run build first' : 'wrk not installed (apt-get install wrk)'}; nothing measured.`);
    process.exitCode = 1;
    return;
  }
  const asRoot = process.getuid?.() === 0;
  /** @type {Array<any>} */
  const setups = [];
  /** @type {NodeJS.Timeout[]} */
  const scrapers = [];
  const cleanup = async () => {
    for (const timer of scrapers) clearInterval(timer);
    for (const s of setups) if (s.backend) await stopProcess(s.backend.child, { signal: 'SIGINT', graceMs: 3_000 });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    cleanup().finally(() => process.exit(130));
  });
  try {
    for (const [key, plan] of Object.entries(PLANS)) {
      if (!wanted(options, key)) continue;
      const port = await freePort();
      const statsPort = await freePort();
      const stats = plan.stats ? ['--stats', `127.0.0.1:${statsPort}`, '--stats-http'] : [];
      /** @type {any} */
      const setup = { key, name: key, label: `${key}: ${plan.label}`, plan, metricsUrl: `http://127.0.0.1:${statsPort}/metrics` };
      setups.push(setup);
      setup.backend = await startBackend(
        key,
        process.execPath,
        [
          cli,
          '--http-socket',
          `127.0.0.1:${port}`,
          '--module',
          path.join(root, 'bench/apps/hello.mjs'),
          '--processes',
          String(options.processes),
          '--disable-logging',
        ].concat(stats, asRoot ? ['--allow-root'] : []),
        port,
        { cwd: root },
      );
      setup.cpuPids = () => [setup.backend.child.pid];
      setup.url = `http://127.0.0.1:${port}/hello`;
      await checkSetup(setup, null, EXPECTED_BODY);
      if (plan.scraped) scrapers.push(setInterval(() => void scrape(setup.metricsUrl).catch(() => {}), SCRAPE_EVERY_MS));
    }
    say('# What /metrics costs: the same app with the metrics off, on, and scraped');
    say('');
    // No nginx in front: its worker count is not used.
    const rounds = { ...options, 'nginx-workers': 0 };
    say(environmentLine(null, rounds));
    say('');
    if (!(await measureBackends(setups, rounds, wrk, say, () => interrupted))) return;
    const off = setups.find((s) => s.key === 'off');
    for (const s of setups) {
      if (s === off || !off) continue;
      const rps = ((Number(s.rps) / Number(off.rps) - 1) * 100).toFixed(1);
      say(`  ${s.key}: ${rps}% req/s and ${fmtUs(Number(s.backendCpuUs) - Number(off.backendCpuUs))} backend CPU per request against off`);
    }
    for (const timer of scrapers.splice(0)) clearInterval(timer);
    const on = setups.find((s) => s.plan.stats);
    if (!on) return;
    // One scrape at a time, the app idle: the master's wall time and CPU per scrape.
    await scrape(on.metricsUrl);
    const pid = on.backend.child.pid;
    const cpuBefore = cpuUs(pid);
    const started = performance.now();
    let bytes = 0;
    /** @type {number[]} */
    const times = [];
    for (let i = 0; i < options.scrapes; i++) {
      const t = performance.now();
      bytes = await scrape(on.metricsUrl);
      times.push(performance.now() - t);
    }
    const wall = performance.now() - started;
    times.sort((a, b) => a - b);
    say('');
    say(
      `one scrape of /metrics (${options.processes} worker(s), ${bytes.toLocaleString('en-US')} bytes): ` +
        `${(wall / options.scrapes).toFixed(2)} ms mean, ${(times[Math.floor(times.length * 0.99)] ?? 0).toFixed(2)} ms p99 wall time; ` +
        `${fmtUs((cpuUs(pid) - cpuBefore) / options.scrapes)} master CPU (over ${options.scrapes} scrapes)`,
    );
  } finally {
    if (!interrupted) await cleanup();
  }
}

runBenchmark('metrics-cost', main);
