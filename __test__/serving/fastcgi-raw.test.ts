/**
 * Hand-built FastCGI records, good and malformed (shared/research/reliability.md §2.2,
 * F1-F26): the exact bytes that come back, the log line, and that the server keeps
 * serving. Every malformed fixture is replayed whole, in three pieces and byte by byte.
 * tsgi never pads its records, so every expected reply is exact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { App, Body, Chunk, Environ, Headers, StartResponse } from '../../src/app/contract.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { Server, type ListenOptions, type ServerOptions } from '../../src/server/server.js';
import {
  FCGI,
  FcgiClient,
  ProtocolStatus,
  Role,
  abortRequest,
  beginRequest,
  endRequest,
  fcgiExchange,
  getValues,
  interleave,
  nameValue,
  nameValues,
  nginxParams,
  params,
  record,
  recordsOf,
  reply,
  request,
  requestRecords,
  showRecords,
  stderrOf,
  stdin,
  stdoutOf,
  type FcgiRecord,
  type RequestOptions,
  type Split,
} from '../helpers/fastcgi.js';
import { useTestServers } from '../helpers/servers.js';
import { delay, exchange, nginxVars, packet, waitFor, type Vars } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve, track } = servers;

const FASTCGI: ListenOptions = { protocol: 'fastcgi' };

const TEXT: Headers = [['Content-Type', 'text/plain']];

/** The static refusals' STDOUT, byte for byte. */
const STATIC = {
  400: 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nBad Request\n',
  413: 'Status: 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\nContent Too Large\n',
  431: 'Status: 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\n\r\nRequest Header Fields Too Large\n',
} as const;

/** What an app that throws before any output gets: uwsgi's 500 with a Status: line. */
const ERROR_500 = 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nInternal Server Error\n';

