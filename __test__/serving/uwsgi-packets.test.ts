/**
 * Hand-built uwsgi packets, good and malformed (docs/malformed-input.md,
 * U1-U26): the exact bytes that come back, the log line, and that the worker keeps
 * serving. Every malformed fixture is replayed whole, in three pieces and byte by byte.
 * Then the limits at their edge (bufferSize, maxVars, limitPost, max-conns), and the
 * oddities that are accepted (empty values, repeats, non-UTF-8 bytes, UWSGI_* vars).
 */
import { describe, expect, it } from 'vitest';
import { type ServerOptions } from '../../src/server/server.js';
import { useTestServers } from '../helpers/servers.js';
import { STATIC, countingServers, expectStillServing } from '../helpers/uwsgi-server.js';
import {
  RawClient,
  delay,
  exchange,
  exchangeSlowly,
  header,
  nginxVars,
  packet,
  parseResponse,
  rawPacket,
  rawVar,
  waitFor,
  type RawResult,
} from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;
const countingServer = countingServers(servers);

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

const GET = rawVar('REQUEST_METHOD', 'GET');

/** A minimal request with `extra` vars after REQUEST_METHOD and PATH_INFO. */
function minimal(extra: Array<[string, string]> = [], modifier1 = 0): Buffer {
  return packet([['REQUEST_METHOD', 'GET'], ['PATH_INFO', '/'], ...extra], '', modifier1);
}

interface Fixture {
  id: string;
  name: string;
  bytes: Buffer;
  /** A static response status, or 'close': closed with no response. */
  expect: 400 | 413 | 431 | 501 | 'close';
  log: RegExp;
  options?: ServerOptions;
  /** Half-close after sending (the EOF is the point of the fixture). */
  end?: boolean;
  /** Too long to send one byte at a time. */
  large?: boolean;
}

const manyVars = (n: number): Array<[string, string]> => [
  ['REQUEST_METHOD', 'GET'],
  ...Array.from({ length: n - 1 }, (_, i): [string, string] => [`X_VAR_${i}`, 'v']),
];

