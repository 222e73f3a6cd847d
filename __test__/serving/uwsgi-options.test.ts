/**
 * uWSGI's options that real uwsgi.ini files carry, implemented with uWSGI's meaning and
 * checked end to end through the CLI: add-header, log-x-forwarded-for, log-date,
 * memory-report, post-buffering, exit-on-reload, harakiri-verbose.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const CHAOS_APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const running: Tsgi[] = [];
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const tsgi of running.splice(0)) tsgi.kill();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function tsgi(args: string[], ready?: RegExp | null): Promise<Tsgi> {
  const started = await startTsgi(args, ready);
  running.push(started);
  return started;
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-uwsgi-options-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
}

/** A connection that collects what the server sends, and says when it closed. */
function connection(port: number): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  let text = '';
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('latin1').on('data', (d: string) => (text += d));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, received: () => text, closed };
}

describe('--add-header, --log-x-forwarded-for, --log-date and --memory-report together', () => {
  it("adds the headers after the app's, closes on Connection: close, and logs as uWSGI does", async () => {
    const port = await freePort();
    const master = await tsgi([
      '--http-socket',
      `127.0.0.1:${port}`,
      '--module',
      CHAOS_APP,
      '--add-header',
      'X-Frame-Options: DENY',
      '--add-header',
      'Connection: close',
      '--log-x-forwarded-for',
      '--log-date',
      '%Y-%m-%d %H:%M:%S',
      '--memory-report',
      '1',
    ]);
    const client = connection(port);
    // A keep-alive request: the added Connection: close ends the connection anyway.
    client.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n');
    await client.closed;
    const response = client.received();
    const head = response.slice(0, response.indexOf('\r\n\r\n'));
    const lines = head.split('\r\n');
    const pid = /^X-Pid: (\d+)$/m.exec(head)![1]!;
    expect(lines.slice(0, 4)).toEqual(['HTTP/1.1 200 OK', 'Content-Type: text/plain', `X-Pid: ${pid}`, 'X-Frame-Options: DENY']);
    expect(lines.filter((l) => /^connection:/i.test(l))).toEqual(['Connection: close']);

    const line = (await master.line(/\[pid: /)).text;
    // uWSGI counts --add-header's headers with the app's: 4 headers, the status line and
    // the blank line included in the bytes; the framing's (Date, Server, Content-Length) not.
    const appHead =
      ['HTTP/1.1 200 OK', 'Content-Type: text/plain', `X-Pid: ${pid}`, 'X-Frame-Options: DENY', 'Connection: close'].map((l) => l + '\r\n').join('') + '\r\n';
    expect(line).toMatch(
      new RegExp(
        `^\\{address space usage: \\d+ bytes/\\d+MB\\} \\{rss usage: \\d+ bytes/\\d+MB\\} \\[pid: ${pid}\\|app: 0\\|req: 1/1\\] 203\\.0\\.113\\.9 \\(\\) .* GET /ok => generated ${`ok from ${pid}\n`.length} bytes in \\d+ msecs \\(HTTP/1\\.1 200\\) 4 headers in ${appHead.length} bytes \\(1 switches on core 0\\)$`,
      ),
    );
    // tsgi's own lines begin with --log-date's time; the request lines do not, as in uWSGI.
    expect((await master.line(/worker\(s\) ready/)).text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - tsgi\[\d+\]: /);
  });
});

describe('--post-buffering', () => {
  const APP = `
let uploads = 0;
export default async function app(environ, start) {
  if (environ.PATH_INFO === '/ping') return (start('200 OK', [['Content-Type', 'text/plain']]), [\`uploads called: \${uploads}\`]);
  uploads++;
  const body = await environ['tsgi.input'].read();
  start('200 OK', [['Content-Type', 'text/plain']]);
  return [\`got \${body.length}\`];
}
`;

  /** Sends the head and 3 of 10 body bytes; then, once a later request was answered, what
   * the app had seen of the first; then the rest of the body and the first's answer. */
  async function partialUpload(extra: string[]): Promise<{ before: string; answer: string }> {
    const port = await freePort();
    await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', tempFile('app.mjs', APP), ...extra]);
    const upload = connection(port);
    upload.socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc');
    await until(() => upload.socket.bytesWritten > 0, 'the partial upload sent');
    const ping = connection(port);
    ping.socket.write('GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await ping.closed;
    const before = ping.received().slice(ping.received().indexOf('\r\n\r\n') + 4);
    upload.socket.write('defghij');
    await upload.closed;
    return { before, answer: upload.received().slice(upload.received().indexOf('\r\n\r\n') + 4) };
  }

  it('without it the app is called on the head; with it, only once the bytes (here all 10) arrived', async () => {
    expect(await partialUpload([])).toEqual({ before: 'uploads called: 1', answer: 'got 10' });
    expect(await partialUpload(['--post-buffering', '8'])).toEqual({ before: 'uploads called: 0', answer: 'got 10' });
  });
});

describe('--exit-on-reload', () => {
  it('SIGHUP stops tsgi gracefully instead of reloading', async () => {
    const port = await freePort();
    const master = await tsgi(['--http-socket', `127.0.0.1:${port}`, '--module', CHAOS_APP, '--exit-on-reload']);
    process.kill(master.pid, 'SIGHUP');
    expect(await master.exited).toEqual({ code: 0, signal: null });
    expect(master.lines.map((l) => l.text)).toContainEqual(expect.stringMatching(/reload \(SIGHUP\): --exit-on-reload: a graceful shutdown instead/));
    expect(master.lines.map((l) => l.text)).not.toContainEqual(expect.stringMatching(/starting \d+ new worker/));
  });
});

describe('--harakiri-verbose', () => {
  it('logs what a worker blocked past --harakiri was doing, from /proc, before it is killed', async () => {
    const port = await freePort();
    const master = await tsgi([
      '--http-socket',
      `127.0.0.1:${port}`,
      '--module',
      CHAOS_APP,
      '--harakiri',
      '1',
      '--harakiri-graceful-timeout',
      '0.5',
      '--harakiri-verbose',
    ]);
    const client = connection(port);
    client.socket.write('GET /spin HTTP/1.1\r\nHost: x\r\n\r\n');
    await master.line(/harakiri: worker 1 .*event loop blocked/, 15_000);
    // A process spinning in JavaScript is in no system call: its syscall file says `running`
    // when it is on a CPU, or `-1 SP PC` when a busy machine has preempted it (proc(5)).
    expect((await master.line(/harakiri: worker 1 .*-- syscall> /)).text).toMatch(/-- syscall> (running|-1 0x[0-9a-f]+ 0x[0-9a-f]+)$/);
    // Nor does it sleep in the kernel: no wait channel.
    expect((await master.line(/harakiri: worker 1 .*-- wchan> /)).text).toMatch(/-- wchan> 0$/);
  });
});