/** The CGI response of a text/plain one-chunk body (Content-Length added by the server). */
function cgi(body: string, status = '200 OK'): string {
  return `Status: ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The default route's answer. */
const ok = (path: string): string => cgi(`ok ${path}`);

function refusal(id: number, status: keyof typeof STATIC): Buffer {
  return reply(id, STATIC[status]);
}

function unknownType(type: number): Buffer {
  return record(FCGI.UNKNOWN_TYPE, 0, Buffer.from([type, 0, 0, 0, 0, 0, 0, 0]));
}

function valuesResult(pairs: Array<[string, string]>): Buffer {
  return record(FCGI.GET_VALUES_RESULT, 0, nameValues(pairs));
}

/** `rec` with another version byte. */
function withVersion(rec: Buffer, version: number): Buffer {
  const copy = Buffer.from(rec);
  copy[0] = version;
  return copy;
}

const cat = (...parts: Array<Buffer | string>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
const EMPTY = Buffer.alloc(0);

/** REQUEST_METHOD and PATH_INFO, then `extra`. */
function vars(path: string, extra: Array<[string, string]> = [], method = 'GET'): Array<[string, string]> {
  return [['REQUEST_METHOD', method], ['PATH_INFO', path], ...extra];
}

function get(path: string, options: RequestOptions = {}, id = 1): Buffer {
  return request(id, vars(path), '', options);
}

function post(path: string, body: string, options: RequestOptions = {}, id = 1): Buffer {
  return request(id, vars(path, [['CONTENT_LENGTH', String(Buffer.byteLength(body))]], 'POST'), body, options);
}

/** A request up to its empty PARAMS: the app runs, the body (or its end) is yet to come. */
function head(id: number, v: Vars, options: RequestOptions = {}): Buffer {
  return Buffer.concat(requestRecords(id, v, '', options).slice(0, -1));
}

/** A held request: the app reads a body of `length` bytes, then waits until it is aborted. */
const held = (id: number, length = 5, options: RequestOptions = {}): Buffer => head(id, vars('/hold', [['CONTENT_LENGTH', String(length)]], 'POST'), options);

function encode(records: FcgiRecord[]): Buffer {
  return Buffer.concat(records.map((r) => record(r.type, r.id, r.content, r.padding)));
}

/** Byte-exact, with a record-by-record diff on failure. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(showRecords(actual)).toBe(showRecords(expected));
  expect(actual.equals(expected)).toBe(true);
}

/** `id`'s records are a complete response: non-empty STDOUT records of at most 65535 bytes
 * holding `stdout`, the empty STDOUT, END_REQUEST (0, REQUEST_COMPLETE), in that order. */
function expectComplete(records: FcgiRecord[], id: number, stdout: Buffer | string): void {
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

function whenAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function readAll(environ: Environ): Promise<Buffer> {
  return Buffer.from(await environ['tsgi.input'].read());
}

// ---- one test app, routed by PATH_INFO ----------------------------------------------------------

/** What happened to the requests of one path. */
interface Probe {
  calls: number;
  /** `tsgi.signal` fired. */
  aborts: number;
  /** The body's close() ran. */
  closes: number;
  /** Chunks the route read from `tsgi.input`. */
  got: Buffer[];
  inputError: unknown;
}

type Route = (environ: Environ, start: StartResponse, probe: Probe) => Body | Promise<Body>;

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
function ticks(stopped: { count: number }): Route {
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
function timed(ms: number, stream = false): Route {
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
function gated(gate: Promise<void>): Route {
  return async (environ, start) => {
    await gate;
    start('200 OK', TEXT);
    return [`ok ${environ.PATH_INFO}`];
  };
}

/** Sends head and 'partial body', then throws. */
const partialThenBoom: Route = (_environ, start) => {
  start('200 OK', TEXT);
  return (async function* () {
    yield 'partial body';
    await delay(30);
    throw new Error('boom-mid-body');
  })();
};

const COMMON_ROUTES: Record<string, Route> = { '/hold': hold, '/echo': echo, '/read': readChunks };

/**
 * A FastCGI server whose app looks PATH_INFO up in `routes` (and the common ones), and
 * answers `ok <PATH_INFO>` for any other path. Every request's signal and body close()
 * are counted per path.
 */
function fcgiServer(routes: Record<string, Route> = {}, options?: ServerOptions): { address: string; probe(path: string): Probe; total(): number } {
  const probes = new Map<string, Probe>();
  let total = 0;
  const probe = (path: string): Probe => {
    let p = probes.get(path);
    if (!p) probes.set(path, (p = { calls: 0, aborts: 0, closes: 0, got: [], inputError: undefined }));
    return p;
  };
  const all = { ...COMMON_ROUTES, ...routes };
  const address = serve(
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
}

/** A good request on a new connection is still served, exactly. */
async function expectStillServing(address: string): Promise<void> {
  const result = await fcgiExchange(address, get('/after'));
  expectBytes(result.data, reply(1, ok('/after')));
  expect(result.reset).toBe(false);
}

// ---- the fixtures, each replayed whole, in 3 pieces and byte by byte ---------------------------------

interface Fixture {
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

const closes = (id: string, name: string, bytes: Buffer, extra: Partial<Fixture> = {}): Fixture => ({
  id,
  name,
  bytes,
  expect: 'close',
  outcome: 'closed without a reply',
  ...extra,
});
const answers = (id: string, name: string, bytes: Buffer, expected: Buffer, outcome: string, extra: Partial<Fixture> = {}): Fixture => ({
  id,
  name,
  bytes,
  expect: expected,
  outcome,
  ...extra,
});
const refuses = (id: string, name: string, bytes: Buffer, status: keyof typeof STATIC, extra: Partial<Fixture> = {}): Fixture =>
  answers(id, name, bytes, refusal(1, status), String(status), extra);

/** BEGIN_REQUEST for 1, and a PARAMS record that does not end the stream. */
const BEGUN = cat(beginRequest(1), params(1, [['REQUEST_METHOD', 'GET']]));
const HTTP_LOG = /HTTP request sent to a FastCGI socket|looks like HTTP/i;
const BEGIN_BODY = Buffer.from([0, 1, 0, 0, 0, 0, 0, 0, 0]);
const manyVars = (n: number): Array<[string, string]> => [
  ['REQUEST_METHOD', 'GET'],
  ...Array.from({ length: n - 1 }, (_, i): [string, string] => [`X_VAR_${i}`, 'v']),
];
/** A params stream of exactly `size` bytes: REQUEST_METHOD, PATH_INFO /edge, a cookie to fill. */
const paramsOfSize = (size: number): Array<[string, string]> => vars('/edge', [['HTTP_COOKIE', 'c'.repeat(size - 19 - 16 - 13)]]);
const F16_STREAM = nameValues(vars('/split', [['HTTP_X_CUT', 'value cut across records']]));
const FOUR_BYTE_PAIRS = cat(
  nameValue('REQUEST_METHOD', 'GET', { fourByte: true }),
  nameValue('PATH_INFO', '/four', { fourByte: true }),
  nameValue(`HTTP_${'N'.repeat(150)}`, 'v'.repeat(300)),
);

const fixtures: Fixture[] = [
  // F1: version ≠ 1
  closes('F1', 'version 0 on the first record', withVersion(beginRequest(1), 0)),
  closes('F1', 'version 2 on the first record', withVersion(beginRequest(1), 2)),
  closes('F1', 'version 255 on a PARAMS record after BEGIN_REQUEST', cat(beginRequest(1), withVersion(params(1, vars('/x')), 255))),
  closes('F1', 'version 2 on a STDIN record while the app holds the request', cat(held(1), withVersion(stdin(1, 'abcde'), 2))),
  closes('F1', 'an HTTP GET', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), { log: HTTP_LOG }),
  closes('F1', 'an HTTP POST', Buffer.from('POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\na=b'), { log: HTTP_LOG }),
  // F2: EOF inside a record
  closes('F2', 'EOF after 1 header byte', beginRequest(1).subarray(0, 1), { end: true }),
  closes('F2', 'EOF after 7 header bytes', beginRequest(1).subarray(0, 7), { end: true }),
  closes('F2', 'EOF inside the BEGIN_REQUEST content', beginRequest(1).subarray(0, 11), { end: true }),
  closes('F2', 'EOF inside the padding', beginRequest(1, { padding: 8 }).subarray(0, 19), { end: true }),
  closes('F2', 'EOF inside a PARAMS record', cat(beginRequest(1), params(1, vars('/x')).subarray(0, 20)), { end: true }),
  closes('F2', 'EOF inside a STDIN record while the app holds the request', cat(held(1), stdin(1, 'abcde').subarray(0, 10)), { end: true }),
  // F3: padding
  answers(
    'F3',
    'padding 1, 7, 255 and 3 (of non-zero bytes) on every record',
    cat(
      beginRequest(1, { padding: 1 }),
      record(FCGI.PARAMS, 1, nameValues(vars('/padded')), 7, 0xff),
      record(FCGI.PARAMS, 1, '', 255, 0xff),
      record(FCGI.STDIN, 1, '', 3, 0xab),
    ),
    reply(1, ok('/padded')),
    'served',
    { calls: 1 },
  ),
  answers(
    'F3',
    'a body in padded 4-byte STDIN records',
    post('/echo', 'hello there', { padding: 5, stdinRecord: 4 }),
    reply(1, cgi('echo hello there')),
    'served',
    { calls: 1 },
  ),
  // F4: unknown management types
  ...[0, 10, 11, 12, 128, 255].map((type) =>
    answers(
      'F4',
      `management type ${type}, then a request`,
      cat(record(type, 0, 'xyz', 5), get('/f4')),
      cat(unknownType(type), reply(1, ok('/f4'))),
      `UNKNOWN_TYPE ${type}, then served`,
      { calls: 1 },
    ),
  ),
  // F5: GET_VALUES
  answers(
    'F5',
    'GET_VALUES for the three standard names, then a request',
    cat(getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']), get('/f5')),
    cat(
      valuesResult([
        ['FCGI_MAX_CONNS', '10000'],
        ['FCGI_MAX_REQS', '100'],
        ['FCGI_MPXS_CONNS', '1'],
      ]),
      reply(1, ok('/f5')),
    ),
    'the defaults, then served',
    { calls: 1 },
  ),
  answers(
    'F5',
    'GET_VALUES in another order with unknown names, maxConns 50 and fastcgiMaxReqs 7',
    cat(getValues(['FCGI_MAX_REQS', 'FCGI_UNKNOWN', 'FCGI_MAX_CONNS', 'X', 'FCGI_MPXS_CONNS']), get('/f5')),
    cat(
      valuesResult([
        ['FCGI_MAX_REQS', '7'],
        ['FCGI_MAX_CONNS', '50'],
        ['FCGI_MPXS_CONNS', '1'],
      ]),
      reply(1, ok('/f5')),
    ),
    'known names in the order asked, then served',
    { calls: 1, options: { maxConns: 50, fastcgiMaxReqs: 7 } },
  ),
  answers(
    'F5',
    'GET_VALUES with fastcgiMultiplex false and fastcgiMaxReqs 7',
    cat(getValues(['FCGI_MPXS_CONNS', 'FCGI_MAX_REQS']), get('/f5')),
    cat(
      valuesResult([
        ['FCGI_MPXS_CONNS', '0'],
        ['FCGI_MAX_REQS', '1'],
      ]),
      reply(1, ok('/f5')),
    ),
    'FCGI_MPXS_CONNS 0, and FCGI_MAX_REQS 1: without multiplexing a connection carries one request at a time',
    { calls: 1, options: { fastcgiMaxReqs: 7, fastcgiMultiplex: false } },
  ),
  answers(
    'F5',
    'GET_VALUES for unknown names only',
    cat(getValues(['FCGI_NOPE']), get('/f5')),
    cat(valuesResult([]), reply(1, ok('/f5'))),
    'an empty result, then served',
    { calls: 1 },
  ),
  answers(
    'F5',
    'GET_VALUES between the PARAMS and the STDIN of a request',
    cat(head(1, vars('/echo', [['CONTENT_LENGTH', '3']], 'POST')), getValues(['FCGI_MPXS_CONNS']), stdin(1, 'abc'), stdin(1, '')),
    cat(valuesResult([['FCGI_MPXS_CONNS', '1']]), reply(1, cgi('echo abc'))),
    'answered, and the request completes',
    { calls: 1 },
  ),
  // F6: application types with id 0, management types with an id
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((type) =>
    closes('F6', `type ${type} with request id 0`, record(type, 0, type === 1 || type === 3 ? BEGIN_BODY.subarray(0, 8) : 'xyz')),
  ),
  closes('F6', 'GET_VALUES with request id 1', record(FCGI.GET_VALUES, 1, nameValues([['FCGI_MAX_CONNS', '']]))),
  // F7: types no responder may receive, for an active id
  ...[0, 12, 255, FCGI.DATA, FCGI.END_REQUEST, FCGI.STDOUT, FCGI.STDERR].map((type) =>
    closes('F7', `type ${type} for an active id`, cat(BEGUN, record(type, 1, 'xyz'))),
  ),
  closes('F7', 'DATA for a request the app holds', cat(held(1), record(FCGI.DATA, 1, 'xyz'))),
  // F8: records for an id never begun are ignored
  ...[FCGI.ABORT_REQUEST, FCGI.END_REQUEST, FCGI.PARAMS, FCGI.STDIN, FCGI.STDOUT, FCGI.STDERR, FCGI.DATA, 0, 12, 255].map((type) =>
    answers('F8', `type ${type} for id 9 (never begun), then a request`, cat(record(type, 9, 'xyz'), get('/f8')), reply(1, ok('/f8')), 'ignored, then served', {
      calls: 1,
    }),
  ),
  answers(
    'F8',
    'STDIN and ABORT_REQUEST for id 2 amid request 1',
    cat(head(1, vars('/echo', [['CONTENT_LENGTH', '3']], 'POST')), stdin(2, 'zzz'), abortRequest(2), stdin(1, 'abc'), stdin(1, '')),
    reply(1, cgi('echo abc')),
    'ignored, request 1 served',
    { calls: 1 },
  ),
  // F9: BEGIN_REQUEST content length ≠ 8
  ...[0, 7, 9].map((length) => closes('F9', `BEGIN_REQUEST with ${length} content bytes`, record(FCGI.BEGIN_REQUEST, 1, BEGIN_BODY.subarray(0, length)))),
  // F10: BEGIN_REQUEST for an active id
  closes('F10', 'BEGIN_REQUEST again while the params stream is open', cat(BEGUN, beginRequest(1))),
  closes('F10', 'BEGIN_REQUEST again for a request the app holds', cat(held(1), beginRequest(1))),
  // F11: roles other than RESPONDER
  ...[Role.AUTHORIZER, Role.FILTER, 0, 1000].map((role) =>
    answers(
      'F11',
      `role ${role} (with its params and stdin)`,
      request(1, vars('/role'), '', { role }),
      endRequest(1, 0, ProtocolStatus.UNKNOWN_ROLE),
      'END_REQUEST UNKNOWN_ROLE',
    ),
  ),
  answers(
    'F11',
    'role AUTHORIZER with KEEP_CONN, then a request with the same id',
    cat(request(1, vars('/role'), 'abc', { role: Role.AUTHORIZER, keepConn: true }), get('/f11')),
    cat(endRequest(1, 0, ProtocolStatus.UNKNOWN_ROLE), reply(1, ok('/f11'))),
    'END_REQUEST UNKNOWN_ROLE, then served',
    { calls: 1 },
  ),
  // F12: a second id when not multiplexing
  answers(
    'F12',
    'BEGIN_REQUEST for id 2 while id 1 is active, multiplexing off',
    cat(beginRequest(1), params(1, vars('/one')), request(2, vars('/two'), '', { keepConn: true }), params(1, EMPTY), stdin(1, '')),
    cat(endRequest(2, 0, ProtocolStatus.CANT_MPX_CONN), reply(1, ok('/one'))),
    'END_REQUEST CANT_MPX_CONN for 2, 1 served',
    { calls: 1, options: { fastcgiMultiplex: false } },
  ),
  // F13: over fastcgiMaxReqs
  answers(
    'F13',
    'a third request while fastcgiMaxReqs 2 are active',
    cat(
      beginRequest(1, { keepConn: true }),
      params(1, vars('/one')),
      beginRequest(2),
      params(2, vars('/two')),
      request(3, vars('/three'), '', { keepConn: true }),
      params(1, EMPTY),
      stdin(1, ''),
      params(2, EMPTY),
      stdin(2, ''),
    ),
    cat(endRequest(3, 0, ProtocolStatus.OVERLOADED), reply(1, ok('/one')), reply(2, ok('/two'))),
    'END_REQUEST OVERLOADED for 3, 1 and 2 served',
    { calls: 2, options: { fastcgiMaxReqs: 2 } },
  ),
  // F14: 4-byte lengths, also for short names and values
  answers('F14', '4-byte lengths for short pairs, and a 150-byte name with a 300-byte value', request(1, FOUR_BYTE_PAIRS), reply(1, ok('/four')), 'served', {
    calls: 1,
  }),
  // F15: lengths running past limits or the stream
  refuses('F15', 'a name length of 2^31 - 1', request(1, cat(nameValues(vars('/x')), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]), 'N')), 431),
  refuses('F15', 'a value length of 2^31 - 1', request(1, cat(nameValues(vars('/x')), Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff]), 'N')), 431),
  refuses('F15', 'a name and value running past the end of the stream', request(1, cat(nameValues(vars('/x')), Buffer.from([4, 10]), 'NAMEval')), 400),
  refuses('F15', 'a 4-byte length cut by the end of the stream', request(1, cat(nameValues(vars('/x')), Buffer.from([0x80, 0]))), 400),
  // F16: the params stream cut anywhere
  answers(
    'F16',
    'params in 7-byte PARAMS records (pairs cut across records)',
    request(1, F16_STREAM, '', { paramsRecord: 7 }),
    reply(1, ok('/split')),
    'served',
    { calls: 1 },
  ),
  answers('F16', 'params in 1-byte PARAMS records', request(1, F16_STREAM, '', { paramsRecord: 1 }), reply(1, ok('/split')), 'served', { calls: 1 }),
  answers(
    'F16',
    '4-byte length fields cut across PARAMS records',
    cat(
      beginRequest(1),
      params(1, FOUR_BYTE_PAIRS.subarray(0, 2)),
      params(1, FOUR_BYTE_PAIRS.subarray(2, 27)),
      params(1, FOUR_BYTE_PAIRS.subarray(27)),
      params(1, EMPTY),
      stdin(1, ''),
    ),
    reply(1, ok('/four')),
    'served',
    { calls: 1 },
  ),
  // F17: params over bufferSize, more than maxVars
  refuses('F17', 'params over bufferSize 100', request(1, vars('/x', [['HTTP_COOKIE', 'c'.repeat(120)]])), 431, {
    options: { bufferSize: 100 },
    log: /buffer-size 100\b.*--buffer-size/,
  }),
  refuses('F17', 'params over bufferSize 100 in 30-byte records', request(1, vars('/x', [['HTTP_COOKIE', 'c'.repeat(120)]]), '', { paramsRecord: 30 }), 431, {
    options: { bufferSize: 100 },
    log: /buffer-size 100\b.*--buffer-size/,
  }),
  refuses('F17', 'params of bufferSize 100 + 1 bytes', request(1, paramsOfSize(101)), 431, { options: { bufferSize: 100 } }),
  answers('F17', 'params of exactly bufferSize 100 bytes', request(1, paramsOfSize(100)), reply(1, ok('/edge')), 'served', {
    calls: 1,
    options: { bufferSize: 100 },
  }),
  refuses('F17', '5 params over maxVars 4', request(1, manyVars(5)), 400, { options: { maxVars: 4 }, log: /max-vars 4\b.*--max-vars/ }),
  answers(
    'F17',
    'exactly maxVars 4 params',
    request(
      1,
      vars('/four-vars', [
        ['X_A', 'a'],
        ['X_B', 'b'],
      ]),
    ),
    reply(1, ok('/four-vars')),
    'served',
    { calls: 1, options: { maxVars: 4 } },
  ),
  refuses('F17', '1001 params over the default maxVars 1000', request(1, manyVars(1001)), 400, { log: /max-vars 1000\b.*--max-vars/, large: true }),
  refuses(
    'F17',
    'params over bufferSize 100 with KEEP_CONN, then a request',
    cat(request(1, vars('/x', [['HTTP_COOKIE', 'c'.repeat(120)]]), '', { keepConn: true }), get('/next')),
    431,
    {
      options: { bufferSize: 100 },
      expect: cat(refusal(1, 431), reply(1, ok('/next'))),
      outcome: '431, then served',
      calls: 1,
    },
  ),
  // F18: empty names
  refuses('F18', 'an empty name after the first pair', request(1, cat(nameValues(vars('/x')), Buffer.from([0, 1]), 'x')), 400),
  refuses('F18', 'an empty name first', request(1, cat(Buffer.from([0, 1]), 'x', nameValues(vars('/x')))), 400),
  // the request checks uwsgi makes too
  refuses('params', 'no REQUEST_METHOD', request(1, [['PATH_INFO', '/']]), 400),
  refuses('params', 'CONTENT_LENGTH 11 over limitPost 10, body sent', post('/x', 'hello world'), 413, {
    options: { limitPost: 10 },
    log: /limit-post 10\b.*--limit-post/,
  }),
  answers('params', 'CONTENT_LENGTH of exactly limitPost 10', post('/echo', '0123456789'), reply(1, cgi('echo 0123456789')), 'served', {
    calls: 1,
    options: { limitPost: 10 },
  }),
  refuses('params', 'CONTENT_LENGTH over limitPost with KEEP_CONN, then a request', cat(post('/x', 'hello world', { keepConn: true }), get('/next')), 413, {
    options: { limitPost: 10 },
    expect: cat(refusal(1, 413), reply(1, ok('/next'))),
    outcome: '413, then served',
    calls: 1,
  }),
  refuses('params', 'no REQUEST_METHOD with KEEP_CONN, then a request', cat(request(1, [['PATH_INFO', '/']], '', { keepConn: true }), get('/next')), 400, {
    expect: cat(refusal(1, 400), reply(1, ok('/next'))),
    outcome: '400, then served',
    calls: 1,
  }),
  ...['-1', '+5', ' 5', '1e3', '0x10', '5,5'].map((value) =>
    refuses('params', `CONTENT_LENGTH ${JSON.stringify(value)}`, request(1, vars('/x', [['CONTENT_LENGTH', value]])), 400),
  ),
  // F19: STDIN before the params stream ended
  closes('F19', 'STDIN right after BEGIN_REQUEST', cat(beginRequest(1), stdin(1, 'abc'))),
  closes('F19', 'STDIN inside the params stream', cat(BEGUN, stdin(1, 'abc'))),
  closes('F19', 'the empty STDIN inside the params stream', cat(BEGUN, stdin(1, ''))),
  // F20, F21: a body longer or shorter than CONTENT_LENGTH
  refuses('F20', 'STDIN of 4 bytes for CONTENT_LENGTH 3', cat(held(1, 3), stdin(1, 'abcd'), stdin(1, '')), 400),
  refuses('F20', 'a fourth byte in a second STDIN record for CONTENT_LENGTH 3', cat(held(1, 3), stdin(1, 'abc'), stdin(1, 'd'), stdin(1, '')), 400),
  refuses('F21', 'the empty STDIN after 3 of CONTENT_LENGTH 5 bytes', cat(held(1, 5), stdin(1, 'abc'), stdin(1, '')), 400),
  // F22: a stream continued after its end
  closes('F22', 'PARAMS after the empty PARAMS', cat(held(1, 3), params(1, [['HTTP_X', 'y']]))),
  closes('F22', 'STDIN after the empty STDIN', cat(held(1, 3), stdin(1, 'abc'), stdin(1, ''), stdin(1, 'x'))),
  closes('F22', 'PARAMS after the empty STDIN', cat(held(1, 3), stdin(1, 'abc'), stdin(1, ''), params(1, [['HTTP_X', 'y']]))),
  // F23: ABORT_REQUEST before the app was called
  answers('F23', 'ABORT_REQUEST inside the params stream', cat(BEGUN, abortRequest(1)), endRequest(1), 'END_REQUEST'),
  answers(
    'F23',
    'ABORT_REQUEST inside the params stream with KEEP_CONN, then a request',
    cat(beginRequest(1, { keepConn: true }), params(1, vars('/x')), abortRequest(1), get('/f23', {}, 2)),
    cat(endRequest(1), reply(2, ok('/f23'))),
    'END_REQUEST, then served',
    { calls: 1 },
  ),
];

const modes: Array<{ name: string; split: Split; delayMs: number; small?: boolean }> = [
  { name: 'whole', split: 1, delayMs: 0 },
  { name: 'in 3 pieces', split: 3, delayMs: 15 },
  { name: 'byte by byte', split: 'bytes', delayMs: 1, small: true },
];

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

// ---- responses -------------------------------------------------------------------------------------

describe('responses', () => {
  it('a one-chunk body is one STDOUT record (head and body), the empty STDOUT, END_REQUEST, then the close', async () => {
    const address = serve(
      (_environ, start) => {
        start('201 Created', [
          ['Content-Type', 'text/plain'],
          ['X-Order', '1'],
          ['Set-Cookie', 'a=1'],
          ['Set-Cookie', 'b=2'],
        ]);
        return ['hello'];
      },
      undefined,
      FASTCGI,
    );
    const result = await fcgiExchange(address, request(1, nginxParams('GET', '/one')));
    expectBytes(
      result.data,
      reply(1, 'Status: 201 Created\r\nContent-Type: text/plain\r\nX-Order: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello'),
    );
    expect(result.ended).toBe(true);
    expect(result.reset).toBe(false);
  });

  it('an app that throws before any output gets a 500 (with a Status: line), logged', async () => {
    const { address } = fcgiServer({
      '/boom': () => {
        throw new Error('boom-before-output');
      },
    });
    const result = await fcgiExchange(address, get('/boom'));
    expectBytes(result.data, reply(1, ERROR_500));
    await waitFor(() => servers.logs.find(/boom-before-output/), { what: 'the log line' });
  });

  const text =
    (status: string, headers: Headers, body: () => Body): App =>
    (_environ, start) => {
      start(status, headers);
      return body();
    };
  it.each<[string, string, App]>([
    ['an array of one chunk', 'GET', text('200 OK', TEXT, () => ['hello'])],
    ['an array of several chunks, UTF-8', 'GET', text('200 OK', TEXT, () => ['h\u00e9', 'llo ', Buffer.from('w\u00f6rld')])],
    ['an empty array', 'GET', text('200 OK', TEXT, () => [])],
    ['an empty generator', 'GET', text('200 OK', TEXT, () => (function* () {})())],
    [
      'a generator of several chunks',
      'GET',
      text('200 OK', TEXT, () =>
        (function* () {
          yield 'one ';
          yield '';
          yield 'two';
        })(),
      ),
    ],
    [
      'an async generator',
      'GET',
      text('200 OK', TEXT, () =>
        (async function* () {
          yield 'a';
          await delay(5);
          yield 'b';
        })(),
      ),
    ],
    [
      'a declared Content-Length with a generator',
      'GET',
      text(
        '200 OK',
        [
          ['Content-Length', '5'],
          ['Content-Type', 'text/plain'],
        ],
        () =>
          (function* () {
            yield 'he';
            yield 'llo';
          })(),
      ),
    ],
    ['HEAD with an array body', 'HEAD', text('200 OK', TEXT, () => ['hello'])],
    ['204', 'GET', text('204 No Content', [['X-A', 'b']], () => [])],
    ['304', 'GET', text('304 Not Modified', [['ETag', '"x"']], () => [])],
    [
      '404 with repeated headers in order',
      'GET',
      text(
        '404 Not Found',
        [
          ['Set-Cookie', 'a=1'],
          ['Content-Type', 'text/html'],
          ['Set-Cookie', 'b=2'],
        ],
        () => ['<h1>no</h1>'],
      ),
    ],
  ])('%s: STDOUT is the uwsgi response with a Status: line', async (_name, method, app) => {
    const uwsgi = serve(app);
    const fcgi = serve(app, undefined, FASTCGI);
    const http = (await exchange(uwsgi, packet(nginxVars(method, '/x')))).data.toString('latin1');
    expect(http).toMatch(/^HTTP\/1\.1 /);
    const result = await fcgiExchange(fcgi, request(1, nginxVars(method, '/x')));
    expectComplete(result.records, 1, http.replace(/^HTTP\/1\.1 /, 'Status: '));
    expect(result.rest.length).toBe(0);
  });

  describe('F26 record sizes', () => {
    const BINARY: Headers = [['Content-Type', 'application/octet-stream']];
    const headOf = (extra = ''): string => `Status: 200 OK\r\nContent-Type: application/octet-stream\r\n${extra}\r\n`;

    it('chunks of 0, 65535, 0, 65536 and 1 bytes: STDOUT records of 1..65535 bytes, no early empty one, exact content', async () => {
      const chunks = [Buffer.alloc(0), randomBytes(65535), Buffer.alloc(0), randomBytes(65536), Buffer.from('z')];
      const address = serve(
        (_environ, start) => {
          start('200 OK', BINARY);
          return (function* () {
            yield* chunks;
          })();
        },
        undefined,
        FASTCGI,
      );
      const result = await fcgiExchange(address, get('/f26'));
      expectComplete(result.records, 1, cat(headOf(), ...chunks));
    });

    it('a 1 MiB one-chunk body, with its Content-Length', async () => {
      const body = randomBytes(1 << 20);
      const address = serve(
        (_environ, start) => {
          start('200 OK', BINARY);
          return [body];
        },
        undefined,
        FASTCGI,
      );
      const result = await fcgiExchange(address, get('/big'));
      expectComplete(result.records, 1, cat(headOf('Content-Length: 1048576\r\n'), body));
    });

    it('head and body of exactly 65535 bytes are one STDOUT record; 65536 are two', async () => {
      const h = headOf('Content-Length: 65xxx\r\n').length;
      let size = 0;
      const address = serve(
        (_environ, start) => {
          start('200 OK', BINARY);
          return [Buffer.alloc(size, 0x61)];
        },
        undefined,
        FASTCGI,
      );
      size = 65535 - h;
      const one = await fcgiExchange(address, get('/max'));
      expectBytes(one.data, reply(1, cat(headOf(`Content-Length: ${size}\r\n`), Buffer.alloc(size, 0x61))));
      size = 65536 - h;
      const two = await fcgiExchange(address, get('/max'));
      expectComplete(two.records, 1, cat(headOf(`Content-Length: ${size}\r\n`), Buffer.alloc(size, 0x61)));
      expect(recordsOf(two.records, 1).filter((r) => r.type === FCGI.STDOUT && r.content.length > 0)).toHaveLength(2);
    });
  });
});

// ---- F24 FCGI_KEEP_CONN ----------------------------------------------------------------------------

describe('F24 FCGI_KEEP_CONN', () => {
  it('KEEP_CONN 0: the server closes with a FIN right after the END_REQUEST, also after a streamed body', async () => {
    const { address } = fcgiServer({ '/stream': timed(0, true) });
    const result = await fcgiExchange(address, get('/stream'));
    expectComplete(result.records, 1, 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n/stream ');
    expect(result.rest.length).toBe(0);
    expect(result.ended).toBe(true);
    expect(result.reset).toBe(false);
  });

  it('KEEP_CONN 1: the connection stays open and serves the next requests with the same id, streamed ones too', async () => {
    const { address, total } = fcgiServer({ '/stream': timed(0, true) });
    const client = new FcgiClient(address);
    try {
      await client.send(get('/first', { keepConn: true }));
      expectBytes((await client.untilEnd([1])).data, reply(1, ok('/first')));
      await delay(50);
      expect(client.raw.closed).toBe(false);
      await client.send(get('/stream', { keepConn: true }));
      const second = await client.untilEnd([1]);
      expectComplete(second.records, 1, 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n/stream ');
      expect(second.rest.length).toBe(0);
      await delay(50);
      expect(client.raw.closed).toBe(false);
      await client.send(get('/last'));
      const last = await client.untilClosed();
      expectBytes(last.data, reply(1, ok('/last')));
      expect(last.ended).toBe(true);
      expect(last.reset).toBe(false);
      expect(total()).toBe(3);
    } finally {
      client.destroy();
    }
  });
});

// ---- environ --------------------------------------------------------------------------------------

describe('environ', () => {
  /** The environ as comparable data: strings and scalars as they are, objects by their type. */
  function snapshot(environ: Environ): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(environ).map(([k, v]) => [k, (typeof v === 'object' && v !== null && !Array.isArray(v)) || typeof v === 'function' ? `<${typeof v}>` : v]),
    );
  }

  const body = 'a=1&b=2';
  // Over uwsgi, SCRIPT_NAME is passed through as sent; over FastCGI without PATH_INFO it is
  // a mount point only when it is a proper prefix of the path (nginx's stock fastcgi_params
  // send the whole path as SCRIPT_NAME), so the stock params give the root mount.
  const cases: Array<[string, Vars, Record<string, string>?]> = [
    ['nginx fastcgi_params, a GET with a query', nginxParams('GET', '/p/a?x=1&y=2', { HTTP_USER_AGENT: 'raw-test' }), { SCRIPT_NAME: '', PATH_INFO: '/p/a' }],
    [
      'nginx fastcgi_params with SCRIPT_NAME a mount point',
      { ...nginxParams('GET', '/app/x/y'), SCRIPT_NAME: '/app' },
      { SCRIPT_NAME: '/app', PATH_INFO: '/x/y' },
    ],
    ['nginx uwsgi_params, a GET', nginxVars('GET', '/u/path?q=1')],
    [
      'a POST with repeated, excluded, long and non-UTF-8 params',
      [
        ...Object.entries(
          nginxParams('POST', '/form?z', { CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/x-www-form-urlencoded', HTTPS: 'on' }),
        ),
        ['SCRIPT_NAME', '/'],
        ['PATH_INFO', Buffer.from([0x2f, 0xff, 0xfe, 0xc3, 0x28])],
        ['HTTP_COOKIE', 'a=1'],
        ['HTTP_COOKIE', 'b=2'],
        ['HTTP_X_FOO', 'one'],
        ['HTTP_X_FOO', 'two'],
        ['HTTP_CONTENT_LENGTH', '999'],
        ['HTTP_CONTENT_TYPE', 'application/evil'],
        ['HTTP_PROXY', 'http://evil.example:8080'],
        ['HTTP_X_LONG', 'L'.repeat(300)],
        ['__proto__', 'data'],
      ],
    ],
  ];

  it.each(cases)('the app sees the same environ over uwsgi and FastCGI: %s', async (_name, v, overFastcgi = {}) => {
    const seen: Array<Record<string, unknown>> = [];
    const app: App = async (environ, start) => {
      const input = (await readAll(environ)).toString('latin1');
      seen.push({ ...snapshot(environ), input });
      start('200 OK', TEXT);
      return ['ok'];
    };
    const sent = Array.isArray(v) ? v : Object.entries(v);
    const isPost = sent.some(([k, value]) => k === 'REQUEST_METHOD' && value === 'POST');
    const uwsgi = serve(app);
    const fcgi = serve(app, undefined, FASTCGI);
    await exchange(uwsgi, packet(v, isPost ? body : ''));
    const result = await fcgiExchange(fcgi, request(1, v, isPost ? body : '', { stdinRecord: 3 }));
    expectBytes(result.data, reply(1, cgi('ok')));
    expect(seen).toHaveLength(2);
    expect(seen[0]!.REQUEST_METHOD).toBe(isPost ? 'POST' : 'GET');
    expect(seen[0]!.input).toBe(isPost ? body : '');
    expect(seen[1]).toEqual({ ...seen[0], ...overFastcgi });
    expect(Object.keys(seen[1]!).sort()).toEqual(Object.keys(seen[0]!).sort());
  });
});

// ---- the request body --------------------------------------------------------------------------------

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

// ---- tsgi.errors ----------------------------------------------------------------------------------------

describe('tsgi.errors', () => {
  it('write() becomes a STDERR record of the request, before its END_REQUEST, with no empty STDERR', async () => {
    const { address } = fcgiServer({
      '/err': (environ, start) => {
        environ['tsgi.errors'].write('some text');
        start('200 OK', TEXT);
        return ['ok'];
      },
    });
    const result = await fcgiExchange(address, get('/err'));
    expectBytes(result.data, cat(record(FCGI.STDERR, 1, 'some text'), reply(1, cgi('ok'))));
  });

  it('writelines() between streamed chunks, on request 2 of a multiplexed connection', async () => {
    const { address } = fcgiServer({
      '/err': (environ, start) => {
        start('200 OK', TEXT);
        return (async function* () {
          yield 'a';
          await delay(5);
          environ['tsgi.errors'].writelines(['x ', 'y']);
          environ['tsgi.errors'].flush();
          yield 'b';
        })();
      },
    });
    const result = await fcgiExchange(address, cat(get('/plain', { keepConn: true }, 1), get('/err', {}, 2)), { until: [1, 2] });
    expectBytes(encode(recordsOf(result.records, 1)), reply(1, ok('/plain')));
    const mine = recordsOf(result.records, 2);
    expect(stderrOf(result.records, 2).toString()).toBe('x y');
    expect(stderrOf(result.records, 1).length).toBe(0);
    const stderr = mine.filter((r) => r.type === FCGI.STDERR);
    expect(stderr.every((r) => r.content.length > 0)).toBe(true);
    const types = mine.map((r) => r.type);
    expect(types.lastIndexOf(FCGI.STDERR)).toBeLessThan(types.indexOf(FCGI.END_REQUEST));
    expectComplete(result.records, 2, 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nab');
  });
});

// ---- multiplexing ------------------------------------------------------------------------------------------

describe('multiplexing', () => {
  it('three interleaved requests with different delays each get their own response (F12, F13 allow it)', async () => {
    const { address } = fcgiServer({ '/one': timed(150), '/two': timed(10), '/three': timed(80, true) });
    const options: RequestOptions = { keepConn: true, paramsRecord: 16, stdinRecord: 3 };
    const bytes = interleave(
      requestRecords(1, vars('/one', [['CONTENT_LENGTH', '10']], 'POST'), 'first body', options),
      requestRecords(2, vars('/two', [['CONTENT_LENGTH', '6']], 'POST'), 'second', options),
      requestRecords(3, vars('/three', [['CONTENT_LENGTH', '7']], 'POST'), 'third!!', options),
    );
    const client = new FcgiClient(address);
    try {
      await client.send(bytes);
      const result = await client.untilEnd([1, 2, 3]);
      expectBytes(encode(recordsOf(result.records, 1)), reply(1, cgi('/one first body')));
      expectBytes(encode(recordsOf(result.records, 2)), reply(2, cgi('/two second')));
      expectComplete(result.records, 3, 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n/three third!!');
      // Answered as each app finished, not in the order begun.
      expect(result.records.filter((r) => r.type === FCGI.END_REQUEST).map((r) => r.id)).toEqual([2, 3, 1]);
      expect(result.rest.length).toBe(0);
      await delay(30);
      expect(client.raw.closed).toBe(false);
    } finally {
      client.destroy();
    }
  });

  it('an app that throws before any output gets a 500 for its id; the other ids are unaffected', async () => {
    const { address } = fcgiServer({
      '/one': timed(60),
      '/two': timed(10),
      '/boom': () => {
        throw new Error('boom-before-output');
      },
    });
    const options: RequestOptions = { keepConn: true };
    const bytes = interleave(
      requestRecords(1, vars('/one'), '', options),
      requestRecords(2, vars('/boom'), '', options),
      requestRecords(3, vars('/two'), '', options),
    );
    const result = await fcgiExchange(address, bytes, { until: [1, 2, 3] });
    expectBytes(encode(recordsOf(result.records, 2)), reply(2, ERROR_500));
    expectBytes(encode(recordsOf(result.records, 1)), reply(1, cgi('/one ')));
    expectBytes(encode(recordsOf(result.records, 3)), reply(3, cgi('/two ')));
    await waitFor(() => servers.logs.find(/boom-before-output/), { what: 'the log line' });
  });

  it('request ids above 255 (big-endian) and 65535', async () => {
    const { address } = fcgiServer();
    const bytes = interleave(requestRecords(0x0102, vars('/258'), '', { keepConn: true }), requestRecords(0xffff, vars('/65535'), '', { keepConn: true }));
    const result = await fcgiExchange(address, bytes, { until: [0x0102, 0xffff] });
    expectBytes(encode(recordsOf(result.records, 0x0102)), reply(0x0102, ok('/258')));
    expectBytes(encode(recordsOf(result.records, 0xffff)), reply(0xffff, ok('/65535')));
    expect(result.records).toHaveLength(6);
  });

  it('F12: with multiplexing off, requests one after another on a kept connection are served', async () => {
    const { address } = fcgiServer({}, { fastcgiMultiplex: false });
    const client = new FcgiClient(address);
    try {
      await client.send(get('/a', { keepConn: true }, 1));
      expectBytes((await client.untilEnd([1])).data, reply(1, ok('/a')));
      await client.send(get('/b', {}, 2));
      expectBytes((await client.untilClosed()).data, reply(2, ok('/b')));
    } finally {
      client.destroy();
    }
  });

  it('F13: once an active request ends, a new one takes its slot', async () => {
    const gate = deferred();
    const { address } = fcgiServer({ '/gated': gated(gate.promise) }, { fastcgiMaxReqs: 1 });
    const client = new FcgiClient(address);
    try {
      await client.send(cat(get('/gated', { keepConn: true }, 1), get('/refused', { keepConn: true }, 2)));
      expectBytes((await client.untilEnd([2])).data, endRequest(2, 0, ProtocolStatus.OVERLOADED));
      gate.resolve();
      expectBytes((await client.untilEnd([1])).data, reply(1, ok('/gated')));
      await client.send(get('/accepted', {}, 2));
      expectBytes((await client.untilClosed()).data, reply(2, ok('/accepted')));
    } finally {
      client.destroy();
    }
  });
});

// ---- app errors after output --------------------------------------------------------------------------

describe('an app error after its head was sent', () => {
  it('resets the connection when it is the only request on it (no END_REQUEST)', async () => {
    const { address } = fcgiServer({ '/partial': partialThenBoom });
    const client = new FcgiClient(address);
    try {
      await client.send(get('/partial'));
      await waitFor(() => client.raw.data.includes('partial body'), { what: 'the first chunk' });
      const result = await client.untilClosed();
      expect(result.reset).toBe(true);
      expect(result.ended).toBe(false);
      expect(stdoutOf(result.records, 1).toString()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial body');
      expect(result.records.filter((r) => r.type === FCGI.END_REQUEST || (r.type === FCGI.STDOUT && r.content.length === 0))).toEqual([]);
      await waitFor(() => servers.logs.find(/boom-mid-body/), { what: 'the log line' });
    } finally {
      client.destroy();
    }
  });

  it('ends that request with appStatus 1 (no empty STDOUT) when another is active, which completes', async () => {
    const gate = deferred();
    const { address } = fcgiServer({ '/partial': partialThenBoom, '/gated': gated(gate.promise) });
    const client = new FcgiClient(address);
    try {
      await client.send(cat(get('/gated', { keepConn: true }, 1), get('/partial', { keepConn: true }, 2)));
      const failed = await client.untilEnd([2]);
      const mine = recordsOf(failed.records, 2);
      expect(mine.at(-1)).toEqual({ type: FCGI.END_REQUEST, id: 2, content: Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), padding: 0 });
      expect(mine.slice(0, -1).every((r) => r.type === FCGI.STDOUT && r.content.length > 0)).toBe(true);
      expect(stdoutOf(mine, 2).toString()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial body');
      expect(recordsOf(failed.records, 1)).toEqual([]);
      expect(failed.reset).toBe(false);
      gate.resolve();
      expectBytes((await client.untilEnd([1])).data, reply(1, ok('/gated')));
      expect(client.raw.closed).toBe(false);
    } finally {
      client.destroy();
    }
  });
});

// ---- F23 ABORT_REQUEST ----------------------------------------------------------------------------------

describe('F23 ABORT_REQUEST', () => {
  /** Sends `before` on a kept connection, waits for `ready`, aborts id 1: END_REQUEST alone comes back, the signal fired, close() ran; then the connection serves another request. */
  async function abortAfter(address: string, before: Buffer, ready: () => boolean, probe: Probe): Promise<void> {
    const client = new FcgiClient(address);
    try {
      await client.send(before);
      await waitFor(ready, { what: 'the app to get that far' });
      await client.send(abortRequest(1));
      expectBytes((await client.untilEnd([1])).data, endRequest(1));
      await waitFor(() => probe.aborts === 1 && probe.closes === 1, { what: 'the signal and close()' });
      await client.send(get('/next'));
      expectBytes((await client.untilClosed()).data, reply(1, ok('/next')));
    } finally {
      client.destroy();
    }
  }

  it('before any STDIN: the app waiting for its body is aborted, its input rejects', async () => {
    const { address, probe } = fcgiServer();
    const p = probe('/read');
    await abortAfter(address, head(1, vars('/read', [['CONTENT_LENGTH', '10']], 'POST'), { keepConn: true }), () => p.calls === 1, p);
    expect(p.inputError).toBeInstanceOf(TsgiError);
  });

  it('during STDIN: after the app read part of the body', async () => {
    const { address, probe } = fcgiServer();
    const p = probe('/read');
    await abortAfter(
      address,
      cat(head(1, vars('/read', [['CONTENT_LENGTH', '10']], 'POST'), { keepConn: true }), stdin(1, 'abc')),
      () => p.got.length === 1,
      p,
    );
    expect(Buffer.concat(p.got).toString()).toBe('abc');
    expect(p.inputError).toBeInstanceOf(TsgiError);
  });

  it('after STDIN: the app has the whole body and has not answered yet', async () => {
    const { address, probe } = fcgiServer();
    const p = probe('/hold');
    await abortAfter(address, cat(held(1, 3, { keepConn: true }), stdin(1, 'abc'), stdin(1, '')), () => p.calls === 1, p);
    expect(p.inputError).toBeUndefined();
  });

  it('mid-response: the stream stops, END_REQUEST follows the STDOUT records without an empty one', async () => {
    const stopped = { count: 0 };
    const { address, probe } = fcgiServer({ '/ticks': ticks(stopped) });
    const p = probe('/ticks');
    const client = new FcgiClient(address);
    try {
      await client.send(get('/ticks', { keepConn: true }));
      await waitFor(() => client.raw.data.includes('tick 2'), { what: 'some of the stream' });
      await client.send(abortRequest(1));
      const result = await client.untilEnd([1]);
      const mine = recordsOf(result.records, 1);
      expectBytes(encode(mine.slice(-1)), endRequest(1));
      expect(mine.slice(0, -1).every((r) => r.type === FCGI.STDOUT && r.content.length > 0)).toBe(true);
      expect(stdoutOf(mine, 1).toString()).toMatch(/^Status: 200 OK\r\nContent-Type: text\/plain\r\n\r\ntick 1\ntick 2\n/);
      await waitFor(() => p.aborts === 1 && p.closes === 1 && stopped.count === 1, { what: 'the signal, close() and the generator finally' });
      await client.send(get('/next'));
      expectBytes((await client.untilClosed()).data, reply(1, ok('/next')));
    } finally {
      client.destroy();
    }
  });

  it('aborting one of two multiplexed requests leaves the other fully answered', async () => {
    const gate = deferred();
    const { address, probe } = fcgiServer({ '/gated': gated(gate.promise) });
    const client = new FcgiClient(address);
    try {
      await client.send(cat(held(1, 0, { keepConn: true }), get('/gated', { keepConn: true }, 2)));
      await waitFor(() => probe('/hold').calls === 1 && probe('/gated').calls === 1, { what: 'both apps to run' });
      await client.send(abortRequest(1));
      expectBytes((await client.untilEnd([1])).data, endRequest(1));
      gate.resolve();
      expectBytes((await client.untilEnd([2])).data, reply(2, ok('/gated')));
      expect(probe('/hold').aborts).toBe(1);
      expect(probe('/gated').aborts).toBe(0);
    } finally {
      client.destroy();
    }
  });
});

// ---- protocol errors abort what the connection was doing ---------------------------------------------------

describe('a protocol error closes the connection and aborts all its requests', () => {
  const cases: Array<[string, Buffer, boolean?]> = [
    ['F1 a version 2 record', withVersion(stdin(1, 'abcde'), 2)],
    ['F2 EOF inside a record header', stdin(1, 'abcde').subarray(0, 5), true],
    ['F6 STDIN with id 0', stdin(0, 'x')],
    ['F7 DATA for an active id', record(FCGI.DATA, 1, 'x')],
    ['F7 type 20 for an active id', record(20, 2, 'x')],
    ['F9 a 5-byte BEGIN_REQUEST for a new id', record(FCGI.BEGIN_REQUEST, 3, BEGIN_BODY.subarray(0, 5))],
    ['F10 BEGIN_REQUEST for id 2 again', beginRequest(2, { keepConn: true })],
    ['F19 STDIN inside the params stream of a third request', cat(beginRequest(3, { keepConn: true }), params(3, vars('/x')), stdin(3, 'x'))],
    ['F22 PARAMS after the empty PARAMS of id 1', params(1, [['HTTP_X', 'y']])],
  ];
  it.each(cases)('%s: closed without a byte, both held requests aborted', async (_name, bad, end) => {
    const { address, probe } = fcgiServer();
    const holds = probe('/hold');
    const client = new FcgiClient(address);
    try {
      await client.send(cat(held(1, 5, { keepConn: true }), held(2, 5, { keepConn: true })));
      await waitFor(() => holds.calls === 2, { what: 'both requests to reach the app' });
      await client.send(bad);
      if (end) client.end();
      const result = await client.untilClosed();
      expect(showRecords(result.data)).toBe('');
      await waitFor(() => holds.aborts === 2, { what: 'both signals' });
      expect(holds.inputError).toBeInstanceOf(TsgiError);
    } finally {
      client.destroy();
    }
    await expectStillServing(address);
  });

  it('F2 EOF between records while the app waits for the body: the signal fires, and the server goes on', async () => {
    const { address, probe } = fcgiServer();
    const client = new FcgiClient(address);
    try {
      await client.send(held(1, 5));
      await waitFor(() => probe('/hold').calls === 1, { what: 'the app to run' });
      client.end();
      await waitFor(() => probe('/hold').aborts === 1, { what: 'the signal' });
      const code = (probe('/hold').inputError as TsgiError).code;
      expect([ErrorCodes.BODY_TRUNCATED, ErrorCodes.CLIENT_GONE]).toContain(code);
    } finally {
      client.destroy();
    }
    await expectStillServing(address);
  });
});

// ---- F8 records for ended requests ----------------------------------------------------------------------

describe('F8 records for a request that has ended', () => {
  it('STDIN, PARAMS, ABORT_REQUEST, DATA and unknown types for an ended id are ignored on a kept connection', async () => {
    const { address, total } = fcgiServer();
    const client = new FcgiClient(address);
    try {
      await client.send(get('/first', { keepConn: true }));
      expectBytes((await client.untilEnd([1])).data, reply(1, ok('/first')));
      await client.send(cat(stdin(1, 'late'), params(1, vars('/stray')), abortRequest(1), record(FCGI.DATA, 1, 'x'), record(20, 1, 'x'), get('/second')));
      expectBytes((await client.untilClosed()).data, reply(1, ok('/second')));
      expect(total()).toBe(2);
    } finally {
      client.destroy();
    }
  });
});

// ---- F25 the web server goes away ---------------------------------------------------------------------------

describe('F25 the client closes mid-response', () => {
  it('the signal fires once, close() and the generator finally run, and the server goes on serving', async () => {
    const stopped = { count: 0 };
    const { address, probe } = fcgiServer({ '/ticks': ticks(stopped) });
    const p = probe('/ticks');
    const client = new FcgiClient(address);
    await client.send(get('/ticks'));
    await waitFor(() => client.raw.data.includes('tick 2'), { what: 'some of the stream' });
    client.destroy();
    await waitFor(() => p.aborts === 1 && p.closes === 1 && stopped.count === 1, { what: 'the signal, close() and the generator finally' });
    await delay(40);
    expect(p.aborts).toBe(1);
    expect(p.closes).toBe(1);
    await expectStillServing(address);
  });
});

// ---- listening ------------------------------------------------------------------------------------------------

describe('listening', () => {
  let dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    dirs = [];
  });

  it('serves FastCGI on a Unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-fcgi-'));
    dirs.push(dir);
    const path = join(dir, 'fcgi.sock');
    const server = track(
      new Server((environ, start) => {
        start('200 OK', TEXT);
        return [`unix ${environ.PATH_INFO}`];
      }),
    );
    expect(server.listen(path, { protocol: 'fastcgi' })).toBe(path);
    expect(statSync(path).isSocket()).toBe(true);
    const result = await fcgiExchange(path, get('/via-unix'));
    expectBytes(result.data, reply(1, cgi('unix /via-unix')));
  });

  it('serves uwsgi and FastCGI from one server on two sockets', async () => {
    const server = track(
      new Server((environ, start) => {
        start('200 OK', TEXT);
        return [`both ${environ.PATH_INFO}`];
      }),
    );
    const uwsgi = server.listen('127.0.0.1:0');
    const fcgi = server.listen('127.0.0.1:0', FASTCGI);
    expect((await exchange(uwsgi, packet(nginxVars('GET', '/u')))).data.toString()).toMatch(/\r\n\r\nboth \/u$/);
    expectBytes((await fcgiExchange(fcgi, get('/f'))).data, reply(1, cgi('both /f')));
  });
});
