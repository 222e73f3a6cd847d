#!/usr/bin/env node
/**
 * End-to-end requests/s through nginx `fastcgi_pass` with kept-alive upstream connections:
 * tsgi against PHP-FPM and node-fastcgi (npm), side by side in one run.
 *
 *   npm run build && npm run bench:fastcgi
 *   node bench/e2e-fastcgi.mjs [--duration 10] [--connections 50] [--threads 2] [--rounds 3]
 *                              [--warmup 2] [--nginx-workers 1] [--keepalive 32] [--php-children 1]
 *                              [--only tsgi,php-fpm,node-fastcgi,node-fastcgi-fixed] [--json]
 *
 * What it measures: wrk (keep-alive HTTP/1.1, `-t2 -c50 -d10s` by default) against one
 * private nginx (bench/lib/nginx.mjs; one worker, access log off) with one location per
 * setup (`/tsgi/`, `/php-fpm/`, …) that `fastcgi_pass`es to an `upstream { keepalive 32; }`
 * with `fastcgi_keep_conn on` (--keepalive 0: a new upstream connection per request). One
 * backend process each:
 *   tsgi:               node dist/cli.js --fastcgi-socket 127.0.0.1:PORT --module bench/apps/hello.mjs
 *   php-fpm:            php-fpm -F -O -y POOL.conf -c PHP.ini (+ -R as root): pm = static,
 *                       pm.max_children = 1 (--php-children), opcache on, no other extension
 *                       (PHP_INI_SCAN_DIR=""), serving a generated hello.php (nginx sets
 *                       SCRIPT_FILENAME to it); $PHP_FPM names the binary, else php-fpm,
 *                       php-fpm8.x, … on PATH or in an sbin dir
 *   node-fastcgi:       node bench/apps/hello-node-fastcgi.mjs PORT 127.0.0.1, the npm package
 *                       as published: it closes the connection after every response (see the app)
 *   node-fastcgi-fixed: the same with NODE_FASTCGI_FIX=1: the app works around the package's
 *                       keep-alive bugs, so nginx can keep its connections
 * All answer 200 with the same 14-byte "Hello, World!\n" (bench/apps/hello.mjs's body),
 * Content-Type text/plain and a Content-Length; each is checked through nginx before it is
 * measured, and a setup that answers anything else is dropped loudly. The check also looks
 * in /proc/net/tcp for nginx's idle upstream connection, to show whether the backend keeps
 * connections (FCGI_KEEP_CONN). Runs are interleaved (the order rotates every round) and
 * repeated; the table shows medians of req/s, wrk's p50/p99 latency and the CPU time per
 * request of the backend (its process tree: PHP-FPM's master and child) and of nginx, from
 * /proc/PID/stat; then the ratios of tsgi against each baseline. On a small machine wrk,
 * nginx and the backend share the CPUs: compare the ratios, not the absolute numbers.
 *
 * PHP-FPM's child serves one connection at a time, and with fastcgi_keep_conn it stays on
 * that connection until nginx closes it: requests nginx sends on its other kept connections
 * wait (the p99 latency shows it). tsgi and node-fastcgi serve all connections at once.
 *
 * --json prints the results as JSON on stdout (the report then goes to stderr).
 * A missing nginx, wrk, php-fpm, node-fastcgi or an unbuilt dist/ (or a tsgi without
 * --fastcgi-socket) is reported and that setup skipped, never silently.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  checkSetup,
  children,
  environmentLine,
  fmtMs,
  fmtRatio,
  get,
  killAll,
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
import { findExecutable, findNginx, freePort, nginxVersion, startNginx, stopProcess } from './lib/nginx.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';
const PHP_FPM_NAMES = ['php-fpm', 'php-fpm8.4', 'php-fpm8.3', 'php-fpm8.2', 'php-fpm8.1', 'php-fpm8.0', 'php-fpm7.4'];
const KEYS = ['tsgi', 'php-fpm', 'node-fastcgi', 'node-fastcgi-fixed'];
/** Short names, for the ratios. */
const NAMES = { tsgi: 'tsgi', 'php-fpm': 'PHP-FPM', 'node-fastcgi': 'node-fastcgi', 'node-fastcgi-fixed': 'node-fastcgi (fixed)' };