const fixtures: Fixture[] = [
  {
    id: 'U1',
    name: 'EOF after 1 header byte',
    bytes: Buffer.from([0]),
    end: true,
    expect: 'close',
    log: /truncated header\) \(peer closed after 1 bytes\); closed/,
  },
  {
    id: 'U1',
    name: 'EOF after 2 header bytes',
    bytes: Buffer.from([0, 20]),
    end: true,
    expect: 'close',
    log: /truncated header\) \(peer closed after 2 bytes\); closed/,
  },
  {
    id: 'U1',
    name: 'EOF after 3 header bytes',
    bytes: Buffer.from([0, 20, 0]),
    end: true,
    expect: 'close',
    log: /truncated header\) \(peer closed after 3 bytes\); closed/,
  },
  {
    id: 'U2',
    name: 'EOF inside the vars block',
    bytes: Buffer.concat([header(0, 40), GET]),
    end: true,
    expect: 'close',
    log: /truncated vars\) \(peer closed after 25 bytes\); closed/,
  },
  { id: 'U2', name: 'EOF right after the header', bytes: header(0, 40), end: true, expect: 'close', log: /truncated vars/ },
  { id: 'U3', name: 'datasize 0', bytes: header(0, 0), expect: 400, log: /datasize 0.*; answered 400/ },
  {
    id: 'U4',
    name: 'datasize over bufferSize 100',
    bytes: packet([
      ['REQUEST_METHOD', 'GET'],
      ['HTTP_COOKIE', 'c'.repeat(120)],
    ]),
    options: { bufferSize: 100 },
    expect: 431,
    log: /vars block of 156 bytes is over buffer-size 100 \(raise --buffer-size\); answered 431/,
  },
  {
    id: 'U5',
    name: 'key length past the block',
    bytes: rawPacket(Buffer.concat([GET, u16(50), Buffer.from('PATH_INFO')])),
    expect: 400,
    log: /key length runs past the end of the vars block; answered 400/,
  },
  { id: 'U5', name: 'one byte of a key length left', bytes: rawPacket(Buffer.concat([GET, Buffer.from([5])])), expect: 400, log: /key length runs past/ },
  {
    id: 'U5',
    name: 'key length 0xffff (a 16-bit wrap)',
    bytes: rawPacket(Buffer.concat([GET, u16(0xffff), Buffer.from('X')])),
    expect: 400,
    log: /key length runs past/,
  },
  {
    id: 'U6',
    name: 'value length past the block',
    bytes: rawPacket(Buffer.concat([u16(14), Buffer.from('REQUEST_METHOD'), u16(100), Buffer.from('GET')])),
    expect: 400,
    log: /value length runs past the end of the vars block; answered 400/,
  },
  {
    id: 'U6',
    name: 'value length field cut in half',
    bytes: rawPacket(Buffer.concat([GET, u16(9), Buffer.from('PATH_INFO'), Buffer.from([1])])),
    expect: 400,
    log: /value length runs past/,
  },
  {
    id: 'U6',
    name: 'no value length after a key',
    bytes: rawPacket(Buffer.concat([GET, u16(9), Buffer.from('PATH_INFO')])),
    expect: 400,
    log: /value length runs past/,
  },
  {
    id: 'U7',
    name: 'empty key',
    bytes: rawPacket(Buffer.concat([GET, u16(0), u16(1), Buffer.from('x')])),
    expect: 400,
    log: /var with an empty key; answered 400/,
  },
  {
    id: 'U9',
    name: '5 vars over maxVars 4',
    bytes: packet(manyVars(5)),
    options: { maxVars: 4 },
    expect: 400,
    log: /more than max-vars 4 vars \(raise --max-vars\); answered 400/,
  },
  { id: 'U9', name: '1001 vars over the default 1000', bytes: packet(manyVars(1001)), expect: 400, log: /more than max-vars 1000 vars/, large: true },
  {
    id: 'U11',
    name: 'CONTENT_LENGTH 5 and 05',
    bytes: minimal([
      ['CONTENT_LENGTH', '5'],
      ['CONTENT_LENGTH', '05'],
    ]),
    expect: 400,
    log: /CONTENT_LENGTH given twice with different values; answered 400/,
  },
  {
    id: 'U11',
    name: 'CONTENT_LENGTH 5 and empty',
    bytes: minimal([
      ['CONTENT_LENGTH', '5'],
      ['CONTENT_LENGTH', ''],
    ]),
    expect: 400,
    log: /CONTENT_LENGTH given twice/,
  },
  { id: 'U11', name: 'REQUEST_METHOD GET and POST', bytes: minimal([['REQUEST_METHOD', 'POST']]), expect: 400, log: /REQUEST_METHOD given twice/ },
  {
    id: 'U11',
    name: 'REQUEST_URI twice, different',
    bytes: minimal([
      ['REQUEST_URI', '/a'],
      ['REQUEST_URI', '/b'],
    ]),
    expect: 400,
    log: /REQUEST_URI given twice/,
  },
  ...['-1', '+5', ' 5', '5 ', '1e3', '0x10', '5,5', '12abc', '\u00b2'].map((value): Fixture => ({
    id: 'U16',
    name: `CONTENT_LENGTH ${JSON.stringify(value)}`,
    bytes: minimal([['CONTENT_LENGTH', value]]),
    expect: 400,
    log: /CONTENT_LENGTH is not plain ASCII digits; answered 400/,
  })),
  ...['9007199254740992', '18446744073709551616', '99999999999999999999999'].map((value): Fixture => ({
    id: 'U17',
    name: `CONTENT_LENGTH ${value}`,
    bytes: minimal([['CONTENT_LENGTH', value]]),
    expect: 400,
    log: /CONTENT_LENGTH is over 9007199254740991 \(2\^53 - 1\); answered 400/,
  })),
  {
    id: 'U18',
    name: 'CONTENT_LENGTH 11 over limitPost 10 (body sent too)',
    bytes: packet(
      [
        ['REQUEST_METHOD', 'POST'],
        ['CONTENT_LENGTH', '11'],
      ],
      'hello world',
    ),
    options: { limitPost: 10 },
    expect: 413,
    log: /request body of 11 bytes is over limit-post 10 \(raise --limit-post\); answered 413/,
  },
  { id: 'U22', name: 'modifier1 5', bytes: minimal([], 5), expect: 501, log: /modifier1 5 is not served \(only 0, 30 and ping 100 are\); answered 501/ },
  { id: 'U22', name: 'modifier1 255', bytes: minimal([], 255), expect: 501, log: /modifier1 255 is not served/ },
  {
    id: 'U23',
    name: 'an HTTP GET',
    bytes: Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    expect: 'close',
    log: /HTTP request sent to a uwsgi socket/,
  },
  {
    id: 'U23',
    name: 'an HTTP POST',
    bytes: Buffer.from('POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\na=b'),
    expect: 'close',
    log: /HTTP request sent to a uwsgi socket/,
  },
  {
    id: 'U23',
    name: 'the HTTP/2 preface',
    bytes: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    expect: 'close',
    log: /HTTP request sent to a uwsgi socket/,
  },
  { id: 'U24', name: 'no REQUEST_METHOD', bytes: packet({ PATH_INFO: '/', QUERY_STRING: '' }), expect: 400, log: /has no REQUEST_METHOD var; answered 400/ },
  {
    id: 'U24',
    name: 'a method with a space',
    bytes: packet({ REQUEST_METHOD: 'GET X', PATH_INFO: '/' }),
    expect: 400,
    log: /REQUEST_METHOD is empty or not an HTTP token; answered 400/,
  },
  {
    id: 'U24',
    name: 'an empty method',
    bytes: packet({ REQUEST_METHOD: '', PATH_INFO: '/' }),
    expect: 400,
    log: /REQUEST_METHOD is empty or not an HTTP token/,
  },
  {
    id: 'U24',
    name: 'a method with CR LF',
    bytes: packet({ REQUEST_METHOD: 'GET\r\n', PATH_INFO: '/' }),
    expect: 400,
    log: /REQUEST_METHOD is empty or not an HTTP token/,
  },
  {
    id: 'U24',
    name: 'a method with NUL',
    bytes: packet({ REQUEST_METHOD: 'GET\0', PATH_INFO: '/' }),
    expect: 400,
    log: /REQUEST_METHOD is empty or not an HTTP token/,
  },
];

