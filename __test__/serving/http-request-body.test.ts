/**
 * Request bodies on the HTTP/1.1 listener over raw sockets: Content-Length and chunked
 * (extensions, trailers, sent whole, in pieces and byte by byte), bodies the app never
 * reads skipped to reach the next request, and Expect: 100-continue (sent only when the
 * app reads, never on HTTP/1.0).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OK, sha256, useHttpApp } from '../helpers/http-app.js';
import { chunked, maskDate, oneShot, open, req, res } from '../helpers/http-raw.js';
import { useTestServers } from '../helpers/servers.js';
import { delay, exchangeSlowly } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { calls, events, gate, serveHttp } = useHttpApp(servers);

describe('request bodies', () => {
  it('a Content-Length body reaches the app whole; CONTENT_LENGTH is set', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: '11 11:hello world' });
    expect(await client.exchange(req('POST', '/echo', { headers: [['Content-Length', '11']], body: 'hello world' }), expected)).toBe(expected);
    client.destroy();
  });

  it('a 1 MiB Content-Length body sent in 37 pieces: sha256 matches', async () => {
    const address = serveHttp();
    const body = randomBytes(1 << 20);
    const request = req('POST', '/sha256', {
      headers: [
        ['Content-Length', String(body.length)],
        ['Connection', 'close'],
      ],
      body,
    });
    const result = await exchangeSlowly(address, request, { split: 37, delayMs: 1 });
    expect(maskDate(result.data)).toBe(res('200 OK', { body: `${body.length} ${sha256(body)}`, connection: 'close' }));
  });

  const CHUNKED_BODY = `5;name=value;q="a b"\r\nhello\r\n1\r\n \r\n5;x\r\nworld\r\n0;last=1\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n`;

  for (const [mode, split] of [
    ['whole', 1],
    ['byte by byte', 'bytes'],
  ] as const) {
    it(`a chunked body with extensions and trailers, sent ${mode}, reaches the app whole (no CONTENT_LENGTH)`, async () => {
      const address = serveHttp();
      const request = req('POST', '/echo', {
        headers: [
          ['Transfer-Encoding', 'chunked'],
          ['Connection', 'close'],
        ],
        body: CHUNKED_BODY,
      });
      const result = await exchangeSlowly(address, request, { split, delayMs: 0 });
      expect(maskDate(result.data)).toBe(res('200 OK', { body: '- 11:hello world', connection: 'close' }));
      expect(result.reset).toBe(false);
    });
  }

  it('a chunked body, then the next request on the same connection', async () => {
    const address = serveHttp();
    const client = await open(address);
    const first = res('200 OK', { body: '- 11:hello world' });
    expect(await client.exchange(req('POST', '/echo', { headers: [['Transfer-Encoding', 'chunked']], body: CHUNKED_BODY }), first)).toBe(first);
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });

  it('a body the app never reads is skipped to reach the next request (Content-Length and chunked)', async () => {
    const address = serveHttp();
    const client = await open(address);
    const ignored = res('200 OK', { body: 'ignored' });
    await client.write(
      Buffer.concat([
        req('POST', '/ignore-body', { headers: [['Content-Length', '10']], body: '0123456789' }),
        req('POST', '/ignore-body', { headers: [['Transfer-Encoding', 'chunked']], body: chunked(['abc', 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n']) }),
        req('GET', '/ok/3'),
      ]),
    );
    const expected = ignored + ignored + OK('/ok/3');
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['POST /ignore-body', 'POST /ignore-body', 'GET /ok/3']);
    client.destroy();
  });

  it('a 1 MiB body the app never reads, then a pipelined request: skipped, the next one served', async () => {
    const address = serveHttp();
    const client = await open(address);
    const body = randomBytes(1 << 20);
    await client.write(Buffer.concat([req('POST', '/ignore-body', { headers: [['Content-Length', String(body.length)]], body }), req('GET', '/ok/2')]));
    const expected = res('200 OK', { body: 'ignored' }) + OK('/ok/2');
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['POST /ignore-body', 'GET /ok/2']);
    client.destroy();
  });

  it('a 256 KiB chunked body in 1 KiB chunks: sha256 matches', async () => {
    const address = serveHttp();
    const body = randomBytes(256 * 1024);
    const pieces = Array.from({ length: 256 }, (_, i) => body.subarray(i * 1024, (i + 1) * 1024));
    const request = Buffer.concat([
      req('POST', '/sha256', {
        headers: [
          ['Transfer-Encoding', 'chunked'],
          ['Connection', 'close'],
        ],
      }),
      ...pieces.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]),
      Buffer.from('0\r\n\r\n'),
    ]);
    const result = await exchangeSlowly(address, request, { split: 9, delayMs: 1 });
    expect(maskDate(result.data)).toBe(res('200 OK', { body: `${body.length} ${sha256(body)}`, connection: 'close' }));
  });
});

describe('Expect: 100-continue', () => {
  const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

  it('no 100 Continue before the app reads; when it reads: 100, then the body, then the response', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(
      req('POST', '/gate?id=c1', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    await events.when('entered c1');
    // The app runs and has not read the body: nothing was sent.
    await delay(50);
    expect(client.received).toBe(0);
    client.destroy();
    gate('c1').resolve();

    const client2 = await open(address);
    await client2.write(
      req('POST', '/echo', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    await client2.until((d) => d.toString('latin1') === CONTINUE, 'the 100 Continue');
    const expected = res('200 OK', { body: '5 5:hello' });
    expect(await client2.exchange('hello', expected)).toBe(expected);
    expect(client2.text()).toBe(CONTINUE + expected);
    // Keep-alive goes on.
    expect(await client2.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client2.destroy();
  });

  it('an app that answers without reading: no 100 Continue, and Connection: close (the body is never sent)', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(
      address,
      req('POST', '/ignore-body', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    expect(text).toBe(res('200 OK', { body: 'ignored', connection: 'close' }));
    expect(reset).toBe(false);
  });

  it('an app that fails without reading: its 500 says Connection: close too (the body is never sent)', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(
      address,
      req('POST', '/throw', {
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
      }),
    );
    expect(text).toBe(res('500 Internal Server Error', { body: 'Internal Server Error\n', connection: 'close' }));
    expect(reset).toBe(false);
  });

  it('a client that sends the body without waiting for the 100: served, keep-alive goes on', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: '5 5:hello' });
    await client.write(
      Buffer.concat([
        req('POST', '/echo', {
          headers: [
            ['Content-Length', '5'],
            ['Expect', '100-continue'],
          ],
          body: 'hello',
        }),
        req('GET', '/ok/2'),
      ]),
    );
    const text = await client.untilText(CONTINUE + expected + OK('/ok/2'));
    expect(text).toBe(CONTINUE + expected + OK('/ok/2'));
    client.destroy();
  });

  it('HTTP/1.0 ignores Expect: no 100 Continue', async () => {
    const address = serveHttp();
    const { text } = await oneShot(
      address,
      req('POST', '/echo', {
        version: 'HTTP/1.0',
        headers: [
          ['Content-Length', '5'],
          ['Expect', '100-continue'],
        ],
        body: 'hello',
      }),
    );
    expect(text).toBe(res('200 OK', { body: '5 5:hello', connection: 'close' }));
  });
});
