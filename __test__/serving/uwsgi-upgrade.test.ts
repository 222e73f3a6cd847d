/**
 * WebSockets (any 101 upgrade) over uwsgi, as nginx's `uwsgi_pass` tunnels them: a request
 * whose vars ask to upgrade (HTTP/1.1, `HTTP_CONNECTION` holding `upgrade`, `HTTP_UPGRADE`)
 * may be answered 101, and the connection is then a tunnel whose bytes are the app's both
 * ways (tsgi.input in, the body out), as over HTTP (http-upgrade.test.ts). Raw packets with
 * the vars nginx sends for a handshake; a real nginx in front is __test__/peers/nginx-websocket.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { useTestServers } from '../helpers/servers.js';
import { RawClient, nginxVars, packet, waitFor } from '../helpers/uwsgi.js';
import { OPCODE, acceptKey, clientFrame, frame, readFrames, websocketEchoApp, type EchoSeen } from '../helpers/websocket.js';

const servers = useTestServers();
const { serve } = servers;

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** The vars nginx sends over uwsgi_pass for a WebSocket handshake (captured from nginx 1.22). */
function handshake(extra: Record<string, string> = {}): Record<string, string> {
  return nginxVars('GET', '/ws/chat', {
    HTTP_SEC_WEBSOCKET_VERSION: '13',
    HTTP_SEC_WEBSOCKET_KEY: KEY,
    HTTP_CONNECTION: 'Upgrade',
    HTTP_UPGRADE: 'websocket',
    HTTP_SEC_WEBSOCKET_EXTENSIONS: 'permessage-deflate; client_max_window_bits',
    ...extra,
  });
}