const modes: Array<{ name: string; send: (address: string, f: Fixture) => Promise<RawResult>; small?: boolean }> = [
  { name: 'whole', send: (address, f) => exchangeSlowly(address, f.bytes, { split: 1, end: f.end }) },
  { name: 'in 3 pieces', send: (address, f) => exchangeSlowly(address, f.bytes, { split: 3, delayMs: 15, end: f.end }) },
  { name: 'byte by byte', send: (address, f) => exchangeSlowly(address, f.bytes, { split: 'bytes', delayMs: 1, end: f.end }), small: true },
];

describe('malformed uwsgi requests', () => {
  for (const fixture of fixtures) {
    for (const mode of modes) {
      if (mode.small && fixture.large) continue;
      it(`${fixture.id} ${fixture.name}, sent ${mode.name} → ${fixture.expect === 'close' ? 'closed without a response' : fixture.expect}`, async () => {
        const { address, calls } = countingServer(fixture.options);
        const result = await mode.send(address, fixture);
        if (fixture.expect === 'close') {
          expect(result.data.toString('latin1')).toBe('');
        } else {
          expect(result.data.toString('latin1')).toBe(STATIC[fixture.expect]);
          // A lingering close: the proxy reads the refusal, not a reset.
          expect(result.reset).toBe(false);
        }
        const line = await waitFor(() => servers.logs.find(fixture.log), { what: `a log line matching ${fixture.log}` });
        expect(line.level).toBe('warn');
        // One line per refusal, and it echoes nothing from the request.
        expect(servers.logs.lines.filter((l) => l.line.startsWith('uwsgi') || l.line.startsWith('HTTP'))).toHaveLength(1);
        expect(line.line).not.toMatch(/Host: localhost|cccc|hello world/);
        expect(calls()).toBe(0);
        await expectStillServing(address, calls, 0);
      });
    }
  }

  it('several bad connections at once, then a good one: all answered, the good one served', async () => {
    const { address, calls } = countingServer();
    const bad = [header(0, 0), minimal([['CONTENT_LENGTH', '-1']]), minimal([], 5), Buffer.from('GET / HTTP/1.0\r\n\r\n')];
    const results = await Promise.all([...bad.map((b) => exchange(address, b)), exchange(address, packet(nginxVars('GET', '/good')))]);
    expect(results.slice(0, 4).map((r) => r.data.toString('latin1'))).toEqual([STATIC[400], STATIC[400], STATIC[501], '']);
    expect(parseResponse(results[4]!.data).body.toString()).toBe('ok /good');
    expect(calls()).toBe(1);
  });
});

