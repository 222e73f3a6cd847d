#!/usr/bin/env node
/**
 * Wake-ups per accepted connection when several workers share one listening socket, and
 * how the connections spread over the workers.
 *
 *   npm run build && node bench/wakeups.mjs [--processes 8] [--duration 5] [--rate 1000]
 *                                           [--connections 8] [--rounds 2] [--only KEY,...]
 *
 * tsgi --processes N --http-socket serves bench/apps/hello.mjs; clients open a connection
 * per request (`Connection: close`), so every request is an accept. Per setup:
 *   native:            the native reactor, --exclusive-accept (the default): the listener
 *                      waits in Node's epoll set with EPOLLEXCLUSIVE
 *   native-herd:       the native reactor, --exclusive-accept false: the listener waits in
 *                      the reactor's own epoll set, which Node's polls (the thundering herd)
 *   pure:              the pure-TypeScript reactor (TSGI_NATIVE=0): node:net's listener
 * Two loads each: `paced`, a Node client opening --rate connections a second, one at a
 * time in --connections parallel loops (the workers are mostly idle: each connection can
 * wake every sleeping worker), and `wrk`, wrk -H 'Connection: close' at full speed.
 *
 * Wake-ups: each worker's voluntary context switches (/proc/PID/status: its main thread,
 * the event loop, went to sleep and was woken), summed over the workers, minus what they
 * do idle over as long (measured before), divided by the connections accepted. Spread:
 * each worker's requests (from the stats server) against the mean. Rounds alternate the
 * setups; the medians are shown. The client shares the machine's CPUs with the workers.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, median, runMain, optionParser, startBackend, tsgiBenchFlags, wanted } from './lib/e2e.mjs';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';
import { loadAverage } from './lib/machine.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** @type {Record<string, { args: string[], env?: Record<string, string> }>} */
const SETUPS = {
  native: { args: [] },
  'native-herd': { args: ['--exclusive-accept', 'false'] },
  pure: { args: [], env: { TSGI_NATIVE: '0' } },
};

const { parse } = optionParser({
  script: 'wakeups',
  defaults: { processes: 8, duration: 5, rate: 1000, connections: 8, rounds: 2, warmup: 1, only: '' },
  only: Object.keys(SETUPS),
  minimums: { warmup: 0 },
});

/** @param {number} pid */
function contextSwitches(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

/**
 * The stats server's document.
 * @param {number} port
 * @returns {Promise<{ workers: Array<{ id: number, pid: number, requests: number }> }>}
 */
function stats(port) {
  return new Promise((resolve, reject) => {
    let text = '';
    net
      .connect(port, '127.0.0.1')
      .setEncoding('utf8')
      .on('data', (d) => (text += d))
      .on('end', () => resolve(JSON.parse(text)))
      .on('error', reject);
  });
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One GET on a fresh connection, read to the server's close.
 * @param {number} port
 * @returns {Promise<boolean>} whether a 200 came back
 */
function oneRequest(port) {
  return new Promise((resolve) => {
    let head = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.end('GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    socket.setEncoding('latin1');
    socket.on('data', (d) => head.length < 16 && (head += d));
    socket.on('close', () => resolve(head.startsWith('HTTP/1.1 200')));
    socket.on('error', () => {});
  });
}

/**
 * `rate` connections a second for `seconds`, over `loops` parallel loops.
 * @param {number} port
 * @param {number} rate
 * @param {number} loops
 * @param {number} seconds
 * @returns {Promise<{ ok: number, failed: number }>}
 */
async function paced(port, rate, loops, seconds) {
  const end = Date.now() + seconds * 1000;
  const gap = (1000 * loops) / rate;
  let ok = 0;
  let failed = 0;
  const loop = async (/** @type {number} */ offset) => {
    let next = Date.now() + offset;
    while (next < end) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (await oneRequest(port)) ok++;
      else failed++;
      next += gap;
    }
  };
  await Promise.all(Array.from({ length: loops }, (_, i) => loop((i * gap) / loops)));
  return { ok, failed };
}

/**
 * wrk with a new connection per request; resolves with the requests it counted.
 * @param {string} wrk
 * @param {number} port
 * @param {number} connections
 * @param {number} seconds
 * @returns {Promise<{ ok: number, failed: number, errors: string }>}
 */
function wrkClose(wrk, port, connections, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(wrk, ['-t1', `-c${connections}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}/hello`]);
    children.add(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => {
      children.delete(child);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? '';
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      resolve({ ok: requests - non2xx, failed: non2xx, errors });
    });
  });
}

/**
 * Measures one load on a running server: wake-ups per connection and the spread.
 * @param {{ statsPort: number, pids: number[] }} server
 * @param {() => Promise<{ ok: number, failed: number, errors?: string }>} load
 * @param {number} seconds
 */
