/**
 * The benchmarks' results as Markdown and SVG: pure functions of the results files
 * (bench/results/e2e.json, codec.json), so that scripts/render-performance.mjs and the test that checks
 * docs/benchmarks.md (__test__/unit/bench-results.test.ts) render exactly what the runs wrote.
 */
import { BASELINES } from '../e2e/setups.mjs';
import { machineLine } from './machine.mjs';

/**
 * bench/results/e2e.json: what bench/e2e.mjs wrote (numbers rounded, NaN as null).
 * @typedef {object} E2eResults
 * @property {string} date
 * @property {import('./machine.mjs').Machine} machine
 * @property {Record<string, string | null | undefined>} versions
 * @property {{ duration: number, rounds: number, warmup: number, connections: number[], workloads: string[], nginxWorkers: number, quick?: boolean }} options
 * @property {Array<{ setup: string, reason: string }>} skipped
 * @property {Array<{ key: string, name: string, label: string, group: string, via: string, pair?: string, baselines?: { uwsgi: string, node: string } }>} setups
 * @property {E2eCell[]} cells
 */

/**
 * @typedef {object} E2eCell
 * @property {string} setup
 * @property {string} workload
 * @property {number} connections
 * @property {number | null} rps
 * @property {number | null} p50Ms
 * @property {number | null} p99Ms
 * @property {number | null} backendCpuUs
 * @property {number | null} nginxCpuUs
 * @property {number} errors
 * @property {number[]} runs req/s per round
 */

/**
 * bench/results/codec.json: what bench/codec/run.mjs wrote, a suite per protocol and request.
 * @typedef {{ date: string, machine: import('./machine.mjs').Machine, maxTime: number, batch: number, suites: CodecSuite[] }} CodecResults
 */

/** @typedef {{ protocol: string, request: string, packetBytes: number, batch: number, maxTime: number, results: CodecResult[] }} CodecSuite */

/**
 * One contender of a codec suite: measured, or skipped with the reason.
 * @typedef {{ key: string, label?: string, unit?: string, perRequest?: number, skipped?: string, packetsPerSecond?: number, mbPerSecond?: number, rme?: number, samples?: number }} CodecResult
 */

