/**
 * Malformed and smuggling requests on the HTTP/1.1 listener (rows from
 * crates/tsgi-wire/tests/http_cases.rs): the static refusal, then close, each followed by a
 * smuggled request that must never reach the app, sent whole, in pieces and byte by byte;
 * the log line, and a server that keeps serving.
 */
import { describe, expect, it } from 'vitest';
import type { ServerOptions } from '../../src/server/server.js';
import { OK, useHttpApp } from '../helpers/http-app.js';
import { maskDate, oneShot, open, refusal, req, res } from '../helpers/http-raw.js';
import { useTestServers } from '../helpers/servers.js';
import { exchangeSlowly, waitFor, type RawResult } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { calls, events, serveHttp } = useHttpApp(servers);

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';
const get = (fields: string) => `GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`;
const post = (fields: string, body: string) => `POST /echo HTTP/1.1\r\nHost: a\r\n${fields}\r\n${body}`;
const chunkedPost = (body: string) => post('Transfer-Encoding: chunked\r\n', body);

interface Row {
  name: string;
  bytes: string;
  status: 400 | 413 | 414 | 417 | 431;
  options?: ServerOptions;
  /** The error is in the body: the app may have been called with the head (never the smuggled one). */
  body?: boolean;
  /** Too long to send byte by byte. */
  large?: boolean;
}

