/**
 * The HTTP/1.1 listener's responses over raw sockets, byte for byte (the `Date` value
 * masked): status line, headers, Content-Length, chunked and close-delimited framing,
 * keep-alive; the environ of an HTTP request; HTTP/1.0, HEAD, 204 and 304, Connection:
 * close; app failures before and after the head, and a client that leaves mid-response.
 */
import { describe, expect, it } from 'vitest';
import { OK, TEXT, jsonBody, useHttpApp } from '../helpers/http-app.js';
import { chunked, maskDate, oneShot, open, req, res } from '../helpers/http-raw.js';
import { useTestServers } from '../helpers/servers.js';
import { waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { calls, events, serveHttp } = useHttpApp(servers);

describe('responses, byte for byte', () => {
  it('a GET: status line, the app headers, Content-Length, Date, Server; the connection stays open', async () => {
    const address = serveHttp();
    const client = await open(address);
    const text = await client.exchange(req('GET', '/'), res('200 OK', { body: 'hello' }));
    expect(text).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: <date>\r\nServer: tsgi\r\n\r\nhello');
    // The Date is a real IMF-fixdate, now.
    const date = /Date: ([^\r]+)\r\n/.exec(client.data.toString('latin1'))![1]!;
    expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(5_000);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('keep-alive: 3 requests one after another on one connection, one accepted connection', async () => {
    const address = serveHttp();
    const server = servers.started[0]!;
    const client = await open(address);
    for (const i of [1, 2, 3]) {
      expect(await client.exchange(req('GET', `/ok/${i}`), OK(`/ok/${i}`))).toBe(OK(`/ok/${i}`));
    }
    expect(server.acceptedConnections).toBe(1);
    expect(calls).toEqual(['GET /ok/1', 'GET /ok/2', 'GET /ok/3']);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('the environ of an HTTP request (run through validate)', async () => {
    const address = serveHttp();
    const client = await open(address);
    const request = req('GET', '/environ?x=1&y=%20', {
      headers: [
        ['Host', 'example.test:8080'],
        ['X-Foo', 'bar'],
        ['X_Dropped', 'names with _ are dropped'],
        ['Proxy', 'httpoxy'],
        ['Cookie', 'a=1'],
      ],
    });
    await client.write(request);
    const environ = await jsonBody(client);
    expect(environ).toEqual({
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/environ?x=1&y=%20',
      SCRIPT_NAME: '',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=1&y=%20',
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_NAME: 'example.test',
      SERVER_PORT: '8080',
      REMOTE_ADDR: '127.0.0.1',
      REMOTE_PORT: String(client.socket.localPort),
      HTTP_HOST: 'example.test:8080',
      HTTP_X_FOO: 'bar',
      HTTP_COOKIE: 'a=1',
      'tsgi.url_scheme': 'http',
    });
    client.destroy();
  });

  it("PATH_INFO is percent-decoded; REQUEST_URI is not; no Host port: SERVER_PORT is the socket's", async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(
      req('POST', '/environ/a%20b%2Fc?q=%41', {
        headers: [
          ['Host', 'h.test'],
          ['Content-Type', 'text/x'],
          ['Content-Length', '0'],
        ],
      }),
    );
    const environ = await jsonBody(client);
    expect(environ).toMatchObject({
      PATH_INFO: '/environ/a b/c',
      REQUEST_URI: '/environ/a%20b%2Fc?q=%41',
      QUERY_STRING: 'q=%41',
      SERVER_NAME: 'h.test',
      SERVER_PORT: address.split(':')[1],
      CONTENT_TYPE: 'text/x',
      CONTENT_LENGTH: '0',
    });
    client.destroy();
    const other = await oneShot(address, req('GET', '/a%20b', { headers: [['Connection', 'close']] }));
    expect(other.text).toBe(res('404 Not Found', { body: 'no route /a b', connection: 'close' }));
  });

  it('an absolute-form target wins over Host for SERVER_NAME, SERVER_PORT and HTTP_HOST alike (RFC 9112 §3.2.2)', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(req('GET', 'http://target.example:81/environ?x', { headers: [['Host', 'header.example']] }));
    const environ = await jsonBody(client);
    expect(environ).toMatchObject({ PATH_INFO: '/environ', SERVER_NAME: 'target.example', SERVER_PORT: '81', HTTP_HOST: 'target.example:81' });
    client.destroy();
  });

  it('a list body gets Content-Length (empty chunks skipped)', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: 'abcde' });
    expect(await client.exchange(req('GET', '/list'), expected)).toBe(expected);
    client.destroy();
  });

  it('an empty list body: Content-Length: 0', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { body: '', length: 0 });
    expect(await client.exchange(req('GET', '/empty'), expected)).toBe(expected);
    // Still serving on it.
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });

  it('a streamed (async) body is chunked: hex sizes, CRLFs, empty chunks skipped, 0\\r\\n\\r\\n at the end', async () => {
    const address = serveHttp();
    const client = await open(address);
    const body = chunked(['a', 'b'.repeat(20), 'c'.repeat(300)]);
    expect(body).toContain('\r\n14\r\n');
    expect(body).toContain('\r\n12c\r\n');
    const expected = res('200 OK', { chunked: true, body });
    expect(await client.exchange(req('GET', '/stream'), expected)).toBe(expected);
    // The connection goes on.
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });

  it('a synchronous generator body is chunked too', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { chunked: true, body: chunked(['one', 'two']) });
    expect(await client.exchange(req('GET', '/sync-stream'), expected)).toBe(expected);
    client.destroy();
  });

  it('write() before the body: chunked, each write its own chunk', async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { chunked: true, body: chunked(['x', 'yz']) });
    expect(await client.exchange(req('GET', '/write'), expected)).toBe(expected);
    client.destroy();
  });

  it("the app's own Content-Length: no chunking, no second Content-Length", async () => {
    const address = serveHttp();
    const client = await open(address);
    const expected = res('200 OK', { headers: [...TEXT, ['Content-Length', '6']], length: null, body: 'abcdef' });
    expect(await client.exchange(req('GET', '/declared'), expected)).toBe(expected);
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    client.destroy();
  });
});

