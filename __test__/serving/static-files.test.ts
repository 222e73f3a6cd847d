/**
 * `--static-map`: files the worker serves before the app, over HTTP (curl, and raw bytes
 * where curl would clean the path) and uwsgi. 200 with the file's sha256 and its headers,
 * HEAD, 304 by ETag and by date, 206 for one range, 416 past the end, 200 for several
 * ranges, the index file of a directory, a path with no file going to the app, and the
 * refusals: `..` plain and encoded, NUL, a symlink out of the root (403). On the native
 * reactor the bytes go out with sendfile(2), on the pure one through JavaScript.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { oneShot, pipeline } from '../helpers/http-raw.js';
import { curl, curlGet, nativeReactor, sha256, tempFolder } from '../helpers/files.js';
import { useTestServers } from '../helpers/servers.js';
import { headerValue, request } from '../helpers/tsgi.js';
import { nginxVars } from '../helpers/uwsgi.js';

const run = promisify(execFile);
const servers = useTestServers();
const native = nativeReactor;

const base = tempFolder('tsgi-static-');
const root = path.join(base, 'root');
mkdirSync(path.join(root, 'docs'), { recursive: true });
const big = randomBytes(3 * 1024 * 1024 + 17);
writeFileSync(path.join(root, 'big.bin'), big);
writeFileSync(path.join(root, 'style.css'), 'body { color: red }\n');
writeFileSync(path.join(root, 'docs', 'index.html'), '<h1>docs</h1>\n');
writeFileSync(path.join(base, 'secret.txt'), 'secret\n');
symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'out-link'));
symlinkSync(path.join(root, 'style.css'), path.join(root, 'in-link.css'));
const sha = sha256;

const APP_BODY = 'from the app\n';
const app: App = (_environ, start) => {
  start('200 OK', [['Content-Type', 'text/plain']]);
  return [APP_BODY];
};
const options = { staticFiles: { maps: [{ prefix: '/static', dir: root }], index: ['index.html'], expires: [{ pattern: /\.css$/, seconds: 3600 }] } };

describe('--static-map over HTTP', () => {
  it('answers a file with its bytes, length, type, ETag and Last-Modified; sendfile on the native reactor', async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    const server = servers.started.at(-1)!;
    const before = server.sentFileBytes;
    const reply = await curlGet(`http://${address}/static/big.bin`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-length')).toBe(String(big.length));
    expect(reply.headers.get('content-type')).toBe('application/octet-stream');
    expect(reply.headers.get('accept-ranges')).toBe('bytes');
    const mtime = statSync(path.join(root, 'big.bin')).mtime;
    expect(reply.headers.get('last-modified')).toBe(new Date(Math.floor(mtime.getTime() / 1000) * 1000).toUTCString());
    expect(reply.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(reply.body.length).toBe(big.length);
    expect(sha(reply.body)).toBe(sha(big));
    expect(server.sentFileBytes - before).toBe(native ? big.length : 0);
    const css = await curlGet(`http://${address}/static/style.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('max-age=3600');
    expect(Date.parse(css.headers.get('expires')!)).toBeGreaterThan(Date.now());
  });

  it('answers HEAD with the head only', async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    const { stdout } = await run(curl.bin!, ['-sS', '-I', `http://${address}/static/big.bin`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(stdout.toLowerCase()).toContain(`content-length: ${big.length}\r\n`);
  });

  it('answers 304 to a matching If-None-Match and to an If-Modified-Since not before the file', async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    const first = await curlGet(`http://${address}/static/style.css`);
    const etag = first.headers.get('etag')!;
    const byTag = await curlGet(`http://${address}/static/style.css`, '-H', `If-None-Match: "other", ${etag}`);
    expect(byTag.status).toBe(304);
    expect(byTag.body.length).toBe(0);
    expect(byTag.headers.get('etag')).toBe(etag);
    const otherTag = await curlGet(`http://${address}/static/style.css`, '-H', 'If-None-Match: "other"');
    expect(otherTag.status).toBe(200);
    const byDate = await curlGet(`http://${address}/static/style.css`, '-H', `If-Modified-Since: ${first.headers.get('last-modified')}`);
    expect(byDate.status).toBe(304);
    const older = await curlGet(`http://${address}/static/style.css`, '-H', 'If-Modified-Since: Thu, 01 Jan 2004 00:00:00 GMT');
    expect(older.status).toBe(200);
  });

  it('answers one range 206, a range past the end 416, several ranges 200 whole', async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    const range = await curlGet(`http://${address}/static/big.bin`, '-H', 'Range: bytes=1000-2999999');
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 1000-2999999/${big.length}`);
    expect(range.headers.get('content-length')).toBe(String(2999000));
    expect(sha(range.body)).toBe(sha(big.subarray(1000, 3000000)));
    const suffix = await curlGet(`http://${address}/static/big.bin`, '-H', 'Range: bytes=-100');
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(big.subarray(big.length - 100))).toBe(true);
    const open = await curlGet(`http://${address}/static/big.bin`, '-H', `Range: bytes=${big.length - 5}-`);
    expect(open.body.equals(big.subarray(big.length - 5))).toBe(true);
    const past = await curlGet(`http://${address}/static/big.bin`, '-H', `Range: bytes=${big.length}-`);
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${big.length}`);
    const several = await curlGet(`http://${address}/static/big.bin`, '-H', 'Range: bytes=0-1,5-9');
    expect(several.status).toBe(200);
    expect(several.body.length).toBe(big.length);
  });

  it("serves a directory's index file, and sends a path with no file to the app", async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    for (const uri of ['/static/docs', '/static/docs/']) {
      const index = await curlGet(`http://${address}${uri}`);
      expect(index.status).toBe(200);
      expect(index.body.toString()).toBe('<h1>docs</h1>\n');
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    }
    for (const uri of ['/static/nope.txt', '/static', '/elsewhere']) {
      const missing = await curlGet(`http://${address}${uri}`);
      expect(missing.body.toString()).toBe(APP_BODY);
    }
    const inside = await curlGet(`http://${address}/static/in-link.css`);
    expect(inside.status).toBe(200);
    expect(inside.body.toString()).toBe('body { color: red }\n');
  });

  it('keeps a connection alive across files: pipelined, each in order and whole', async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    const get = (uri: string, extra = '') => Buffer.from(`GET ${uri} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    const uris = ['/static/style.css', '/static/big.bin', '/elsewhere', '/static/big.bin', '/static/style.css'];
    const requests = uris.map((uri, i) => get(uri, i === 3 ? 'Range: bytes=5-9\r\n' : ''));
    const replies = await pipeline(address, requests, 5);
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 206, 200]);
    expect(replies[0]!.body.toString()).toBe('body { color: red }\n');
    expect(sha(replies[1]!.body)).toBe(sha(big));
    expect(replies[2]!.body.toString()).toBe(APP_BODY);
    expect(replies[3]!.body.equals(big.subarray(5, 10))).toBe(true);
    expect(replies[4]!.body.toString()).toBe('body { color: red }\n');
  });

  it("a file removed while it is sent arrives whole (the open file is read); after, the path is the app's", async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    const doomed = path.join(root, 'doomed.bin');
    writeFileSync(doomed, big);
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    const socket = net.connect(port, host);
    const chunks: Buffer[] = [];
    let removed = false;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (data: Buffer) => {
      chunks.push(data);
      // The head is in: the file is open and being sent. Remove it now.
      if (!removed && Buffer.concat(chunks).includes('\r\n\r\n')) {
        removed = true;
        unlinkSync(doomed);
      }
    });
    socket.write('GET /static/doomed.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await closed;
    const data = Buffer.concat(chunks);
    const body = data.subarray(data.indexOf('\r\n\r\n') + 4);
    expect(removed).toBe(true);
    expect(sha(body)).toBe(sha(big));
    const after = await curlGet(`http://${address}/static/doomed.bin`);
    expect(after.body.toString()).toBe(APP_BODY);
  });

  it('refuses .., encoded or not, NUL and symlinks out of the root with 403', async () => {
    const address = servers.serve(app, options, { protocol: 'http' });
    for (const target of [
      '/static/../secret.txt',
      '/static/%2e%2e/secret.txt',
      '/static/%2E%2E%2Fsecret.txt',
      '/static/docs/../../secret.txt',
      '/static/out-link',
    ]) {
      const { text } = await oneShot(address, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(text, target).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(text).not.toContain('secret');
    }
    const { text } = await oneShot(address, `GET /static/style.css%00.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 (400|403) /);
  });
});

describe('--static-map over uwsgi', () => {
  it('answers the same bytes and a 206 from the vars nginx sends', async () => {
    const address = servers.serve(app, options);
    const whole = await request(address, nginxVars('GET', '/static/big.bin'));
    expect(whole.statusLine).toBe('HTTP/1.1 200 OK');
    expect(sha(whole.body)).toBe(sha(big));
    const range = await request(address, nginxVars('GET', '/static/big.bin', { HTTP_RANGE: 'bytes=10-19' }));
    expect(range.statusLine).toBe('HTTP/1.1 206 Partial Content');
    expect(headerValue(range.headers, 'Content-Range')).toBe(`bytes 10-19/${big.length}`);
    expect(range.body.equals(big.subarray(10, 20))).toBe(true);
    const refused = await request(address, nginxVars('GET', '/static/../secret.txt'));
    expect(refused.statusLine).toBe('HTTP/1.1 403 Forbidden');
    // A NUL byte in PATH_INFO (nginx decodes %00 into it): refused, never a C string cut short.
    const nul = await request(address, nginxVars('GET', '/static/style.css', { PATH_INFO: '/static/style.css\u0000.txt' }));
    expect(nul.statusLine).toBe('HTTP/1.1 403 Forbidden');
  });
});
