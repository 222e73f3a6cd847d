#!/usr/bin/env node
/**
 * The apps people already have, under tsgi and under their own server: requests/s of the
 * same hello route (GET /hello → 200 "Hello, World!\n", text/plain) in Express, Fastify,
 * Hono and Koa, side by side in one run, and what each adapter costs per request against a
 * plain TSGI app.
 *
 *   npm run build && npm run bench:adapters
 *   node bench/e2e-adapters.mjs [--duration 5] [--connections 50] [--threads 2] [--rounds 2]
 *                               [--warmup 2] [--nginx-workers 1] [--only KEY,...]
 *
 * Per framework F (bench/apps/hello-F.mjs, one process each):
 *   F-own:         the framework's own node:http server (Express app.listen, Fastify
 *                  listen(), Hono's @hono/node-server, Koa app.listen), wrk straight to it
 *   F-tsgi-http:   tsgi --http-socket --module bench/apps/hello-F.mjs, wrk straight to it
 *   F-own-nginx:   nginx proxy_pass (HTTP/1.1, kept-alive upstream connections) to F-own
 *   F-tsgi-uwsgi:  nginx uwsgi_pass to tsgi --socket --module bench/apps/hello-F.mjs
 *   F-tsgi-http-nginx: nginx proxy_pass (kept-alive upstream connections, as F-own-nginx)
 *                  to tsgi --http-socket: the same proxy setup as F-own-nginx, tsgi's side
 * The adapter cost, over tsgi's HTTP listener, the same response each time:
 *   plain-tsgi:    bench/apps/hello.mjs, a TSGI app
 *   plain-fetch:   bench/apps/hello-fetch.mjs, { fetch: () => new Response(...) }
 *   plain-node:    bench/apps/hello-node-handler.mjs, (req, res) => res.end(...), --adapter node
 * Each nginx setup has its own nginx (one worker, no access log). wrk keeps its
 * connections (-t2 -c50 by default); rounds are interleaved, the order rotating. The
 * tables show medians of req/s, wrk's p50/p99 and the backend's CPU time per request (its
 * process tree, from /proc); then, per framework, tsgi against the framework's own server
 * (straight, and both behind nginx), and each adapter's CPU per request over plain TSGI.
 * wrk, nginx and the servers share the machine's CPUs: compare ratios, not absolute numbers.
 *
 * tsgi runs as one process serving alone where its command line has a master (--master
 * false, and --disable-logging, --allow-root as root), like the frameworks' own servers.
 * A missing wrk or nginx, or an unbuilt dist/, is reported and those setups skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkSetup,
  children,
  environmentLine,
  fmtRatio,
  fmtUs,
  measureBackends,
  optionParser,
  ratioLine,
  runBenchmark,
  startBackend,
  wanted,
} from './lib/e2e.mjs';
import { findNginx, startNginx } from '../scripts/lib/nginx.mjs';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';

/** @typedef {import('./lib/e2e.mjs').Backend} Backend */

/**
 * What a setup runs: its label, how clients reach it, its backend's arguments.
 * @typedef {{ label: string, via: 'http' | 'proxy' | 'uwsgi', args: (port: number) => string[] }} Plan
 */

/**
 * A setup being run: its plan, and what starting it gave.
 * @typedef {Plan & Omit<import('./lib/e2e.mjs').Measured, 'key' | 'label' | 'url' | 'backend'> & { key: string, name: string, command?: string, url?: string, backend?: Backend, nginx?: import('../scripts/lib/nginx.mjs').Nginx, failed?: boolean }} AdapterSetup
 */

/** @typedef {AdapterSetup & { url: string, backend: Backend }} Started */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';
/** @type {Record<string, string>} */
const FRAMEWORKS = { express: 'Express', fastify: 'Fastify', hono: 'Hono', koa: 'Koa' };
const VARIANTS = ['own', 'tsgi-http', 'own-nginx', 'tsgi-uwsgi', 'tsgi-http-nginx'];
/** @type {Record<string, [file: string, adapter: string, what: string]>} */
const PLAIN = {
  'plain-tsgi': ['hello.mjs', 'auto', 'TSGI app'],
  'plain-fetch': ['hello-fetch.mjs', 'auto', 'fetch handler'],
  'plain-node': ['hello-node-handler.mjs', 'node', 'Node handler'],
};
const KEYS = [...Object.keys(FRAMEWORKS).flatMap((f) => VARIANTS.map((v) => `${f}-${v}`)), ...Object.keys(PLAIN)];

const { parse: parseOptions } = optionParser({
  script: 'e2e-adapters',
  defaults: { duration: 5, connections: 50, threads: 2, rounds: 2, warmup: 2, 'nginx-workers': 1, only: '' },
  only: KEYS,
  minimums: { warmup: 0 },
});