describe('HTTP/1.0, HEAD, 204/304, Connection: close', () => {
  it('HTTP/1.0 with a streamed body: close-delimited, Connection: close, then FIN', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/stream', { version: 'HTTP/1.0' }));
    expect(text).toBe(res('200 OK', { length: null, connection: 'close', body: `ab${'b'.repeat(19)}${'c'.repeat(300)}` }));
    expect(reset).toBe(false);
  });

  it('HTTP/1.0 with a list body: Content-Length and Connection: close, then FIN', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/ok/1', { version: 'HTTP/1.0' }));
    expect(text).toBe(OK('/ok/1', 'close'));
    expect(reset).toBe(false);
  });

  it('HTTP/1.0 with Connection: keep-alive and a known length: Connection: keep-alive, the connection stays', async () => {
    const address = serveHttp();
    const server = servers.started[0]!;
    const client = await open(address);
    const keep = { version: 'HTTP/1.0', headers: [['Connection', 'keep-alive']] as Array<[string, string]> };
    expect(await client.exchange(req('GET', '/ok/1', keep), OK('/ok/1', 'keep-alive'))).toBe(OK('/ok/1', 'keep-alive'));
    expect(await client.exchange(req('GET', '/ok/2', keep), OK('/ok/2', 'keep-alive'))).toBe(OK('/ok/2', 'keep-alive'));
    expect(client.closed).toBe(false);
    // A streamed body cannot be framed on HTTP/1.0: close-delimited, whatever was asked.
    await client.write(req('GET', '/sync-stream', keep));
    const { data, reset } = await client.whenClosed;
    expect(maskDate(data)).toBe(OK('/ok/1', 'keep-alive') + OK('/ok/2', 'keep-alive') + res('200 OK', { length: null, connection: 'close', body: 'onetwo' }));
    expect(reset).toBe(false);
    expect(server.acceptedConnections).toBe(1);
  });

  it('HEAD: the headers of the GET (Content-Length of the list body), no body; keep-alive goes on', async () => {
    const address = serveHttp();
    const client = await open(address);
    const head = res('200 OK', { length: 5 });
    expect(await client.exchange(req('HEAD', '/'), head)).toBe(head);
    // A streamed body: neither Content-Length nor chunked, and nothing after the head.
    const streamed = res('200 OK', { length: null });
    expect(await client.exchange(req('HEAD', '/stream'), streamed)).toBe(streamed);
    expect(await client.exchange(req('GET', '/ok/3'), OK('/ok/3'))).toBe(OK('/ok/3'));
    expect(client.text()).toBe(head + streamed + OK('/ok/3'));
    client.destroy();
  });

  for (const [code, status] of [
    ['204', '204 No Content'],
    ['304', '304 Not Modified'],
  ] as const) {
    it(`${code}: no body, no Content-Length, no chunking, even though the app returned one; keep-alive goes on`, async () => {
      const address = serveHttp();
      const client = await open(address);
      const expected = res(status, { headers: [['X-Code', code]], length: null });
      expect(await client.exchange(req('GET', `/status?code=${code}`), expected)).toBe(expected);
      expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
      expect(client.text()).toBe(expected + OK('/ok/2'));
      client.destroy();
    });
  }

  it('Connection: close from the client: the response says so and the server closes (FIN)', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/ok/1', { headers: [['Connection', 'close']] }));
    expect(text).toBe(OK('/ok/1', 'close'));
    expect(reset).toBe(false);
  });

  it('Connection: close on a chunked response: chunked to its end, then FIN', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/sync-stream', { headers: [['Connection', 'close']] }));
    expect(text).toBe(res('200 OK', { chunked: true, connection: 'close', body: chunked(['one', 'two']) }));
    expect(reset).toBe(false);
  });

  it('Connection: close in a pipeline: requests after it are never read', async () => {
    const address = serveHttp();
    const { text } = await oneShot(
      address,
      Buffer.concat([req('GET', '/ok/1'), req('GET', '/ok/2', { headers: [['Connection', 'close']] }), req('GET', '/ok/3')]),
    );
    expect(text).toBe(OK('/ok/1') + OK('/ok/2', 'close'));
    expect(calls).toEqual(['GET /ok/1', 'GET /ok/2']);
  });
});