const { parse: parseOptions } = optionParser({
  script: 'e2e-fastcgi',
  defaults: { duration: 10, connections: 50, threads: 2, rounds: 3, warmup: 2, 'nginx-workers': 1, keepalive: 32, 'php-children': 1, only: '' },
  only: KEYS,
  flags: ['json'],
  minimums: { warmup: 0, keepalive: 0 },
});

// ---- PHP-FPM ---------------------------------------------------------------------------------

function findPhpFpm() {
  if (process.env.PHP_FPM) return existsSync(process.env.PHP_FPM) ? process.env.PHP_FPM : null;
  for (const name of PHP_FPM_NAMES) {
    const bin = findExecutable(name);
    if (bin) return bin;
  }
  return null;
}

/** "8.2.36" from `php-fpm -v`. */
function phpFpmVersion(bin) {
  const result = spawnSync(bin, ['-n', '-v'], { encoding: 'utf8' });
  return /^PHP (\S+)/.exec(result.stdout ?? '')?.[1] ?? '?';
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Writes hello.php, php.ini and the pool config into `dir`; returns how to start PHP-FPM:
 * { args, env, script, opcache }. Only our php.ini is read (PHP_INI_SCAN_DIR=""), with
 * opcache if the binary can load it, as in any production setup.
 */
function preparePhpFpm(bin, port, dir, children) {
  const script = path.join(dir, 'hello.php');
  writeFileSync(
    script,
    `<?php
header('Content-Type: text/plain');
header('Content-Length: 14');
echo "Hello, World!\\n";
`,
  );
  const ini = path.join(dir, 'php.ini');
  const env = { ...process.env, PHP_INI_SCAN_DIR: '' };
  // default_charset "": a bare text/plain (no "; charset=UTF-8"), as the others send it.
  const baseIni = 'expose_php = Off\ndefault_charset = ""\nlog_errors = On\ndisplay_errors = Off\n';
  writeFileSync(ini, `${baseIni}zend_extension = opcache\nopcache.enable = 1\n`);
  const modules = spawnSync(bin, ['-c', ini, '-m'], { encoding: 'utf8', env });
  const opcache = /Zend OPcache/.test(modules.stdout ?? '');
  if (!opcache) writeFileSync(ini, baseIni);
  const user = os.userInfo();
  const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout?.trim() || String(user.gid);
  const conf = path.join(dir, 'php-fpm.conf');
  writeFileSync(
    conf,
    `; generated by bench/e2e-fastcgi.mjs
[global]
pid = ${path.join(dir, 'php-fpm.pid')}
error_log = ${path.join(dir, 'php-fpm.log')}
log_level = warning
daemonize = no

[bench]
${isRoot ? `user = ${user.username}\ngroup = ${group}\n` : ''}listen = 127.0.0.1:${port}
listen.backlog = ${Math.min(1024, somaxconn())}
pm = static
pm.max_children = ${children}
pm.max_requests = 0
catch_workers_output = yes
`,
  );
  // -F: foreground, -O: log to stderr (which we keep) although it is no tty, -R: allow root.
  return { args: ['-F', '-O', ...(isRoot ? ['-R'] : []), '-c', ini, '-y', conf], env, script, opcache };
}

// ---- keep-alive check ------------------------------------------------------------------------

/** Established TCP connections (IPv4) to 127.0.0.1:`port`, counted on the client side: nginx's
 * upstream connections to a backend. NaN without /proc. */
function connectionsTo(port) {
  let text;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return NaN;
  }
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return text
    .split('\n')
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[2] === remote && fields[3] === '01'; // rem_address, st (01: ESTABLISHED)
    }).length;
}

