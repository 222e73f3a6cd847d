/**
 * The metrics blocks and the exposition, in process: each bucket bound taken at N and
 * just past it (Prometheus' `le` is "less or equal"), status codes at the edges of the
 * counted range, a dead worker's counts kept, and the two formats' naming rules.
 */
import { describe, expect, it } from 'vitest';
import { Exposition, wantsOpenMetrics } from '../../src/observe/exposition.js';
import { DURATION_BUCKETS, METRICS_BYTES, RequestMetrics, requestTotals, Retired, SIZE_BUCKETS } from '../../src/observe/metrics.js';

const HTTP = 3;
const UWSGI = 1;

function block(): { fields: Float64Array; metrics: RequestMetrics } {
  const fields = new Float64Array(METRICS_BYTES / 8);
  return { fields, metrics: new RequestMetrics(fields) };
}

/** The index of the bucket one observation landed in (the last: +Inf). */
function durationBucket(seconds: number): number {
  const { fields, metrics } = block();
  metrics.request(HTTP, 200, seconds, 0, 0);
  return requestTotals(fields).duration[0]!.counts.findIndex((n) => n === 1);
}

describe('the request histograms', () => {
  it('put a duration at a bound in that bucket, and one just past it in the next', () => {
    for (const [i, bound] of DURATION_BUCKETS.entries()) {
      expect(durationBucket(bound), `le=${bound}`).toBe(i);
      expect(durationBucket(bound * 1.000001), `past ${bound}`).toBe(i + 1);
    }
    expect(durationBucket(0)).toBe(0);
    expect(durationBucket(3600)).toBe(DURATION_BUCKETS.length);
  });

  it('count a bodiless request in the 0 bucket, one byte in the next, and sum the bytes', () => {
    const { fields, metrics } = block();
    metrics.request(HTTP, 200, 0.001, 0, 100);
    metrics.request(HTTP, 200, 0.001, 1, 101);
    metrics.request(HTTP, 200, 0.001, SIZE_BUCKETS.at(-1)! + 1, 0);
    const totals = requestTotals(fields);
    expect(totals.requestSize[0]!.counts).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect(totals.requestSize[0]!.sum).toBe(SIZE_BUCKETS.at(-1)! + 2);
    expect(totals.responseSize[0]!.counts.slice(0, 3)).toEqual([1, 1, 1]);
  });

  it('label by protocol and status class, and count codes 100-599 one by one, anything else as other', () => {
    const { fields, metrics } = block();
    for (const status of [0, 99, 100, 204, 599, 600]) metrics.request(UWSGI, status, 0.001, 0, 0);
    const totals = requestTotals(fields);
    const classes = Object.fromEntries(totals.duration.map((s) => [`${s.labels[0]![1]} ${s.labels[1]![1]}`, s.counts.reduce((a, b) => a + b)]));
    expect(classes).toEqual({ 'uwsgi 1xx': 1, 'uwsgi 2xx': 1, 'uwsgi 5xx': 1, 'uwsgi none': 3 });
    expect(totals.statuses).toEqual([
      ['100', 1],
      ['204', 1],
      ['599', 1],
      ['other', 3],
    ]);
  });

  it("keep a dead worker's counts in the totals, beside the live workers'", () => {
    const dead = block();
    const live = block();
    dead.metrics.request(HTTP, 200, 0.5, 10, 20);
    live.metrics.request(HTTP, 404, 0.5, 0, 20);
    const retired = new Retired();
    retired.add(dead.fields);
    const totals = retired.totals([live.fields]);
    expect(totals.statuses).toEqual([
      ['200', 1],
      ['404', 1],
    ]);
    expect(totals.requestSize[0]!.sum).toBe(10);
  });
});

describe('the exposition', () => {
  it('names counters and info as each format asks, writes cumulative buckets and ends OpenMetrics with # EOF', () => {
    const write = (openMetrics: boolean): string => {
      const out = new Exposition(openMetrics);
      out.counter('tsgi_x', 'A counter.', [[[['code', '200']], 3, 1_700_000_000.5]]);
      out.histogram('tsgi_h_seconds', 'A histogram.', [0.1, 1], [{ labels: [['protocol', 'http']], counts: [1, 2, 3], sum: 9.5 }]);
      out.info('tsgi_build', 'Build.', [['version', 'a"b\\c\nd']]);
      return out.text();
    };
    expect(write(false)).toBe(
      [
        '# HELP tsgi_x_total A counter.',
        '# TYPE tsgi_x_total counter',
        'tsgi_x_total{code="200"} 3',
        '# HELP tsgi_h_seconds A histogram.',
        '# TYPE tsgi_h_seconds histogram',
        'tsgi_h_seconds_bucket{protocol="http",le="0.1"} 1',
        'tsgi_h_seconds_bucket{protocol="http",le="1"} 3',
        'tsgi_h_seconds_bucket{protocol="http",le="+Inf"} 6',
        'tsgi_h_seconds_count{protocol="http"} 6',
        'tsgi_h_seconds_sum{protocol="http"} 9.5',
        '# HELP tsgi_build_info Build.',
        '# TYPE tsgi_build_info gauge',
        'tsgi_build_info{version="a\\"b\\\\c\\nd"} 1',
        '',
      ].join('\n'),
    );
    const open = write(true);
    // OpenMetrics alone has _created samples.
    expect(open).toContain('# TYPE tsgi_x counter\ntsgi_x_total{code="200"} 3\ntsgi_x_created{code="200"} 1700000000.5\n');
    expect(open).toContain('# TYPE tsgi_build info\ntsgi_build_info{');
    expect(open.endsWith('\n# EOF\n')).toBe(true);
  });

  it('speaks OpenMetrics only to a scraper that asks for it', () => {
    expect(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5')).toBe(true);
    expect(wantsOpenMetrics('text/plain')).toBe(false);
    expect(wantsOpenMetrics('*/*')).toBe(false);
    expect(wantsOpenMetrics(undefined)).toBe(false);
  });
});
