/**
 * uWSGI's request log, figure for figure: the same requests, byte for byte, to real uWSGI
 * 2.0 (Debian's uwsgi-core, its python3 plugin, a WSGI app) and to tsgi (the same app in
 * JavaScript), both on --http-socket; their default lines and a --log-format line naming
 * every variable (with add-header and log-x-forwarded-for) are compared field by field. What cannot be equal (pids, times, the CGI
 * vars each server makes) is compared by shape.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { announcePeer, requirePeer } from '../helpers/peers.js';
import { LOG_VARIABLES } from '../../src/observe/request-log.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const uwsgiCore = requirePeer('uWSGI', 'uwsgi-core', 'apt-get install uwsgi-core uwsgi-plugin-python3');
const PYTHON_PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';
const hasPlugin = existsSync(PYTHON_PLUGIN);
if (uwsgiCore.bin && !hasPlugin) {
  announcePeer({
    name: 'uWSGI python3 plugin',
    bin: null,
    skipReason: `uWSGI's python3 plugin is not installed (${PYTHON_PLUGIN}): the uWSGI request-log comparison is SKIPPED. Install it (apt-get install uwsgi-plugin-python3).`,
  });
}

/** The same app twice: what each path answers, with which headers, in which pieces. */
const PY_APP = `
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/hello':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'Hello, World!\\n']
    if path == '/echo':
        body = environ['wsgi.input'].read()
        start_response('201 Created', [('Content-Type', 'application/octet-stream'), ('X-Echo', 'yes')])
        return [body]
    if path == '/pieces':
        start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'), ('Set-Cookie', 'a=1'), ('Cache-Control', 'no-store')])
        return [b'one', b'two', b'three']
    if path == '/nothing':
        start_response('204 No Content', [])
        return []
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such page\\n']
`;
const JS_APP = `
export default async function app(environ, start) {
  const path = environ.PATH_INFO;
  if (path === '/hello') return (start('200 OK', [['Content-Type', 'text/plain']]), ['Hello, World!\\n']);
  if (path === '/echo') {
    const chunks = [];
    for await (const chunk of environ['tsgi.input']) chunks.push(chunk);
    start('201 Created', [['Content-Type', 'application/octet-stream'], ['X-Echo', 'yes']]);
    return [Buffer.concat(chunks)];
  }
  if (path === '/pieces') {
    start('200 OK', [['Content-Type', 'text/html; charset=utf-8'], ['Set-Cookie', 'a=1'], ['Cache-Control', 'no-store']]);
    return ['one', 'two', 'three'];
  }
  if (path === '/nothing') return (start('204 No Content', []), []);
  start('404 Not Found', [['Content-Type', 'text/plain']]);
  return ['no such page\\n'];
}
`;

/** The requests, as bytes on the wire: each on its own connection, as uWSGI's
 * --http-socket (HTTP/1.0-style, no keep-alive) takes them. */
const REQUESTS = [
  'GET /hello HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n',
  'POST /echo?x=1&y=2 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8.5\r\nReferer: https://example.org/form\r\nX-Trace: t-42\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.2\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world',
  'GET /pieces HTTP/1.0\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n',
  'GET /nothing HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n',
  'GET /missing/page.html?q=a%20b HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n',
];

/** Every variable both log, `|`-separated. */
const FORMAT = LOG_VARIABLES.map((name) => `${name}=%(${name})`).join('|') + '|var.HTTP_X_TRACE=%(var.HTTP_X_TRACE)';

/** Variables whose values differ by nature between two servers, compared by shape:
 * digits and their count aside, the same text. `vars` and `pktsize` count the CGI vars
 * each server makes (uWSGI adds its own, such as UWSGI_ROUTER), so they differ too. */
