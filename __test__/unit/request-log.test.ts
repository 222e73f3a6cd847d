/**
 * The request log's formats and filters, on finished requests made by hand: uWSGI's
 * default line, every --log-format variable, --log-json, and which requests
 * --disable-logging still logs.
 */
import { describe, expect, it } from 'vitest';
import { KEY_IDS } from '../../src/codec/keys.js';
import type { Exchange } from '../../src/server/exchange.js';
import { compileFormat, LOG_VARIABLES, requestLogger, type LoggedRequest, type RequestLogOptions } from '../../src/observe/request-log.js';
import { compileStrftime, logDate } from '../../src/observe/strftime.js';

const VARS: Record<string, string> = {
  REQUEST_METHOD: 'POST',
  REQUEST_URI: '/submit?x=1',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REMOTE_ADDR: '10.0.0.7',
  REMOTE_USER: 'ann',
  CONTENT_LENGTH: '42',
  HTTP_HOST: 'example.org',
  HTTP_USER_AGENT: 'curl/8',
  HTTP_REFERER: 'https://example.org/form',
  HTTP_X_TRACE: 'abc',
};
const NAMES = new Map([...KEY_IDS].map(([name, id]) => [id, name]));
/** The head as sent, with what tsgi adds (Content-Length, Date, Server), and as uWSGI's
 * log counts it: the status line, the app's one header, the blank line (22 + 26 + 2). */
const HEAD = 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Wed, 02 Dec 2026 18:06:06 GMT\r\nServer: tsgi\r\n\r\n';
const APP_HEAD_BYTES = 50;

function finished(status = 201, msecs = 12.5, startedAtEpoch = Date.UTC(2026, 11, 2, 18, 6, 6, 250), vars = VARS): LoggedRequest {
  const record = {
    get: (id: number) => vars[NAMES.get(id)!],
    lookup: (name: string) => vars[name],
    nvars: Object.keys(VARS).length,
    headSize: 321,
    contentLength: Number(vars.CONTENT_LENGTH ?? 0),
    flags: 0,
  };
  const exchange = {
    record,
    status,
    headText: HEAD,
    bodyBytes: 5,
    headerCount: 1,
    headerBytes: APP_HEAD_BYTES,
    switches: 1,
    modifier1: 0,
    writeErrors: 0,
    readErrors: 0,
  } as unknown as Exchange;
  return { exchange, msecs, startedAtEpoch, pid: 4242, wid: 3, workerRequests: 7, totalRequests: () => 19 };
}

const options = (more: Partial<RequestLogOptions> = {}): RequestLogOptions => ({
  'disable-logging': false,
  'log-4xx': false,
  'log-5xx': false,
  'log-slow': 0,
  'log-json': false,
  ...more,
});