const rows: Row[] = [
  {
    name: 'CL + TE (llhttp "POST with Transfer-Encoding and Content-Length")',
    bytes: post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'),
    status: 400,
  },
  {
    name: 'CL then TE (gunicorn rfc9112_smuggle_cl_te_chunked_01)',
    bytes: post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    status: 400,
  },
  { name: 'duplicate Content-Length, same value', bytes: post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), status: 400 },
  { name: 'duplicate Content-Length, different values', bytes: post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'), status: 400 },
  { name: 'Content-Length 1 2 (CVE-2018-7159)', bytes: post('Content-Length: 1 2\r\n', 'hello'), status: 400 },
  { name: 'Content-Length +5 (waitress GHSA-4f7p-27jc-3c36)', bytes: post('Content-Length: +5\r\n', 'hello'), status: 400 },
  { name: 'Transfer-Encoding twice (CVE-2020-8287)', bytes: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'Transfer-Encoding: chunked, gzip (CVE-2019-15605)', bytes: post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'Transfer-Encoding on HTTP/1.0 (gunicorn 22)', bytes: 'POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'Transfer_Encoding (puma#4021)', bytes: post('Transfer_Encoding: chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'Content_Length (CVE-2026-68006)', bytes: post('Content_Length: 5\r\n', 'hello'), status: 400 },
  { name: 'bare LF line ends (CVE-2022-32214)', bytes: 'GET / HTTP/1.1\nHost: a\n\n', status: 400 },
  { name: 'LF-only empty line (waitress CVE-2019-16785)', bytes: 'GET / HTTP/1.1\r\nHost: a\r\n\n', status: 400 },
  { name: 'obs-fold after Transfer-Encoding (CVE-2022-32215)', bytes: post('Transfer-Encoding: chunked\r\n , identity\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'space before the colon (CVE-2021-22959)', bytes: post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'head ended by \\r\\n\\rX (CVE-2025-23167)', bytes: 'GET / HTTP/1.1\r\nHost: a\r\n\rX', status: 400 },
  { name: 'x:\\rTransfer-Encoding (CVE-2022-35256)', bytes: post('x:\rTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'space before the first header (CVE-2024-27982)', bytes: 'POST /echo HTTP/1.1\r\n Content-Length: 5\r\nHost: a\r\n\r\nhello', status: 400 },
  { name: 'HTTP/1.1 without Host', bytes: 'GET / HTTP/1.1\r\n\r\n', status: 400 },
  { name: 'lower-case method', bytes: 'get / HTTP/1.1\r\nHost: a\r\n\r\n', status: 400 },
  { name: 'HTTP/2 preface', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400 },
  { name: 'Expect: foo', bytes: get('Expect: foo\r\n'), status: 417 },
  { name: 'chunk size 0x5 (gunicorn chunked_01)', bytes: chunkedPost('0x5\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'chunk size -5', bytes: chunkedPost('-5\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'space before ;ext (gunicorn chunked_12)', bytes: chunkedPost('5 ;a=b\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'chunk size of 2^53', bytes: chunkedPost('20000000000000\r\n'), status: 400, body: true },
  { name: 'control byte in a chunk extension (CVE-2021-22960)', bytes: chunkedPost('5;a\u0001=b\r\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'chunk data too long (llhttp "Invalid chunk data terminator")', bytes: chunkedPost('5\r\nhelloXX\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'bare LF after the chunk size', bytes: chunkedPost('5\nhello\r\n0\r\n\r\n'), status: 400, body: true },
  { name: 'trailer with \\r\\n\\rX (CVE-2025-23167)', bytes: chunkedPost('0\r\nX: y\r\n\rX'), status: 400, body: true },
  { name: 'request line over 8192 bytes', bytes: `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`, status: 414, large: true },
  { name: 'header section over 16 KiB', bytes: get(`X-Big: ${'b'.repeat(17_000)}\r\n`), status: 431, large: true },
  { name: '101 header fields (over 100)', bytes: get(Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('')), status: 431, large: true },
  { name: 'chunk extension over 4096 bytes', bytes: chunkedPost(`5;a=${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`), status: 413, body: true, large: true },
  // The limits are options: each at a small value.
  {
    name: 'request line of 25 bytes over httpMaxRequestLine 24',
    bytes: 'GET /0123456789a HTTP/1.1\r\nHost: a\r\n\r\n',
    status: 414,
    options: { httpMaxRequestLine: 24 },
  },
  { name: 'head over httpMaxHead 64', bytes: get(`X-Big: ${'b'.repeat(40)}\r\n`), status: 431, options: { httpMaxHead: 64 } },
  { name: '3 header fields over httpMaxHeaders 2', bytes: get('X-A: 1\r\nX-B: 2\r\n'), status: 431, options: { httpMaxHeaders: 2 } },
  {
    name: 'chunk extension over httpMaxChunkExtension 4',
    bytes: chunkedPost('5;abcd=e\r\nhello\r\n0\r\n\r\n'),
    status: 413,
    options: { httpMaxChunkExtension: 4 },
    body: true,
  },
  { name: 'Content-Length 11 over limitPost 10', bytes: post('Content-Length: 11\r\n', 'hello world'), status: 413, options: { limitPost: 10 } },
  { name: 'chunked body over limitPost 10', bytes: chunkedPost('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'), status: 413, options: { limitPost: 10 }, body: true },
];

const modes: Array<{ name: string; send: (address: string, bytes: Buffer) => Promise<RawResult>; small?: boolean }> = [
  { name: 'whole', send: (address, bytes) => exchangeSlowly(address, bytes, { split: 1, end: true }) },
  { name: 'in 3 pieces', send: (address, bytes) => exchangeSlowly(address, bytes, { split: 3, delayMs: 10, end: true }) },
  { name: 'byte by byte', send: (address, bytes) => exchangeSlowly(address, bytes, { split: 'bytes', delayMs: 0, end: true }), small: true },
];

describe('malformed and smuggling requests: the static refusal, then close; the smuggled request never reaches the app', () => {
  for (const row of rows) {
    for (const mode of modes) {
      if (mode.small && row.large) continue;
      it(`${row.name}, sent ${mode.name} → ${row.status}`, async () => {
        const address = serveHttp(row.options);
        const bytes = Buffer.concat([Buffer.from(row.bytes, 'latin1'), Buffer.from(SMUGGLED)]);
        const result = await mode.send(address, bytes);
        expect(result.data.toString('latin1')).toBe(refusal(row.status));
        // A lingering close: the client reads the refusal, not a reset.
        expect(result.reset).toBe(false);
        expect(calls.filter((c) => c.includes('smuggled'))).toEqual([]);
        // A head error: the app never ran. A body error: it ran once, for this request.
        if (row.body) expect(calls.length).toBeLessThanOrEqual(1);
        else expect(calls).toEqual([]);
        const line = await waitFor(() => servers.logs.find(/^http: /), { what: 'the refusal log line' });
        expect(line.level).toBe('warn');
        expect(line.line).toMatch(row.body ? /; request aborted$/ : new RegExp(`; answered ${row.status}$`));
        expect(servers.logs.lines.filter((l) => l.line.startsWith('http: '))).toHaveLength(1);
        expect(line.line).not.toMatch(/smuggled|hello|bbbb/);
        // The server keeps serving.
        const before = calls.length;
        const after = await oneShot(address, req('GET', '/ok/after', { headers: [['Connection', 'close']] }));
        expect(after.text).toBe(OK('/ok/after', 'close'));
        expect(calls.slice(before)).toEqual(['GET /ok/after']);
      });
    }
  }

  it('several bad connections at once, then a good one: all refused, the good one served', async () => {
    const address = serveHttp();
    const bad = rows.filter((r) => !r.large && !r.options).slice(0, 12);
    const results = await Promise.all([
      ...bad.map((r) => oneShot(address, r.bytes + SMUGGLED)),
      oneShot(address, req('GET', '/ok/good', { headers: [['Connection', 'close']] })),
    ]);
    expect(results.slice(0, -1).map((r) => r.text)).toEqual(bad.map((r) => refusal(r.status)));
    expect(results.at(-1)!.text).toBe(OK('/ok/good', 'close'));
    expect(calls).toEqual(['GET /ok/good']);
  });

  for (const [what, rest] of [
    ['over limitPost', '6\r\n world\r\n0\r\n\r\n'],
    ['with a bad chunk size', 'zz\r\n0\r\n\r\n'],
  ] as const) {
    it(`a chunked body ${what} after the response ended: the connection closes (FIN), no second response`, async () => {
      // Before the fix, a static 413/400 followed the complete 200: a pipelining client (or
      // a proxy keeping the connection) takes it as the answer to its next request.
      const address = serveHttp({ limitPost: 10 });
      const client = await open(address);
      const ignored = res('200 OK', { body: 'ignored' });
      expect(await client.exchange(req('POST', '/ignore-body', { headers: [['Transfer-Encoding', 'chunked']], body: '5\r\nhello\r\n' }), ignored)).toBe(
        ignored,
      );
      await client.write(rest + SMUGGLED);
      const { data, reset } = await client.whenClosed;
      expect(maskDate(data)).toBe(ignored);
      expect(reset).toBe(false);
      expect(calls).toEqual(['POST /ignore-body']);
      await waitFor(() => servers.logs.find(/^http: .*; request aborted$/), { what: 'the log line' });
    });
  }

  it('a chunked body over limitPost after the app answered its head: the connection is reset, no 413', async () => {
    const address = serveHttp({ limitPost: 10 });
    const client = await open(address);
    await client.write(req('POST', '/early', { headers: [['Transfer-Encoding', 'chunked']] }));
    await client.until((d) => d.includes('early '), 'the early head and chunk');
    await client.write('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n' + SMUGGLED);
    const { data, reset } = await client.whenClosed;
    expect(reset).toBe(true);
    expect(maskDate(data)).toBe(res('200 OK', { chunked: true, body: '6\r\nearly ' }));
    const error = await events.when<Error & { code?: string }>('early input failed');
    expect(error.code).toBe('TSGI_ERR_BODY_TRUNCATED');
    expect(calls).toEqual(['POST /early']);
    await waitFor(() => servers.logs.find(/^http: .*limit-post.*; request aborted$/), { what: 'the log line' });
  });
});
