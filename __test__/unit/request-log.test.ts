/**
 * The request log's formats and filters, on finished requests made by hand: uWSGI's
 * default line, every --log-format variable, --log-json, and which requests
 * --disable-logging still logs.
 */
import { describe, expect, it } from 'vitest';
import { KEY_IDS } from '../../src/codec/keys.js';
import type { Exchange } from '../../src/server/exchange.js';
import { compileFormat, LOG_VARIABLES, requestLogger, type LoggedRequest, type RequestLogOptions } from '../../src/observe/request-log.js';

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
const HEAD = 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n';

function finished(status = 201, msecs = 12.5, startedAtEpoch = Date.UTC(2026, 11, 2, 18, 6, 6, 250), vars = VARS): LoggedRequest {
  const record = {
    get: (id: number) => vars[NAMES.get(id)!],
    lookup: (name: string) => vars[name],
    nvars: Object.keys(VARS).length,
    headSize: 321,
  };
  const exchange = { record, status, headText: HEAD, bodyBytes: 5 } as unknown as Exchange;
  return { exchange, msecs, startedAtEpoch, pid: 4242, wid: 3, workerRequests: 7, totalRequests: 19 };
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
      /^\[pid: 4242\|app: 0\|req: 7\/19\] 10\.0\.0\.7 \(ann\) \{10 vars in 321 bytes\} \[Wed Dec  2 \d\d:\d\d:06 2026\] POST \/submit\?x=1 => generated 74 bytes in 13 msecs \(HTTP\/1\.1 201\) 2 headers in 69 bytes \(1 switches on core 0\)$/,
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
      msecs: '13',
      secs: '0.012500',
      time: String(Date.UTC(2026, 11, 2, 18, 6, 6) / 1000),
      tmsecs: String(Date.UTC(2026, 11, 2, 18, 6, 6, 250)),
      size: '74',
      hsize: '69',
      rsize: '5',
      cl: '42',
      headers: '2',
      vars: '10',
      pktsize: '321',
      pid: '4242',
      wid: '3',
      core: '0',
      switches: '1',
    });
    expect(values.ltime).toMatch(/^02\/Dec\/2026:\d\d:\d\d:06 [+-]\d{4}$/);
    expect(values.ctime).toMatch(/^Wed Dec  2 \d\d:\d\d:06 2026$/);
    expect(Number(values.epoch)).toBeGreaterThan(Date.UTC(2026, 0, 1) / 1000);
    expect(compileFormat('%(var.HTTP_X_TRACE)|%(var.HTTP_ABSENT)|%(method) %(status)')(finished())).toBe('abc||POST 201');
  });

  it('refuses an unknown variable, naming it and the known ones', () => {
    expect(() => compileFormat('%(method) %(nope)')).toThrow(/--log-format: unknown variable %\(nope\); known: %\(uri\) %\(method\) .* and %\(var\.NAME\)/);
  });

  it('--log-json: one JSON object with the main fields', () => {
    expect(JSON.parse(requestLogger(options({ 'log-json': true }))!(finished())!)).toEqual({
      time: '2026-12-02T18:06:06.250Z',
      pid: 4242,
      wid: 3,
      addr: '10.0.0.7',
      method: 'POST',
      uri: '/submit?x=1',
      proto: 'HTTP/1.1',
      status: 201,
      size: 74,
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