const BY_SHAPE = new Set([
  'micros',
  'msecs',
  'secs',
  'tmsecs',
  'tmicros',
  'time',
  'ltime',
  'ftime',
  'ctime',
  'epoch',
  'pid',
  'vsz',
  'rss',
  'vszM',
  'rssM',
  'vars',
  'pktsize',
]);
const shape = (value: string): string => value.replace(/\d+/g, '9');

/** One server's log lines, as it printed them. */
interface Running {
  lines(): string[];
  stop(): Promise<void>;
}

async function startUwsgi(dir: string, port: number, extra: string[]): Promise<Running> {
  const child: ChildProcess = spawn(
    uwsgiCore.bin!,
    ['--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--wsgi-file', path.join(dir, 'app.py'), '--master', '--processes', '1', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let rest = '';
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
    });
  }
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await until(() => lines.some((l) => /spawned uWSGI worker 1/.test(l)), `uWSGI ready (it printed:\n${lines.join('\n')})`, 15_000);
  return {
    lines: () => lines,
    stop: async () => {
      child.kill('SIGINT');
      await exited;
    },
  };
}

async function startTsgiOn(dir: string, port: number, extra: string[]): Promise<Running> {
  const tsgi: Tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', path.join(dir, 'app.mjs'), '--master', '--processes', '1', ...extra]);
  return {
    lines: () => tsgi.lines.map((l) => l.text),
    stop: async () => {
      tsgi.child.kill('SIGTERM');
      await tsgi.exited;
    },
  };
}

/** Sends `bytes` on a new connection; resolves with the whole answer once the server closes. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.setEncoding('latin1').on('data', (d: string) => (answer += d));
    socket.on('end', () => resolve(answer)).on('error', reject);
  });
}

/** The request lines a server logged, once there are `count`. */
async function requestLines(server: Running, pattern: RegExp, count: number): Promise<string[]> {
  return until(() => {
    const found = server.lines().filter((l) => pattern.test(l));
    return found.length >= count ? found : null;
  }, `${count} request log lines`);
}

/** uWSGI's default line, cut into its fields. */
const DEFAULT_LINE =
  /\[pid: (?<pid>\d+)\|app: (?<app>\d+)\|req: (?<req>\d+\/\d+)\] (?<addr>\S*) \((?<user>[^)]*)\) \{(?<vars>\d+) vars in (?<pktsize>\d+) bytes\} \[(?<ctime>[^\]]+)\] (?<method>\S+) (?<uri>\S+) => generated (?<rsize>\d+) bytes in (?<msecs>\d+) msecs \((?<proto>\S+) (?<status>\d+)\) (?<headers>\d+) headers in (?<hsize>\d+) bytes \((?<switches>\d+) switches on core (?<core>\d+)\)$/;

function fieldsOf(line: string, pattern: RegExp): Record<string, string> {
  const match = pattern.exec(line);
  if (!match) throw new Error(`not a request log line: ${line}`);
  return { ...match.groups };
}

const formatFields = (line: string): Record<string, string> =>
  Object.fromEntries(
    line
      .slice(line.indexOf('uri='))
      .split('|')
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );

/** The two logs' fields side by side, the by-shape ones as shapes. */
function compared(ours: Record<string, string>, theirs: Record<string, string>): { ours: Record<string, string>; theirs: Record<string, string> } {
  const view = (fields: Record<string, string>) => Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, BY_SHAPE.has(k) ? shape(v) : v]));
  return { ours: view(ours), theirs: view(theirs) };
}