describe('the request log line', () => {
  it("is uWSGI's default shape", () => {
    const line = requestLogger(options())!(finished())!;
    expect(line).toMatch(
      /^\[pid: 4242\|app: 0\|req: 7\/19\] 10\.0\.0\.7 \(ann\) \{10 vars in 321 bytes\} \[Wed Dec  2 \d\d:\d\d:06 2026\] POST \/submit\?x=1 => generated 5 bytes in 12 msecs \(HTTP\/1\.1 201\) 1 headers in 50 bytes \(1 switches on core 0\)$/,
    );
  });

  it('fills every --log-format variable', () => {
    const values = Object.fromEntries(LOG_VARIABLES.map((name) => [name, compileFormat(`%(${name})`)(finished())]));
    expect(values).toMatchObject({
      uri: '/submit?x=1',
      method: 'POST',
      user: 'ann',
      addr: '10.0.0.7',
      host: 'example.org',
      proto: 'HTTP/1.1',
      uagent: 'curl/8',
      referer: 'https://example.org/form',
      status: '201',
      micros: '12500',
      msecs: '12',
      secs: '0.012500',
      time: String(Date.UTC(2026, 11, 2, 18, 6, 6) / 1000),
      tmsecs: String(Date.UTC(2026, 11, 2, 18, 6, 6, 250)),
      size: '55',
      hsize: '50',
      rsize: '5',
      cl: '42',
      headers: '1',
      vars: '10',
      pktsize: '321',
      pid: '4242',
      wid: '3',
      core: '0',
      switches: '1',
      modifier1: '0',
      modifier2: '0',
      werr: '0',
      rerr: '0',
      ioerr: '0',
    });
    expect(values.ftime).toBe(values.ltime);
    for (const name of ['vsz', 'rss', 'vszM', 'rssM']) expect(Number(values[name]), name).toBeGreaterThan(0);
    expect(Number(values.rss)).toBeLessThan(Number(values.vsz));
    expect(values.ltime).toMatch(/^02\/Dec\/2026:\d\d:\d\d:06 [+-]\d{4}$/);
    expect(values.ctime).toMatch(/^Wed Dec  2 \d\d:\d\d:06 2026$/);
    expect(Number(values.epoch)).toBeGreaterThan(Date.UTC(2026, 0, 1) / 1000);
    expect(compileFormat('%(var.HTTP_X_TRACE)|%(var.HTTP_ABSENT)|%(method) %(status)')(finished())).toBe('abc|-|POST 201');
  });

  it("has every variable uWSGI 2.0's core registers (core/logging.c)", () => {
    // uwsgi_register_logchunks(), in its order.
    const uwsgis =
      'uri method user addr host proto uagent referer status rsize hsize size cl micros msecs secs tmsecs tmicros time ltime ftime ctime epoch pid wid switches vars core vsz rss vszM rssM pktsize modifier1 modifier2 headers werr rerr ioerr';
    expect(LOG_VARIABLES).toEqual(uwsgis.split(' '));
  });

  it("Apache's combined line: '-' for an empty field, quotes and control characters escaped", () => {
    const combined = compileFormat('%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)"');
    const odd = { ...VARS, REMOTE_USER: '', HTTP_REFERER: '', HTTP_USER_AGENT: 'evil" 200 1 "x\\y\nz' };
    expect(combined(finished(201, 1, Date.UTC(2026, 11, 2, 18, 6, 6), odd))).toMatch(
      /^10\.0\.0\.7 - - \[02\/Dec\/2026:\d\d:\d\d:06 [+-]\d{4}\] "POST \/submit\?x=1 HTTP\/1\.1" 201 55 "-" "evil\\" 200 1 \\"x\\\\y\\x0az"$/,
    );
  });

  it('refuses an unknown variable, naming it and the known ones, and metrics with the reason', () => {
    expect(() => compileFormat('%(method) %(nope)')).toThrow(
      /--log-format: unknown variable %\(nope\): not a uWSGI log variable .*; known: %\(uri\) %\(method\) .* and %\(var\.NAME\)/,
    );
    expect(() => compileFormat('%(metric.core.busy_workers)')).toThrow(
      /--log-format: unknown variable %\(metric\.core\.busy_workers\): one of uWSGI's metrics/,
    );
  });

  it('--log-json: one JSON object with the main fields', () => {
    expect(JSON.parse(requestLogger(options({ 'log-json': true }))!(finished())!)).toEqual({
      time: '2026-12-02T18:06:06.250Z',
      level: 'info',
      msg: 'POST /submit?x=1 => 201',
      pid: 4242,
      name: 'tsgi',
      wid: 3,
      addr: '10.0.0.7',
      method: 'POST',
      uri: '/submit?x=1',
      proto: 'HTTP/1.1',
      status: 201,
      size: 55,
      msecs: 12.5,
      host: 'example.org',
      uagent: 'curl/8',
      referer: 'https://example.org/form',
    });
  });
});

describe('the request log line, over time and odd values', () => {
  it("says each request's own second and milliseconds, as the seconds go by", () => {
    const json = requestLogger(options({ 'log-json': true }))!;
    const line = requestLogger(options())!;
    const at = (ms: number) => Date.UTC(2026, 11, 2, 18, 6, 6, 0) + ms;
    const times = [0, 7, 999, 1000, 1050, 61_001].map((ms) => (JSON.parse(json(finished(201, 1, at(ms)))!) as { time: string }).time);
    expect(times).toEqual([
      '2026-12-02T18:06:06.000Z',
      '2026-12-02T18:06:06.007Z',
      '2026-12-02T18:06:06.999Z',
      '2026-12-02T18:06:07.000Z',
      '2026-12-02T18:06:07.050Z',
      '2026-12-02T18:07:07.001Z',
    ]);
    const seconds = [0, 999, 1000, 61_000].map((ms) => /:(\d\d:\d\d) 2026\]/.exec(line(finished(201, 1, at(ms)))!)![1]);
    expect(seconds).toEqual(['06:06', '06:06', '06:07', '07:07']);
  });

  it('--log-json escapes what JSON must: quotes, backslashes, control characters', () => {
    const odd = { ...VARS, REQUEST_URI: '/a"b\\c', HTTP_USER_AGENT: 'tab\there\u0001', HTTP_REFERER: 'caf\u00e9' };
    const parsed = JSON.parse(requestLogger(options({ 'log-json': true }))!(finished(201, 1, Date.now(), odd))!) as Record<string, string>;
    expect([parsed.uri, parsed.uagent, parsed.referer]).toEqual(['/a"b\\c', 'tab\there\u0001', 'caf\u00e9']);
  });
});

describe('which requests are logged', () => {
  const logged = (more: Partial<RequestLogOptions>, status: number, msecs = 1) => (requestLogger(options(more))?.(finished(status, msecs)) ?? null) !== null;

  it('every one by default', () => {
    expect([200, 404, 500].map((s) => logged({}, s))).toEqual([true, true, true]);
  });

  it('none with --disable-logging alone: no logger at all', () => {
    expect(requestLogger(options({ 'disable-logging': true }))).toBeNull();
  });

  it('with --disable-logging, the 4xx, 5xx and slow ones each option asks for', () => {
    const off = { 'disable-logging': true };
    expect([200, 404, 499, 500].map((s) => logged({ ...off, 'log-4xx': true }, s))).toEqual([false, true, true, false]);
    expect([200, 404, 500, 504].map((s) => logged({ ...off, 'log-5xx': true }, s))).toEqual([false, false, true, true]);
    expect([99, 100, 250].map((ms) => logged({ ...off, 'log-slow': 100 }, 200, ms))).toEqual([false, true, true]);
  });
});

