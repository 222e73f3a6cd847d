/**
 * Requests on one FastCGI connection: roles other than RESPONDER (F11), a second request
 * without multiplexing (F12) or over fastcgiMaxReqs (F13), FCGI_KEEP_CONN (F24),
 * interleaved requests answered as each finishes, an app error while other requests are
 * in flight, ABORT_REQUEST before and during a request (F23), and the client leaving
 * mid-response (F25). Fixtures are replayed whole, in three pieces and byte by byte.
 */
import { describe, expect, it } from 'vitest';
import { TsgiError } from '../../src/errors.js';
import {
  FCGI,
  FcgiClient,
  ProtocolStatus,
  Role,
  abortRequest,
  beginRequest,
  endRequest,
  fcgiExchange,
  interleave,
  nameValue,
  params,
  record,
  recordsOf,
  reply,
  request,
  requestRecords,
  stdin,
  stdoutOf,
  type RequestOptions,
} from '../helpers/fastcgi.js';
import {
  BEGUN,
  EMPTY,
  ERROR_500,
  answers,
  cat,
  cgi,
  deferred,
  describeFixtures,
  encode,
  expectBytes,
  expectComplete,
  expectStillServing,
  gated,
  get,
  head,
  held,
  ok,
  partialThenBoom,
  routedFcgiServer,
  ticks,
  timed,
  vars,
  type Fixture,
  type Probe,
} from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { delay, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const fcgiServer = routedFcgiServer(servers);

const fixtures: Fixture[] = [
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

describeFixtures(servers, fixtures);

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

describe('FCGI_KEEP_CONN across a graceful stop', () => {
  /** A kept connection that served one request, and its server winding down. */
  async function keptThenStopping() {
    const { address } = fcgiServer();
    const client = new FcgiClient(address);
    await client.send(get('/first', { keepConn: true }));
    expectBytes((await client.untilEnd([1])).data, reply(1, ok('/first')));
    const stopping = servers.started.at(-1)!.windDown(10_000);
    return { client, stopping };
  }

  it('a request that arrives on a kept connection is answered; a GET_VALUES_RESULT of FCGI_MAX_REQS 0 after its END_REQUEST tells the web server to drop the connection, which closes', async () => {
    const { client, stopping } = await keptThenStopping();
    try {
      await client.send(get('/next', { keepConn: true }));
      const next = await client.untilClosed();
      // nginx keeps a connection only when END_REQUEST ends what it read; HAProxy sends no
      // request on one whose FCGI_MAX_REQS is 0 (with FCGI_MPXS_CONNS 1, else it reads 1).
      const noMore = record(FCGI.GET_VALUES_RESULT, 0, Buffer.concat([nameValue('FCGI_MPXS_CONNS', '1'), nameValue('FCGI_MAX_REQS', '0')]));
      expectBytes(next.data, Buffer.concat([reply(1, ok('/next')), noMore]));
      expect(next.ended).toBe(true);
      expect(next.reset).toBe(false);
      await stopping;
    } finally {
      client.destroy();
    }
  });

  it('an idle kept connection is not closed at once (its next request may be on the way), and closes without a reset when none comes', async () => {
    const { client, stopping } = await keptThenStopping();
    try {
      const started = Date.now();
      await delay(100);
      expect(client.raw.closed).toBe(false);
      const idle = await client.untilClosed();
      expect(idle.data.length).toBe(0);
      expect(idle.reset).toBe(false);
      expect(Date.now() - started).toBeLessThan(5000);
      await stopping;
    } finally {
      client.destroy();
    }
  });
});

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