/** @param {number | undefined} n */
const fmtInt = (n) => (typeof n === 'number' && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
/** @param {number} n */
const fmtMs = (n) => (Number.isFinite(n) ? `${n < 1 ? n.toFixed(3) : n.toFixed(2)} ms` : 'n/a');
/** @param {number} n */
const fmtUs = (n) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(1) : Math.round(n)} µs` : 'n/a');
/** @param {number} n */
const fmtRatio = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
/** @param {number | null | undefined} n */
const num = (n) => (n === null || n === undefined ? NaN : n);

// ---- end to end ----------------------------------------------------------------------------

/**
 * The cell of `setup` for a workload and a connection count, or undefined.
 * @param {E2eResults} results
 * @param {string} setup
 * @param {string} workload
 * @param {number} connections
 */
const cellOf = (results, setup, workload, connections) =>
  results.cells.find((c) => c.setup === setup && c.workload === workload && c.connections === connections);

/**
 * rps of `a` over rps of `b` (or of `field`), same workload and connections; NaN if either is missing.
 * @param {E2eResults} results
 * @param {string} a
 * @param {string | undefined} b
 * @param {string} workload
 * @param {number} connections
 * @param {'rps' | 'backendCpuUs'} [field]
 */
function ratio(results, a, b, workload, connections, field = 'rps') {
  const x = cellOf(results, a, workload, connections);
  const y = b === undefined ? undefined : cellOf(results, b, workload, connections);
  return x && y ? num(x[field]) / num(y[field]) : NaN;
}

/**
 * The throughput scenario the targets are read at: hello, at the most connections run.
 * @param {E2eResults} results
 */
const headline = (results) => ({
  workload: results.options.workloads.includes('hello') ? 'hello' : (results.options.workloads[0] ?? 'hello'),
  connections: Math.max(...results.options.connections),
});

/**
 * The targets, each { target, a, b, field, goal, lowerIsBetter? }: setup `a` against
 * setup `b` in `field` (rps, or backendCpuUs where lower is better); goal NaN: shown, no target.
 * @returns {Array<{ target: string, a: string, b: string, field: 'rps' | 'backendCpuUs', goal: number, lowerIsBetter?: boolean }>}
 */
export function targets() {
  /** @type {ReturnType<typeof targets>} */
  const rows = [
    { target: 'uwsgi behind nginx: req/s ≥ uWSGI', a: 'tsgi-uwsgi', b: 'uwsgi', field: 'rps', goal: 1 },
    { target: 'uwsgi behind nginx: backend CPU/request ≤ 0.5× uWSGI', a: 'tsgi-uwsgi', b: 'uwsgi', field: 'backendCpuUs', goal: 0.5, lowerIsBetter: true },
    { target: 'FastCGI keep-conn ≥ 1.2× nginx → node:http keepalive', a: 'tsgi-fastcgi', b: 'node-http-proxy', field: 'rps', goal: 1.2 },
    { target: 'FastCGI keep-conn ≥ 8× node-fastcgi (as published)', a: 'tsgi-fastcgi', b: 'node-fastcgi', field: 'rps', goal: 8 },
    { target: 'FastCGI keep-conn against node-fastcgi, keep-alive fixed (no target)', a: 'tsgi-fastcgi', b: 'node-fastcgi-fixed', field: 'rps', goal: NaN },
    { target: 'HTTP direct, one worker ≥ 1.5× node:http', a: 'tsgi-http', b: 'node-http', field: 'rps', goal: 1.5 },
  ];
  for (const protocol of ['uwsgi', 'http'])
    rows.push({ target: `two workers ≥ 1.7× one (${protocol})`, a: `tsgi-${protocol}-2w`, b: `tsgi-${protocol}`, field: 'rps', goal: 1.7 });
  for (const protocol of ['uwsgi', 'uwsgi-unix', 'fastcgi', 'http', 'http-proxy']) {
    rows.push({ target: `native ≥ 1.5× pure-TS (${protocol})`, a: `tsgi-${protocol}`, b: `pure-${protocol}`, field: 'rps', goal: 1.5 });
  }
  return rows;
}

/**
 * The targets table: each pair's req/s and backend CPU/request ratios, and the verdict on the target's own.
 * @param {E2eResults} results
 */
function targetLines(results) {
  const { workload, connections } = headline(results);
  const lines = [`| target (${workload}, ${connections} connections) | req/s ratio | backend CPU/req ratio | |`, '|---|---:|---:|---|'];
  for (const t of targets()) {
    const rps = ratio(results, t.a, t.b, workload, connections);
    const cpu = ratio(results, t.a, t.b, workload, connections, 'backendCpuUs');
    const measured = t.field === 'rps' ? rps : cpu;
    let verdict = '';
    if (!Number.isFinite(measured)) verdict = 'not measured';
    else if (Number.isFinite(t.goal)) verdict = (t.lowerIsBetter ? measured <= t.goal : measured >= t.goal) ? 'met' : '**missed**';
    lines.push(`| ${t.target} | ${fmtRatio(rps)} | ${fmtRatio(cpu)} | ${verdict} |`);
  }
  return lines;
}

/**
 * One table: every setup for a workload and a connection count, with the ratios beside tsgi's rows.
 * @param {E2eResults} results
 * @param {string} workload
 * @param {number} connections
 * @param {{ perRound?: boolean }} [how]
 */
function cellTable(results, workload, connections, { perRound = true } = {}) {
  const lines = [
    `| setup | req/s | p50 | p99 | backend CPU/req | nginx CPU/req | ×uWSGI | ×node:http |${perRound ? ' req/s per round | errors |' : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|---:|${perRound ? '---|---:|' : ''}`,
  ];
  for (const setup of results.setups) {
    const cell = cellOf(results, setup.key, workload, connections);
    if (!cell) continue;
    const baseline = setup.group === 'tsgi' ? (setup.baselines ?? BASELINES[/** @type {'nginx' | 'direct'} */ (setup.via)]) : null;
    /** @param {string | undefined} other */
    const versus = (other) => (baseline ? fmtRatio(ratio(results, setup.key, other, workload, connections)) : '');
    const name = setup.group === 'tsgi' ? `**${setup.label}**` : setup.label;
    const rounds = perRound ? ` ${cell.runs.map((n) => fmtInt(n)).join(', ')} | ${cell.errors} |` : '';
    lines.push(
      `| ${name} | ${fmtInt(num(cell.rps))} | ${fmtMs(num(cell.p50Ms))} | ${fmtMs(num(cell.p99Ms))} | ${fmtUs(num(cell.backendCpuUs))} | ${fmtUs(num(cell.nginxCpuUs))} | ${versus(baseline?.uwsgi)} | ${versus(baseline?.node)} |${rounds}`,
    );
  }
  return lines;
}

/** @type {Record<string, string>} */
const WORKLOAD_TITLES = { hello: 'hello world', '64k': '64 KiB response', post: '1 MiB POST' };

/**
 * "nginx 1.22.1 (1 worker), wrk 4.1.0, …": the versions line.
 * @param {E2eResults} results
 */
function versionsLine(results) {
  const v = results.versions;
  const o = results.options;
  const parts = [
    v.nginx && `nginx ${v.nginx} (${o.nginxWorkers} worker${o.nginxWorkers > 1 ? 's' : ''})`,
    v.wrk && `wrk ${v.wrk}`,
    v.uwsgi && `uWSGI ${v.uwsgi} (Python ${v.python})`,
    v.phpFpm && `PHP-FPM ${v.phpFpm}`,
    v.nodeFastcgi && `node-fastcgi ${v.nodeFastcgi}`,
  ].filter(Boolean);
  return `${parts.join(', ')}; wrk -d${o.duration}s (-t1 -c1, -t2 -c50), ${o.rounds} round${o.rounds > 1 ? 's' : ''} interleaved, medians`;
}

/** bench/results/e2e.md: every table of a run. */
/** @param {E2eResults} results */
export function e2eMarkdown(results) {
  const lines = [
    `# tsgi end to end${results.options.quick ? ' (quick)' : ''}`,
    '',
    `${results.date.slice(0, 10)}: ${machineLine(results.machine)}; ${versionsLine(results)}.`,
    'CPU/req: CPU time (user + system) of the process tree per request, from /proc. ×uWSGI and ×node:http: req/s against the same server reached the same way (behind nginx: uWSGI over uwsgi, node:http behind proxy_pass; direct: uWSGI --http-socket, node:http).',
    '',
  ];
  for (const s of results.skipped) lines.push(`- SKIPPED ${s.setup}: ${s.reason.split('\n')[0]}`);
  if (results.skipped.length) lines.push('');
  lines.push('## Targets', '', ...targetLines(results), '');
  for (const workload of results.options.workloads) {
    for (const connections of results.options.connections) {
      lines.push(
        `## ${WORKLOAD_TITLES[workload]}, ${connections} connection${connections > 1 ? 's' : ''}`,
        '',
        ...cellTable(results, workload, connections),
        '',
      );
    }
  }
  return lines.join('\n').trimEnd();
}

