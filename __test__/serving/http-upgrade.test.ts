/**
 * HTTP upgrades: a 101 turns the connection into a tunnel whose bytes are the app's both
 * ways (tsgi.input in, the body out), checked with a real WebSocket client (`ws`).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { App, Environ } from '../../src/app/contract.js';
import { useTestServers } from '../helpers/servers.js';
import { RawClient, waitFor } from '../helpers/uwsgi.js';

const { serve } = useTestServers();
const HTTP = { protocol: 'http' as const };

/** A WebSocket echo app: short text frames only, which is all the tests send. */
function echoApp(seen: { inputEnded?: boolean } = {}): App {
  return async function* (environ: Environ, start) {
    const key = environ.HTTP_SEC_WEBSOCKET_KEY as string;
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    start('101 Switching Protocols', [
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Accept', accept],
    ]);
    let pending = Buffer.alloc(0);
    for await (const data of environ['tsgi.input']) {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 6 && pending.length >= 6 + (pending[1]! & 0x7f)) {
        const opcode = pending[0]! & 0x0f;
        const length = pending[1]! & 0x7f;
        const mask = pending.subarray(2, 6);
        const payload = Buffer.from(pending.subarray(6, 6 + length).map((b, i) => b ^ mask[i % 4]!));
        pending = pending.subarray(6 + length);
        if (opcode === 8) {
          yield Buffer.from([0x88, 0x02, 0x03, 0xe8]); // close, 1000
          return;
        }
        const reply = Buffer.from(`echo ${payload.toString()}`);
        yield Buffer.concat([Buffer.from([0x81, reply.length]), reply]);
      }
    }
    seen.inputEnded = true;
  };
}

describe('HTTP upgrade', () => {
  it('a WebSocket client talks to the app through the 101 tunnel', async () => {
    const address = serve(echoApp(), undefined, HTTP);
    const ws = new WebSocket(`ws://${address}/chat`);
    const messages: string[] = [];
    const closed = new Promise<number>((resolve, reject) => {
      ws.on('close', (code) => resolve(code));
      ws.on('error', reject);
    });
    ws.on('open', () => {
      ws.send('one');
      ws.send('two');
    });
    ws.on('message', (data) => {
      messages.push(String(data));
      if (messages.length === 2) ws.close(1000);
    });
    expect(await closed).toBe(1000);
    expect(messages).toEqual(['echo one', 'echo two']);
  });

  it('the 101 head goes out at once, and bytes sent with the handshake are the first tunnelled ones', async () => {
    const address = serve(echoApp(), undefined, HTTP);
    const client = new RawClient(address);
    const frame = (text: string): Buffer => {
      const mask = Buffer.from([1, 2, 3, 4]);
      const payload = Buffer.from(text).map((b, i) => b ^ mask[i % 4]!);
      return Buffer.concat([Buffer.from([0x81, 0x80 | text.length]), mask, payload]);
    };
    void client.write(
      Buffer.concat([
        Buffer.from(
          'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
        frame('early'),
      ]),
    );
    const text = await waitFor(() => {
      const got = client.data.toString('latin1');
      return got.includes('echo early') ? got : null;
    });
    expect(text).toMatch(
      /^HTTP\/1\.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\nDate: [^\r]+\r\nServer: tsgi\r\n\r\n\x81\x0aecho early$/,
    );
    client.destroy();
  });

  it('the client closing its side ends tsgi.input; the app finishes and the connection closes', async () => {
    const seen: { inputEnded?: boolean } = {};
    const address = serve(echoApp(seen), undefined, HTTP);
    const client = new RawClient(address, { allowHalfOpen: true });
    void client.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await waitFor(() => client.data.includes('101 Switching'));
    client.end();
    await waitFor(() => seen.inputEnded);
    await waitFor(() => client.closed);
  });

  it('an upgrade request answered without 101 gets that answer, an empty input and a close', async () => {
    let input = '';
    // The answer comes first, then the input is read: it must end, empty, since no switch
    // happened (and the connection closes: the bytes after an upgrade request may not be HTTP).
    const answerFirst: App = (environ, start) => {
      start('426 Upgrade Required', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'no';
        for await (const chunk of environ['tsgi.input']) input += Buffer.from(chunk).toString();
      })();
    };
    const address = serve(answerFirst, undefined, HTTP);
    const client = new RawClient(address);
    void client.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => client.closed);
    const text = client.data.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
    expect(text).toContain('Connection: close\r\n');
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1); // the bytes after it were never parsed
    expect(input).toBe('');
  });

  it('a 101 to a request that did not ask to upgrade is an app error: 500', async () => {
    const address = serve(
      (_environ, start) => {
        start('101 Switching Protocols', [
          ['Upgrade', 'websocket'],
          ['Connection', 'Upgrade'],
        ]);
        return [];
      },
      undefined,
      HTTP,
    );
    const client = new RawClient(address);
    void client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor(() => client.closed);
    expect(client.data.toString('latin1')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
  });
});