/** @param {string} name */
const packageVersion = (name) => {
  try {
    return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
};

/**
 * Flags that make tsgi one process serving alone, where its command line has a master.
 * @param {string} cli
 */
function aloneFlags(cli) {
  const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }).stdout ?? '';
  /** @type {string[]} */
  const flags = [];
  if (help.includes('--master')) flags.push('--master', 'false');
  if (help.includes('--disable-logging')) flags.push('--disable-logging');
  if (help.includes('--allow-root') && process.getuid?.() === 0) flags.push('--allow-root');
  return flags;
}

/**
 * What a setup runs: its backend command, and how clients reach it.
 * @param {string} key
 * @param {string} cli
 * @param {string[]} alone
 * @returns {Plan}
 */
function planOf(key, cli, alone) {
  /** @param {string} file */
  const app = (file) => path.join(root, 'bench/apps', file);
  const plain = PLAIN[key];
  if (plain) {
    const [file, adapter, what] = plain;
    return {
      label: `tsgi, ${what}`,
      via: 'http',
      args: (port) => [cli, '--http-socket', `127.0.0.1:${port}`, '--module', app(file), '--adapter', adapter, ...alone],
    };
  }
  const framework = key.slice(0, key.indexOf('-'));
  const variant = key.slice(framework.length + 1);
  const name = `${FRAMEWORKS[framework]} ${packageVersion(framework)}`;
  const file = app(`hello-${framework}.mjs`);
  switch (variant) {
    case 'own':
      return { label: `${name}, its own server`, via: 'http', args: (port) => [file, String(port)] };
    case 'own-nginx':
      return { label: `${name}, its own server behind nginx proxy_pass`, via: 'proxy', args: (port) => [file, String(port)] };
    case 'tsgi-http':
      return { label: `${name} on tsgi, HTTP listener`, via: 'http', args: (port) => [cli, '--http-socket', `127.0.0.1:${port}`, '--module', file, ...alone] };
    case 'tsgi-http-nginx':
      return {
        label: `${name} on tsgi, HTTP listener behind nginx proxy_pass`,
        via: 'proxy',
        args: (port) => [cli, '--http-socket', `127.0.0.1:${port}`, '--module', file, ...alone],
      };
    default:
      return {
        label: `${name} on tsgi behind nginx uwsgi_pass`,
        via: 'uwsgi',
        args: (port) => [cli, '--socket', `127.0.0.1:${port}`, '--module', file, ...alone],
      };
  }
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  /** @param {string} text */
  const say = (text) => process.stdout.write(`${text}\n`);
  /** @type {Array<[string, string]>} */
  const skipped = [];
  const wrk = findExecutable('wrk');
  const nginxBin = findNginx();
  const cli = path.join(root, 'dist/cli.js');
  if (!wrk) {
    say('e2e-adapters: SKIPPED every setup: wrk not installed (apt-get install wrk); nothing measured.');
    process.exitCode = 1;
    return;
  }
  const built = existsSync(cli) && existsSync(path.join(root, 'native'));
  const alone = built ? aloneFlags(cli) : [];

  /** @type {AdapterSetup[]} */
  const setups = [];
  for (const key of KEYS) {
    const plan = planOf(key, cli, alone);
    if (!wanted(options, key)) continue;
    if (plan.args(0)[0] === cli && !built) skipped.push([key, 'dist/cli.js or native/ missing: run npm run build first']);
    else if (plan.via !== 'http' && !nginxBin) skipped.push([key, 'nginx not installed (apt-get install nginx)']);
    else setups.push({ key, name: key, ...plan });
  }

  const cleanup = async () => {
    for (const setup of setups) await setup.nginx?.stop().catch(() => {});
    for (const setup of setups) if (setup.backend) await stopProcess(setup.backend.child, { signal: 'SIGINT', graceMs: 3_000 });
    for (const child of children) await stopProcess(child, { signal: 'SIGINT', graceMs: 1_000 });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\ne2e-adapters: interrupted, stopping everything');
    cleanup().finally(() => process.exit(130));
  });

  try {
    for (const setup of setups) {
      const port = await freePort();
      const args = setup.args(port);
      setup.command = ['node', ...args.map((a) => (path.isAbsolute(a) && a.startsWith(root) ? path.relative(root, a) : a))].join(' ');
      try {
        const backend = await startBackend(setup.key, process.execPath, args, port, { cwd: root });
        setup.backend = backend;
        setup.cpuPids = () => [backend.child.pid];
        if (setup.via === 'http') {
          setup.url = `http://127.0.0.1:${port}/hello`;
        } else {
          const location = setup.via === 'uwsgi' ? { path: '/', uwsgiPass: `127.0.0.1:${port}` } : { path: '/', proxyPass: `127.0.0.1:${port}`, keepalive: 32 };
          setup.nginx = await startNginx({
            nginx: nginxBin ?? undefined,
            workerProcesses: options['nginx-workers'],
            workerConnections: Math.max(4096, options.connections * 4),
            errorLogLevel: 'warn',
            accessLog: false,
            locations: [location],
          });
          setup.url = setup.nginx.url('/hello');
        }
        await checkSetup({ key: setup.key, url: setup.url, backend }, setup.nginx ?? null, EXPECTED_BODY);
      } catch (error) {
        skipped.push([setup.key, `did not start or answer: ${error instanceof Error ? error.message : error}`]);
        setup.failed = true;
      }
    }
    const measured = setups.filter(
      /**
       * Started: not failed, so its backend and url are set.
       * @returns {s is Started}
       */
      (s) => !s.failed && s.backend !== undefined && s.url !== undefined,
    );
    for (const s of measured) s.label = `${s.key}: ${s.label}`;

    say('# Express, Fastify, Hono and Koa under tsgi and under their own servers; the cost of each adapter');
    say('');
    say(environmentLine(nginxBin, options));
    for (const [key, reason] of skipped) say(`SKIPPED ${key}: ${reason}`);
    for (const s of measured)
      say(`${s.key}: ${s.command}${s.via === 'http' ? '' : ` (behind nginx ${s.via === 'uwsgi' ? 'uwsgi_pass' : 'proxy_pass, keepalive 32'})`}`);
    say('');
    if (!(await measureBackends(measured, options, wrk, say, () => interrupted))) return;

    /** @param {string} key */
    const find = (key) => measured.find((s) => s.key === key);
    for (const [framework, name] of Object.entries(FRAMEWORKS)) {
      const own = find(`${framework}-own`);
      /** @type {Array<[Started | undefined, Started | undefined, [string, string]]>} */
      const pairs = [
        [find(`${framework}-tsgi-http`), own, [`${name} on tsgi HTTP`, `${name}'s own server`]],
        [
          find(`${framework}-tsgi-uwsgi`),
          find(`${framework}-own-nginx`),
          [`${name} on tsgi behind nginx uwsgi_pass`, `${name}'s own server behind nginx proxy_pass`],
        ],
        [find(`${framework}-tsgi-uwsgi`), own, [`${name} on tsgi behind nginx uwsgi_pass`, `${name}'s own server, straight`]],
        [
          find(`${framework}-tsgi-http-nginx`),
          find(`${framework}-own-nginx`),
          [`${name} on tsgi HTTP behind nginx proxy_pass`, `${name}'s own server behind nginx proxy_pass`],
        ],
      ];
      for (const [subject, baseline, names] of pairs) {
        if (!subject && !baseline) continue;
        const cpu = subject && baseline ? `; backend CPU/request ${fmtRatio(Number(subject.backendCpuUs) / Number(baseline.backendCpuUs))}` : '';
        say(`${ratioLine(subject, baseline, names)}${cpu}`);
      }
    }
    const plain = find('plain-tsgi');
    if (plain) {
      say('');
      say(
        `adapter cost per request, against plain TSGI (${fmtUs(plain.backendCpuUs)} backend CPU, ${Math.round(Number(plain.rps)).toLocaleString('en-US')} req/s):`,
      );
      for (const key of ['plain-fetch', 'plain-node']) {
        const setup = find(key);
        if (setup)
          say(
            `  ${key}: +${fmtUs(Number(setup.backendCpuUs) - Number(plain.backendCpuUs))} backend CPU per request (${fmtRatio(Number(setup.backendCpuUs) / Number(plain.backendCpuUs))}), req/s ${fmtRatio(Number(setup.rps) / Number(plain.rps))}`,
          );
      }
      for (const framework of Object.keys(FRAMEWORKS)) {
        const setup = find(`${framework}-tsgi-http`);
        if (setup)
          say(
            `  ${framework}-tsgi-http: ${fmtUs(setup.backendCpuUs)} backend CPU per request (${fmtRatio(Number(setup.backendCpuUs) / Number(plain.backendCpuUs))} plain TSGI; the framework's own work included)`,
          );
      }
    }
    for (const s of measured) {
      const errors = (s.runs ?? []).filter((r) => r.non2xx || r.socketErrors);
      if (errors.length)
        say(`\nWARNING: ${s.key}: errors seen by wrk (${errors.map((r) => `${r.non2xx} non-2xx, ${r.socketErrorText || 'no socket errors'}`).join('; ')})`);
    }
  } finally {
    if (!interrupted) await cleanup();
  }
}

runBenchmark('e2e-adapters', main);
