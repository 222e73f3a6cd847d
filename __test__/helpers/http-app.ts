/**
 * The app of the HTTP/1.1 listener tests (serving/http-*.test.ts), routed by PATH_INFO:
 * /ok/..., /environ (run through validate()), /echo, /sha256, list, streamed and
 * written bodies, bodiless statuses, a slow response held on a gate, failures before and
 * after the head, a stream that ends when the client goes, a body read after the head.
 * Each call is recorded ("METHOD REQUEST_URI") and announced on `events`.
 */
import { createHash } from 'node:crypto';
import { beforeEach, expect } from 'vitest';
import type { App, Environ } from '../../src/app/contract.js';
import type { ServerOptions } from '../../src/server/server.js';
import { validate } from '../../src/app/validate.js';
import { Events, deferred, res, type HttpClient } from './http-raw.js';
import type { TestServers } from './servers.js';
import { delay } from './uwsgi.js';

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of environ['tsgi.input']) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export const TEXT: Array<[string, string]> = [['Content-Type', 'text/plain']];

/** The environ keys /environ reports. */
const ENVIRON_KEYS = [
  'REQUEST_METHOD',
  'REQUEST_URI',
  'SCRIPT_NAME',
  'PATH_INFO',
  'QUERY_STRING',
  'SERVER_PROTOCOL',
  'SERVER_NAME',
  'SERVER_PORT',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'CONTENT_TYPE',
  'CONTENT_LENGTH',
  'HTTP_HOST',
  'HTTP_X_FOO',
  'HTTP_X_DROPPED',
  'HTTP_PROXY',
  'HTTP_COOKIE',
  'HTTP_CONTENT_LENGTH',
  'tsgi.url_scheme',
];

/** The app and what it recorded in the current test. */
export interface HttpApp {
  /** "METHOD REQUEST_URI" of every call, in order (emptied before each test). */
  readonly calls: string[];
  /** `called <path>`, `entered <id>`, `aborted <id>`, `closed <id>`, `early input failed`. */
  readonly events: Events;
  /** The gate /gate?id=ID waits on, opened by the test. */
  gate(id: string): ReturnType<typeof deferred<void>>;
  /** Serves the app on the HTTP listener at 127.0.0.1:0; returns the address. */
  serveHttp(options?: ServerOptions): string;
}

