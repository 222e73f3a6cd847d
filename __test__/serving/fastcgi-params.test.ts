/**
 * The FastCGI params stream (docs/malformed-input.md): 4-byte lengths (F14),
 * lengths running past the limits or the stream (F15), a stream cut anywhere across
 * records (F16), bufferSize and maxVars at their limit and one past it (F17), empty names
 * (F18), and the request checks uwsgi makes too (REQUEST_METHOD, CONTENT_LENGTH,
 * limitPost); then the environ an app gets, the same over FastCGI as over uwsgi. Each
 * fixture is replayed whole, in three pieces and byte by byte.
 */
import { describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/app/contract.js';
import { beginRequest, fcgiExchange, nameValue, nameValues, nginxParams, params, reply, request, stdin } from '../helpers/fastcgi.js';
import {
  EMPTY,
  FASTCGI,
  TEXT,
  answers,
  cat,
  cgi,
  describeFixtures,
  expectBytes,
  get,
  ok,
  post,
  readAll,
  refusal,
  refuses,
  vars,
  type Fixture,
} from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { exchange, nginxVars, packet, type Vars } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

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
];

describeFixtures(servers, fixtures);

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