describe('limits at their edge', () => {
  it('U4: a vars block of exactly bufferSize is served', async () => {
    const value = 'c'.repeat(100 - (2 + 14 + 2 + 3) - (2 + 11 + 2));
    const bytes = packet([
      ['REQUEST_METHOD', 'GET'],
      ['HTTP_COOKIE', value],
    ]);
    expect(bytes.length - 4).toBe(100);
    const { address, calls } = countingServer({ bufferSize: 100 });
    const response = parseResponse((await exchange(address, bytes)).data);
    expect(response.statusLine).toBe('HTTP/1.0 200 OK');
    expect(calls()).toBe(1);
  });

  it('U9: exactly maxVars vars are served', async () => {
    const { address, calls } = countingServer({ maxVars: 4 });
    const response = parseResponse((await exchange(address, packet(manyVars(4)))).data);
    expect(response.statusLine).toBe('HTTP/1.0 200 OK');
    expect(calls()).toBe(1);
  });

  it('U17: CONTENT_LENGTH 2^53 - 1 is accepted (the app runs)', async () => {
    let seen: string | undefined;
    const address = serve((environ, start) => {
      seen = environ.CONTENT_LENGTH;
      start('200 OK', []);
      return ['ok'];
    });
    const { data } = await exchange(address, minimal([['CONTENT_LENGTH', '9007199254740991']]));
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(seen).toBe('9007199254740991');
  });

  it('U18: a body of exactly limitPost is served, and the app sees it', async () => {
    let body = '';
    const address = serve(
      async (environ, start) => {
        body = Buffer.from(await environ['tsgi.input'].read()).toString();
        start('200 OK', []);
        return ['ok'];
      },
      { limitPost: 10 },
    );
    const { data } = await exchange(
      address,
      packet(
        [
          ['REQUEST_METHOD', 'POST'],
          ['CONTENT_LENGTH', '10'],
        ],
        '0123456789',
      ),
    );
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(body).toBe('0123456789');
  });

  it('max-conns: at the limit a new connection is not served until one closes; the log names the option', async () => {
    // The native reactor leaves it in the listen queue; the pure one accepts it and holds
    // it unread (Node cannot stop accepting): either way it waits, uncounted, unanswered.
    const { address, calls, server } = countingServer({ maxConns: 2 });
    const held = [new RawClient(address), new RawClient(address)];
    await Promise.all(held.map((c) => c.connected));
    // Two bytes of a head each: with --defer-accept a silent connection is not even
    // accepted; these are, and wait for the rest of their head.
    await Promise.all(held.map((c) => c.write(packet(nginxVars('GET', '/held')).subarray(0, 2))));
    await waitFor(() => server.connections === 2, { what: 'two connections' });
    const third = new RawClient(address);
    await third.connected;
    await third.write(packet(nginxVars('GET', '/third')));
    await waitFor(() => servers.logs.find(/max-conns 2 connections open; not accepting until one closes \(raise --max-conns\)/), { what: 'the log line' });
    await delay(100);
    expect(third.received).toBe(0);
    expect(calls()).toBe(0);
    expect(server.connections).toBe(2);
    expect(server.acceptedConnections).toBe(2);
    held[0]!.destroy();
    const { data } = await third.whenClosed;
    expect(parseResponse(data).body.toString()).toBe('ok /third');
    expect(calls()).toBe(1);
    held[1]!.destroy();
  });

  it('U18: the app never runs when CONTENT_LENGTH is over limitPost, even without the body sent', async () => {
    const { address, calls } = countingServer({ limitPost: 1000 });
    const { data, reset } = await exchange(
      address,
      packet([
        ['REQUEST_METHOD', 'POST'],
        ['CONTENT_LENGTH', '1000000'],
      ]),
    );
    expect(data.toString('latin1')).toBe(STATIC[413]);
    expect(reset).toBe(false);
    expect(calls()).toBe(0);
  });
});

