/**
 * TSGI from the other side: toNodeHandler runs a TSGI app under node:http, toFetchHandler
 * under any fetch host, with the contract tsgi's server keeps (validate() checks the
 * environ they build and the app's use of it). Round trips through fromNode and fromFetch
 * show the adapters compose.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/app/contract.js';
import { fromFetch } from '../../src/adapters/from-fetch.js';
import { fromNode } from '../../src/adapters/from-node.js';
import { toFetchHandler } from '../../src/adapters/to-fetch.js';
import { toNodeHandler } from '../../src/adapters/to-node.js';
import { validate } from '../../src/app/validate.js';
import { disconnectAfterFirstPiece, request } from '../helpers/http.js';
import { readAll, sha256, sleep, waitFor } from '../helpers/proxy-apps.js';
import { captureLogs } from '../helpers/uwsgi.js';

const started: http.Server[] = [];
let logs: ReturnType<typeof captureLogs> | undefined;
afterEach(() => {
  for (const server of started.splice(0)) server.close();
  logs?.restore();
  logs = undefined;
});

async function listen(handler: http.RequestListener): Promise<string> {
  logs ??= captureLogs();
  const server = http.createServer(handler).listen(0, '127.0.0.1');
  started.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** One app for both hosts: routes on PATH_INFO. */
const closes: string[] = [];
const aborted: string[] = [];
const app: App = async (environ: Environ, start) => {
  switch (environ.PATH_INFO) {
    case '/environ': {
      start('200 OK', [['Content-Type', 'application/json']]);
      const keys = ['REQUEST_METHOD', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'HTTP_X_FOO', 'tsgi.url_scheme'];
      return [JSON.stringify(Object.fromEntries(keys.map((key) => [key, environ[key]])))];
    }
    case '/upload': {
      const body = await readAll(environ);
      start('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify({ bytes: body.length, sha256: sha256(body), CONTENT_LENGTH: environ.CONTENT_LENGTH })];
    }
    case '/late-error': {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield '';
        throw new Error('before any byte');
      })();
    }
    case '/mid-error': {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'first';
        await sleep(20);
        throw new Error('after the first chunk');
      })();
    }
    case '/too-long':
      start('200 OK', [
        ['Content-Type', 'text/plain'],
        ['Content-Length', '5'],
      ]);
      return ['12345', '6789'];
    case '/too-short':
      start('200 OK', [
        ['Content-Type', 'text/plain'],
        ['Content-Length', '10'],
      ]);
      return (async function* () {
        yield 'abc';
      })();
    case '/slow': {
      const id = String(environ.QUERY_STRING);
      environ['tsgi.signal'].addEventListener('abort', () => aborted.push(id));
      start('200 OK', [['Content-Type', 'text/plain']]);
      const body = (async function* () {
        for (let i = 0; i < 200; i++) {
          yield `tick ${i}\n`;
          await sleep(20);
        }
      })();
      return Object.assign(body, { close: () => closes.push(id) });
    }
    default:
      start('404 Not Found', [['Content-Type', 'text/plain']]);
      return ['nothing here\n'];
  }
};

