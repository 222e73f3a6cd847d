/**
 * Real HTTP clients against the HTTP/1.1 listener: curl (keep-alive across URLs, chunked
 * uploads, HTTP/1.0, Expect: 100-continue), Node's fetch (undici: connection reuse,
 * streamed bodies both ways), undici's `Client` pipelining 10 deep, pipelining from a raw
 * socket (mixed bodies, exact framing), wrk (keep-alive under
 * load, and pipelined through a Lua script), and 1,000 kept-alive connections held open
 * at once while new requests are served. curl and wrk are peers: missing, their tests skip
 * with the reason (and fail under CI=true).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/app/contract.js';
import type { ServerOptions } from '../../src/server/server.js';
import { useTestServers } from '../helpers/servers.js';
import { requirePeer } from '../helpers/peers.js';
import { open, parseResponses, pipeline, req, type HttpClient } from '../helpers/http-raw.js';

const curl = requirePeer('curl', 'curl', 'apt-get install curl');
const wrk = requirePeer('wrk', 'wrk', 'apt-get install wrk');

const servers = useTestServers();
const dir = mkdtempSync(join(tmpdir(), 'tsgi-http-clients-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of environ['tsgi.input']) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const TEXT: Array<[string, string]> = [['Content-Type', 'text/plain']];

const app: App = async (environ, start) => {
  const path = environ.PATH_INFO;
  if (path.startsWith('/hello')) {
    start('200 OK', TEXT);
    return [`hello ${path}${environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : ''}`];
  }
  switch (path) {
    case '/sha256': {
      // The body's length and hash, and how it was framed.
      const body = await readAll(environ);
      start('200 OK', TEXT);
      return [`${body.length} ${sha256(body)} cl=${environ.CONTENT_LENGTH ?? '-'} te=${environ.HTTP_TRANSFER_ENCODING ?? '-'}`];
    }
    case '/stream':
      start('200 OK', TEXT);
      return (async function* () {
        for (let i = 0; i < 5; i++) yield `line ${i}\n`;
      })();
    default:
      start('404 Not Found', TEXT);
      return [`no route ${path}`];
  }
};

function serveHttp(options?: ServerOptions): { address: string; url: (path: string) => string; server: (typeof servers.started)[number] } {
  const address = servers.serve(app, options, { protocol: 'http' });
  return { address, url: (path) => `http://${address}${path}`, server: servers.started.at(-1)! };
}

/** Runs a program to its end without blocking the event loop (the server runs in this process). */
function run(bin: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---- curl -----------------------------------------------------------------------------------

describe.skipIf(!curl.bin)('curl', () => {
  it('two URLs in one invocation share one kept-alive connection (%{num_connects} 1 then 0)', async () => {
    const { url, server } = serveHttp();
    const result = await run(curl.bin!, ['-sS', '-w', '|%{http_code} %{num_connects} %{http_version}\\n', url('/hello/a?x=1'), url('/hello/b')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('hello /hello/a?x=1|200 1 1.1\nhello /hello/b|200 0 1.1\n');
    expect(server.acceptedConnections).toBe(1);
  });

  it('a chunked upload (-H "Transfer-Encoding: chunked") of 1 MiB reaches the app whole', async () => {
    const { url } = serveHttp();
    const body = randomBytes(1 << 20);
    const file = join(dir, 'upload-chunked.bin');
    writeFileSync(file, body);
    const result = await run(curl.bin!, ['-sS', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, url('/sha256')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${body.length} ${sha256(body)} cl=- te=chunked`);
  });

  it('a 2 MiB upload with Expect: 100-continue: the 100 comes when the app reads, curl does not wait out its 1 s', async () => {
    const { url } = serveHttp();
    const body = randomBytes(2 << 20);
    const file = join(dir, 'upload-expect.bin');
    writeFileSync(file, body);
    const result = await run(curl.bin!, ['-sS', '-v', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, '-w', '|%{time_total}', url('/sha256')]);
    const [reply, time] = result.stdout.split('|');
    expect(reply).toBe(`${body.length} ${sha256(body)} cl=${body.length} te=-`);
    expect(result.stderr).toMatch(/^< HTTP\/1\.1 100 Continue\r?$/m);
    expect(Number(time)).toBeLessThan(0.9);
  });

  it('--http1.0: the response says Connection: close, a streamed body is close-delimited and whole', async () => {
    const { url } = serveHttp();
    const known = await run(curl.bin!, ['-sS', '--http1.0', '-D', '-', url('/hello/x')]);
    expect(known.stdout).toMatch(
      /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: 14\r\nDate: .+ GMT\r\nServer: tsgi\r\nConnection: close\r\n\r\nhello \/hello\/x$/,
    );
    const streamed = await run(curl.bin!, ['-sS', '--http1.0', '-D', '-', url('/stream')]);
    expect(streamed.stdout).toMatch(
      /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nDate: .+ GMT\r\nServer: tsgi\r\nConnection: close\r\n\r\nline 0\nline 1\nline 2\nline 3\nline 4\n$/,
    );
  });

  it('a chunked response on HTTP/1.1, and HEAD (-I), on one connection', async () => {
    const { url, server } = serveHttp();
    const result = await run(curl.bin!, ['-sS', '-D', '-', url('/stream'), '-w', '|%{num_connects}\\n', url('/hello/again')]);
    expect(result.stdout).toMatch(
      /^HTTP\/1\.1 200 OK\r\n.*Transfer-Encoding: chunked\r\n\r\nline 0\nline 1\nline 2\nline 3\nline 4\n\|1\nHTTP\/1\.1 200 OK\r\n.*\r\n\r\nhello \/hello\/again\|0\n$/s,
    );
    const head = await run(curl.bin!, ['-sS', '-I', url('/hello/head')]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: 17\r\nDate: .+ GMT\r\nServer: tsgi\r\n\r\n$/);
    expect(server.acceptedConnections).toBe(2);
  });
});

// ---- fetch (undici) -----------------------------------------------------------------------

/**
 * undici hands a kept-alive connection back to its pool in a setImmediate after the
 * response completes (client-h1 onMessageComplete, pipelining 1): a request made in the
 * same turn opens another connection, against any server. Waiting for that turn is
 * waiting for the client, not for tsgi.
 */
const clientTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('fetch (undici in Node)', () => {
  it('20 sequential requests reuse one kept-alive connection', async () => {
    const { url, server } = serveHttp();
    for (let i = 0; i < 20; i++) {
      const response = await fetch(url(`/hello/${i}`));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(`hello /hello/${i}`);
      await clientTurn();
    }
    expect(server.acceptedConnections).toBe(1);
  });

  it('50 concurrent requests, then 50 more: all correct, the second wave reuses the connections', async () => {
    const { url, server } = serveHttp();
    const wave = async (base: number) =>
      Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const response = await fetch(url(`/hello/${base + i}`));
          return `${response.status} ${await response.text()}`;
        }),
      );
    expect(await wave(0)).toEqual(Array.from({ length: 50 }, (_, i) => `200 hello /hello/${i}`));
    const afterFirst = server.acceptedConnections;
    expect(afterFirst).toBeLessThanOrEqual(50);
    await clientTurn();
    expect(await wave(50)).toEqual(Array.from({ length: 50 }, (_, i) => `200 hello /hello/${50 + i}`));
    expect(server.acceptedConnections).toBe(afterFirst);
  });

  it('a streamed request body (duplex: half, chunked) and a streamed response', async () => {
    const { url, server } = serveHttp();
    const pieces = Array.from({ length: 16 }, () => randomBytes(64 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = pieces.shift();
        if (piece) controller.enqueue(piece);
        else controller.close();
      },
    });
    const whole = Buffer.concat([...pieces]);
    const response = await fetch(url('/sha256'), { method: 'POST', body: stream, duplex: 'half' } as RequestInit & { duplex: 'half' });
    expect(await response.text()).toBe(`${whole.length} ${sha256(whole)} cl=- te=chunked`);
    await clientTurn();
    const streamed = await fetch(url('/stream'));
    expect(streamed.headers.get('transfer-encoding')).toBe('chunked');
    expect(await streamed.text()).toBe('line 0\nline 1\nline 2\nline 3\nline 4\n');
    await clientTurn();
    const after = await fetch(url('/hello/after'));
    expect(await after.text()).toBe('hello /hello/after');
    expect(server.acceptedConnections).toBe(1);
    // Last: undici never reuses a connection after a HEAD (it marks the socket for reset,
    // against servers that send a body anyway), against Node's server too.
    const head = await fetch(url('/hello/h'), { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('14');
    expect(await head.text()).toBe('');
  });
});

// ---- pipelining ------------------------------------------------------------------------------

describe('undici Client with pipelining: 10', () => {
  it('200 requests, 10 in flight at a time on one connection, all answered in order', async () => {
    const { address, server } = serveHttp();
    const client = new Client(`http://${address}`, { pipelining: 10 });
    try {
      const bodies = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const response = await client.request({ method: 'GET', path: `/hello/${i}` });
          expect(response.statusCode).toBe(200);
          return response.body.text();
        }),
      );
      expect(bodies).toEqual(Array.from({ length: 200 }, (_, i) => `hello /hello/${i}`));
      expect(server.acceptedConnections).toBe(1);
    } finally {
      await client.close();
    }
  });
});

describe('pipelining from a raw socket (depth 10, as undici.Client({ pipelining: 10 }) would)', () => {
  it('500 mixed requests on one connection: all correct, in order', async () => {
    const { address, server } = serveHttp();
    const bodies = new Map<number, Buffer>();
    const requests = Array.from({ length: 500 }, (_, i) => {
      switch (i % 5) {
        case 0:
        case 1:
          return req('GET', `/hello/${i}`);
        case 2: {
          const body = randomBytes(1 + (i % 97) * 37);
          bodies.set(i, body);
          return req('POST', '/sha256', { headers: [['Content-Length', String(body.length)]], body });
        }
        case 3:
          return req('GET', '/stream');
        default: {
          const body = randomBytes(10 + i);
          bodies.set(i, body);
          return req('POST', '/sha256', {
            headers: [['Transfer-Encoding', 'chunked']],
            body: Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]),
          });
        }
      }
    });
    const responses = await pipeline(address, requests, 10);
    expect(responses).toHaveLength(500);
    responses.forEach((response, i) => {
      expect(response.status, `#${i}`).toBe(200);
      const body = response.body.toString('latin1');
      switch (i % 5) {
        case 0:
        case 1:
          expect(body, `#${i}`).toBe(`hello /hello/${i}`);
          break;
        case 2:
          expect(body, `#${i}`).toBe(`${bodies.get(i)!.length} ${sha256(bodies.get(i)!)} cl=${bodies.get(i)!.length} te=-`);
          break;
        case 3:
          expect(body, `#${i}`).toBe('line 0\nline 1\nline 2\nline 3\nline 4\n');
          break;
        default:
          expect(body, `#${i}`).toBe(`${bodies.get(i)!.length} ${sha256(bodies.get(i)!)} cl=- te=chunked`);
      }
    });
    expect(server.acceptedConnections).toBe(1);
  });
});