// ---- SVG chart -------------------------------------------------------------------------------

const COLORS = { native: '#1f6feb', pure: '#8fb8f5', workers: '#0b3d91', peer: '#9a9a9a', ceiling: '#d0d0d0' };

/** @param {E2eResults['setups'][number]} setup */
function colorOf(setup) {
  if (setup.group === 'ceiling') return COLORS.ceiling;
  if (setup.group !== 'tsgi') return COLORS.peer;
  if (setup.key.startsWith('pure-')) return COLORS.pure;
  return setup.key.endsWith('w') ? COLORS.workers : COLORS.native;
}

/** @param {string} text */
const escapeXml = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** bench/results/e2e.svg: req/s per setup, one panel per workload, at the most connections run. */
/** @param {E2eResults} results */
export function e2eSvg(results) {
  const { connections } = headline(results);
  const width = 860;
  const labelWidth = 330;
  const barMax = width - labelWidth - 90;
  const rowHeight = 17;
  const parts = [];
  let y = 24;
  parts.push(
    `<text x="10" y="${y}" font-size="15" font-weight="bold">tsgi end to end: requests/s, ${connections} connections (${escapeXml(results.date.slice(0, 10))}, ${results.machine.cpus} CPUs)</text>`,
  );
  y += 12;
  for (const workload of results.options.workloads) {
    const rows = results.setups.flatMap((setup) => {
      const cell = cellOf(results, setup.key, workload, connections);
      return cell ? [{ setup, cell }] : [];
    });
    if (!rows.length) continue;
    const top = Math.max(...rows.map((r) => num(r.cell.rps)).filter(Number.isFinite), 1);
    y += 22;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${escapeXml(WORKLOAD_TITLES[workload])}</text>`);
    y += 6;
    for (const { setup, cell } of rows) {
      const rps = num(cell.rps);
      const w = Number.isFinite(rps) ? Math.max(1, Math.round((rps / top) * barMax)) : 0;
      parts.push(
        `<text x="${labelWidth - 6}" y="${y + 12}" font-size="11" text-anchor="end">${escapeXml(setup.name)}</text>`,
        `<rect x="${labelWidth}" y="${y + 2}" width="${w}" height="${rowHeight - 4}" fill="${colorOf(setup)}"/>`,
        `<text x="${labelWidth + w + 4}" y="${y + 12}" font-size="11">${fmtInt(rps)}</text>`,
      );
      y += rowHeight;
    }
  }
  y += 28;
  const legend = [
    ['tsgi native', COLORS.native],
    ['tsgi, 2 workers', COLORS.workers],
    ['tsgi pure-TS', COLORS.pure],
    ['others', COLORS.peer],
    ['nginx alone', COLORS.ceiling],
  ];
  legend.forEach(([text, color], i) =>
    parts.push(
      `<rect x="${10 + i * 150}" y="${y - 10}" width="12" height="12" fill="${color}"/><text x="${26 + i * 150}" y="${y}" font-size="11">${text}</text>`,
    ),
  );
  y += 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${parts.join('\n')}
</svg>
`;
}

// ---- codec -----------------------------------------------------------------------------------

/**
 * The rows of the codec table for `suites`: per suite, each contender with its ratio to pure-TS.
 * @param {CodecSuite[]} suites
 */
function codecRows(suites) {
  const lines = ['| protocol | request | codec | packets/s | MB/s | ×pure-TS |', '|---|---|---|---:|---:|---:|'];
  for (const suite of suites) {
    const pure = suite.results.find((r) => r.key === 'pure-ts');
    for (const r of suite.results) {
      const what = `${suite.protocol} | ${suite.request} (${suite.packetBytes} B)`;
      if (r.skipped) lines.push(`| ${what} | ${r.key} | skipped: ${r.skipped} | | |`);
      else
        lines.push(
          `| ${what} | ${r.label} | ${fmtInt(r.packetsPerSecond)} | ${fmtInt(r.mbPerSecond)} | ${fmtRatio(num(r.packetsPerSecond) / num(pure?.packetsPerSecond))} |`,
        );
    }
  }
  return lines;
}

/** bench/results/codec.md. */
/** @param {CodecResults} results */
export function codecMarkdown(results) {
  return [
    '# tsgi codec micro-benchmarks',
    '',
    `${results.date.slice(0, 10)}: ${machineLine(results.machine)}; benchmark.js, ${results.maxTime} s per codec, batches of ${results.batch} requests, one process per suite.`,
    'Each codec parses the same requests (bench/codec/requests.mjs) as its server meets them, one call per request; tsgi native in one parseBatch call per batch, as its reactor parses without crossing into JavaScript.',
    '',
    ...codecRows(results.suites),
  ].join('\n');
}

// ---- docs/benchmarks.md's generated section ----------------------------------------------------------------------

export const RESULTS_START = '<!-- bench:start (generated by node scripts/render-performance.mjs from bench/results/; do not edit) -->';
export const RESULTS_END = '<!-- bench:end -->';

/**
 * docs/benchmarks.md's results section, from the committed results.
 * @param {E2eResults} e2e
 * @param {CodecResults} codec
 */
export function benchmarksSection(e2e, codec) {
  const { workload, connections } = headline(e2e);
  return [
    RESULTS_START,
    `\`npm run bench:e2e\` on ${e2e.date.slice(0, 10)}: ${machineLine(e2e.machine)}; ${versionsLine(e2e)}. wrk, nginx and the servers share the machine's cores: compare the ratios, measured in the same run, more than the absolute numbers. Every table of the run (the 64 KiB response, the 1 MiB POST, 1 connection): [bench/results/e2e.md](../bench/results/e2e.md).`,
    '',
    '![requests/s per setup](../bench/results/e2e.svg)',
    '',
    `${WORKLOAD_TITLES[workload]}, ${connections} connections:`,
    '',
    ...cellTable(e2e, workload, connections, { perRound: false }),
    '',
    ...targetLines(e2e),
    '',
    `Codecs alone (\`npm run bench:codec\`, ${codec.date.slice(0, 10)}), the 40-var browser request; every request size: [bench/results/codec.md](../bench/results/codec.md):`,
    '',
    ...codecRows(codec.suites.filter((s) => s.request === 'browser-40')),
    RESULTS_END,
  ].join('\n');
}

/**
 * `page` with its section between the markers replaced by `section`; throws without markers.
 * @param {string} page
 * @param {string} section
 */
export function replaceBenchmarksSection(page, section) {
  const start = page.indexOf(RESULTS_START);
  const end = page.indexOf(RESULTS_END);
  if (start < 0 || end < start) throw new Error(`docs/benchmarks.md has no ${RESULTS_START} … ${RESULTS_END} markers`);
  return page.slice(0, start) + section + page.slice(end + RESULTS_END.length);
}