describe('app failures and client aborts', () => {
  const ERROR_500 = res('500 Internal Server Error', { body: 'Internal Server Error\n' });

  it('an app that throws before its head: a 500 with a static body, keep-alive goes on', async () => {
    const address = serveHttp();
    const client = await open(address);
    expect(await client.exchange(req('GET', '/throw'), ERROR_500)).toBe(ERROR_500);
    expect(await client.exchange(req('GET', '/ok/2'), OK('/ok/2'))).toBe(OK('/ok/2'));
    await waitFor(() => servers.logs.find(/GET \/throw: app error: Error: boom/), { what: 'the app error log line' });
    client.destroy();
  });

  it('an app that throws before its head on HTTP/1.0: the 500 says Connection: close', async () => {
    const address = serveHttp();
    const { text, reset } = await oneShot(address, req('GET', '/throw', { version: 'HTTP/1.0' }));
    expect(text).toBe(res('500 Internal Server Error', { body: 'Internal Server Error\n', connection: 'close' }));
    expect(reset).toBe(false);
  });

  it('an app that throws after its head: the connection is reset, the chunked body never ends', async () => {
    const address = serveHttp();
    const client = await open(address);
    await client.write(req('GET', '/throw-mid'));
    const { data, reset } = await client.whenClosed;
    expect(reset).toBe(true);
    const text = maskDate(data);
    // What arrived (if anything did before the reset) is a prefix of the head and first chunk, never the last chunk.
    expect((res('200 OK', { chunked: true }) + '5\r\nfirst').startsWith(text)).toBe(true);
    expect(text).not.toContain('0\r\n\r\n');
    await waitFor(() => servers.logs.find(/GET \/throw-mid: app error: Error: boom after the first chunk/), { what: 'the app error log line' });
    // The server goes on.
    const after = await oneShot(address, req('GET', '/ok/2', { headers: [['Connection', 'close']] }));
    expect(after.text).toBe(OK('/ok/2', 'close'));
  });

  it('a client that disconnects mid-response: tsgi.signal fires, close() runs, the server keeps serving', async () => {
    const address = serveHttp();
    const server = servers.started[0]!;
    const client = await open(address);
    await client.write(req('GET', '/slow?id=s1'));
    await client.until((d) => d.includes('tick 0'), 'the first chunk');
    client.destroy();
    const reason = await events.when<Error>('aborted s1');
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error & { code?: string }).code).toBe('TSGI_ERR_CLIENT_GONE');
    await events.when('closed s1');
    await waitFor(() => server.activeRequests === 0, { what: 'no active requests' });
    const after = await oneShot(address, req('GET', '/ok/after', { headers: [['Connection', 'close']] }));
    expect(after.text).toBe(OK('/ok/after', 'close'));
  });
});
