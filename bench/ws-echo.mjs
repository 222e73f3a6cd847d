#!/usr/bin/env node
/**
 * WebSockets: the same `ws` echo app (bench/apps/ws-echo.mjs, an http.Server with a
 * WebSocketServer) on its own node:http server and on tsgi, straight and behind nginx, side
 * by side in one run. A load process (bench/lib/ws-load.mjs) keeps CONNECTIONS clients each
 * sending a 1 KiB binary message and waiting for its echo; the table gives messages/s, the
 * p50 and p99 round trip, and the backend's CPU time per message (its process tree).
 *
 *   npm run build && node bench/ws-echo.mjs [--duration 5] [--connections 100] [--size 1024]
 *                                           [--rounds 2] [--only KEY,...]
 *
 *   own:         the app's own http.Server (node bench/apps/ws-echo.mjs PORT)
 *   own-nginx:   nginx proxy_pass (HTTP/1.1, Upgrade passed on) to own
 *   tsgi-http:   tsgi --http-socket --module bench/apps/ws-echo.mjs
 *   tsgi-nginx:  nginx proxy_pass to tsgi-http
 *   tsgi-uwsgi:  nginx uwsgi_pass to tsgi --socket
 *
 * tsgi runs as one process (--master false --disable-logging), like the app's own server.
 * Rounds are interleaved; the load generator, nginx and the servers share the machine's
 * CPUs: compare ratios, not absolute numbers.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtMs, fmtRatio, fmtUs, median, optionParser, startBackend, treeCpuSeconds, tsgiBenchFlags, wanted } from './lib/e2e.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { findNginx, startNginx } from '../scripts/lib/nginx.mjs';
import { freePort, stopProcess } from '../scripts/lib/processes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const APP = path.join(root, 'bench/apps/ws-echo.mjs');
const CLI = path.join(root, 'dist/cli.js');
const LOAD = path.join(root, 'bench/lib/ws-load.mjs');
const WEBSOCKET_PROXYING = ['proxy_http_version 1.1;', 'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header Connection "upgrade";'];

/**
 * @typedef {{ key: string, label: string, backend: 'own' | 'tsgi-http' | 'tsgi-uwsgi', via: 'direct' | 'proxy' | 'uwsgi' }} Setup
 * @typedef {{ messagesPerSecond: number, p50: number, p99: number, cpuPerMessageUs: number, errors: number }} Round
 */

/** @type {Setup[]} */
const SETUPS = [
  { key: 'own', label: 'its own http.Server', backend: 'own', via: 'direct' },
  { key: 'own-nginx', label: 'its own http.Server behind nginx proxy_pass', backend: 'own', via: 'proxy' },
  { key: 'tsgi-http', label: 'tsgi, HTTP listener', backend: 'tsgi-http', via: 'direct' },
  { key: 'tsgi-nginx', label: 'tsgi, HTTP listener behind nginx proxy_pass', backend: 'tsgi-http', via: 'proxy' },
  { key: 'tsgi-uwsgi', label: 'tsgi behind nginx uwsgi_pass', backend: 'tsgi-uwsgi', via: 'uwsgi' },
];

const { parse } = optionParser({
  script: 'ws-echo',
  defaults: { duration: 5, connections: 100, size: 1024, rounds: 2, only: '' },
  only: SETUPS.map((s) => s.key),
});

/**
 * The backend's command line.
 * @param {Setup['backend']} backend
 * @param {number} port
 */
function backendArgs(backend, port) {
  if (backend === 'own') return [APP, String(port)];
  const listener = backend === 'tsgi-http' ? '--http-socket' : '--socket';
  return [CLI, listener, `127.0.0.1:${port}`, '--module', APP, '--master', 'false', ...tsgiBenchFlags()];
}

/**
 * One load run against `url`: what bench/lib/ws-load.mjs printed.
 * @param {string} url
 * @param {{ connections: number, duration: number, size: number }} options
 * @returns {Promise<{ messages: number, seconds: number, p50: number, p99: number, errors: number }>}
 */
function load(url, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, url, String(options.connections), String(options.duration), String(options.size)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`ws-load exited ${code}: ${out}`))));
  });
}