describe('accepted inputs', () => {
  /** Serves one request and returns what the app saw of `keys`. */
  async function environOf(bytes: Buffer | Buffer[], keys: string[]): Promise<{ seen: Record<string, unknown>; data: Buffer; calls: number }> {
    let seen: Record<string, unknown> = {};
    let calls = 0;
    const address = serve((environ, start) => {
      calls++;
      seen = Object.fromEntries(keys.map((k) => [k, environ[k]]));
      start('200 OK', []);
      return ['ok'];
    });
    const { data } = await exchange(address, ...(Array.isArray(bytes) ? bytes : [bytes]));
    return { seen, data, calls };
  }

  it('U8: empty values, including the last var and CONTENT_LENGTH/CONTENT_TYPE as nginx sends them', async () => {
    const { seen, data } = await environOf(
      packet([
        ['REQUEST_METHOD', 'GET'],
        ['CONTENT_LENGTH', ''],
        ['CONTENT_TYPE', ''],
        ['HTTP_X_EMPTY', ''],
      ]),
      ['CONTENT_LENGTH', 'CONTENT_TYPE', 'HTTP_X_EMPTY'],
    );
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(seen).toEqual({ CONTENT_LENGTH: '', CONTENT_TYPE: '', HTTP_X_EMPTY: '' });
  });

  it('U10: framing vars repeated with the same value are accepted', async () => {
    const { seen, data } = await environOf(
      minimal([
        ['CONTENT_LENGTH', '0'],
        ['CONTENT_LENGTH', '0'],
        ['REQUEST_METHOD', 'GET'],
      ]),
      ['CONTENT_LENGTH', 'REQUEST_METHOD'],
    );
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(seen).toEqual({ CONTENT_LENGTH: '0', REQUEST_METHOD: 'GET' });
  });

  it('U13: non-UTF-8 bytes come through as latin-1', async () => {
    const bytes = packet([
      ['REQUEST_METHOD', 'GET'],
      ['PATH_INFO', Buffer.from([0x2f, 0xff, 0xfe, 0xc3, 0x28])],
      [Buffer.from([0x48, 0x54, 0x54, 0x50, 0x5f, 0x58, 0xe9]).toString('latin1'), 'v'],
    ]);
    const { seen, data } = await environOf(bytes, ['PATH_INFO', 'HTTP_X\xe9']);
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(seen).toEqual({ PATH_INFO: '/\xff\xfe\xc3(', 'HTTP_X\xe9': 'v' });
  });

  it('U14: keys that are not CGI-ish are data', async () => {
    const names = ['__proto__', 'constructor', 'hasOwnProperty', 'HTTP_', 'toString'];
    const { seen } = await environOf(minimal(names.map((n, i): [string, string] => [n, `v${i}`])), names);
    expect(seen).toEqual(Object.fromEntries(names.map((n, i) => [n, `v${i}`])));
  });

  it.each([
    ['a newline', '/a\nb'],
    ['dot segments', '/../../etc/passwd'],
    ['a NUL', '/a\0b'],
    ['double slashes', '//x//y/'],
    ['CR LF and a header', '/x\r\nSet-Cookie: a=b'],
  ])('U25: PATH_INFO with %s is passed through as data', async (_name, path) => {
    const { seen, data, calls } = await environOf(packet({ REQUEST_METHOD: 'GET', PATH_INFO: path, SCRIPT_NAME: '/app' }), ['PATH_INFO', 'SCRIPT_NAME']);
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(calls).toBe(1);
    expect(seen).toEqual({ PATH_INFO: path, SCRIPT_NAME: '/app' });
  });

  it('U26: UWSGI_* vars are ordinary vars with no effect', async () => {
    const cwd = process.cwd();
    const magic: Record<string, string> = {
      UWSGI_FILE: '/etc/passwd',
      UWSGI_SCRIPT: 'evil.module',
      UWSGI_MODULE: 'evil',
      UWSGI_CHDIR: '/',
      UWSGI_SETENV: 'TSGI_TEST_INJECTED=1',
      UWSGI_APPID: 'other',
      UWSGI_PYHOME: '/tmp',
    };
    const { seen, data, calls } = await environOf(packet({ ...nginxVars('GET', '/magic'), ...magic }), [...Object.keys(magic), 'PATH_INFO']);
    expect(parseResponse(data).body.toString()).toBe('ok');
    expect(calls).toBe(1);
    expect(seen).toEqual({ ...magic, PATH_INFO: '/magic' });
    expect(process.cwd()).toBe(cwd);
    expect(process.env.TSGI_TEST_INJECTED).toBeUndefined();
  });

  it('modifier2 is ignored', async () => {
    const { data, calls } = await environOf(packet({ REQUEST_METHOD: 'GET', PATH_INFO: '/' }, '', 0, 7), []);
    expect(parseResponse(data).statusLine).toBe('HTTP/1.0 200 OK');
    expect(calls).toBe(1);
  });
});
