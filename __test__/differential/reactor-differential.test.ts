/**
 * The native and the pure-TypeScript reactor, side by side: two processes serve the same
 * app (fixtures/differential-server.mjs), one of each, and every request below is sent to
 * both. They must answer with the same bytes and log the same lines. The requests are
 * valid uwsgi, FastCGI and HTTP requests mutated at random (a seeded generator: the same
 * cases every run; TSGI_DIFF_SEED picks others, TSGI_DIFF_CASES how many): bytes flipped,
 * inserted, dropped, the input cut short, length fields rewritten, tricky header lines
 * spliced in. The test matrix runs each suite on both reactors; this finds what no suite
 * thought of.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as fcgiRequest, nginxParams } from '../helpers/fastcgi.js';
import { nginxVars, packet } from '../helpers/uwsgi.js';

const SEED = Number(process.env.TSGI_DIFF_SEED ?? 7);
const CASES = Number(process.env.TSGI_DIFF_CASES ?? 150);
type Protocol = 'uwsgi' | 'fastcgi' | 'http';

/** mulberry32: small, seeded, good enough to pick mutations. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Side {
  child: ChildProcess;
  addresses: Record<Protocol, string>;
  logs: string[];
}

async function startSide(native: boolean): Promise<Side> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, '..', 'fixtures', 'differential-server.mjs')], {
    env: { ...process.env, TSGI_NATIVE: native ? '' : '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const logs: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  const addresses = await new Promise<Record<Protocol, string>>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the ${native ? 'native' : 'pure'} server exited (${code})`)));
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { log?: string } & Record<Protocol, string>;
      if (message.log !== undefined) logs.push(message.log);
      else resolve(message);
    });
  });
  return { child, addresses, logs };
}

/**
 * Sends `data`, half-closes `endAfterMs` later, and resolves with what came back before the
 * close (3 s at most). HTTP waits a little: with pipelined bytes buffered, which reactor
 * sees the end of input first is a race, and they settle it differently (the native one
 * closes without parsing what is buffered, the pure one parses it first).
 */
