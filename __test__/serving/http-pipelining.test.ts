/**
 * Pipelining on the HTTP/1.1 listener: requests in one write answered in order, byte for
 * byte; a slow first response not overtaken; a 4 MiB streamed response with requests
 * behind it; 1,000 requests past the pipelining buffer.
 */
import { describe, expect, it } from 'vitest';
import { OK, useHttpApp } from '../helpers/http-app.js';
import { chunked, oneShot, open, refusal, req, res } from '../helpers/http-raw.js';
import { useTestServers } from '../helpers/servers.js';
import { delay, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { calls, events, gate, serveHttp } = useHttpApp(servers);

describe('pipelining', () => {
  it('5 requests in one write are answered in order, byte for byte', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(
      Buffer.concat([
        req('GET', '/ok/1'),
        req('POST', '/echo', { headers: [['Content-Length', '5']], body: 'hello' }),
        req('GET', '/stream'),
        req('HEAD', '/'),
        req('POST', '/echo', { headers: [['Transfer-Encoding', 'chunked']], body: chunked(['ab', 'c']) }),
      ]),
    );
    const expected =
      OK('/ok/1') +
      res('200 OK', { body: '5 5:hello' }) +
      res('200 OK', { chunked: true, body: chunked(['a', 'b'.repeat(20), 'c'.repeat(300)]) }) +
      res('200 OK', { length: 5 }) +
      res('200 OK', { body: '- 3:abc' });
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['GET /ok/1', 'POST /echo', 'GET /stream', 'HEAD /', 'POST /echo']);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('a slow first response is not overtaken: the next requests wait, unread by the app, until it ends', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(Buffer.concat([req('GET', '/gate?id=g1'), req('GET', '/ok/2'), req('GET', '/ok/3'), req('GET', '/ok/4'), req('GET', '/ok/5')]));
    await events.when('entered g1');
    // A moment for anything that would overtake it.
    await delay(50);
    expect(calls).toEqual(['GET /gate?id=g1']);
    expect(client.received).toBe(0);
    gate('g1').resolve();
    const expected = res('200 OK', { chunked: true, body: chunked(['slow 1 ', 'slow 2']) }) + [2, 3, 4, 5].map((i) => OK(`/ok/${i}`)).join('');
    expect(await client.untilText(expected)).toBe(expected);
    expect(calls).toEqual(['GET /gate?id=g1', 'GET /ok/2', 'GET /ok/3', 'GET /ok/4', 'GET /ok/5']);
    client.destroy();
  });

  it('a 4 MiB streamed response with requests pipelined behind it: all whole, in order', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(Buffer.concat([req('GET', '/big'), req('GET', '/ok/2'), req('GET', '/big'), req('GET', '/ok/4')]));
    const big = res('200 OK', {
      headers: [['Content-Type', 'application/octet-stream']],
      chunked: true,
      body: chunked(Array.from({ length: 64 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(64 * 1024))),
    });
    const expected = big + OK('/ok/2') + big + OK('/ok/4');
    const text = await client.untilText(expected, 20_000);
    expect(text.length).toBe(expected.length);
    expect(text === expected).toBe(true);
    client.destroy();
  });

  it('1,000 requests in one write (past the 64 KiB pipelining buffer): all answered, in order', async () => {
    const address = serveHttp();
    const client = await open(address);
    const n = 1000;
    const requests = Buffer.concat(Array.from({ length: n }, (_, i) => req('GET', `/ok/${i}`, { headers: [['X-Pad', 'p'.repeat(60)]] })));
    expect(requests.length).toBeGreaterThan(64 * 1024);
    await client.write(requests);
    const expected = Array.from({ length: n }, (_, i) => OK(`/ok/${i}`)).join('');
    expect(await client.untilText(expected, 20_000)).toBe(expected);
    expect(calls).toHaveLength(n);
    client.destroy();
  });

  for (const k of [1, 3]) {
    it(`a malformed request ${k} of 4: responses 1..${k - 1}, then the 400, then close; nothing after it reaches the app`, async () => {
      const address = serveHttp();
      const pipeline = [1, 2, 3, 4].map((i) =>
        i === k
          ? req('POST', '/smuggle', {
              headers: [
                ['Content-Length', '5'],
                ['Transfer-Encoding', 'chunked'],
              ],
              body: '0\r\n\r\n',
            })
          : req('GET', `/ok/${i}`),
      );
      const { text, reset } = await oneShot(address, Buffer.concat(pipeline));
      const before = Array.from({ length: k - 1 }, (_, i) => OK(`/ok/${i + 1}`)).join('');
      expect(text).toBe(before + refusal(400));
      expect(reset).toBe(false);
      expect(calls).toEqual(Array.from({ length: k - 1 }, (_, i) => `GET /ok/${i + 1}`));
      await waitFor(() => servers.logs.find(/^http: .*Content-Length.*Transfer-Encoding.*; answered 400$/), { what: 'the refusal log line' });
    });
  }
});