async function main() {
  const options = parse(process.argv.slice(2));
  /** @param {string} text */
  const say = (text) => process.stdout.write(`${text}\n`);
  const nginxBin = findNginx();
  if (!existsSync(CLI)) {
    say('ws-echo: dist/cli.js missing: run npm run build first');
    process.exitCode = 1;
    return;
  }
  const chosen = SETUPS.filter((s) => wanted(options, s.key));
  const skipped = chosen.filter((s) => s.via !== 'direct' && !nginxBin);
  for (const s of skipped) say(`SKIPPED ${s.key}: nginx not installed (apt-get install nginx)`);
  const setups = chosen.filter((s) => !skipped.includes(s));

  /** @type {Map<string, { url: string, pid: number | undefined, stop: () => Promise<void> }>} */
  const started = new Map();
  /** @type {Map<string, Round[]>} */
  const rounds = new Map(setups.map((s) => [s.key, []]));
  try {
    for (const setup of setups) {
      const port = await freePort();
      const backend = await startBackend(setup.key, process.execPath, backendArgs(setup.backend, port), port, { cwd: root });
      /** @type {import('../scripts/lib/nginx.mjs').Nginx | undefined} */
      let nginx;
      if (setup.via !== 'direct') {
        const location =
          setup.via === 'uwsgi' ? { path: '/', uwsgiPass: `127.0.0.1:${port}` } : { path: '/', proxyPass: `127.0.0.1:${port}`, extra: WEBSOCKET_PROXYING };
        nginx = await startNginx({ nginx: nginxBin ?? undefined, workerConnections: 4096, errorLogLevel: 'warn', accessLog: false, locations: [location] });
      }
      const url = nginx ? `ws://127.0.0.1:${nginx.port}/` : `ws://127.0.0.1:${port}/`;
      started.set(setup.key, {
        url,
        pid: backend.child.pid,
        stop: async () => {
          await nginx?.stop();
          await stopProcess(backend.child, { signal: 'SIGINT', graceMs: 3_000 });
        },
      });
    }
    say(`# WebSocket echo: ${options.connections} connections, ${options.size}-byte messages, ${options.duration} s × ${options.rounds} rounds`);
    say(machineLine(machineInfo()));
    for (let round = 1; round <= options.rounds; round++) {
      // The order rotates, so that no setup always runs first (or last) on a warming machine.
      const order = setups.map((_, i) => setups[(i + round - 1) % setups.length]);
      for (const setup of order) {
        const { url, pid } = started.get(setup.key) ?? { url: '', pid: undefined };
        const before = treeCpuSeconds(pid);
        const result = await load(url, options);
        const cpu = treeCpuSeconds(pid) - before;
        /** @type {Round} */
        const r = {
          messagesPerSecond: result.messages / result.seconds,
          p50: result.p50,
          p99: result.p99,
          cpuPerMessageUs: (cpu / Math.max(1, result.messages)) * 1e6,
          errors: result.errors,
        };
        rounds.get(setup.key)?.push(r);
        say(
          `round ${round}/${options.rounds} ${setup.key}: ${Math.round(r.messagesPerSecond).toLocaleString('en-US')} msg/s, p99 ${fmtMs(r.p99)}, CPU/msg ${fmtUs(r.cpuPerMessageUs)}`,
        );
      }
    }
  } finally {
    for (const { stop } of started.values()) await stop().catch(() => {});
  }

  /** @param {string} key */
  const summary = (key) => {
    const list = rounds.get(key) ?? [];
    /** @param {(r: Round) => number} pick */
    const med = (pick) => median(list.map(pick));
    return {
      rate: med((r) => r.messagesPerSecond),
      p50: med((r) => r.p50),
      p99: med((r) => r.p99),
      cpu: med((r) => r.cpuPerMessageUs),
      errors: list.reduce((n, r) => n + r.errors, 0),
    };
  };
  say('');
  say('| setup | messages/s | p50 | p99 | backend CPU/message | errors |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const setup of setups) {
    const s = summary(setup.key);
    say(`| ${setup.key}: ${setup.label} | ${Math.round(s.rate).toLocaleString('en-US')} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${fmtUs(s.cpu)} | ${s.errors} |`);
  }
  say('');
  for (const [subject, baseline] of [
    ['tsgi-http', 'own'],
    ['tsgi-nginx', 'own-nginx'],
    ['tsgi-uwsgi', 'own-nginx'],
  ]) {
    if (!rounds.get(subject)?.length || !rounds.get(baseline)?.length) continue;
    const a = summary(subject);
    const b = summary(baseline);
    say(`${subject} against ${baseline}: messages/s ${fmtRatio(a.rate / b.rate)}, p99 ${fmtRatio(a.p99 / b.p99)}, CPU/message ${fmtRatio(a.cpu / b.cpu)}`);
  }
}

await main();
