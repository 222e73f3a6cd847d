/**
 * tsgi.input, end to end over uwsgi, with bodies sent in several writes: read(),
 * read(size), readline(), readline(size) and async iteration give the exact bytes; an
 * ignored body, an empty one, 5 MiB bodies, a 1 MiB line; and a slow reader, for which the
 * server stops reading the socket until the app asks for more.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestServers } from '../helpers/servers.js';
import { TEXT, expectIdle, headerValue, request, type RawResponse } from '../helpers/tsgi.js';
import { RawClient, delay, nginxVars, packet, parseResponse, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

/** Sends a POST whose body arrives in several writes, and returns the response. */
async function post(address: string, body: Buffer, pieces = 3): Promise<RawResponse> {
  const client = new RawClient(address);
  await client.connected;
  await client.write(packet(nginxVars('POST', '/upload', { CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' })));
  for (let i = 0; i < pieces; i++) {
    await delay(3);
    await client.write(body.subarray(Math.floor((i * body.length) / pieces), Math.floor(((i + 1) * body.length) / pieces)));
  }
  const { data, reset } = await client.whenClosed;
  return { ...parseResponse(data), reset, data };
}

describe('tsgi.input', () => {
  const payload = Buffer.concat([Buffer.from('line one\r\nline two\n'), Buffer.from([0, 1, 0xfe, 0xff, 0x0a]), Buffer.from('tail without newline')]);

  it('read() gives the exact bytes', async () => {
    const address = serve(async (environ, start) => {
      const body = await environ['tsgi.input'].read();
      const again = await environ['tsgi.input'].read();
      start('200 OK', [['X-Again', String(again.length)]]);
      return [body];
    });
    const response = await post(address, payload);
    expect(response.body).toEqual(payload);
    expect(headerValue(response.headers, 'X-Again')).toBe('0');
  });

  it('read(size) gives at most size bytes each time, then empty at the end', async () => {
    const sizes: number[] = [];
    const address = serve(async (environ, start) => {
      const parts: Uint8Array[] = [];
      for (;;) {
        const part = await environ['tsgi.input'].read(7);
        sizes.push(part.length);
        if (part.length === 0) break;
        parts.push(part);
      }
      start('200 OK', []);
      return parts;
    });
    const response = await post(address, payload);
    expect(response.body).toEqual(payload);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(sizes.at(-1)).toBe(0);
  });

  it('readline() splits at \\n, keeps it, and returns the tail then empty', async () => {
    let lines: Buffer[] = [];
    const address = serve(async (environ, start) => {
      lines = [];
      for (;;) {
        const line = await environ['tsgi.input'].readline();
        lines.push(Buffer.from(line));
        if (line.length === 0) break;
      }
      start('200 OK', []);
      return [];
    });
    await post(address, payload);
    expect(lines.map((l) => l.toString('latin1'))).toEqual(['line one\r\n', 'line two\n', '\x00\x01\xfe\xff\n', 'tail without newline', '']);
    expect(Buffer.concat(lines)).toEqual(payload);
  });

  it('readline(size) returns at most size bytes', async () => {
    let lines: string[] = [];
    const address = serve(async (environ, start) => {
      lines = [];
      for (;;) {
        const line = await environ['tsgi.input'].readline(4);
        if (line.length === 0) break;
        lines.push(Buffer.from(line).toString('latin1'));
      }
      start('200 OK', []);
      return [];
    });
    await post(address, Buffer.from('abcdefg\nhi\n'));
    expect(lines).toEqual(['abcd', 'efg\n', 'hi\n']);
  });

  it('async iteration gives the exact bytes', async () => {
    let chunks = 0;
    const address = serve(async (environ, start) => {
      const parts: Uint8Array[] = [];
      for await (const part of environ['tsgi.input']) {
        expect(part).toBeInstanceOf(Uint8Array);
        parts.push(part);
      }
      chunks = parts.length;
      start('200 OK', []);
      return parts;
    });
    const response = await post(address, payload);
    expect(response.body).toEqual(payload);
    expect(chunks).toBeGreaterThan(0);
  });

  it('an app that ignores a 2 MiB body still gets its response to the client (lingering close, no reset)', async () => {
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      return ['ignored'];
    });
    const big = Buffer.alloc(2 * 1024 * 1024, 1);
    const response = await request(address, nginxVars('POST', '/ignore', { CONTENT_LENGTH: String(big.length) }), big);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.body.toString()).toBe('ignored');
    expect(response.reset).toBe(false);
    await expectIdle(servers);
  });

  it('a request without a body reads empty at once', async () => {
    const address = serve(async (environ, start) => {
      const body = await environ['tsgi.input'].read();
      const line = await environ['tsgi.input'].readline();
      let iterated = 0;
      for await (const _ of environ['tsgi.input']) iterated++;
      start('200 OK', []);
      return [`${body.length},${line.length},${iterated}`];
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('0,0,0');
  });

  it.each(['async iteration', 'read(64 KiB) in a loop'])('a 5 MiB body is read whole and intact (%s)', async (mode) => {
    const big = randomBytes(5 * 1024 * 1024);
    const expected = createHash('sha256').update(big).digest('hex');
    const address = serve(async (environ, start) => {
      const hash = createHash('sha256');
      let length = 0;
      if (mode === 'async iteration') {
        for await (const part of environ['tsgi.input']) {
          hash.update(part);
          length += part.length;
        }
      } else {
        for (;;) {
          const part = await environ['tsgi.input'].read(64 * 1024);
          if (part.length === 0) break;
          hash.update(part);
          length += part.length;
        }
      }
      start('200 OK', TEXT);
      return [`${length} ${hash.digest('hex')}`];
    });
    const response = await request(address, nginxVars('POST', '/big', { CONTENT_LENGTH: String(big.length) }), big);
    expect(response.body.toString()).toBe(`${big.length} ${expected}`);
  });

  // read() of the whole body must not deadlock against the input's high-water pause.
  it('a 5 MiB body is read whole and intact with read()', async () => {
    const big = randomBytes(5 * 1024 * 1024);
    const expected = createHash('sha256').update(big).digest('hex');
    const address = serve(async (environ, start) => {
      const all = await environ['tsgi.input'].read();
      start('200 OK', TEXT);
      return [`${all.length} ${createHash('sha256').update(all).digest('hex')}`];
    });
    const response = await Promise.race([
      request(address, nginxVars('POST', '/big', { CONTENT_LENGTH: String(big.length) }), big),
      delay(5000).then(() => null),
    ]);
    expect(response, 'no response within 5 s').not.toBeNull();
    expect(response!.body.toString()).toBe(`${big.length} ${expected}`);
  });

  // Nor readline() when no newline arrives within the high-water mark.
  it('readline() of a 1 MiB line returns it whole', async () => {
    const line = Buffer.concat([Buffer.alloc(1024 * 1024, 0x61), Buffer.from('\n')]);
    const address = serve(async (environ, start) => {
      const got = await environ['tsgi.input'].readline();
      start('200 OK', TEXT);
      return [String(got.length)];
    });
    const response = await Promise.race([
      request(address, nginxVars('POST', '/line', { CONTENT_LENGTH: String(line.length) }), line),
      delay(5000).then(() => null),
    ]);
    expect(response, 'no response within 5 s').not.toBeNull();
    expect(response!.body.toString()).toBe(String(line.length));
  });

  it('a slow reader: the server stops reading the socket, then the body arrives whole', async () => {
    const big = randomBytes(32 * 1024 * 1024);
    const expected = createHash('sha256').update(big).digest('hex');
    let go!: () => void;
    const ready = new Promise<void>((resolve) => (go = resolve));
    const address = serve(async (environ, start) => {
      await ready;
      const hash = createHash('sha256');
      let length = 0;
      for await (const part of environ['tsgi.input']) {
        hash.update(part);
        length += part.length;
      }
      start('200 OK', TEXT);
      return [`${length} ${hash.digest('hex')}`];
    });
    const client = new RawClient(address);
    await client.connected;
    client.socket.write(packet(nginxVars('POST', '/slow-reader', { CONTENT_LENGTH: String(big.length) })));
    client.socket.write(big);
    // While the app reads nothing, the server must stop taking bytes: most of the body
    // stays in the client's own write queue.
    let last = -1;
    let stableSince = Date.now();
    await waitFor(
      () => {
        const pending = client.socket.writableLength;
        if (pending !== last) {
          last = pending;
          stableSince = Date.now();
        }
        return Date.now() - stableSince > 300;
      },
      { timeout: 8000, interval: 20, what: 'the upload to stall' },
    );
    expect(client.socket.writableLength).toBeGreaterThan(16 * 1024 * 1024);
    go();
    const { data } = await client.whenClosed;
    expect(parseResponse(data).body.toString()).toBe(`${big.length} ${expected}`);
  });
});
