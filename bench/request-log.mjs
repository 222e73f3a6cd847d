#!/usr/bin/env node
/**
 * What the request log costs: the same hello app with its log off and on, in each format,
 * to a file and to stderr, side by side in one run; and uWSGI's own default log beside it.
 *
 *   npm run build && npm run bench:log
 *   node bench/request-log.mjs [--duration 5] [--connections 50] [--threads 1] [--rounds 2]
 *                              [--warmup 2] [--nginx-workers 1] [--only KEY,...]
 *
 * Every setup is a master and one worker (the default shape, where the log goes through
 * the master's `--logto` or stderr), `--logto` a fresh file unless the key says stderr:
 *   tsgi-off:       --disable-logging
 *   tsgi-default:   uWSGI's default line
 *   tsgi-format:    --log-format, Apache's combined line
 *   tsgi-json:      --log-json
 *   tsgi-stderr:    the default line to stderr (a pipe this script reads)
 *   tsgi-uwsgi-off, tsgi-uwsgi-default:  tsgi --socket behind nginx uwsgi_pass
 *   uwsgi-off, uwsgi-default:  uWSGI 2.0 (python3 plugin, bench/apps/hello.py) behind
 *                  nginx uwsgi_pass, --master --processes 1, its own default log
 * The figure that matters is the backend CPU per request (its whole process tree, master
 * included) of each logged setup less that of its unlogged twin. wrk keeps its connections
 * (-t1 -c50 by default); rounds are interleaved. A missing wrk, nginx or uwsgi, or an
 * unbuilt dist/, is reported and those setups skipped.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSetup, environmentLine, fmtUs, measureBackends, optionParser, runBenchmark, startBackend, wanted } from './lib/e2e.mjs';
import { findNginx, startNginx } from '../scripts/lib/nginx.mjs';
import { findExecutable, freePort, stopProcess } from '../scripts/lib/processes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXPECTED_BODY = 'Hello, World!\n';
const COMBINED = '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)"';

/**
 * A setup: how it is reached, what it runs, and which unlogged setup it is compared with.
 * @typedef {{ label: string, via: 'http' | 'uwsgi', peer?: 'uwsgi', log: string[], toFile: boolean, baseline?: string }} Plan
 */

/** @type {Record<string, Plan>} */
const PLANS = {
  'tsgi-off': { label: 'tsgi HTTP, --disable-logging', via: 'http', log: ['--disable-logging'], toFile: true },
  'tsgi-default': { label: "tsgi HTTP, uWSGI's default line, --logto", via: 'http', log: [], toFile: true, baseline: 'tsgi-off' },
  'tsgi-format': { label: 'tsgi HTTP, --log-format (combined), --logto', via: 'http', log: ['--log-format', COMBINED], toFile: true, baseline: 'tsgi-off' },
  'tsgi-json': { label: 'tsgi HTTP, --log-json, --logto', via: 'http', log: ['--log-json'], toFile: true, baseline: 'tsgi-off' },
  'tsgi-stderr': { label: "tsgi HTTP, uWSGI's default line, to stderr", via: 'http', log: [], toFile: false, baseline: 'tsgi-off' },
  'tsgi-uwsgi-off': { label: 'tsgi behind nginx uwsgi_pass, --disable-logging', via: 'uwsgi', log: ['--disable-logging'], toFile: true },
  'tsgi-uwsgi-default': { label: 'tsgi behind nginx uwsgi_pass, default log, --logto', via: 'uwsgi', log: [], toFile: true, baseline: 'tsgi-uwsgi-off' },
  'uwsgi-off': { label: 'uWSGI behind nginx uwsgi_pass, --disable-logging', via: 'uwsgi', peer: 'uwsgi', log: ['--disable-logging'], toFile: true },
  'uwsgi-default': { label: 'uWSGI behind nginx uwsgi_pass, default log, --logto', via: 'uwsgi', peer: 'uwsgi', log: [], toFile: true, baseline: 'uwsgi-off' },
};

const { parse: parseOptions } = optionParser({
  script: 'request-log',
  defaults: { duration: 5, connections: 50, threads: 1, rounds: 2, warmup: 2, 'nginx-workers': 1, only: '' },
  only: Object.keys(PLANS),
  minimums: { warmup: 0 },
});

