/**
 * `cgi-fcgi` (libfcgi-bin, the FastCGI reference library's command-line client) as an
 * independent FastCGI peer: it turns its own CGI environment and stdin into a FastCGI
 * request (`cgi-fcgi -bind -connect ADDRESS`) and prints the CGI response it gets back, so
 * the bytes on its stdout are exactly what tsgi sent on FCGI_STDOUT, and its stderr what
 * tsgi sent on FCGI_STDERR. Over TCP and a Unix socket. Skips, saying why, when cgi-fcgi
 * is not installed (CI installs it; with CI=true a missing cgi-fcgi fails). The app is not
 * wrapped in validate(): its wrapper hides a list body's length, and with it Content-Length.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App, Environ } from '../../src/app/contract.js';
import { Server } from '../../src/server/server.js';
import { requirePeer } from '../helpers/peers.js';
import { useTestServers } from '../helpers/servers.js';

const cgiFcgi = requirePeer('cgi-fcgi', process.env.CGI_FCGI ?? 'cgi-fcgi', 'apt-get install libfcgi-bin, or set CGI_FCGI=/path/to/cgi-fcgi');

interface Run {
  /** Exit code (cgi-fcgi exits with END_REQUEST's appStatus), or the signal. */
  exit: number | string;
  stdout: Buffer;
  stderr: string;
}

/** Runs `cgi-fcgi -bind -connect address` with exactly `env` as its environment (every var
 * it has becomes a FastCGI param) and `stdin` on its standard input. */
function runCgiFcgi(address: string, env: Record<string, string>, stdin: Buffer | string = '', timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cgiFcgi.bin!, ['-bind', '-connect', address], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => out.push(data));
    child.stderr.setEncoding('latin1').on('data', (data: string) => (stderr += data));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `cgi-fcgi did not finish within ${timeoutMs} ms; stdout so far: ${JSON.stringify(Buffer.concat(out).toString('latin1'))}, stderr: ${JSON.stringify(stderr)}`,
        ),
      );
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exit: code ?? signal ?? 'unknown', stdout: Buffer.concat(out), stderr });
    });
    // The child may exit before it reads all of stdin (a body it does not send): not ours to fail.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What the app saw, by request: the CGI keys and the body. */
interface Seen {
  environ: Record<string, unknown>;
  body: Buffer;
}
const seen: Seen[] = [];

const CGI_KEYS = [
  'REQUEST_METHOD',
  'REQUEST_URI',
  'SCRIPT_NAME',
  'PATH_INFO',
  'QUERY_STRING',
  'CONTENT_TYPE',
  'CONTENT_LENGTH',
  'SERVER_PROTOCOL',
  'SERVER_NAME',
  'SERVER_PORT',
  'REMOTE_ADDR',
  'HTTP_HOST',
  'HTTP_X_TRACE',
  'tsgi.url_scheme',
];

async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of environ['tsgi.input']) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const app: App = async (environ, start) => {
  const body = await readAll(environ);
  seen.push({ environ: Object.fromEntries(CGI_KEYS.filter((k) => environ[k] !== undefined).map((k) => [k, environ[k]])), body });
  switch (environ.PATH_INFO) {
    case '/form':
      start('201 Created', [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['X-Request', String(seen.length)],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/'],
      ]);
      return [`got ${body.length} bytes\n`];
    case '/sha256':
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [`${sha256(body)} ${body.length}\n`];
    case '/stream':
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        for (let i = 0; i < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          yield `part ${i}\n`;
        }
      })();
    case '/redirect':
      start('302 Found', [['Location', 'http://example.test/next']]);
      return [];
    case '/errors':
      environ['tsgi.errors'].write('a line for the error log\n');
      start('200 OK', [['Content-Type', 'text/plain']]);
      return ['logged\n'];
    case '/throw':
      throw new Error('boom (thrown on purpose by the test app)');
    default:
      start('404 Not Found', [['Content-Type', 'text/plain']]);
      return [`no route ${environ.PATH_INFO}\n`];
  }
};

/** A CGI environment as a web server would set it for `method` `uri`. */
function cgiEnv(method: string, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const q = uri.indexOf('?');
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: method,
    REQUEST_URI: uri,
    SCRIPT_NAME: '',
    PATH_INFO: q === -1 ? uri : uri.slice(0, q),
    QUERY_STRING: q === -1 ? '' : uri.slice(q + 1),
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: 'example.test',
    SERVER_PORT: '8080',
    REMOTE_ADDR: '192.0.2.7',
    HTTP_HOST: 'example.test:8080',
    ...extra,
  };
}