describe.skipIf(!uwsgiCore.bin || !hasPlugin)('the request log, against uWSGI 2.0 for the same requests', () => {
  let dir: string;
  const servers: Running[] = [];
  const logs: Record<'uwsgiDefault' | 'tsgiDefault' | 'uwsgiFormat' | 'tsgiFormat', string[]> = {
    uwsgiDefault: [],
    tsgiDefault: [],
    uwsgiFormat: [],
    tsgiFormat: [],
  };
  const answers: Record<'uwsgi' | 'tsgi', string[]> = { uwsgi: [], tsgi: [] };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-uwsgi-log-'));
    writeFileSync(path.join(dir, 'app.py'), PY_APP);
    writeFileSync(path.join(dir, 'app.mjs'), JS_APP);
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    // The --log-format pair also runs uWSGI's add-header and log-x-forwarded-for, which
    // tsgi implements with their meaning: the counts and the address must agree too.
    const formatArgs = ['--log-format', FORMAT, '--add-header', 'X-Added: yes', '--log-x-forwarded-for'];
    const [uwsgiDefault, tsgiDefault, uwsgiFormat, tsgiFormat] = await Promise.all([
      startUwsgi(dir, ports[0]!, []),
      startTsgiOn(dir, ports[1]!, []),
      startUwsgi(dir, ports[2]!, formatArgs),
      startTsgiOn(dir, ports[3]!, formatArgs),
    ]);
    servers.push(uwsgiDefault, tsgiDefault, uwsgiFormat, tsgiFormat);
    // One at a time, in order: the request numbers (req: N/M) then match.
    for (const request of REQUESTS) {
      answers.uwsgi.push(await exchange(ports[0]!, request));
      answers.tsgi.push(await exchange(ports[1]!, request));
      await exchange(ports[2]!, request);
      await exchange(ports[3]!, request);
    }
    logs.uwsgiDefault = await requestLines(uwsgiDefault, /^\[pid: /, REQUESTS.length);
    logs.tsgiDefault = await requestLines(tsgiDefault, /^\[pid: /, REQUESTS.length);
    logs.uwsgiFormat = await requestLines(uwsgiFormat, /uri=/, REQUESTS.length);
    logs.tsgiFormat = await requestLines(tsgiFormat, /uri=/, REQUESTS.length);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('both apps answer the same status and body (the comparison is of like with like)', () => {
    // The status code and reason, not the version: to an HTTP/1.0 request uWSGI answers
    // HTTP/1.0, tsgi (an HTTP/1.1 server) HTTP/1.1, as RFC 9110 asks; both count 8 bytes.
    const statusAndBody = (answer: string) => [answer.slice(9, answer.indexOf('\r\n')), answer.slice(answer.indexOf('\r\n\r\n') + 4)];
    expect(answers.tsgi.map(statusAndBody)).toEqual(answers.uwsgi.map(statusAndBody));
  });

  it.each(REQUESTS.map((request, i) => [request.slice(0, request.indexOf(' HTTP/')), i] as const))('the default line for %s, field by field', (_name, i) => {
    const { ours, theirs } = compared(fieldsOf(logs.tsgiDefault[i]!, DEFAULT_LINE), fieldsOf(logs.uwsgiDefault[i]!, DEFAULT_LINE));
    expect(ours).toEqual(theirs);
  });

  it.each(REQUESTS.map((request, i) => [request.slice(0, request.indexOf(' HTTP/')), i] as const))('every --log-format variable for %s', (_name, i) => {
    const { ours, theirs } = compared(formatFields(logs.tsgiFormat[i]!), formatFields(logs.uwsgiFormat[i]!));
    expect(Object.keys(ours)).toEqual([...LOG_VARIABLES, 'var.HTTP_X_TRACE']);
    if (/X-Forwarded-For/.test(REQUESTS[i]!)) expect(ours.addr).toBe('203.0.113.9, 10.0.0.2');
    expect(Number(ours.headers)).toBeGreaterThan(0);
    if (!/\r\nHost: /.test(REQUESTS[i]!)) {
      // Without a Host header both log SERVER_NAME, which differs: uWSGI's --http-socket
      // makes it the machine's name, tsgi the address the request came in on.
      expect([ours.host, theirs.host]).toEqual(['127.0.0.1', os.hostname()]);
      ours.host = theirs.host;
    }
    expect(ours).toEqual(theirs);
  });
});
