/**
 * FastCGI record framing, with hand-built records good and malformed
 * (docs/malformed-input.md): the version byte (F1), EOF inside a record (F2),
 * padding (F3), types and request ids that do not go together (F6-F8), BEGIN_REQUEST's
 * length and repeats (F9, F10), streams out of order or continued after their end (F19,
 * F22); a protocol error closes the connection and aborts every request on it, and records
 * for a request that has ended are ignored. The exact bytes that come back, the log line,
 * and that the server keeps serving; every fixture is replayed whole, in three pieces and
 * byte by byte. tsgi never pads its records, so every expected reply is exact.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { FCGI, FcgiClient, abortRequest, beginRequest, nameValues, params, record, reply, showRecords, stdin } from '../helpers/fastcgi.js';
import {
  BEGUN,
  answers,
  cat,
  cgi,
  closes,
  describeFixtures,
  expectBytes,
  expectStillServing,
  get,
  head,
  held,
  ok,
  post,
  routedFcgiServer,
  vars,
  withVersion,
  type Fixture,
} from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const fcgiServer = routedFcgiServer(servers);

const HTTP_LOG = /HTTP request sent to a FastCGI socket|looks like HTTP/i;

const BEGIN_BODY = Buffer.from([0, 1, 0, 0, 0, 0, 0, 0, 0]);

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
  // F19: STDIN before the params stream ended
  closes('F19', 'STDIN right after BEGIN_REQUEST', cat(beginRequest(1), stdin(1, 'abc'))),
  closes('F19', 'STDIN inside the params stream', cat(BEGUN, stdin(1, 'abc'))),
  closes('F19', 'the empty STDIN inside the params stream', cat(BEGUN, stdin(1, ''))),
  // F22: a stream continued after its end
  closes('F22', 'PARAMS after the empty PARAMS', cat(held(1, 3), params(1, [['HTTP_X', 'y']]))),
  closes('F22', 'STDIN after the empty STDIN', cat(held(1, 3), stdin(1, 'abc'), stdin(1, ''), stdin(1, 'x'))),
  closes('F22', 'PARAMS after the empty STDIN', cat(held(1, 3), stdin(1, 'abc'), stdin(1, ''), params(1, [['HTTP_X', 'y']]))),
];

describeFixtures(servers, fixtures);

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
