/**
 * Express's `res.sendFile` and `express.static` through the Node adapter, unchanged: the
 * fs.ReadStream they pipe into `res` is handed to the server as a file, so on the native
 * reactor the bytes go out with sendfile(2) (its counter moves by exactly what was sent)
 * and on the pure one through JavaScript; the answers are the same (sha256, Range). A
 * stream the app listens to itself still flows through the pipe.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import compression from 'compression';
import express from 'express';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { adapt } from '../../src/adapters/detect.js';
import { curlGet, nativeReactor, sha256, tempFolder } from '../helpers/files.js';
import { useTestServers } from '../helpers/servers.js';

const servers = useTestServers();
const native = nativeReactor;
const dir = tempFolder('tsgi-express-files-');
const big = randomBytes(5 * 1024 * 1024 + 3);
writeFileSync(path.join(dir, 'big.bin'), big);
const sha = sha256;

const web = express();
web.use('/public', express.static(dir));
// compression wraps res.write and res.end: a file piped into res must go through them.
web.use('/gzipped', compression({ threshold: 0 }), express.static(dir));
web.get('/send', (_req, res) => res.sendFile(path.join(dir, 'big.bin')));
web.get('/watched', (_req, res) => {
  res.setHeader('Content-Length', big.length);
  const file = createReadStream(path.join(dir, 'big.bin'));
  let seen = 0;
  file.on('data', (chunk) => (seen += chunk.length));
  file.pipe(res);
});

async function serve(): Promise<string> {
  const adapted = await adapt(web, 'auto');
  if (typeof adapted === 'string') throw new Error(adapted);
  return servers.serve(adapted.app, {}, { protocol: 'http' });
}

describe('express files through the Node adapter', () => {
  for (const route of ['/send', '/public/big.bin']) {
    it(`${route}: the whole file, and a Range, as Express answers them; sendfile on the native reactor`, async () => {
      const address = await serve();
      const server = servers.started.at(-1)!;
      const before = server.sentFileBytes;
      const whole = await curlGet(`http://${address}${route}`);
      expect(whole.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(whole.head).toMatch(new RegExp(`\r\nContent-Length: ${big.length}(\r\n|$)`, 'i'));
      expect(whole.body.length).toBe(big.length);
      expect(sha(whole.body)).toBe(sha(big));
      const range = await curlGet(`http://${address}${route}`, '-H', 'Range: bytes=100-1048675');
      expect(range.head).toMatch(/^HTTP\/1\.1 206 Partial Content\r\n/);
      expect(range.head).toMatch(new RegExp(`\r\nContent-Range: bytes 100-1048675/${big.length}(\r\n|$)`, 'i'));
      expect(sha(range.body)).toBe(sha(big.subarray(100, 1048676)));
      expect(server.sentFileBytes - before).toBe(native ? big.length + 1048576 : 0);
    });
  }

  it('sends a file through a middleware that wraps res.write (compression): gzipped, whole', async () => {
    const address = await serve();
    const server = servers.started.at(-1)!;
    const before = server.sentFileBytes;
    const reply = await curlGet(`http://${address}/gzipped/big.bin`, '-H', 'Accept-Encoding: gzip');
    expect(reply.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply.head).toMatch(/\r\nContent-Encoding: gzip(\r\n|$)/i);
    expect(sha(gunzipSync(reply.body))).toBe(sha(big));
    expect(server.sentFileBytes - before).toBe(0);
  });

  it('lets a stream the app listens to flow through the pipe', async () => {
    const address = await serve();
    const server = servers.started.at(-1)!;
    const before = server.sentFileBytes;
    const reply = await curlGet(`http://${address}/watched`);
    expect(sha(reply.body)).toBe(sha(big));
    expect(server.sentFileBytes - before).toBe(0);
  });
});