/** The 101 head as the app's headers make it: over uwsgi, raw, with nothing added. */
const HEAD_101 = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(KEY)}\r\n\r\n`;

/** What came after the 101 head, as frames, once `count` of them are there. */
async function framesAfterHead(client: RawClient, count: number): Promise<Array<{ opcode: number; text: string }>> {
  return waitFor(
    () => {
      const data = client.data;
      if (data.length < HEAD_101.length) return null;
      expect(data.subarray(0, HEAD_101.length).toString('latin1')).toBe(HEAD_101);
      const { frames } = readFrames(data.subarray(HEAD_101.length));
      return frames.length >= count ? frames.map((f) => ({ opcode: f.opcode, text: f.payload.toString('latin1') })) : null;
    },
    { what: `${count} frames after the 101` },
  );
}

describe('uwsgi upgrade', () => {
  it('the 101 head goes back raw, and the bytes after the packet are the first tunnelled ones', async () => {
    const address = serve(websocketEchoApp());
    const client = new RawClient(address);
    void client.write(Buffer.concat([packet(handshake()), clientFrame(OPCODE.TEXT, 'early')]));
    expect(await framesAfterHead(client, 1)).toEqual([{ opcode: OPCODE.TEXT, text: 'early' }]);
    client.destroy();
  });

  it('echoes both ways, several times, in order', async () => {
    const seen: EchoSeen = {};
    const address = serve(websocketEchoApp(seen));
    const client = new RawClient(address);
    void client.write(packet(handshake()));
    await waitFor(() => client.data.length >= HEAD_101.length);
    const sent: string[] = [];
    for (let round = 0; round < 5; round++) {
      const text = `message ${round} `.repeat(round * 40 + 1);
      sent.push(text);
      await client.write(clientFrame(OPCODE.TEXT, text));
      expect((await framesAfterHead(client, round + 1)).map((f) => f.text)).toEqual(sent);
    }
    // A message the size of many reads, cut by the client into pieces.
    const big = Buffer.alloc(300_000, 'z');
    const bigFrame = clientFrame(OPCODE.BINARY, big);
    for (let at = 0; at < bigFrame.length; at += 70_000) await client.write(bigFrame.subarray(at, at + 70_000));
    const frames = await framesAfterHead(client, 6);
    expect(frames[5]).toEqual({ opcode: OPCODE.BINARY, text: big.toString() });
    // The app saw the request nginx passed on, with its upgrade vars.
    expect(seen.environ).toMatchObject({ REQUEST_METHOD: 'GET', PATH_INFO: '/ws/chat', HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'Upgrade' });
    await client.write(clientFrame(OPCODE.CLOSE, Buffer.from([0x03, 0xe8])));
    await client.whenClosed;
    expect((await framesAfterHead(client, 7))[6]).toEqual({ opcode: OPCODE.CLOSE, text: '\x03\xe8' });
  });

  it('the client half-closing ends tsgi.input; the app can still write, and its end closes the connection', async () => {
    const seen: EchoSeen = {};
    const address = serve(websocketEchoApp(seen));
    const client = new RawClient(address, { allowHalfOpen: true });
    void client.write(Buffer.concat([packet(handshake()), clientFrame(OPCODE.TEXT, 'one')]));
    await framesAfterHead(client, 1);
    client.end();
    await waitFor(() => seen.inputEnded, { what: 'the end of tsgi.input' });
    // Written after the input ended, then the app returns: the server closes.
    expect(await framesAfterHead(client, 2)).toEqual([
      { opcode: OPCODE.TEXT, text: 'one' },
      { opcode: OPCODE.TEXT, text: 'input ended' },
    ]);
    const { reset } = await client.whenClosed;
    expect(reset).toBe(false);
    expect(client.ended).toBe(true);
  });

  it('the app writes while the client sends: its output goes on in between', async () => {
    // A 101 app that writes on its own (a server push), not only in answer.
    const app: App = async function* (environ, start) {
      start('101 Switching Protocols', [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade'],
        ['Sec-WebSocket-Accept', acceptKey(environ.HTTP_SEC_WEBSOCKET_KEY as string)],
      ]);
      yield frame(OPCODE.TEXT, 'hello');
      let got = 0;
      for await (const data of environ['tsgi.input']) {
        got += data.length;
        yield frame(OPCODE.TEXT, `got ${got}`);
      }
    };
    const address = serve(app);
    const client = new RawClient(address, { allowHalfOpen: true });
    void client.write(packet(handshake()));
    expect(await framesAfterHead(client, 1)).toEqual([{ opcode: OPCODE.TEXT, text: 'hello' }]);
    await client.write('abc');
    expect((await framesAfterHead(client, 2))[1]!.text).toBe('got 3');
    await client.write('de');
    expect((await framesAfterHead(client, 3))[2]!.text).toBe('got 5');
    client.end();
    await client.whenClosed;
  });

  it('an upgrade request answered 200 gets that answer, an empty input and a close; what follows is never handed over', async () => {
    let input: string | undefined;
    const answerFirst: App = (environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'not switching';
        input = '';
        for await (const chunk of environ['tsgi.input']) input += Buffer.from(chunk).toString();
      })();
    };
    const address = serve(answerFirst);
    const client = new RawClient(address);
    void client.write(Buffer.concat([packet(handshake()), clientFrame(OPCODE.TEXT, 'never read')]));
    const { data, reset } = await client.whenClosed;
    expect(reset).toBe(false);
    expect(data.toString('latin1')).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nnot switching');
    await waitFor(() => input !== undefined);
    expect(input).toBe('');
  });

  it.each([
    ['no Connection: upgrade', { HTTP_CONNECTION: 'keep-alive' }, 'HTTP/1.1'],
    ['no Upgrade', { HTTP_UPGRADE: null }, 'HTTP/1.1'],
    ['HTTP/1.0', { SERVER_PROTOCOL: 'HTTP/1.0' }, 'HTTP/1.0'],
  ])('a request with %s is no upgrade: a 101 to it is an app error, 500, and nothing is tunnelled', async (_name, change, version) => {
    const vars = Object.entries({ ...handshake(), ...change }).filter((pair): pair is [string, string] => pair[1] !== null);
    const address = serve(websocketEchoApp());
    const client = new RawClient(address);
    void client.write(Buffer.concat([packet(vars), clientFrame(OPCODE.TEXT, 'never read')]));
    const { data } = await client.whenClosed;
    expect(data.toString('latin1')).toMatch(new RegExp(`^${version.replace('.', '\\.')} 500 Internal Server Error\r\n`));
    expect(data.includes('never read')).toBe(false);
    await waitFor(() => servers.logs.find(/101 Switching Protocols answers an upgrade request only/), { what: 'the app error' });
  });

  it('an upgrade request with a body is a plain request: its input is the body, and a 101 to it is refused', async () => {
    let input: string | undefined;
    const app: App = async (environ, start) => {
      input = '';
      for await (const chunk of environ['tsgi.input']) input += Buffer.from(chunk).toString();
      return websocketEchoApp()(environ, start);
    };
    const address = serve(app);
    const client = new RawClient(address);
    void client.write(Buffer.concat([packet(handshake({ CONTENT_LENGTH: '5' }), 'hello'), clientFrame(OPCODE.TEXT, 'never read')]));
    const { data } = await client.whenClosed;
    expect(input).toBe('hello');
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
  });

  it('a tunnel whose client reads nothing of what the app sends is cut after socketTimeout, logged', async () => {
    let aborted = false;
    // A server push the client never reads.
    const app: App = (environ, start) => {
      start('101 Switching Protocols', [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade'],
      ]);
      const signal = environ['tsgi.signal'];
      signal.addEventListener('abort', () => (aborted = true));
      return (async function* () {
        while (!signal.aborted) yield Buffer.alloc(1 << 20, 'x');
      })();
    };
    const address = serve(app, { socketTimeout: 0.5 });
    const client = new RawClient(address);
    await client.write(packet(handshake()));
    await client.connected;
    client.socket.pause();
    await waitFor(() => aborted, { what: 'the abort', timeout: 10_000 });
    await waitFor(() => servers.logs.find(/^uwsgi: peer read nothing of the tunnel's output for socket-timeout 0\.5 s; aborted \(raise --socket-timeout\)$/), {
      what: 'the log line',
    });
    client.destroy();
  });
});