describe.skipIf(!cgiFcgi.bin)(`cgi-fcgi (${cgiFcgi.bin ?? 'not installed'}) as the FastCGI client`, () => {
  const servers = useTestServers();
  let dir: string;
  let sockets = 0;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-cgi-fcgi-test-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A FastCGI server for the app on `via`: a TCP port or a Unix socket. */
  function serve(via: 'tcp' | 'unix'): string {
    if (via === 'tcp') return servers.serve(app, {}, { protocol: 'fastcgi' });
    return servers.track(new Server(app)).listen(path.join(dir, `tsgi-${++sockets}.sock`), { protocol: 'fastcgi' });
  }

  for (const via of ['tcp', 'unix'] as const) {
    describe(`over ${via === 'tcp' ? 'TCP' : 'a Unix socket'}`, () => {
      /** What the app answers for /missing. */
      const NOT_FOUND = 'no route /missing\n';

      it('POST with a body on stdin: the exact CGI response, and what the app saw', async () => {
        const address = serve(via);
        const from = seen.length;
        const run = await runCgiFcgi(
          address,
          cgiEnv('POST', '/form?x=1&y=a%20b', { CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: '11', HTTP_X_TRACE: 'abc' }),
          'name=value&',
        );
        expect(run.stderr).toBe('');
        expect(run.exit).toBe(0);
        expect(run.stdout.toString('latin1')).toBe(
          `Status: 201 Created\r\nContent-Type: text/plain; charset=utf-8\r\nX-Request: ${from + 1}\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\nContent-Length: ${'got 11 bytes\n'.length}\r\n\r\ngot 11 bytes\n`,
        );
        expect(seen.slice(from)).toEqual([
          {
            environ: {
              REQUEST_METHOD: 'POST',
              REQUEST_URI: '/form?x=1&y=a%20b',
              SCRIPT_NAME: '',
              PATH_INFO: '/form',
              QUERY_STRING: 'x=1&y=a%20b',
              CONTENT_TYPE: 'application/x-www-form-urlencoded',
              CONTENT_LENGTH: '11',
              SERVER_PROTOCOL: 'HTTP/1.1',
              SERVER_NAME: 'example.test',
              SERVER_PORT: '8080',
              REMOTE_ADDR: '192.0.2.7',
              HTTP_HOST: 'example.test:8080',
              HTTP_X_TRACE: 'abc',
              'tsgi.url_scheme': 'http',
            },
            body: Buffer.from('name=value&'),
          },
        ]);
      });

      it('GET without a body: no CONTENT_LENGTH, an empty tsgi.input', async () => {
        const address = serve(via);
        const from = seen.length;
        const run = await runCgiFcgi(address, cgiEnv('GET', '/missing'));
        expect(run.exit).toBe(0);
        expect(run.stdout.toString('latin1')).toBe(
          `Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ${NOT_FOUND.length}\r\n\r\n${NOT_FOUND}`,
        );
        expect(seen.slice(from).map((s) => [s.environ.REQUEST_METHOD, s.environ.CONTENT_LENGTH, s.body.length])).toEqual([['GET', undefined, 0]]);
      });

      it('a 1 MiB body arrives whole (the app hashes it)', async () => {
        const address = serve(via);
        const body = randomBytes(1024 * 1024);
        const run = await runCgiFcgi(
          address,
          cgiEnv('POST', '/sha256', { CONTENT_TYPE: 'application/octet-stream', CONTENT_LENGTH: String(body.length) }),
          body,
        );
        expect(run.exit).toBe(0);
        const text = `${sha256(body)} ${body.length}\n`;
        expect(run.stdout.toString('latin1')).toBe(`Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
      });

      it('a streamed body: no Content-Length, every part, in order', async () => {
        const run = await runCgiFcgi(serve(via), cgiEnv('GET', '/stream'));
        expect(run.exit).toBe(0);
        expect(run.stdout.toString('latin1')).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npart 0\npart 1\npart 2\n');
      });

      it('a redirect: Status 302 and Location, an empty body', async () => {
        const run = await runCgiFcgi(serve(via), cgiEnv('GET', '/redirect'));
        expect(run.exit).toBe(0);
        expect(run.stdout.toString('latin1')).toBe('Status: 302 Found\r\nLocation: http://example.test/next\r\nContent-Length: 0\r\n\r\n');
      });

      it('HEAD: the headers of the GET, no body', async () => {
        const run = await runCgiFcgi(serve(via), cgiEnv('HEAD', '/missing'));
        expect(run.exit).toBe(0);
        expect(run.stdout.toString('latin1')).toBe(`Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ${NOT_FOUND.length}\r\n\r\n`);
      });

      it('tsgi.errors comes out on FCGI_STDERR (cgi-fcgi prints it on its stderr)', async () => {
        const run = await runCgiFcgi(serve(via), cgiEnv('GET', '/errors'));
        expect(run.exit).toBe(0);
        expect(run.stderr).toBe('a line for the error log\n');
        expect(run.stdout.toString('latin1')).toBe(`Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${'logged\n'.length}\r\n\r\nlogged\n`);
      });

      it('an app that throws: a 500, and the error logged', async () => {
        const run = await runCgiFcgi(serve(via), cgiEnv('GET', '/throw'));
        expect(run.exit).toBe(0);
        expect(run.stdout.toString('latin1')).toBe(
          `Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: ${'Internal Server Error\n'.length}\r\n\r\nInternal Server Error\n`,
        );
        expect(servers.logs.find(/GET \/throw: app error: Error: boom/)).toBeDefined();
      });
    });
  }

  it('one server answers cgi-fcgi runs one after another, each on a connection of its own', async () => {
    const address = serve('tcp');
    const server = servers.started.at(-1)!;
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await runCgiFcgi(address, cgiEnv('GET', `/stream?i=${i}`)));
    expect(runs.map((r) => [r.exit, r.stdout.toString('latin1')])).toEqual(
      runs.map(() => [0, 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npart 0\npart 1\npart 2\n']),
    );
    // cgi-fcgi does not ask to keep the connection (FCGI_KEEP_CONN 0): tsgi closes each.
    expect(server.acceptedConnections).toBe(5);
    const deadline = Date.now() + 3_000;
    while (server.connections > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.connections).toBe(0);
  });
});
