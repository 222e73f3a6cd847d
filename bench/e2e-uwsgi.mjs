#!/usr/bin/env node
/**
 * End-to-end requests/s through nginx `uwsgi_pass`: tsgi against uWSGI 2.0 (python3).
 *
 *   npm run build && npm run bench:uwsgi
 *   node bench/e2e-uwsgi.mjs [--duration 10] [--connections 50] [--threads 2] [--rounds 3]
 *                            [--warmup 2] [--nginx-workers 1] [--only tsgi,tsgi-pure,uwsgi]
 *
 * What it measures: wrk (keep-alive HTTP/1.1, `-t2 -c50 -d10s` by default) against one
 * private nginx (bench/lib/nginx.mjs; one worker, access log off) whose `/tsgi/` and
 * `/uwsgi/` locations `uwsgi_pass` to, one process each:
 *   tsgi:  node dist/cli.js --socket 127.0.0.1:PORT --module bench/apps/hello.mjs
 *   tsgi-pure: the same with TSGI_NATIVE=0: the pure-TypeScript reactor
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
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkSetup,
  children,
  environmentLine,
  errorWarningLines,
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
import { findExecutable, findNginx, freePort, startNginx, stopProcess } from './lib/nginx.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';

const { parse: parseOptions } = optionParser({
  script: 'e2e-uwsgi',
  defaults: { duration: 10, connections: 50, threads: 2, rounds: 3, warmup: 2, 'nginx-workers': 1, only: '' },
  only: ['tsgi', 'tsgi-pure', 'uwsgi'],
  minimums: { warmup: 0 },
});

function uwsgiVersion(bin) {
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return (result.stdout || '').trim() || '?';
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
  const cli = path.join(root, 'dist/cli.js');
  if (!wanted(options, 'tsgi')) skipped.push(['tsgi', `--only ${options.only.join(',')}`]);
  else if (!existsSync(cli) || !existsSync(path.join(root, 'prebuilds'))) skipped.push(['tsgi', `${path.relative(root, cli)} or prebuilds/ missing: run npm run build first`]);
  else setups.push({ key: 'tsgi', label: `tsgi, native reactor (node ${process.version})` });
  if (!wanted(options, 'tsgi-pure')) skipped.push(['tsgi-pure', `--only ${options.only.join(',')}`]);
  else if (!existsSync(cli)) skipped.push(['tsgi-pure', `${path.relative(root, cli)} missing: run npm run build first`]);
  else setups.push({ key: 'tsgi-pure', label: `tsgi, pure-TypeScript reactor, TSGI_NATIVE=0 (node ${process.version})` });
  const uwsgiBin = findExecutable('uwsgi');
  if (!wanted(options, 'uwsgi')) skipped.push(['uwsgi', `--only ${options.only.join(',')}`]);
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
        if (setup.key.startsWith('tsgi')) {
          const env = { ...process.env, TSGI_NATIVE: setup.key === 'tsgi-pure' ? '0' : '' };
          setup.backend = await startBackend(setup.key, process.execPath, [cli, '--socket', `127.0.0.1:${port}`, '--module', path.join(root, 'bench/apps/hello.mjs'), ...tsgiBenchFlags()], port, { env });
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
        await checkSetup(setup, nginx, EXPECTED_BODY);
      } catch (error) {
        skipped.push([setup.label, error.message]);
        setup.failed = true;
      }
    }
    const measured = live.filter((s) => !s.failed);

    say(`# tsgi vs uWSGI behind nginx (uwsgi_pass), hello world`);
    say('');
    say(environmentLine(nginxBin, options));
    for (const [setup, reason] of skipped) say(`SKIPPED ${setup}: ${reason}`);
    say('');
    if (measured.length === 0) {
      say('nothing measured.');
      process.exitCode = 1;
      return;
    }

    await runRounds(measured, options, wrk, { isInterrupted: () => interrupted });

    summarize(measured);
    for (const line of tableLines(measured)) say(line);
    say('');
    const tsgi = measured.find((s) => s.key === 'tsgi');
    say(ratioLine(tsgi, measured.find((s) => s.key === 'uwsgi'), ['tsgi', 'uWSGI']));
    if (wanted(options, 'tsgi-pure')) say(ratioLine(tsgi, measured.find((s) => s.key === 'tsgi-pure'), ['tsgi', 'tsgi pure-TypeScript']));
    for (const line of errorWarningLines(measured, nginx)) say(line);
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().catch((error) => {
  process.stderr.write(`e2e-uwsgi: ${error?.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});
