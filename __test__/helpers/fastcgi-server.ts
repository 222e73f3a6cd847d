/**
 * What the hand-built FastCGI record tests share (serving/fastcgi-*.test.ts): the request
 * builders and exact replies, one test app routed by PATH_INFO whose requests are counted
 * per path (calls, aborts, close()), and the fixture runner that replays each fixture
 * whole, in 3 pieces and byte by byte, then checks the server still serves.
 */
import { describe, expect, it } from 'vitest';
import type { Body, Chunk, Environ, Headers, StartResponse } from '../../src/app/contract.js';
import type { ListenOptions, ServerOptions } from '../../src/server/server.js';
import {
  FCGI,
  endRequest,
  fcgiExchange,
  nameValues,
  params,
  record,
  recordsOf,
  reply,
  request,
  requestRecords,
  showRecords,
  beginRequest,
  type FcgiRecord,
  type RequestOptions,
  type Split,
} from './fastcgi.js';
import type { TestServers } from './servers.js';
import { delay, waitFor, type Vars } from './uwsgi.js';

export const FASTCGI: ListenOptions = { protocol: 'fastcgi' };

export const TEXT: Headers = [['Content-Type', 'text/plain']];

/** The static refusals' STDOUT, byte for byte. */
export const STATIC = {
  400: 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nBad Request\n',
  413: 'Status: 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\nContent Too Large\n',
  431: 'Status: 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\r\nRequest Header Fields Too Large\n',
} as const;

/** What an app that throws before any output gets: uwsgi's 500 with a Status: line. */
export const ERROR_500 = 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nInternal Server Error\n';