async function measure(server, load, seconds) {
  const idle0 = server.pids.map(contextSwitches);
  await sleep(1000);
  const idlePerSecond = server.pids.map((pid, i) => contextSwitches(pid) - idle0[i]).reduce((a, b) => a + b, 0);
  const before = await stats(server.statsPort);
  const switches0 = server.pids.map(contextSwitches);
  const t0 = Date.now();
  const result = await load();
  const elapsed = (Date.now() - t0) / 1000;
  const switches = server.pids.map((pid, i) => contextSwitches(pid) - switches0[i]);
  const after = await stats(server.statsPort);
  const requests = after.workers.map((w) => w.requests - (before.workers.find((b) => b.id === w.id)?.requests ?? 0));
  const total = requests.reduce((a, b) => a + b, 0);
  const mean = total / requests.length;
  const woken = switches.reduce((a, b) => a + b, 0) - idlePerSecond * elapsed;
  return {
    connections: total,
    ok: result.ok,
    failed: result.failed,
    errors: result.errors ?? '',
    wakeupsPerConn: woken / total,
    spreadMin: Math.min(...requests) / mean - 1,
    spreadMax: Math.max(...requests) / mean - 1,
    perWorker: requests,
    idlePerSecond,
  };
}

async function main() {
  const options = parse(process.argv.slice(2));
  const cli = path.join(root, 'dist', 'cli.js');
  const wrk = findExecutable('wrk');
  const keys = Object.keys(SETUPS).filter((k) => wanted(options, k));
  const loads = ['paced', ...(wrk ? ['wrk'] : [])];
  console.log(`# wake-ups per connection, ${options.processes} workers sharing one socket`);
  console.log(`${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAverage()}`);
  console.log(
    `paced: ${options.rate} connections/s over ${options.connections} loops; wrk: -t1 -c${options.connections} -H 'Connection: close'; ${options.duration} s each, ${options.rounds} rounds\n`,
  );
  /** @type {Record<string, Record<string, Awaited<ReturnType<typeof measure>>[]>>} */
  const results = {};
  for (let round = 0; round < options.rounds; round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]);
    for (const key of order) {
      const setup = SETUPS[key];
      const port = await freePort();
      const statsPort = await freePort();
      const args = [
        cli,
        '--http-socket',
        `127.0.0.1:${port}`,
        '--processes',
        String(options.processes),
        '--module',
        path.join(root, 'bench/apps/hello.mjs'),
        '--stats',
        `127.0.0.1:${statsPort}`,
        ...tsgiBenchFlags(),
        ...setup.args,
      ];
      const backend = await startBackend(`tsgi ${key}`, process.execPath, args, port, { env: { ...process.env, ...setup.env } });
      try {
        // Every worker up and listening: the stats show them all with a pid.
        let doc = await stats(statsPort);
        for (
          let i = 0;
          i < 100 && doc.workers.filter((w) => w.pid > 0 && /idle|busy/.test(String(/** @type {any} */ (w).status))).length < options.processes;
          i++
        ) {
          await sleep(100);
          doc = await stats(statsPort);
        }
        const server = { statsPort, pids: doc.workers.map((w) => w.pid) };
        if (options.warmup > 0) await paced(port, options.rate, options.connections, options.warmup);
        for (const load of loads) {
          const run =
            load === 'paced'
              ? () => paced(port, options.rate, options.connections, options.duration)
              : () => wrkClose(/** @type {string} */ (wrk), port, options.connections, options.duration);
          const m = await measure(server, run, options.duration);
          ((results[key] ??= {})[load] ??= []).push(m);
          console.log(
            `round ${round + 1} ${key} ${load}: ${m.connections} connections (${m.failed} failed${m.errors ? `, ${m.errors}` : ''}), ${m.wakeupsPerConn.toFixed(2)} wake-ups/connection, spread ${(100 * m.spreadMin).toFixed(0)}%..+${(100 * m.spreadMax).toFixed(0)}% [${m.perWorker.join(' ')}], idle ${m.idlePerSecond}/s`,
          );
        }
      } finally {
        await stopProcess(backend.child, { signal: 'SIGINT', graceMs: 5_000 });
      }
    }
  }
  console.log('\n| setup | load | connections/s | wake-ups per connection | spread (min..max vs mean) | failed |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const key of keys) {
    for (const load of loads) {
      const runs = results[key]?.[load] ?? [];
      if (runs.length === 0) continue;
      const m = (/** @type {(r: (typeof runs)[0]) => number} */ f) => median(runs.map(f));
      console.log(
        `| ${key} | ${load} | ${Math.round(m((r) => r.connections) / options.duration)} | ${m((r) => r.wakeupsPerConn).toFixed(2)} | ${(100 * m((r) => r.spreadMin)).toFixed(0)}%..+${(100 * m((r) => r.spreadMax)).toFixed(0)}% | ${runs.reduce((a, r) => a + r.failed, 0)} |`,
      );
    }
  }
  console.log(`\nload average after: ${loadAverage()}`);
}

runMain(main);