/** Call at the top level of a test file, after useTestServers(). */
export function useHttpApp(servers: TestServers): HttpApp {
  const calls: string[] = [];
  const events = new Events();
  /** Gates a route waits on, by id, opened by the test. */
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  function gate(id: string): ReturnType<typeof deferred<void>> {
    let g = gates.get(id);
    if (!g) gates.set(id, (g = deferred()));
    return g;
  }

  beforeEach(() => {
    calls.length = 0;
    events.clear();
    gates.clear();
  });

  const app: App = async (environ, start) => {
    const path = environ.PATH_INFO;
    const q = new URLSearchParams(environ.QUERY_STRING);
    calls.push(`${environ.REQUEST_METHOD} ${environ.REQUEST_URI}`);
    events.fire(`called ${path}`);
    if (path.startsWith('/ok/')) {
      start('200 OK', TEXT);
      return [`ok ${path}`];
    }
    if (path.startsWith('/environ')) {
      // The server's environ goes through validate(): the contract's checks on it.
      return validate((env, start2) => {
        const seen: Record<string, string> = {};
        for (const key of ENVIRON_KEYS) if (typeof env[key] === 'string') seen[key] = env[key] as string;
        start2('200 OK', [['Content-Type', 'application/json']]);
        return [JSON.stringify(seen)];
      })(environ, start);
    }
    switch (path) {
      case '/':
        start('200 OK', TEXT);
        return ['hello'];
      case '/echo': {
        // The body back, with what the environ said about it.
        const body = await readAll(environ);
        start('200 OK', TEXT);
        return [`${environ.CONTENT_LENGTH ?? '-'} ${body.length}:${body.toString('latin1')}`];
      }
      case '/sha256': {
        const body = await readAll(environ);
        start('200 OK', TEXT);
        return [`${body.length} ${sha256(body)}`];
      }
      case '/list':
        start('200 OK', TEXT);
        return ['ab', Buffer.from('cd'), '', 'e'];
      case '/stream': {
        // An async body: chunked on HTTP/1.1. Sizes 1, 0x14, 0 (skipped), 0x12c.
        start('200 OK', TEXT);
        return (async function* () {
          yield 'a';
          yield 'b'.repeat(20);
          yield '';
          yield Buffer.alloc(300, 'c');
        })();
      }
      case '/sync-stream':
        start('200 OK', TEXT);
        return (function* () {
          yield 'one';
          yield 'two';
        })();
      case '/write': {
        // WSGI's write(), then an empty list.
        const write = start('200 OK', TEXT);
        write('x');
        write('yz');
        return [];
      }
      case '/declared':
        // The app's own Content-Length: no chunking.
        start('200 OK', [...TEXT, ['Content-Length', '6']]);
        return (async function* () {
          yield 'abc';
          yield 'def';
        })();
      case '/empty':
        start('200 OK', TEXT);
        return [];
      case '/status': {
        const code = q.get('code')!;
        start(`${code} ${code === '204' ? 'No Content' : 'Not Modified'}`, [['X-Code', code]]);
        return ['a body the status forbids'];
      }
      case '/gate': {
        // A slow first response: waits for the test to open its gate.
        const id = q.get('id')!;
        events.fire(`entered ${id}`);
        start('200 OK', TEXT);
        return (async function* () {
          await gate(id).promise;
          yield 'slow 1 ';
          await delay(20);
          yield 'slow 2';
        })();
      }
      case '/throw':
        throw new Error('boom (thrown on purpose by the test app)');
      case '/throw-mid':
        start('200 OK', TEXT);
        return (async function* () {
          yield 'first';
          await delay(10);
          throw new Error('boom after the first chunk (on purpose)');
        })();
      case '/slow': {
        // Streams until the client goes: records the abort and close().
        const id = q.get('id')!;
        const signal = environ['tsgi.signal'];
        signal.addEventListener('abort', () => events.fire(`aborted ${id}`, signal.reason));
        start('200 OK', TEXT);
        const gen = (async function* () {
          for (let i = 0; i < 500 && !signal.aborted; i++) {
            yield `tick ${i}\n`;
            await delay(10);
          }
        })();
        return Object.assign(gen, { close: () => events.fire(`closed ${id}`) });
      }
      case '/early': {
        // Answers (head and a first chunk) before reading the body, then reads it.
        start('200 OK', TEXT);
        return (async function* () {
          yield 'early ';
          try {
            const body = await readAll(environ);
            yield `${body.length}`;
          } catch (error) {
            events.fire('early input failed', error);
            throw error;
          }
        })();
      }
      case '/big': {
        // 4 MiB in 64 KiB pieces, as a stream (chunked).
        start('200 OK', [['Content-Type', 'application/octet-stream']]);
        return (async function* () {
          for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, 97 + (i % 26));
        })();
      }
      case '/ignore-body':
        start('200 OK', TEXT);
        return ['ignored'];
      default:
        start('404 Not Found', TEXT);
        return [`no route ${path}`];
    }
  };

  return { calls, events, gate, serveHttp: (options) => servers.serve(app, options, { protocol: 'http' }) };
}

/** The JSON of /environ: validate() wraps the body, so it comes chunked, in one chunk. */
export async function jsonBody(client: HttpClient): Promise<Record<string, string>> {
  await client.until((d) => d.toString('latin1').endsWith('}\r\n0\r\n\r\n'), 'the JSON');
  expect(client.text()).toMatch(
    /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nDate: <date>\r\nServer: tsgi\r\nTransfer-Encoding: chunked\r\n\r\n[0-9a-f]+\r\n\{/,
  );
  return JSON.parse(/\{.*\}/s.exec(client.data.toString('latin1'))![0]);
}

export const OK = (path: string, connection?: 'close' | 'keep-alive') => res('200 OK', { body: `ok ${path}`, connection });
