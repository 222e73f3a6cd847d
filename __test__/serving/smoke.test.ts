import { afterEach, describe, expect, it } from 'vitest';
import { Server } from '../../src/server/server.js';
import { connect, exchange, nginxVars, packet, parseResponse, waitFor } from '../helpers/uwsgi.js';

describe('a uwsgi request end to end', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('serves a GET with its environ', async () => {
    server = new Server((environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [`${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${environ.QUERY_STRING}`];
    });
    const address = server.listen('127.0.0.1:0');
    const { data } = await exchange(address, packet(nginxVars('GET', '/hello?x=1')));
    const response = parseResponse(data);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['Content-Length', '14'],
    ]);
    expect(response.body.toString()).toBe('GET /hello x=1');
  });
});

describe('closing a server', () => {
  it('aborts the requests still running: signal, input and close() all see it', async () => {
    let aborted = 0;
    let closed = 0;
    let readError: unknown;
    const server = new Server(async (environ, start) => {
      environ['tsgi.signal'].addEventListener('abort', () => void aborted++);
      try {
        await environ['tsgi.input'].read();
      } catch (error) {
        readError = error;
      }
      start('200 OK', []);
      return Object.assign([], { close: () => void closed++ });
    });
    const address = server.listen('127.0.0.1:0');
    const socket = connect(address);
    socket.on('error', () => {});
    socket.write(packet(nginxVars('POST', '/', { CONTENT_LENGTH: '100' }), 'abc'));
    await waitFor(() => server.activeRequests === 1, { what: 'the request to start' });
    server.close();
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(aborted).toBe(1);
    expect((readError as { code?: string }).code).toBe('TSGI_ERR_CLIENT_GONE');
    expect(server.activeRequests).toBe(0);
    socket.destroy();
  });
});

describe('tsgi.file_wrapper', () => {
  it('streams a file from its path, whole, and closes it', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'tsgi-file-'));
    const file = path.join(dir, 'data.bin');
    const content = Buffer.alloc(300_000, 'abc');
    writeFileSync(file, content);
    const server = new Server((environ, start) => {
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](file, 65536);
    });
    try {
      const { data } = await exchange(server.listen('127.0.0.1:0'), packet(nginxVars('GET', '/file')));
      const response = parseResponse(data);
      expect(response.statusLine).toBe('HTTP/1.1 200 OK');
      expect(response.body.equals(content)).toBe(true);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PATH_INFO when the proxy sends only REQUEST_URI', () => {
  it.each([
    ['/a%20b/c?x=1', '/a b/c'],
    ['http://example.com/x/y?z', '/x/y'],
    ['*', '/'],
    ['', '/'],
  ])('%j gives PATH_INFO %j', async (uri, expected) => {
    const server = new Server((environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [String(environ.PATH_INFO)];
    });
    try {
      const { data } = await exchange(server.listen('127.0.0.1:0'), packet({ REQUEST_METHOD: 'OPTIONS', REQUEST_URI: uri }));
      expect(parseResponse(data).body.toString()).toBe(expected);
    } finally {
      server.close();
    }
  });
});
