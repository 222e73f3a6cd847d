/**
 * The FastCGI request body (STDIN): a body longer or shorter than CONTENT_LENGTH (F20, F21)
 * refused, or, once the app has sent its head, the connection reset; bodies streamed to
 * the app record by record, in padded records of 1 to 65535 bytes and one byte per TCP
 * write; requests without a body handed over at the empty PARAMS.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FCGI, FcgiClient, fcgiExchange, reply, request, stdin, stdoutOf } from '../helpers/fastcgi.js';
import {
  TEXT,
  cat,
  cgi,
  describeFixtures,
  expectBytes,
  expectStillServing,
  get,
  head,
  held,
  ok,
  refuses,
  routedFcgiServer,
  whenAborted,
  vars,
  type Fixture,
  type Route,
} from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const fcgiServer = routedFcgiServer(servers);

const fixtures: Fixture[] = [
  // F20, F21: a body longer or shorter than CONTENT_LENGTH
  refuses('F20', 'STDIN of 4 bytes for CONTENT_LENGTH 3', cat(held(1, 3), stdin(1, 'abcd'), stdin(1, '')), 400),
  refuses('F20', 'a fourth byte in a second STDIN record for CONTENT_LENGTH 3', cat(held(1, 3), stdin(1, 'abc'), stdin(1, 'd'), stdin(1, '')), 400),
  refuses('F21', 'the empty STDIN after 3 of CONTENT_LENGTH 5 bytes', cat(held(1, 5), stdin(1, 'abc'), stdin(1, '')), 400),
];

describeFixtures(servers, fixtures);

describe('the request body', () => {
  it('streams: the app reads the first STDIN record before the rest of the body is sent', async () => {
    const { address, probe } = fcgiServer();
    const client = new FcgiClient(address);
    try {
      await client.send(cat(head(1, vars('/read', [['CONTENT_LENGTH', '10']], 'POST')), stdin(1, 'first')));
      await waitFor(() => Buffer.concat(probe('/read').got).toString() === 'first', { what: 'the app to read the first record' });
      expect(client.raw.received).toBe(0);
      await client.send(cat(stdin(1, 'secon'), stdin(1, '')));
      expectBytes((await client.untilClosed()).data, reply(1, cgi('got firstsecon')));
    } finally {
      client.destroy();
    }
  });

  /** Answers the body's length and SHA-256. */
  const hashRoute: Route = async (environ, start) => {
    const hash = createHash('sha256');
    let length = 0;
    for await (const chunk of environ['tsgi.input']) {
      hash.update(chunk);
      length += chunk.length;
    }
    start('200 OK', TEXT);
    return [`${length} ${hash.digest('hex')}`];
  };
  const digest = (data: Buffer): string => `${data.length} ${createHash('sha256').update(data).digest('hex')}`;

  it('a 1 MiB body in STDIN records of 1 to 65535 bytes (padded) arrives whole', async () => {
    const body = randomBytes(1 << 20);
    const sizes = [1, 7, 8192, 65535, 100, 32768, 3];
    const records: Buffer[] = [];
    for (let at = 0, i = 0; at < body.length; i++) {
      const size = sizes[i % sizes.length]!;
      records.push(stdin(1, body.subarray(at, at + size), i % 8));
      at += size;
    }
    const { address } = fcgiServer({ '/hash': hashRoute });
    const bytes = cat(head(1, vars('/hash', [['CONTENT_LENGTH', String(body.length)]], 'POST')), ...records, stdin(1, ''));
    const result = await fcgiExchange(address, bytes);
    expectBytes(result.data, reply(1, cgi(digest(body))));
  });

  it('a body in 100-byte STDIN records, sent one byte per TCP write, arrives whole', async () => {
    const body = randomBytes(700);
    const { address } = fcgiServer({ '/hash': hashRoute });
    const bytes = request(1, vars('/hash', [['CONTENT_LENGTH', '700']], 'POST'), body, { stdinRecord: 100, padding: 3 });
    const result = await fcgiExchange(address, bytes, { split: 'bytes', delayMs: 0 });
    expectBytes(result.data, reply(1, cgi(digest(body))));
  });

  it.each<[string, Array<[string, string]>]>([
    ['CONTENT_LENGTH 0', [['CONTENT_LENGTH', '0']]],
    ['CONTENT_LENGTH empty', [['CONTENT_LENGTH', '']]],
    ['no CONTENT_LENGTH', []],
  ])('%s: the request is handed over at the empty PARAMS, without waiting for STDIN', async (_name, extra) => {
    const { address } = fcgiServer();
    const client = new FcgiClient(address);
    try {
      await client.send(head(1, vars('/no-body', extra)));
      const result = await client.untilClosed();
      expectBytes(result.data, reply(1, ok('/no-body')));
    } finally {
      client.destroy();
    }
  });

  it('the empty STDIN of a request without a body, sent later on a kept connection, is consumed silently', async () => {
    const { address } = fcgiServer();
    const client = new FcgiClient(address);
    try {
      await client.send(head(1, vars('/a'), { keepConn: true }));
      expectBytes((await client.untilEnd([1])).data, reply(1, ok('/a')));
      await client.send(cat(stdin(1, ''), get('/b')));
      expectBytes((await client.untilClosed()).data, reply(1, ok('/b')));
    } finally {
      client.destroy();
    }
  });
});

describe('F20 after the app sent its head', () => {
  it('STDIN beyond CONTENT_LENGTH aborts the request and resets the connection (no END_REQUEST)', async () => {
    const { address, probe } = fcgiServer({
      '/early': (environ, start) => {
        start('200 OK', TEXT);
        return (async function* () {
          yield 'early';
          await whenAborted(environ['tsgi.signal']);
        })();
      },
    });
    const client = new FcgiClient(address);
    try {
      await client.send(head(1, vars('/early', [['CONTENT_LENGTH', '3']], 'POST')));
      await waitFor(() => client.raw.data.includes('early'), { what: 'the head and first chunk' });
      await client.send(cat(stdin(1, 'abcd'), stdin(1, '')));
      const result = await client.untilClosed();
      expect(result.reset).toBe(true);
      expect(stdoutOf(result.records, 1).toString()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nearly');
      expect(result.records.filter((r) => r.type === FCGI.END_REQUEST)).toEqual([]);
      await waitFor(() => probe('/early').aborts === 1, { what: 'the signal' });
    } finally {
      client.destroy();
    }
    await expectStillServing(address);
  });
});
