/**
 * `/metrics` after a known mix of requests (status codes, body sizes, a slow one, a uwsgi
 * one, a harakiri), read as a scraper reads it: every family parsed by the Prometheus
 * project's own parser (Python's prometheus_client, text and OpenMetrics), the counts and
 * sums of the histograms equal to what was sent, and every label from a bounded set.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { exchange, nginxVars, packet } from '../helpers/uwsgi.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/observe-app.mjs');
const PARSER = path.resolve('__test__/helpers/parse-metrics.py');
/** Debian's python3, where apt puts python3-prometheus-client (.ci/run installs it). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  samples: Sample[];
}

/** The families of an exposition, as prometheus_client parses them (it throws on anything
 * a scraper would refuse). */
function parse(text: string, format: 'text' | 'openmetrics'): Family[] {
  return JSON.parse(execFileSync(PYTHON, [PARSER, format], { input: text, encoding: 'utf8' })) as Family[];
}

async function scrape(statsPort: number, accept?: string): Promise<{ type: string; text: string }> {
  const response = await fetch(`http://127.0.0.1:${statsPort}/metrics`, { headers: accept ? { accept } : {} });
  return { type: response.headers.get('content-type') ?? '', text: await response.text() };
}

function family(families: Family[], name: string): Family {
  const found = families.find((f) => f.name === name);
  if (!found) throw new Error(`no family ${name} among ${families.map((f) => f.name).join(', ')}`);
  return found;
}