// ---- wrk ------------------------------------------------------------------------------------

/** wrk's summary: requests done, and the errors it reports (absent lines are zero). */
function wrkSummary(output: string): { requests: number; socketErrors: string | null; non2xx: number } {
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(output)?.[1] ?? null;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  return { requests, socketErrors, non2xx };
}

describe.skipIf(!wrk.bin)('wrk', () => {
  it('2 s with 50 connections: no errors, keep-alive (at most 60 connections accepted)', async () => {
    const { url, server } = serveHttp();
    const result = await run(wrk.bin!, ['-t2', '-c50', '-d2s', url('/hello/wrk')]);
    expect(result.code, result.stderr).toBe(0);
    const summary = wrkSummary(result.stdout);
    expect(summary, result.stdout).toMatchObject({ socketErrors: null, non2xx: 0 });
    expect(summary.requests, result.stdout).toBeGreaterThan(1000);
    expect(server.acceptedConnections).toBeLessThanOrEqual(60);
  });

  it('pipelined 10 deep (a Lua script): no errors', async () => {
    const { url, server } = serveHttp();
    const script = join(dir, 'pipeline.lua');
    writeFileSync(
      script,
      `init = function(args)
  local r = {}
  for i = 1, 10 do r[i] = wrk.format(nil, "/hello/p" .. i) end
  req = table.concat(r)
end
request = function() return req end
`,
    );
    const result = await run(wrk.bin!, ['-t1', '-c10', '-d1s', '-s', script, url('/')]);
    expect(result.code, result.stderr).toBe(0);
    const summary = wrkSummary(result.stdout);
    expect(summary, result.stdout).toMatchObject({ socketErrors: null, non2xx: 0 });
    expect(summary.requests, result.stdout).toBeGreaterThan(1000);
    expect(server.acceptedConnections).toBeLessThanOrEqual(12);
  });
});

