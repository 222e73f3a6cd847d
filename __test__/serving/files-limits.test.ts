/**
 * Files under pressure, against the real command line (a master and one worker, serving
 * `--static-map` over HTTP): a slow reader of a big file (the worker's VmRSS stays flat:
 * the file waits in the page cache, not in the worker), clients that leave mid-file (the
 * worker's descriptors come back to where they were: the file's fd is closed), a file cut
 * short while it is sent (the connection ends short, the worker serves on), and on the
 * proof that sendfile(2) carries the bytes on the native reactor and none on the pure one: the
 * worker run under strace.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/processes.mjs';
import { loadNative } from '../../src/native/load.js';
import { requirePeer } from '../helpers/peers.js';
import { waitFor } from '../helpers/uwsgi.js';

const CLI = path.resolve('dist/cli.js');
const AS_ROOT = process.getuid?.() === 0 ? ['--allow-root'] : [];
const native = loadNative().binding !== null;
const MiB = 1024 * 1024;
/** What each test leaves to undo: its servers killed, its folders removed. */
const undo: Array<() => void> = [];
afterEach(() => undo.splice(0).forEach((step) => step()));

/** A folder with a file of `size` bytes named big.bin: sparse (zeros, in no block on
 * disk), or of data (a random MiB over and over: sendfile from a hole is slower). */
function folderWithFile(size: number, data = false): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-files-limits-'));
  undo.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'big.bin');
  writeFileSync(file, '');
  if (!data) {
    truncateSync(file, size);
    return dir;
  }
  const block = randomBytes(MiB);
  const fd = openSync(file, 'w');
  for (let at = 0; at < size; at += MiB) writeSync(fd, block);
  closeSync(fd);
  return dir;
}

/** Starts tsgi serving `dir` at /s over HTTP (optionally under `wrapper`, e.g. strace);
 * resolves with its port and its worker's pid. */
