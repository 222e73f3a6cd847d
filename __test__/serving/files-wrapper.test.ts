/**
 * `tsgi.file_wrapper` over a path and over an open descriptor, through HTTP (curl) and
 * uwsgi: every byte arrives (sha256) for files of 0 B, 1 B, 1 MiB and 20 MiB. On the
 * native reactor the bytes go out with sendfile(2) (its counter moves by the file's size);
 * on the pure one they are read and written in JavaScript, with the same answers.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { curl, curlGet, nativeReactor, sha256, tempFolder } from '../helpers/files.js';
import { useTestServers } from '../helpers/servers.js';
import { headerValue, request } from '../helpers/tsgi.js';
import { nginxVars } from '../helpers/uwsgi.js';
import { fcgiExchange, nginxParams, request as fcgiRequest, stdoutOf } from '../helpers/fastcgi.js';

const run = promisify(execFile);
const servers = useTestServers();
const native = nativeReactor;
const dir = tempFolder('tsgi-files-');

const SIZES = { '0B': 0, '1B': 1, '1MiB': 1 << 20, '20MiB': 20 << 20 } as const;
const files = new Map<string, { file: string; sha: string; size: number }>();
for (const [name, size] of Object.entries(SIZES)) {
  const file = path.join(dir, name);
  const bytes = randomBytes(size);
  writeFileSync(file, bytes);
  files.set(name, { file, sha: sha256(bytes), size });
}

/** Serves `/NAME` (a path) and `/fd/NAME` (a descriptor the app opened, read from byte 0). */
const app: App = (environ, start) => {
  const byFd = environ.PATH_INFO.startsWith('/fd/');
  const entry = files.get(path.basename(environ.PATH_INFO))!;
  start('200 OK', [['Content-Type', 'application/octet-stream']]);
  if (!byFd) return environ['tsgi.file_wrapper'](entry.file);
  const fd = openSync(entry.file, 'r');
  const body = environ['tsgi.file_wrapper'](fd);
  return Object.assign(body, { close: () => closeSync(fd) });
};

describe('tsgi.file_wrapper', () => {
  for (const name of Object.keys(SIZES)) {
    it(`sends ${name} whole over HTTP, by path with its Content-Length, by fd chunked`, async () => {
      const entry = files.get(name)!;
      const server = servers.serve(app, {}, { protocol: 'http' });
      const before = servers.started.at(-1)!.sentFileBytes;
      const byPath = await curlGet(`http://${server}/${name}`);
      expect(byPath.status).toBe(200);
      expect(byPath.headers.get('content-length')).toBe(String(entry.size));
      expect(byPath.body.length).toBe(entry.size);
      expect(sha256(byPath.body)).toBe(entry.sha);
      const byFd = await curlGet(`http://${server}/fd/${name}`);
      expect(byFd.status).toBe(200);
      expect(byFd.headers.get('transfer-encoding')).toBe('chunked');
      expect(sha256(byFd.body)).toBe(entry.sha);
      const sent = servers.started.at(-1)!.sentFileBytes - before;
      // sendfile carried both on the native reactor; the pure one has none.
      expect(sent).toBe(native ? 2 * entry.size : 0);
    });

    it(`sends ${name} whole over uwsgi`, async () => {
      const entry = files.get(name)!;
      const address = servers.serve(app);
      const before = servers.started.at(-1)!.sentFileBytes;
      for (const uri of [`/${name}`, `/fd/${name}`]) {
        const response = await request(address, nginxVars('GET', uri));
        expect(response.reset).toBe(false);
        expect(response.statusLine).toBe('HTTP/1.1 200 OK');
        expect(response.body.length).toBe(entry.size);
        expect(sha256(response.body)).toBe(entry.sha);
        if (uri === `/${name}`) expect(headerValue(response.headers, 'Content-Length')).toBe(String(entry.size));
      }
      expect(servers.started.at(-1)!.sentFileBytes - before).toBe(native ? 2 * entry.size : 0);
    });
  }

  it('sends 1 MiB over FastCGI, read in blocks into STDOUT records (no sendfile there)', async () => {
    const entry = files.get('1MiB')!;
    const address = servers.serve(app, {}, { protocol: 'fastcgi' });
    const before = servers.started.at(-1)!.sentFileBytes;
    for (const uri of ['/1MiB', '/fd/1MiB']) {
      const result = await fcgiExchange(address, fcgiRequest(1, nginxParams('GET', uri)));
      const stdout = stdoutOf(result.records, 1);
      const body = stdout.subarray(stdout.indexOf('\r\n\r\n') + 4);
      expect(stdout.toString('latin1', 0, 40)).toMatch(/^Status: 200 OK\r\n/);
      expect(body.length).toBe(entry.size);
      expect(sha256(body)).toBe(entry.sha);
    }
    expect(servers.started.at(-1)!.sentFileBytes - before).toBe(0);
  });

  it('answers HEAD with the length and no body, and a missing path with a 500', async () => {
    const server = servers.serve(app, {}, { protocol: 'http' });
    const { stdout } = await run(curl.bin!, ['-sS', '-I', `http://${server}/1MiB`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(stdout).toContain(`Content-Length: ${1 << 20}\r\n`);
    const missing = servers.serve((_environ, start) => {
      start('200 OK', []);
      return _environ['tsgi.file_wrapper'](path.join(dir, 'nope'));
    });
    const response = await request(missing, nginxVars('GET', '/'));
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
  });
});