/** "yes (1 idle connection …)" / "NO, …" from the count after sequential requests. */
function keepAliveText(idle) {
  if (!Number.isFinite(idle)) return 'not checked (no /proc/net/tcp)';
  if (idle > 0) return `yes (${idle} idle connection${idle > 1 ? 's' : ''} after 3 sequential requests)`;
  return 'NO, the connection was closed after each request';
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const skipped = []; // [setup, reason]
  // With --json the human-readable report goes to stderr and stdout carries only the JSON.
  const say = (text) => (options.json ? process.stderr : process.stdout).write(`${text}\n`);

  const nginxBin = findNginx();
  const wrk = findExecutable('wrk');
  if (!nginxBin || !wrk) {
    const missing = [!nginxBin && 'nginx (apt-get install nginx, or NGINX=/path)', !wrk && 'wrk (apt-get install wrk)'].filter(Boolean);
    say(`e2e-fastcgi: SKIPPED every setup: ${missing.join(' and ')} not installed; nothing measured.`);
    process.exitCode = 1;
    return;
  }

  // Which backends can run.
  const setups = [];
  const add = (key, available, label) => {
    if (!wanted(options, key)) skipped.push([NAMES[key], `--only ${options.only.join(',')}`]);
    else if (available !== true) skipped.push([NAMES[key], available]);
    else setups.push({ key, name: NAMES[key], label });
  };
  const cli = path.join(root, 'dist/cli.js');
  add('tsgi', existsSync(cli) && existsSync(path.join(root, 'prebuilds')) ? true : `${path.relative(root, cli)} or prebuilds/ missing: run npm run build first`, `tsgi (node ${process.version})`);
  const phpFpmBin = findPhpFpm();
  const noPhpFpm = process.env.PHP_FPM
    ? `PHP_FPM=${process.env.PHP_FPM} does not exist`
    : `php-fpm not installed (apt-get install php-fpm, or PHP_FPM=/path/to/php-fpm; looked for ${PHP_FPM_NAMES.join(', ')})`;
  add('php-fpm', phpFpmBin ? true : noPhpFpm, phpFpmBin && `PHP-FPM ${phpFpmVersion(phpFpmBin)}`);
  let nodeFastcgiVersion = null;
  try {
    const require = createRequire(path.join(root, 'package.json'));
    nodeFastcgiVersion = JSON.parse(readFileSync(require.resolve('node-fastcgi/package.json'), 'utf8')).version;
  } catch {
    // not installed
  }
  const noNodeFastcgi = 'the node-fastcgi package is not installed (a devDependency: npm install)';
  add('node-fastcgi', nodeFastcgiVersion ? true : noNodeFastcgi, `node-fastcgi ${nodeFastcgiVersion} as published (node ${process.version})`);
  add('node-fastcgi-fixed', nodeFastcgiVersion ? true : noNodeFastcgi, `node-fastcgi ${nodeFastcgiVersion} + keep-alive fixes (node ${process.version})`);

  let nginx;
  let phpDir;
  const cleanup = async () => {
    await nginx?.stop().catch(() => {});
    // PHP-FPM: SIGQUIT is its graceful stop (SIGINT and SIGTERM are immediate; any will do).
    for (const setup of setups) if (setup.backend) await stopProcess(setup.backend.child, { signal: setup.key === 'php-fpm' ? 'SIGQUIT' : 'SIGINT', graceMs: 3_000 });
    for (const child of children) await stopProcess(child, { signal: 'SIGINT', graceMs: 1_000 });
    if (phpDir) rmSync(phpDir, { recursive: true, force: true });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\ne2e-fastcgi: interrupted, stopping everything');
    cleanup().finally(() => process.exit(130));
  });

  try {
    // Start the backends: one process each (PHP-FPM: a master and its child).
    for (const setup of setups) {
      const port = await freePort();
      try {
        if (setup.key === 'tsgi') {
          setup.backend = await startBackend('tsgi', process.execPath, [cli, '--fastcgi-socket', `127.0.0.1:${port}`, '--module', path.join(root, 'bench/apps/hello.mjs'), ...tsgiBenchFlags()], port, { cwd: root });
        } else if (setup.key === 'php-fpm') {
          phpDir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-php-fpm-'));
          const php = preparePhpFpm(phpFpmBin, port, phpDir, options['php-children']);
          setup.script = php.script;
          const count = options['php-children'];
          setup.label += `, ${count} child${count > 1 ? 'ren' : ''}, ${php.opcache ? 'opcache' : 'NO opcache (it did not load)'}`;
          setup.backend = await startBackend('PHP-FPM', phpFpmBin, php.args, port, { cwd: phpDir, env: php.env });
        } else {
          const env = { ...process.env, NODE_FASTCGI_FIX: setup.key === 'node-fastcgi-fixed' ? '1' : '0' };
          setup.backend = await startBackend(setup.name, process.execPath, [path.join(root, 'bench/apps/hello-node-fastcgi.mjs'), String(port), '127.0.0.1'], port, { cwd: root, env });
        }
        setup.port = port;
        setup.cpuPids = () => [setup.backend.child.pid];
      } catch (error) {
        const reason =
          setup.key === 'tsgi' && /unknown option --fastcgi-socket/.test(error.message)
            ? `this build of tsgi has no --fastcgi-socket yet (npm run build once it has):\n${error.message}`
            : error.message;
        skipped.push([setup.label, `did not start: ${reason}`]);
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
        locations: live.map((s) => ({
          path: `/${s.key}/`,
          fastcgiPass: `127.0.0.1:${s.port}`,
          keepalive: options.keepalive || undefined,
          extra: s.script ? [`fastcgi_param SCRIPT_FILENAME ${s.script};`] : [],
        })),
      });
    }

    // Check each chain answers with the hello world before measuring it, and whether nginx
    // keeps its upstream connection (after a few requests one at a time: one idle connection).
    for (const setup of live) {
      setup.url = nginx.url(`/${setup.key}/`);
      try {
        const reply = await checkSetup(setup, nginx, EXPECTED_BODY);
        const length = reply.headers['content-length'];
        setup.response = `${reply.status}, Content-Type: ${reply.headers['content-type'] ?? '(none)'}, ${length !== undefined ? `Content-Length: ${length}` : `no Content-Length (${reply.headers['transfer-encoding'] ?? '?'})`}`;
        // On one kept-alive client connection, as wrk: a client's `Connection: close` can reach
        // the app as HTTP_CONNECTION, make it answer `Connection: close`, and nginx then drops
        // the upstream connection as well.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          for (let i = 0; i < 3; i++) await get(setup.url, { agent });
          await sleep(200);
          setup.upstreamConnections = connectionsTo(setup.port);
        } finally {
          agent.destroy();
        }
      } catch (error) {
        skipped.push([setup.label, error.message]);
        setup.failed = true;
      }
    }
    const measured = live.filter((s) => !s.failed);

    const upstream = options.keepalive ? `kept-alive upstream connections: keepalive ${options.keepalive}, fastcgi_keep_conn on` : 'a new upstream connection per request';
    say(`# tsgi vs PHP-FPM vs node-fastcgi behind nginx (fastcgi_pass, ${upstream}), hello world`);
    say('');
    say(environmentLine(nginxBin, options));
    for (const [setup, reason] of skipped) say(`SKIPPED ${setup}: ${reason}`);
    for (const s of measured) say(`${s.key}: ${s.label}; response ${s.response}${options.keepalive ? `; upstream keep-alive: ${keepAliveText(s.upstreamConnections)}` : ''}`);
    say('');
    if (measured.length === 0) {
      say('nothing measured.');
      if (options.json) process.stdout.write(`${JSON.stringify({ benchmark: 'e2e-fastcgi', skipped: skipped.map(([setup, reason]) => ({ setup, reason })), results: [] }, null, 2)}\n`);
      process.exitCode = 1;
      return;
    }

    const errorLogBefore = nginx.errorLog().length;
    await runRounds(measured, options, wrk, { cpu: { nginxPid: nginx.pid }, isInterrupted: () => interrupted });
    const errorLogLines = nginx.errorLog().slice(errorLogBefore).split('\n').filter(Boolean);

    summarize(measured);
    for (const line of tableLines(measured, { cpu: true })) say(line);
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
    const php = measured.find((s) => s.key === 'php-fpm');
    if (php && options.keepalive && options['php-children'] < options.connections) {
      const one = options['php-children'] === 1;
      say('');
      say(
        `note: PHP-FPM's ${one ? 'child serves' : `${options['php-children']} children serve`} one upstream connection at a time and ${one ? 'stays' : 'stay'} on it while nginx keeps it open; requests that nginx sends on its other kept connections wait (p99 ${fmtMs(php.p99)}${php.errors ? `; wrk gives up on a request after 2 s: ${php.errors} socket errors` : ''}).`,
      );
    }
    // What nginx logged during the runs, per setup (its request line names the location).
    for (const s of measured) {
      s.nginxErrors = errorLogLines.filter((line) => line.includes(`"GET /${s.key}/ `));
      const clientErrors = s.runs.reduce((sum, r) => sum + r.non2xx + r.socketErrors, 0);
      if (!s.nginxErrors.length && !clientErrors) continue;
      say('');
      say(
        `${clientErrors ? 'WARNING' : 'note'}: ${s.key}: ${clientErrors ? `${clientErrors} errors seen by wrk (${s.runs.map((r) => `${r.non2xx} non-2xx, ${r.socketErrorText || 'no socket errors'}`).join('; ')})` : 'no errors seen by wrk'}; ${s.nginxErrors.length} nginx error.log line(s) for /${s.key}/${s.nginxErrors.length ? `, the last:\n${s.nginxErrors.slice(-3).join('\n')}` : ''}`,
      );
    }
    const unattributed = errorLogLines.filter((line) => !measured.some((s) => line.includes(`"GET /${s.key}/ `)) && /\[(error|crit|alert|emerg)\]/.test(line));
    if (unattributed.length) say(`\nnginx error.log, other lines during the runs (${unattributed.length}), the last:\n${unattributed.slice(-5).join('\n')}`);

    if (options.json) {
      const round = (n, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);
      const report = {
        benchmark: 'e2e-fastcgi',
        nginx: nginxVersion(nginxBin),
        options: { ...options, json: undefined },
        wrk: `-t${options.threads} -c${options.connections} -d${options.duration}s --latency`,
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model?.trim() ?? null, platform: `${os.platform()} ${os.release()}`, node: process.version },
        skipped: skipped.map(([setup, reason]) => ({ setup, reason })),
        results: measured.map((s) => ({
          key: s.key,
          label: s.label,
          response: s.response,
          upstreamIdleConnections: Number.isFinite(s.upstreamConnections) ? s.upstreamConnections : null,
          rps: round(s.rps),
          p50Ms: round(s.p50, 3),
          p99Ms: round(s.p99, 3),
          backendCpuUsPerRequest: round(s.backendCpuUs, 2),
          nginxCpuUsPerRequest: round(s.nginxCpuUs, 2),
          errors: s.errors,
          nginxErrorLogLines: s.nginxErrors.length,
          runs: s.runs.map((r) => ({
            rps: round(r.rps),
            requests: r.requests,
            p50Ms: round(r.p50, 3),
            p99Ms: round(r.p99, 3),
            backendCpuUsPerRequest: round(r.backendCpuUs, 2),
            nginxCpuUsPerRequest: round(r.nginxCpuUs, 2),
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
  process.stderr.write(`e2e-fastcgi: ${error?.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});