// ---- many kept-alive connections -------------------------------------------------------------

describe('1,000 kept-alive connections held open at once', () => {
  it('all answered, all kept, and new requests are served meanwhile', async () => {
    const { address, url, server } = serveHttp();
    const n = 1000;
    const clients: HttpClient[] = [];
    try {
      // Opened in waves of 100 (a connect storm is not the point here).
      for (let wave = 0; wave < n; wave += 100) {
        const opened = await Promise.all(Array.from({ length: 100 }, () => open(address)));
        clients.push(...opened);
        await Promise.all(opened.map((client, j) => client.write(req('GET', `/hello/${wave + j}`))));
      }
      const firstOf = (client: HttpClient) => parseResponses(client.data).responses;
      await Promise.all(clients.map((client) => client.until((d) => parseResponses(d).responses.length === 1, 'the first response')));
      clients.forEach((client, i) => expect(firstOf(client)[0]!.body.toString()).toBe(`hello /hello/${i}`));
      expect(server.connections).toBeGreaterThanOrEqual(n);
      expect(clients.every((c) => !c.closed)).toBe(true);

      // New clients are served while the 1,000 are held.
      const fresh = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await fetch(url(`/hello/fresh${i}`))).text()));
      expect(fresh).toEqual(Array.from({ length: 20 }, (_, i) => `hello /hello/fresh${i}`));

      // And every held connection still works.
      await Promise.all(clients.map((client, i) => client.write(req('GET', `/hello/second${i}`))));
      await Promise.all(clients.map((client) => client.until((d) => parseResponses(d).responses.length === 2, 'the second response')));
      clients.forEach((client, i) => expect(parseResponses(client.data).responses[1]!.body.toString()).toBe(`hello /hello/second${i}`));
      expect(server.acceptedConnections).toBeLessThanOrEqual(n + 20);
    } finally {
      for (const client of clients) client.destroy();
    }
  });
});