describe("uWSGI's logging options", () => {
  const forwarded = { ...VARS, HTTP_X_FORWARDED_FOR: '203.0.113.9, 10.0.0.1' };

  it('--log-x-forwarded-for: the address is the X-Forwarded-For header, as it is, when there is one', () => {
    const xff = { 'log-x-forwarded-for': true };
    expect(requestLogger(options(xff))!(finished(201, 1, Date.now(), forwarded))).toContain('] 203.0.113.9, 10.0.0.1 (ann) {');
    expect(requestLogger(options(xff))!(finished())).toContain('] 10.0.0.7 (ann) {');
    expect(requestLogger(options())!(finished(201, 1, Date.now(), forwarded))).toContain('] 10.0.0.7 (ann) {');
    expect(requestLogger(options({ ...xff, 'log-format': '%(addr)' }))!(finished(201, 1, Date.now(), forwarded))).toBe('203.0.113.9, 10.0.0.1');
    expect(JSON.parse(requestLogger(options({ ...xff, 'log-json': true }))!(finished(201, 1, Date.now(), forwarded))!)).toMatchObject({
      addr: '203.0.113.9, 10.0.0.1',
    });
  });

  it('--log-format-strftime: %(ftime) in --log-date’s format; without either, Apache’s time', () => {
    const at = new Date(2026, 11, 2, 18, 6, 6).getTime();
    const ftime = (more: Partial<RequestLogOptions>) => requestLogger(options({ 'log-format': '%(ftime)', ...more }))!(finished(201, 1, at))!;
    expect(ftime({ 'log-format-strftime': true, 'log-date': '%Y-%m-%d %H:%M:%S' })).toBe('2026-12-02 18:06:06');
    expect(ftime({ 'log-date': '%Y-%m-%d %H:%M:%S' })).toMatch(/^02\/Dec\/2026:18:06:06 [+-]\d{4}$/);
    expect(ftime({ 'log-format-strftime': true })).toMatch(/^02\/Dec\/2026:18:06:06 [+-]\d{4}$/);
  });

  it("--memory-report: the default line begins with the worker's memory, as uWSGI's", () => {
    const one = requestLogger(options({ 'memory-report': 'true' }))!(finished())!;
    expect(one).toMatch(/^\{address space usage: (\d+) bytes\/(\d+)MB\} \{rss usage: (\d+) bytes\/(\d+)MB\} \[pid: 4242\|/);
    const [, vsz, vszM, rss, rssM] = /^\{address space usage: (\d+) bytes\/(\d+)MB\} \{rss usage: (\d+) bytes\/(\d+)MB\}/.exec(one)!.map(Number);
    expect([vszM, rssM]).toEqual([Math.floor(vsz! / 1024 / 1024), Math.floor(rss! / 1024 / 1024)]);
    expect(rss).toBeGreaterThan(0);
    expect(requestLogger(options({ 'memory-report': '2' }))!(finished())).toMatch(
      /^\{address space usage: \d+ bytes\/\d+MB\} \{rss usage: \d+ bytes\/\d+MB\} \{uss usage: \d+ bytes\/\d+MB\} \{pss usage: [1-9]\d* bytes\/\d+MB\} \[pid: /,
    );
    expect(requestLogger(options({ 'memory-report': 'off' }))!(finished())).toMatch(/^\[pid: /);
  });
});

describe('strftime, for --log-date and %(ftime)', () => {
  const at = new Date(2026, 0, 5, 7, 8, 9).getTime();

  it('formats the C conversions in local time', () => {
    expect(compileStrftime('%Y-%m-%d %H:%M:%S %a %A %b %B %e|%j %I %p %y %% %D %T %F', 'x')(at)).toBe(
      '2026-01-05 07:08:09 Mon Monday Jan January  5|005 07 AM 26 % 01/05/26 07:08:09 2026-01-05',
    );
    expect(compileStrftime('%s', 'x')(at)).toBe(String(Math.floor(at / 1000)));
    expect(compileStrftime('%z', 'x')(at)).toMatch(/^[+-]\d{4}$/);
  });

  it("--log-date: true is C's ctime shape, false none, anything else a format; an unknown conversion is refused", () => {
    expect(logDate('true')!(at)).toBe('Mon Jan  5 07:08:09 2026');
    expect(logDate('false')).toBeNull();
    expect(logDate(undefined)).toBeNull();
    expect(logDate('[%d/%m]')!(at)).toBe('[05/01]');
    expect(() => logDate('%Y %Q')).toThrow(/--log-date: strftime conversion %Q is not supported; known: %a/);
    expect(() => logDate('100%')).toThrow(/--log-date: strftime conversion at the end is not supported/);
  });
});
