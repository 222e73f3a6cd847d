/** The stats documents: uWSGI's JSON shape (what uwsgitop reads) and the Prometheus text. */
import { describe, expect, it } from 'vitest';
import { prometheusText, serveStats, statsJson, type StatsSnapshot } from '../../src/observe/stats.js';

const snapshot: StatsSnapshot = {
  version: 'tsgi 0.1.0',
  pid: 100,
  uid: 33,
  gid: 33,
  cwd: '/srv/app',
  load: 2,
  listen_queue: 3,
  crash_loop: false,
  draining: false,
  sockets: [{ name: '/run/app "a".sock', proto: 'uwsgi', queue: 3, max_queue: 4096 }],
  workers: [1, 2].map((id) => ({
    id,
    pid: 100 + id,
    accepting: id === 1,
    status: id === 1 ? ('busy' as const) : ('respawning' as const),
    requests: 10 * id,
    delta_requests: id,
    exceptions: 1,
    harakiri_count: 0,
    uncaught_exceptions: id - 1,
    in_flight: id === 1 ? 2 : 0,
    tunnels: id === 1 ? 1 : 0,
    rss: 50e6,
    vsz: 1e9,
    running_time: 25_000,
    avg_rt: 2500,
    tx: 4096,
    last_spawn: 1_800_000_000,
    respawn_count: id - 1,
    failures: 0,
  })),
};

describe('the stats JSON', () => {
  it('has the fields uwsgitop reads, with uWSGI types', () => {
    const json = JSON.parse(statsJson(snapshot));
    expect(json).toMatchObject({ version: 'tsgi 0.1.0', listen_queue: 3, listen_queue_errors: 0, load: 2, pid: 100, locks: [] });
    expect(json.sockets[0]).toEqual({ name: '/run/app "a".sock', proto: 'uwsgi', queue: 3, max_queue: 4096, shared: 0, can_offload: 0 });
    expect(json.workers[0]).toMatchObject({
      id: 1,
      pid: 101,
      accepting: 1,
      status: 'busy',
      requests: 10,
      delta_requests: 1,
      exceptions: 1,
      harakiri_count: 0,
      uncaught_exceptions: 0,
      tunnels: 1,
      rss: 50e6,
      vsz: 1e9,
      running_time: 25_000,
      avg_rt: 2500,
      tx: 4096,
      last_spawn: 1_800_000_000,
      respawn_count: 0,
      signals: 0,
      apps: [],
      cores: [],
    });
    expect(json.workers[1].accepting).toBe(0);
  });
});

describe('the Prometheus exposition', () => {
  it("says each worker place's state, and how many run (--cheaper)", () => {
    const text = prometheusText({ ...snapshot, workers: snapshot.workers.map((w) => (w.id === 2 ? { ...w, pid: 0, status: 'cheap' as const } : w)) });
    expect(text).toContain('# TYPE tsgi_worker_state gauge\ntsgi_worker_state{worker="1",state="busy"} 1\ntsgi_worker_state{worker="2",state="cheap"} 1\n');
    expect(text).toContain('# TYPE tsgi_workers_running gauge\ntsgi_workers_running 1\n');
    expect(text).toContain('tsgi_workers 2\n');
  });

  it('declares each family once, one sample per worker, labels escaped', () => {
    const text = prometheusText(snapshot);
    expect(text.match(/^# TYPE tsgi_worker_requests_total counter$/gm)).toHaveLength(1);
    expect(text).toContain('tsgi_worker_requests_total{worker="1"} 10\ntsgi_worker_requests_total{worker="2"} 20\n');
    expect(text).toContain('tsgi_worker_up{worker="2"} 0');
    expect(text).toContain('# TYPE tsgi_worker_tunnels gauge\n');
    expect(text).toContain('tsgi_worker_tunnels{worker="1"} 1\ntsgi_worker_tunnels{worker="2"} 0\n');
    expect(text).toContain('# TYPE tsgi_worker_uncaught_exceptions_total counter\n');
    expect(text).toContain('tsgi_worker_uncaught_exceptions_total{worker="1"} 0\ntsgi_worker_uncaught_exceptions_total{worker="2"} 1\n');
    expect(text).toContain('tsgi_worker_response_time_seconds_total{worker="1"} 0.025');
    expect(text).toContain('tsgi_listen_queue{socket="/run/app \\"a\\".sock",proto="uwsgi"} 3');
    // Every sample line is `name{labels} value` or `name value`.
    for (const line of text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#')))
      expect(line).toMatch(/^[a-z_][a-z0-9_]*(\{.*\})? [\d.e+-]+$/);
  });
});

describe('the stats HTTP probes', () => {
  /** The status and body of GET `path` from a stats server showing `state`. */
  async function probe(path: string, state: Partial<StatsSnapshot>): Promise<[number, string]> {
    const stats = await serveStats('127.0.0.1:0', true, async () => ({ ...snapshot, ...state }));
    try {
      const response = await fetch(`http://${stats.local}${path}`);
      return [response.status, await response.text()];
    } finally {
      stats.close();
    }
  }
  const accepting = (value: boolean) => snapshot.workers.map((w) => ({ ...w, accepting: value }));

  it('/livez: 200 whenever the master answers', async () => {
    expect(await probe('/livez', { draining: true, workers: accepting(false) })).toEqual([200, 'ok\n']);
  });

  it('/readyz: 200 while some worker accepts and no stop began, else 503 saying why', async () => {
    expect(await probe('/readyz', {})).toEqual([200, 'ready\n']);
    expect(await probe('/readyz', { workers: accepting(false) })).toEqual([503, 'no worker accepting\n']);
    expect(await probe('/readyz', { draining: true })).toEqual([503, 'draining\n']);
  });
});