/** The CGI response of a text/plain one-chunk body (Content-Length added by the server). */
export function cgi(body: string, status = '200 OK'): string {
  return `Status: ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The default route's answer. */
export const ok = (path: string): string => cgi(`ok ${path}`);

export function refusal(id: number, status: keyof typeof STATIC): Buffer {
  return reply(id, STATIC[status]);
}

export function unknownType(type: number): Buffer {
  return record(FCGI.UNKNOWN_TYPE, 0, Buffer.from([type, 0, 0, 0, 0, 0, 0, 0]));
}

export function valuesResult(pairs: Array<[string, string]>): Buffer {
  return record(FCGI.GET_VALUES_RESULT, 0, nameValues(pairs));
}

/** `rec` with another version byte. */
export function withVersion(rec: Buffer, version: number): Buffer {
  const copy = Buffer.from(rec);
  copy[0] = version;
  return copy;
}

export const cat = (...parts: Array<Buffer | string>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
export const EMPTY = Buffer.alloc(0);

/** REQUEST_METHOD and PATH_INFO, then `extra`. */
export function vars(path: string, extra: Array<[string, string]> = [], method = 'GET'): Array<[string, string]> {
  return [['REQUEST_METHOD', method], ['PATH_INFO', path], ...extra];
}

export function get(path: string, options: RequestOptions = {}, id = 1): Buffer {
  return request(id, vars(path), '', options);
}

export function post(path: string, body: string, options: RequestOptions = {}, id = 1): Buffer {
  return request(id, vars(path, [['CONTENT_LENGTH', String(Buffer.byteLength(body))]], 'POST'), body, options);
}

/** A request up to its empty PARAMS: the app runs, the body (or its end) is yet to come. */
export function head(id: number, v: Vars, options: RequestOptions = {}): Buffer {
  return Buffer.concat(requestRecords(id, v, '', options).slice(0, -1));
}

/** A held request: the app reads a body of `length` bytes, then waits until it is aborted. */
export const held = (id: number, length = 5, options: RequestOptions = {}): Buffer =>
  head(id, vars('/hold', [['CONTENT_LENGTH', String(length)]], 'POST'), options);

export function encode(records: FcgiRecord[]): Buffer {
  return Buffer.concat(records.map((r) => record(r.type, r.id, r.content, r.padding)));
}

/** Byte-exact, with a record-by-record diff on failure. */
export function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(showRecords(actual)).toBe(showRecords(expected));
  expect(actual.equals(expected)).toBe(true);
}

/** `id`'s records are a complete response: non-empty STDOUT records of at most 65535 bytes
 * holding `stdout`, the empty STDOUT, END_REQUEST (0, REQUEST_COMPLETE), in that order. */
export function expectComplete(records: FcgiRecord[], id: number, stdout: Buffer | string): void {
  const mine = recordsOf(records, id).filter((r) => r.type !== FCGI.STDERR);
  expect(mine.length).toBeGreaterThanOrEqual(2);
  expectBytes(encode(mine.slice(-2)), cat(record(FCGI.STDOUT, id, ''), endRequest(id)));
  const body = mine.slice(0, -2);
  for (const r of body) {
    expect(r.type).toBe(FCGI.STDOUT);
    expect(r.padding).toBe(0);
    expect(r.content.length).toBeGreaterThan(0);
    expect(r.content.length).toBeLessThanOrEqual(0xffff);
  }
  const got = Buffer.concat(body.map((r) => r.content));
  const want = typeof stdout === 'string' ? Buffer.from(stdout, 'latin1') : stdout;
  if (want.length < 4096) expect(got.toString('latin1')).toBe(want.toString('latin1'));
  expect(got.equals(want)).toBe(true);
}

export function whenAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export async function readAll(environ: Environ): Promise<Buffer> {
  return Buffer.from(await environ['tsgi.input'].read());
}

// ---- one test app, routed by PATH_INFO ----------------------------------------------------------

/** What happened to the requests of one path. */
export interface Probe {
  calls: number;
  /** `tsgi.signal` fired. */
  aborts: number;
  /** The body's close() ran. */
  closes: number;
  /** Chunks the route read from `tsgi.input`. */
  got: Buffer[];
  inputError: unknown;
}

export type Route = (environ: Environ, start: StartResponse, probe: Probe) => Body | Promise<Body>;

/** Reads the whole body, then waits until the request is aborted. */
const hold: Route = async (environ, start, probe) => {
  await environ['tsgi.input'].read().catch((error: unknown) => void (probe.inputError = error));
  await whenAborted(environ['tsgi.signal']);
  start('200 OK', TEXT);
  return ['never sent'];
};

/** Answers `echo <body>`. */
const echo: Route = async (environ, start) => {
  const body = await readAll(environ);
  start('200 OK', TEXT);
  return [`echo ${body.toString('latin1')}`];
};

/** Reads the body chunk by chunk (kept in the probe), then answers `got <body>`. */
const readChunks: Route = async (environ, start, probe) => {
  try {
    for await (const chunk of environ['tsgi.input']) probe.got.push(Buffer.from(chunk));
  } catch (error) {
    probe.inputError = error;
  }
  start('200 OK', TEXT);
  return [`got ${Buffer.concat(probe.got).toString('latin1')}`];
};

/** Streams `tick N\n` every 10 ms until stopped; `finally` counts as a close too (kept apart). */
export function ticks(stopped: { count: number }): Route {
  return (_environ, start) => {
    start('200 OK', TEXT);
    return (async function* (): AsyncGenerator<Chunk> {
      try {
        for (let n = 1; ; n++) {
          yield `tick ${n}\n`;
          await delay(10);
        }
      } finally {
        stopped.count++;
      }
    })();
  };
}

/** Reads the body, waits `ms`, answers `<path> <body>` (as several chunks if `stream`). */
export function timed(ms: number, stream = false): Route {
  return async (environ, start) => {
    const body = (await readAll(environ)).toString('latin1');
    await delay(ms);
    start('200 OK', TEXT);
    if (!stream) return [`${environ.PATH_INFO} ${body}`];
    return (function* () {
      yield environ.PATH_INFO;
      yield ' ';
      yield body;
    })();
  };
}

/** Waits for `gate`, then answers like the default route. */
export function gated(gate: Promise<void>): Route {
  return async (environ, start) => {
    await gate;
    start('200 OK', TEXT);
    return [`ok ${environ.PATH_INFO}`];
  };
}

/** Sends head and 'partial body', then throws. */
export const partialThenBoom: Route = (_environ, start) => {
  start('200 OK', TEXT);
  return (async function* () {
    yield 'partial body';
    await delay(30);
    throw new Error('boom-mid-body');
  })();
};

const COMMON_ROUTES: Record<string, Route> = { '/hold': hold, '/echo': echo, '/read': readChunks };

/** A FastCGI server on 127.0.0.1:0, its app routed by PATH_INFO (see routedFcgiServer). */
export interface RoutedFcgiServer {
  address: string;
  /** What happened to the requests of `path` so far. */
  probe(path: string): Probe;
  /** Requests the app was called for. */
  total(): number;
}

/**
 * `fcgiServer(routes, options)` for a test file's servers: a FastCGI server whose app looks
 * PATH_INFO up in `routes` (and the common ones), and answers `ok <PATH_INFO>` for any
 * other path. Every request's signal and body close() are counted per path.
 */
export function routedFcgiServer(servers: TestServers): (routes?: Record<string, Route>, options?: ServerOptions) => RoutedFcgiServer {
  return (routes = {}, options) => {
    const probes = new Map<string, Probe>();
    let total = 0;
    const probe = (path: string): Probe => {
      let p = probes.get(path);
      if (!p) probes.set(path, (p = { calls: 0, aborts: 0, closes: 0, got: [], inputError: undefined }));
      return p;
    };
    const all = { ...COMMON_ROUTES, ...routes };
    const address = servers.serve(
      (environ, start) => {
        total++;
        const path = environ.PATH_INFO;
        const p = probe(path);
        p.calls++;
        environ['tsgi.signal'].addEventListener('abort', () => p.aborts++);
        const route = all[path];
        const counted = (body: Body): Body =>
          typeof body === 'object' && body !== null && !('close' in body) ? Object.assign(body, { close: () => void p.closes++ }) : body;
        if (!route) {
          start('200 OK', TEXT);
          return counted([`ok ${path}`]);
        }
        const body = route(environ, start, p);
        return body instanceof Promise ? body.then(counted) : counted(body);
      },
      options,
      FASTCGI,
    );
    return { address, probe, total: () => total };
  };
}

/** A good request on a new connection is still served, exactly. */
export async function expectStillServing(address: string): Promise<void> {
  const result = await fcgiExchange(address, get('/after'));
  expectBytes(result.data, reply(1, ok('/after')));
  expect(result.reset).toBe(false);
}

// ---- the fixtures, each replayed whole, in 3 pieces and byte by byte ---------------------------------

export interface Fixture {
  id: string;
  name: string;
  bytes: Buffer;
  /** The exact reply (then a close with a FIN), or 'close': closed without a byte. */
  expect: Buffer | 'close';
  outcome: string;
  /** Requests the app answers (besides held ones, which must all be aborted). */
  calls?: number;
  log?: RegExp;
  options?: ServerOptions;
  /** Half-close after sending (the EOF is the point of the fixture). */
  end?: boolean;
  /** Too long to send one byte at a time. */
  large?: boolean;
}

export const closes = (id: string, name: string, bytes: Buffer, extra: Partial<Fixture> = {}): Fixture => ({
  id,
  name,
  bytes,
  expect: 'close',
  outcome: 'closed without a reply',
  ...extra,
});
export const answers = (id: string, name: string, bytes: Buffer, expected: Buffer, outcome: string, extra: Partial<Fixture> = {}): Fixture => ({
  id,
  name,
  bytes,
  expect: expected,
  outcome,
  ...extra,
});
export const refuses = (id: string, name: string, bytes: Buffer, status: keyof typeof STATIC, extra: Partial<Fixture> = {}): Fixture =>
  answers(id, name, bytes, refusal(1, status), String(status), extra);

/** BEGIN_REQUEST for 1, and a PARAMS record that does not end the stream. */
export const BEGUN = cat(beginRequest(1), params(1, [['REQUEST_METHOD', 'GET']]));

const modes: Array<{ name: string; split: Split; delayMs: number; small?: boolean }> = [
  { name: 'whole', split: 1, delayMs: 0 },
  { name: 'in 3 pieces', split: 3, delayMs: 15 },
  { name: 'byte by byte', split: 'bytes', delayMs: 1, small: true },
];

export function describeFixtures(servers: TestServers, fixtures: Fixture[]): void {
  const fcgiServer = routedFcgiServer(servers);
  describe('FastCGI fixtures', () => {
    for (const fixture of fixtures) {
      for (const mode of modes) {
        if (mode.small && fixture.large) continue;
        it(`${fixture.id} ${fixture.name}, sent ${mode.name} → ${fixture.outcome}`, async () => {
          const server = fcgiServer({}, fixture.options);
          const result = await fcgiExchange(server.address, fixture.bytes, { split: mode.split, delayMs: mode.delayMs, end: fixture.end });
          if (fixture.expect === 'close') {
            expect(showRecords(result.data)).toBe('');
          } else {
            expectBytes(result.data, fixture.expect);
            // Closed after the END_REQUEST of a request without KEEP_CONN: a FIN, never a reset.
            expect(result.reset).toBe(false);
            expect(result.ended).toBe(true);
          }
          if (fixture.log) {
            const line = await waitFor(() => servers.logs.find(fixture.log!), { what: `a log line matching ${fixture.log}` });
            expect(line.level).toBe('warn');
          }
          // Log lines never echo the request.
          expect(servers.logs.text()).not.toMatch(/cccc|hello world|Host: localhost/);
          await expectStillServing(server.address);
          // The app saw the fixture's good requests and the /after one; every request it held was aborted.
          const holds = server.probe('/hold');
          await waitFor(() => holds.aborts === holds.calls, { what: 'every held request to be aborted' });
          expect(server.total() - holds.calls).toBe((fixture.calls ?? 0) + 1);
        });
      }
    }
  });
}