/** The value of the sample named `name` whose labels include `labels` (summed if several). */
function value(f: Family, name: string, labels: Record<string, string> = {}): number {
  return f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

/** Every label name a family may carry: none names a path, a host or a header. */
const LABEL_NAMES = new Set(['worker', 'socket', 'proto', 'protocol', 'status_class', 'code', 'reason', 'kind', 'le', 'version', 'node_version', 'state']);

/** A master serving HTTP (and `more` sockets and options) with its stats over HTTP. */
async function container(more: string[]): Promise<{ master: Tsgi; http: string; statsPort: number }> {
  const [httpPort, statsPort] = [await freePort(), await freePort()];
  const master = await startTsgi(['--http-socket', `127.0.0.1:${httpPort}`, '--module', APP, '--stats', `127.0.0.1:${statsPort}`, '--stats-http', ...more]);
  cleanups.push(() => master.kill());
  return { master, http: `http://127.0.0.1:${httpPort}`, statsPort };
}

describe('/metrics', () => {
  it('counts a known mix of requests, parses with the real parser in both formats, and keeps its labels bounded', async () => {
    const uwsgiPort = await freePort();
    const { master, http, statsPort } = await container(['--socket', `127.0.0.1:${uwsgiPort}`, '--processes', '2', '--harakiri', '2']);
    const statuses = (await Promise.all([404, 404, 404, 201, 201].map((code) => fetch(`${http}/status?code=${code}`)))).map((r) => r.status);
    expect(statuses).toEqual([404, 404, 404, 201, 201]);
    for (let i = 0; i < 4; i++) expect(await (await fetch(`${http}/`, { method: 'POST', body: 'x'.repeat(1000) })).text()).toBe('1000\n');
    expect((await (await fetch(`${http}/bytes?n=5000`)).arrayBuffer()).byteLength).toBe(5000);
    expect((await fetch(`${http}/sleep?ms=300`)).status).toBe(200);
    const uwsgi = await exchange(`127.0.0.1:${uwsgiPort}`, packet(nginxVars('GET', '/status?code=503')));
    expect(uwsgi.data.toString('latin1')).toMatch(/^HTTP\/1\.1 503 /);
    const sent = 5 + 4 + 1 + 1; // over HTTP; and one over uwsgi

    // Every finished request is counted (the pure reactor's workers publish on their tick).
    const counted = (families: Family[]) => value(family(families, 'tsgi_request_duration_seconds'), 'tsgi_request_duration_seconds_count');
    await until(async () => counted(parse((await scrape(statsPort)).text, 'text')) === sent + 1, 'every request counted');

    // A harakiri: the worker is killed; what it had counted stays in the totals.
    void fetch(`${http}/spin`).catch(() => {});
    await master.line(/harakiri: worker \d \(pid \d+\): event loop blocked/, 15_000);
    await until(async () => {
      const f = parse((await scrape(statsPort)).text, 'text');
      return value(family(f, 'tsgi_worker_restarts'), 'tsgi_worker_restarts_total', { reason: 'harakiri' }) === 1 &&
        value(family(f, 'tsgi_worker_up'), 'tsgi_worker_up') === 2
        ? f
        : null;
    }, 'the harakiri counted and its worker replaced');

    const { type, text } = await scrape(statsPort);
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parse(text, 'text');
    expect(counted(families)).toBe(sent + 1);

    const duration = family(families, 'tsgi_request_duration_seconds');
    expect(duration.type).toBe('histogram');
    const count = (labels: Record<string, string>) => value(duration, 'tsgi_request_duration_seconds_count', labels);
    expect(count({ protocol: 'http', status_class: '4xx' })).toBe(3);
    expect(count({ protocol: 'http', status_class: '2xx' })).toBe(8);
    expect(count({ protocol: 'uwsgi', status_class: '5xx' })).toBe(1);
    // The slow request is past 0.25 s, in no bucket below; the others are quick.
    const bucket = (le: string) => value(duration, 'tsgi_request_duration_seconds_bucket', { protocol: 'http', status_class: '2xx', le });
    expect(bucket('0.25')).toBe(7);
    expect(bucket('0.5')).toBe(8);
    expect(bucket('+Inf')).toBe(8);
    expect(value(duration, 'tsgi_request_duration_seconds_sum', { status_class: '2xx' })).toBeGreaterThanOrEqual(0.3);
    expect(value(duration, 'tsgi_request_duration_seconds_sum', { status_class: '2xx' })).toBeLessThan(1.5);

    const requestSize = family(families, 'tsgi_request_size_bytes');
    expect(value(requestSize, 'tsgi_request_size_bytes_sum', { protocol: 'http' })).toBe(4000);
    expect(value(requestSize, 'tsgi_request_size_bytes_count', { protocol: 'http' })).toBe(sent);
    expect(value(requestSize, 'tsgi_request_size_bytes_bucket', { protocol: 'http', le: '0' })).toBe(sent - 4);
    expect(value(requestSize, 'tsgi_request_size_bytes_bucket', { protocol: 'http', le: '1000' })).toBe(sent);
    const responseSize = family(families, 'tsgi_response_size_bytes');
    // The 5000 bytes of /bytes: in the 10 kB bucket, not the 1 kB one.
    expect(value(responseSize, 'tsgi_response_size_bytes_bucket', { protocol: 'http', le: '10000' })).toBe(sent);
    expect(value(responseSize, 'tsgi_response_size_bytes_bucket', { protocol: 'http', le: '1000' })).toBe(sent - 1);
    expect(value(responseSize, 'tsgi_response_size_bytes_sum', { protocol: 'http' })).toBeGreaterThan(5000);

    const responses = family(families, 'tsgi_responses');
    expect(responses.type).toBe('counter');
    expect(Object.fromEntries(responses.samples.map((s) => [s.labels.code, s.value]))).toEqual({ '200': 6, '201': 2, '404': 3, '503': 1 });

    const restarts = family(families, 'tsgi_worker_restarts');
    expect(value(restarts, 'tsgi_worker_restarts_total', { reason: 'harakiri' })).toBe(1);
    expect(value(restarts, 'tsgi_worker_restarts_total', { reason: 'crash' })).toBe(0);

    // Each worker's runtime under prom-client's names, and the master's.
    for (const name of [
      'process_cpu_seconds',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      const workers = family(families, name).samples.map((s) => s.labels.worker);
      expect(workers.sort()).toEqual(['1', '2', 'master']);
    }
    expect(value(family(families, 'nodejs_heap_size_used_bytes'), 'nodejs_heap_size_used_bytes', { worker: '1' })).toBeGreaterThan(1e6);
    expect(family(families, 'nodejs_gc_duration_seconds').type).toBe('histogram');
    expect(family(families, 'tsgi_build_info').samples[0]!.labels.version).toMatch(/^tsgi \d/);

    // The README's table of what to graph first names metrics that are there.
    const readme = readFileSync('README.md', 'utf8');
    const table = readme.slice(readme.indexOf('### Metrics and alerts'), readme.indexOf('## Performance'));
    const named = [...table.matchAll(/^\| `([a-z0-9_]+)/gm), ...table.matchAll(/, `([a-z0-9_]+)[{`]/gm)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThanOrEqual(8);
    const samples = new Set(families.flatMap((f) => f.samples.map((s) => s.name)));
    for (const name of named)
      expect(
        [...samples].some((s) => s === name || s === `${name}_bucket`),
        `${name} in the README`,
      ).toBe(true);

    // Bounded labels: known names only, and no value from a request.
    for (const f of families) {
      for (const s of f.samples) {
        for (const [name, label] of Object.entries(s.labels)) {
          expect(LABEL_NAMES, `${s.name} has label ${name}`).toContain(name);
          expect(label).not.toMatch(/status\?|\/bytes|\/sleep|\/spin/);
        }
      }
    }

    // OpenMetrics when asked: its own parser, counters as families without _total, # EOF.
    const open = await scrape(statsPort, 'application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5');
    expect(open.type).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(open.text.endsWith('\n# EOF\n')).toBe(true);
    const openFamilies = parse(open.text, 'openmetrics');
    expect(family(openFamilies, 'tsgi_responses').samples.map((s) => s.name)).toContain('tsgi_responses_total');
    // _created: the container's counters began with the master, a worker's with its process.
    const created = (f: string, name: string) => family(openFamilies, f).samples.find((s) => s.name === name)?.value ?? 0;
    const masterStart = value(family(families, 'process_start_time_seconds'), 'process_start_time_seconds', { worker: 'master' });
    expect(Math.floor(created('tsgi_responses', 'tsgi_responses_created'))).toBe(masterStart);
    expect(Math.floor(created('tsgi_request_duration_seconds', 'tsgi_request_duration_seconds_created'))).toBe(masterStart);
    expect(created('tsgi_worker_requests', 'tsgi_worker_requests_created')).toBeGreaterThanOrEqual(masterStart);
    expect(family(openFamilies, 'tsgi_build').type).toBe('info');
    expect(value(family(openFamilies, 'tsgi_request_duration_seconds'), 'tsgi_request_duration_seconds_count')).toBe(sent + 1);
  });

  it('counts a worker recycled at --max-requests by its reason, and keeps what it had counted', async () => {
    const { master, http, statsPort } = await container(['--max-requests', '3']);
    const [first] = master.workers();
    for (let i = 0; i < 3; i++) expect((await fetch(`${http}/`)).status).toBe(200);
    await master.line(/--max-requests 3 reached; replacing it/);
    const families = await until(async () => {
      const f = parse((await scrape(statsPort)).text, 'text');
      return value(family(f, 'tsgi_worker_restarts'), 'tsgi_worker_restarts_total', { reason: 'max-requests' }) === 1 ? f : null;
    }, 'the recycling counted');
    // The old worker's three requests stay counted once it is gone.
    await until(() => !master.workers().includes(first!), 'the recycled worker to exit');
    const after = parse((await scrape(statsPort)).text, 'text');
    for (const f of [families, after]) {
      expect(value(family(f, 'tsgi_responses'), 'tsgi_responses_total', { code: '200' })).toBe(3);
      expect(value(family(f, 'tsgi_worker_restarts'), 'tsgi_worker_restarts_total')).toBe(1);
    }
  });
});
