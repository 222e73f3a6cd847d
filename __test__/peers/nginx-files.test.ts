/**
 * Files through a real nginx in front of tsgi: uwsgi_pass to --static-map and to
 * tsgi.file_wrapper (sendfile(2) into the uwsgi socket on the native reactor), proxy_pass
 * with a kept-alive upstream to the HTTP listener (files and a range on one upstream
 * connection), and fastcgi_pass (the file read into STDOUT records). The client, curl,
 * gets every byte (sha256) and nginx's answer to a Range. Skips, saying why, when nginx
 * is not installed (fails under CI=true).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { Server } from '../../src/server/server.js';
import { curlGet, nativeReactor, sha256, tempFolder } from '../helpers/files.js';
import { announceNginx, hasNginx, nginxVersionText, startNginx, type Nginx } from '../helpers/nginx.js';

announceNginx();

const dir = tempFolder('tsgi-nginx-files-');
const big = randomBytes(12 * 1024 * 1024 + 5);
writeFileSync(path.join(dir, 'big.bin'), big);

/** /wrapped/… answers the file with tsgi.file_wrapper; /static/… is --static-map's. */
const app: App = (environ, start) => {
  start('200 OK', [['Content-Type', 'application/octet-stream']]);
  return environ['tsgi.file_wrapper'](path.join(dir, 'big.bin'));
};

describe.skipIf(!hasNginx)(`nginx (${nginxVersionText ?? 'not installed'}) in front of tsgi serving files`, () => {
  let server: Server;
  let nginx: Nginx;

  beforeAll(async () => {
    server = new Server(app, {
      staticFiles: {
        maps: [
          { prefix: '/u/static', dir },
          { prefix: '/h/static', dir },
          { prefix: '/f/static', dir },
        ],
      },
    });
    const uwsgi = server.listen('127.0.0.1:0');
    const http = server.listen('127.0.0.1:0', { protocol: 'http' });
    const fastcgi = server.listen('127.0.0.1:0', { protocol: 'fastcgi' });
    nginx = await startNginx({
      accessLog: false,
      locations: [
        { path: '/u/', uwsgiPass: uwsgi },
        { path: '/h/', proxyPass: http, keepalive: 4 },
        { path: '/f/', fastcgiPass: fastcgi },
      ],
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    server?.close();
  });

  for (const via of ['u', 'h', 'f'] as const) {
    it(`${{ u: 'uwsgi_pass', h: 'proxy_pass (kept alive)', f: 'fastcgi_pass' }[via]}: every byte of --static-map and file_wrapper, and a Range`, async () => {
      const before = server.sentFileBytes;
      for (const route of ['static/big.bin', 'wrapped/big.bin']) {
        const reply = await curlGet(nginx.url(`/${via}/${route}`));
        expect(reply.status).toBe(200);
        expect(reply.body.length).toBe(big.length);
        expect(sha256(reply.body)).toBe(sha256(big));
      }
      const range = await curlGet(nginx.url(`/${via}/static/big.bin`), '-H', 'Range: bytes=1000-1999');
      expect(range.status).toBe(206);
      expect(range.body.equals(big.subarray(1000, 2000))).toBe(true);
      const sent = server.sentFileBytes - before;
      expect(sent).toBe(nativeReactor && via !== 'f' ? 2 * big.length + 1000 : 0);
    });
  }
});