describe('toNodeHandler', () => {
  it("builds a valid environ from Node's request", async () => {
    const base = await listen(toNodeHandler(validate(app)));
    const reply = await request(`${base}/environ?x=%2F`, { headers: { Host: 'example.test:8080', 'X-Foo': 'bar' } });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body.toString())).toEqual({
      REQUEST_METHOD: 'GET',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=%2F',
      SERVER_NAME: 'example.test',
      SERVER_PORT: '8080',
      HTTP_X_FOO: 'bar',
      'tsgi.url_scheme': 'http',
    });
  });

  it('streams a 5 MiB request body into tsgi.input', async () => {
    const base = await listen(toNodeHandler(app));
    const body = randomBytes(5 * 1024 * 1024);
    const reply = await request(`${base}/upload`, { method: 'POST', body });
    expect(JSON.parse(reply.body.toString())).toEqual({ bytes: body.length, sha256: sha256(body), CONTENT_LENGTH: String(body.length) });
  });

  it('keeps the deferred head (an error before the first byte is a 500), Content-Length, and breaks a response that fails midway', async () => {
    const base = await listen(toNodeHandler(app));
    const late = await request(`${base}/late-error`);
    expect(late.status).toBe(500);
    expect(late.body.toString()).toBe('Internal Server Error\n');
    const long = await request(`${base}/too-long`);
    expect(long.body.toString()).toBe('12345');
    const mid = await request(`${base}/mid-error`).then(
      () => 'complete',
      (error: Error) => error.message,
    );
    expect(mid).toMatch(/aborted|incomplete|socket hang up|ECONNRESET/);
  });

  it('a body shorter than its Content-Length is an aborted response, logged as such, not an app error', async () => {
    const base = await listen(toNodeHandler(app));
    const outcome = await request(`${base}/too-short`).then(
      () => 'complete',
      (error: Error) => error.message,
    );
    expect(outcome).toMatch(/aborted|incomplete|socket hang up|ECONNRESET/);
    await waitFor(() => Boolean(logs?.find(/GET \/too-short: the app sent 3 of its Content-Length 10 bytes; response aborted$/)), 3_000, 'the log line');
    expect(logs?.find(/app error/)).toBeUndefined();
  });

  it('a client that leaves fires tsgi.signal and closes the body', async () => {
    const base = await listen(toNodeHandler(app));
    await disconnectAfterFirstPiece(`${base}/slow?node-leaves`);
    await waitFor(() => closes.includes('node-leaves') && aborted.includes('node-leaves'), 3_000, 'close() and the abort signal');
  });
});

describe('toFetchHandler', () => {
  const handler = toFetchHandler(validate(app));
  beforeEach(() => {
    logs = captureLogs();
  });

  it('builds a valid environ from a Request, and answers a Response', async () => {
    const response = await handler(new Request('https://example.test/environ?x=1', { headers: { 'X-Foo': 'bar' } }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({
      REQUEST_METHOD: 'GET',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=1',
      SERVER_NAME: 'example.test',
      SERVER_PORT: '443',
      HTTP_X_FOO: 'bar',
      'tsgi.url_scheme': 'https',
    });
  });

  it('reads a streamed request body; 404 and 500 come through as Responses', async () => {
    const body = randomBytes(1024 * 1024);
    const upload = await handler(new Request('http://x/upload', { method: 'POST', body, headers: { 'Content-Length': String(body.length) } }));
    expect(await upload.json()).toMatchObject({ bytes: body.length, sha256: sha256(body) });
    const missing = await handler(new Request('http://x/nope'));
    expect(missing.status).toBe(404);
    expect(missing.statusText).toBe('Not Found');
    const failed = await handler(new Request('http://x/late-error'));
    expect(failed.status).toBe(500);
  });

  it('pulls the body as it is read, and cancelling it closes the app body', async () => {
    const response = await handler(new Request('http://x/slow?fetch-cancel'));
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('tick 0\n');
    await reader.cancel();
    await waitFor(() => closes.includes('fetch-cancel'), 3_000, 'close()');
  });
});

describe('round trips', () => {
  it('toNodeHandler(fromNode(handler)) serves what the handler serves', async () => {
    const base = await listen(
      toNodeHandler(
        fromNode((req, res) => {
          res.setHeader('X-Url', req.url ?? '');
          res.end(`hello ${req.headers['x-foo']}`);
        }),
      ),
    );
    const reply = await request(`${base}/a?b=1`, { headers: { 'X-Foo': 'bar' } });
    expect(reply.headers['x-url']).toBe('/a?b=1');
    expect(reply.body.toString()).toBe('hello bar');
  });

  it('toFetchHandler(fromFetch(handler)) serves what the handler serves', async () => {
    const handler = toFetchHandler(fromFetch(async (req) => new Response(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`, { status: 202 })));
    const response = await handler(new Request('http://x/path', { method: 'POST', body: 'data' }));
    expect(response.status).toBe(202);
    expect(await response.text()).toBe('POST /path data');
  });
});