function exchange(address: string, data: Buffer, endAfterMs: number): Promise<string> {
  return new Promise((resolve) => {
    const i = address.lastIndexOf(':');
    const socket = net.connect(Number(address.slice(i + 1)), address.slice(0, i));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${Buffer.concat(chunks).toString('latin1')}<no close within 3 s>`);
    }, 3000);
    socket.on('connect', () => {
      socket.write(data);
      setTimeout(() => socket.end(), endAfterMs);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      // The Date header is the one byte range that may differ between two answers.
      resolve(
        Buffer.concat(chunks)
          .toString('latin1')
          .replace(/\r\nDate: [^\r]*/g, '\r\nDate: *'),
      );
    });
  });
}

// ---- the requests ------------------------------------------------------------------------

const HTTP_BASES = [
  'GET /a?x=1 HTTP/1.1\r\nHost: example.test\r\nX-A: 1\r\n\r\n',
  'POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world',
  'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n',
  'GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
  'GET http://example.test:8080/abs%20path HTTP/1.0\r\nConnection: keep-alive\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n',
];
const HTTP_LINES = [
  'Content-Length: 3',
  'Content-Length: 3, 3',
  'Content-Length: -1',
  'Content-Length : 3',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked',
  'Transfer_Encoding: chunked',
  ' Host: x',
  'Host: a b',
  'Expect: 100-continue',
  'Expect: other',
  'Connection: close, upgrade',
  'Upgrade: websocket',
  'X-A: \x01',
  'X-A:\tv\t',
  'Proxy: http://evil',
  '__proto__: x',
];
const TRICKY = ['\r', '\n', '\r\n', ' ', '\t', ':', ';', '%', '%00', '0', 'ffffffffffffffff', '\x00', '\xff', '"', '?', '#', '/'];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

/** One random change of `base`. */
function mutate(rand: () => number, base: Buffer, protocol: Protocol): Buffer {
  const at = Math.floor(rand() * base.length);
  switch (Math.floor(rand() * (protocol === 'http' ? 7 : 6))) {
    case 0: {
      const copy = Buffer.from(base);
      copy[at] = Math.floor(rand() * 256);
      return copy;
    }
    case 1:
      return Buffer.concat([base.subarray(0, at), Buffer.from(pick(rand, TRICKY), 'latin1'), base.subarray(at)]);
    case 2:
      return Buffer.concat([base.subarray(0, at), base.subarray(at + 1 + Math.floor(rand() * 4))]);
    case 3:
      return base.subarray(0, at);
    case 4: {
      // A length field (uwsgi datasize, FastCGI content length) or a byte near the start.
      const copy = Buffer.from(base);
      const field = protocol === 'uwsgi' ? 1 : protocol === 'fastcgi' ? 8 * Math.floor(rand() * 4) + 4 : Math.floor(rand() * 16);
      if (field + 1 < copy.length) copy.writeUInt16LE(Math.floor(rand() * 0x10000), field);
      return copy;
    }
    case 5:
      return Buffer.concat([base, base.subarray(0, Math.floor(rand() * base.length))]);
    default: {
      // HTTP: a header line spliced in after the request line.
      const text = base.toString('latin1');
      const eol = text.indexOf('\r\n') + 2;
      return Buffer.from(`${text.slice(0, eol)}${pick(rand, HTTP_LINES)}\r\n${text.slice(eol)}`, 'latin1');
    }
  }
}

function bases(protocol: Protocol): Buffer[] {
  if (protocol === 'http') return HTTP_BASES.map((b) => Buffer.from(b, 'latin1'));
  if (protocol === 'uwsgi') {
    return [
      packet(nginxVars('GET', '/u?q=1', { HTTP_X_A: 'v' })),
      packet(nginxVars('POST', '/p', { CONTENT_LENGTH: '5', CONTENT_TYPE: 'text/plain' }), 'hello'),
      packet({ REQUEST_METHOD: 'GET', PATH_INFO: '/app/x', SCRIPT_NAME: '/app' }, '', 30),
      Buffer.from([100, 0, 0, 0]),
    ];
  }
  return [
    fcgiRequest(1, nginxParams('GET', '/f?z=2')),
    fcgiRequest(1, nginxParams('POST', '/fp', { CONTENT_LENGTH: '5' }), 'hello'),
    fcgiRequest(7, nginxParams('POST', '/nolen'), 'streamed body', { keepConn: true, stdinRecord: 4 }),
  ];
}

describe('the native and the pure-TypeScript reactor, side by side', () => {
  let native: Side;
  let pure: Side;

  beforeAll(async () => {
    [native, pure] = await Promise.all([startSide(true), startSide(false)]);
  }, 30_000);

  afterAll(() => {
    native?.child.stdin!.end();
    pure?.child.stdin!.end();
  });

  it.each(['uwsgi', 'fastcgi', 'http'] as const)(
    `answer %s requests mutated at random (seed ${SEED}, ${CASES} cases) alike, and log alike`,
    async (protocol) => {
      const rand = random(SEED + protocol.length);
      const sources = bases(protocol);
      const cases = [...sources, ...Array.from({ length: CASES }, () => mutate(rand, pick(rand, sources), protocol))];
      const logsBefore = [native.logs.length, pure.logs.length];
      for (const [i, data] of cases.entries()) {
        const endAfterMs = protocol === 'http' ? 20 : 0;
        const [ours, theirs] = await Promise.all([
          exchange(native.addresses[protocol], data, endAfterMs),
          exchange(pure.addresses[protocol], data, endAfterMs),
        ]);
        expect(theirs, `case ${i}: ${JSON.stringify(data.toString('latin1'))}`).toBe(ours);
      }
      // Log lines come with the batches after the answers: wait until both sides have
      // logged as many lines and stopped (3 s at most; then the comparison says what differs).
      let last = '';
      for (const deadline = Date.now() + 3000; Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const counts = `${native.logs.length - logsBefore[0]!}/${pure.logs.length - logsBefore[1]!}`;
        if (counts === last && counts.split('/')[0] === counts.split('/')[1]) break;
        last = counts;
      }
      const sorted = (side: Side, from: number): string[] => side.logs.slice(from).sort();
      expect(sorted(pure, logsBefore[1]!)).toEqual(sorted(native, logsBefore[0]!));
    },
    120_000,
  );
});