async function start(dir: string, wrapper: string[] = [], extra: string[] = []): Promise<{ port: number; worker: number; log: () => string }> {
  const port = await freePort();
  const args = [process.execPath, CLI, ...AS_ROOT, '--http-socket', `127.0.0.1:${port}`, '--processes', '1', '--static-map', `/s=${dir}`, ...extra];
  const child = spawn(wrapper[0] ?? args[0]!, [...wrapper.slice(1), ...(wrapper.length > 0 ? args : args.slice(1))]);
  undo.push(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  // The master names its worker: "1 worker(s) ready (pid N)".
  const ready = await waitFor(() => /worker\(s\) ready \(pid (\d+)\)/.exec(stderr) ?? child.exitCode !== null, {
    what: 'the worker to be ready',
    timeout: 20_000,
  });
  expect(child.exitCode, stderr).toBeNull();
  const worker = Number((ready as RegExpExecArray)[1]);
  // Under a wrapper the child is the wrapper: killing strace leaves what it traced running,
  // so the master and its worker are killed themselves.
  const master = Number(/master pid (\d+)/.exec(stderr)?.[1] ?? 0);
  undo.push(() => {
    for (const pid of [master, worker]) {
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
  return { port, worker, log: () => stderr };
}

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const wchar = (pid: number): number => Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** Opens a GET of /s/big.bin; resolves with the socket once the head came in. */
function getFile(port: number): Promise<{ socket: net.Socket; length: number; body: () => number; ended: Promise<{ reset: boolean }> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = Buffer.alloc(0);
    let bodyBytes = 0;
    let resolved = false;
    const ended = new Promise<{ reset: boolean }>((done) => {
      let reset = false;
      socket.on('error', () => (reset = true));
      socket.on('close', () => done({ reset }));
    });
    socket.on('data', (data: Buffer) => {
      if (resolved) {
        bodyBytes += data.length;
        return;
      }
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      resolved = true;
      bodyBytes = head.length - end - 4;
      const length = Number(/\r\nContent-Length: (\d+)/i.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? -1);
      resolve({ socket, length, body: () => bodyBytes, ended });
    });
    socket.once('error', reject);
    socket.write('GET /s/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

describe('files under pressure (tsgi --static-map, one worker)', () => {
  it("a slow reader of 512 MiB: the worker's RSS stays flat while the file waits", async () => {
    const size = 512 * MiB;
    const { port, worker } = await start(folderWithFile(size, true));
    const before = rssKiB(worker);
    const reply = await getFile(port);
    expect(reply.length).toBe(size);
    let most = before;
    // The client stops after every 128 MiB until the worker stops writing (its socket is
    // full: /proc/PID/io's wchar, which sendfile counts too, stops moving by more than its
    // heartbeat's few bytes), then reads on.
    for (let stop = 1; reply.body() < size; stop++) {
      const target = Math.min(size, stop * 128 * MiB);
      await waitFor(() => reply.body() >= target || reply.socket.destroyed, { what: `${target} bytes`, timeout: 30_000, interval: 5 });
      reply.socket.pause();
      let last = -1;
      let stillSince = Date.now();
      await waitFor(
        () => {
          // (The worker's reports to the master are writes too: a few bytes, not a file's.)
          const written = wchar(worker);
          if (written - last > 64 * 1024) [last, stillSince] = [written, Date.now()];
          most = Math.max(most, rssKiB(worker));
          return Date.now() - stillSince > 300;
        },
        { what: 'the worker to stall on the full socket', timeout: 20_000, interval: 20 },
      );
      reply.socket.resume();
    }
    most = Math.max(most, rssKiB(worker));
    expect(reply.body()).toBe(size);
    // Half a gigabyte went through, the worker stalling four times; it grew by less than a
    // few buffers' worth.
    expect(most - before, `VmRSS ${before} KiB before, ${most} KiB at most`).toBeLessThan(48 * 1024);
  }, 90_000);

  it('clients leaving mid-file: the worker closes the files and sockets it had', async () => {
    const { port, worker } = await start(folderWithFile(256 * MiB));
    const settled = fdCount(worker);
    const replies = await Promise.all([1, 2, 3, 4].map(() => getFile(port)));
    await waitFor(() => replies.every((reply) => reply.body() > 0), { what: 'every client to get bytes' });
    for (const reply of replies) reply.socket.destroy();
    await Promise.all(replies.map((reply) => reply.ended));
    await waitFor(() => fdCount(worker) <= settled, { what: `the worker's fds back to ${settled} (now ${fdCount(worker)})` });
  });

  it('a client that stops reading is closed at --socket-timeout, and its file with it', async () => {
    const { port, worker } = await start(folderWithFile(256 * MiB), [], ['--socket-timeout', '1']);
    const settled = fdCount(worker);
    const reply = await getFile(port);
    // Paused, the client reads nothing more (nor sees the close): the worker's output
    // stalls, and the connection and the file are closed a second later.
    reply.socket.pause();
    await waitFor(() => fdCount(worker) > settled, { what: 'the worker to hold the connection and the file' });
    await waitFor(() => fdCount(worker) <= settled, { what: `the worker's fds back to ${settled} (now ${fdCount(worker)})`, timeout: 8000 });
    expect(reply.body()).toBeLessThan(256 * MiB);
    reply.socket.destroy();
  });

  it('a file cut short while it is sent: the connection ends short, the worker serves on', async () => {
    const dir = folderWithFile(256 * MiB);
    const { port, worker, log } = await start(dir);
    const reply = await getFile(port);
    reply.socket.pause();
    truncateSync(path.join(dir, 'big.bin'), MiB);
    reply.socket.resume();
    await reply.ended;
    expect(reply.body()).toBeLessThan(256 * MiB);
    // The same worker answers the next request, from the file as it is now.
    const next = await getFile(port);
    await next.ended;
    expect(next.length).toBe(MiB);
    expect(next.body()).toBe(MiB);
    expect(log()).not.toMatch(/worker \d+ .*(died|exited|killed)/i);
    expect(readFileSync(`/proc/${worker}/status`, 'utf8')).toMatch(/State:\s+[RS]/);
  });

  // Native: sendfile(2) carries every byte; pure: none, the bytes are read and written in JS.
  it(`the bytes go out ${native ? 'with sendfile(2)' : 'without sendfile(2), read in JavaScript'} (strace)`, async () => {
    const strace = requirePeer('strace', 'strace', 'apt-get install strace');
    const dir = folderWithFile(8 * MiB);
    const log = path.join(dir, 'strace.log');
    const { port } = await start(dir, [strace.bin!, '-f', '-qq', '-e', 'trace=sendfile', '-o', log]);
    const reply = await getFile(port);
    await reply.ended;
    expect(reply.body()).toBe(8 * MiB);
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.includes('sendfile('));
    const sent = calls.reduce((sum, line) => sum + Math.max(0, Number(/= (-?\d+)/.exec(line)?.[1] ?? 0)), 0);
    expect(sent, calls.slice(0, 5).join('\n')).toBe(native ? 8 * MiB : 0);
  });
});