async function main() {
  const options = parseOptions(process.argv.slice(2));
  /** @param {string} text */
  const say = (text) => process.stdout.write(`${text}\n`);
  const wrk = findExecutable('wrk');
  const nginxBin = findNginx();
  const uwsgiBin = findExecutable('uwsgi');
  const cli = path.join(root, 'dist/cli.js');
  if (!wrk) {
    say('request-log: SKIPPED every setup: wrk not installed (apt-get install wrk); nothing measured.');
    process.exitCode = 1;
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-bench-log-'));
  const asRoot = process.getuid?.() === 0;
  /** @type {Array<[string, string]>} */
  const skipped = [];
  /** @type {Array<any>} */
  const setups = [];
  /** @type {Array<{ stop: () => Promise<void> }>} */
  const nginxes = [];
  const cleanup = async () => {
    for (const nginx of nginxes) await nginx.stop().catch(() => {});
    for (const s of setups) if (s.backend) await stopProcess(s.backend.child, { signal: s.plan.peer ? 'SIGTERM' : 'SIGINT', graceMs: 3_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    cleanup().finally(() => process.exit(130));
  });
  try {
    for (const [key, plan] of Object.entries(PLANS)) {
      if (!wanted(options, key)) continue;
      if (plan.via === 'uwsgi' && !nginxBin) skipped.push([key, 'nginx not installed (apt-get install nginx)']);
      else if (plan.peer === 'uwsgi' && !uwsgiBin) skipped.push([key, 'uwsgi not installed (apt-get install uwsgi uwsgi-plugin-python3)']);
      else if (!plan.peer && !statSync(cli, { throwIfNoEntry: false })) skipped.push([key, 'dist/cli.js missing: run npm run build first']);
      else setups.push({ key, name: key, label: `${key}: ${plan.label}`, plan, logFile: path.join(dir, `${key}.log`) });
    }
    for (const setup of setups) {
      const { plan } = setup;
      const port = await freePort();
      const address = `127.0.0.1:${port}`;
      const logto = plan.toFile ? ['--logto', setup.logFile] : [];
      try {
        setup.backend = plan.peer
          ? await startBackend(
              setup.key,
              /** @type {string} */ (uwsgiBin),
              [
                '--plugin',
                'python3',
                '--socket',
                address,
                '--wsgi-file',
                path.join(root, 'bench/apps/hello.py'),
                '--master',
                '--processes',
                '1',
                '--die-on-term',
              ].concat(plan.log, logto),
              port,
            )
          : await startBackend(
              setup.key,
              process.execPath,
              [
                cli,
                plan.via === 'http' ? '--http-socket' : '--socket',
                address,
                '--module',
                path.join(root, 'bench/apps/hello.mjs'),
                '--processes',
                '1',
              ].concat(plan.log, logto, asRoot ? ['--allow-root'] : []),
              port,
              { cwd: root },
            );
        setup.cpuPids = () => [setup.backend.child.pid];
        if (plan.via === 'http') {
          setup.url = `http://${address}/hello`;
        } else {
          const nginx = await startNginx({
            nginx: nginxBin ?? undefined,
            workerProcesses: options['nginx-workers'],
            workerConnections: Math.max(4096, options.connections * 4),
            errorLogLevel: 'warn',
            accessLog: false,
            locations: [{ path: '/', uwsgiPass: address }],
          });
          nginxes.push(nginx);
          setup.url = nginx.url('/hello');
        }
        await checkSetup(setup, null, EXPECTED_BODY);
      } catch (error) {
        skipped.push([setup.key, `did not start or answer: ${error instanceof Error ? error.message : error}`]);
        setup.failed = true;
      }
    }
    const measured = setups.filter((s) => !s.failed);
    say('# What the request log costs: the same app, logged and not, side by side');
    say('');
    say(environmentLine(nginxBin, options));
    for (const [key, reason] of skipped) say(`SKIPPED ${key}: ${reason}`);
    say('');
    if (!(await measureBackends(measured, options, wrk, say, () => interrupted))) return;
    say('backend CPU per logged request, over the same setup unlogged:');
    for (const s of measured) {
      const base = measured.find((b) => b.key === s.plan.baseline);
      if (!base) continue;
      const lines = s.plan.toFile ? ` (${(statSync(s.logFile, { throwIfNoEntry: false })?.size ?? 0).toLocaleString('en-US')} bytes of log)` : '';
      say(`  ${s.key}: +${fmtUs(Number(s.backendCpuUs) - Number(base.backendCpuUs))} per request over ${base.key}${lines}`);
    }
  } finally {
    if (!interrupted) await cleanup();
  }
}

runBenchmark('request-log', main);
