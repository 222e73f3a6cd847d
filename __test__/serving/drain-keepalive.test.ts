/**
 * A worker that stops (a reload, a recycle) loses nothing on kept-alive connections:
 * clients sending back to back on persistent connections get every answer. A connection
 * whose last response promised keep-alive is not closed under the client's next request;
 * that request is answered (over HTTP with `Connection: close`; over FastCGI the
 * connection ends after it), and the client reconnects.
 */
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, until, type Tsgi } from '../helpers/chaos.js';
import { haproxyVersion, startHaproxy } from '../helpers/haproxy.js';
import { announceNginx, hasNginx, startNginx } from '../helpers/nginx.js';
import { requirePeer } from '../helpers/peers.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
announceNginx();
const haproxy = requirePeer('HAProxy', process.env.HAPROXY ?? 'haproxy', 'apt-get install haproxy, or set HAPROXY=/path/to/haproxy');

const BODY = 'x'.repeat(1024);
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `clients` loops, each on its own kept-alive connection, sending GET /ok (or POSTs of
 * 1 KiB) back to back until stopped; every request that did not get a 200 is counted,
 * with why. */
function backToBack(port: number, clients: number, { post = false } = {}) {
  let running = true;
  let answered = 0;
  let closes = 0;
  const failures: string[] = [];
  const one = (agent: http.Agent) =>
    new Promise<void>((resolve) => {
      http
        .request({ host: '127.0.0.1', port, path: '/ok', agent, method: post ? 'POST' : 'GET' }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) answered++;
            else failures.push(`status ${res.statusCode}`);
            if (res.headers.connection === 'close') closes++;
            resolve();
          });
        })
        .on('error', (error) => {
          failures.push(error.message);
          resolve();
        })
        .end(post ? BODY : undefined);
    });
  const loops = Array.from({ length: clients }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (running) await one(agent);
    agent.destroy();
  });
  return {
    get answered() {
      return answered;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return { answered, closes, failures };
    },
  };
}

async function serve(args: string[], socket = '--http-socket'): Promise<{ master: Tsgi; port: number }> {
  const port = await freePort();
  const master = await startTsgi([socket, `127.0.0.1:${port}`, '--module', APP, '--disable-logging', ...args]);
  cleanups.push(() => master.kill());
  return { master, port };
}

/** `count` reloads of `master`, each once `load` answered 200 more requests; then the old
 * workers of the last one finish, with the load still on. */
async function reloads(master: Tsgi, load: { answered: number }, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await until(() => load.answered > i * 200 || undefined, `requests before reload ${i}`);
    process.kill(master.pid, 'SIGHUP');
    await until(() => master.lines.filter((l) => /reload \(SIGHUP\): done/.test(l.text)).length >= i || undefined, `reload ${i} done`, 15_000);
  }
  await until(() => master.workers().length === 2 || undefined, 'the old workers gone', 15_000);
}

describe('kept-alive HTTP connections across a worker stopping', () => {
  it('20 clients back to back across 5 SIGHUP reloads: every request answered', async () => {
    const { master, port } = await serve(['--processes', '2']);
    const load = backToBack(port, 20);
    await reloads(master, load, 5);
    const { answered, closes, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(1000);
    // The stopping workers answered their connections' next requests with Connection: close.
    expect(closes).toBeGreaterThan(0);
  });

  it('20 clients back to back across --max-requests recycling: every request answered', async () => {
    const { master, port } = await serve(['--processes', '2', '--max-requests', '400']);
    const load = backToBack(port, 20);
    await until(() => master.lines.filter((l) => /--max-requests 400 reached; replacing it/.test(l.text)).length >= 4 || undefined, '4 recycles', 20_000);
    const { answered, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(1600);
  });

  it.skipIf(!hasNginx)('POSTs through nginx proxy_pass with upstream keepalive across 3 reloads: no 502', async () => {
    const { master, port } = await serve(['--processes', '2']);
    const nginx = await startNginx({ locations: [{ path: '/', proxyPass: `127.0.0.1:${port}`, keepalive: 32 }], accessLog: false });
    cleanups.push(() => nginx.stop());
    const load = backToBack(Number(new URL(nginx.url('/')).port), 20, { post: true });
    await reloads(master, load, 3);
    const { answered, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(600);
  });
});

describe.skipIf(!hasNginx)('kept-alive FastCGI connections (nginx fastcgi_keep_conn) across a worker stopping', () => {
  async function behindNginx(args: string[]) {
    const { master, port } = await serve(['--processes', '2', ...args], '--fastcgi-socket');
    const nginx = await startNginx({ locations: [{ path: '/', fastcgiPass: `127.0.0.1:${port}`, keepalive: 32 }], accessLog: false });
    cleanups.push(() => nginx.stop());
    return { master, load: backToBack(Number(new URL(nginx.url('/')).port), 20, { post: true }) };
  }

  it('POSTs across 3 reloads: no 502', async () => {
    const { master, load } = await behindNginx([]);
    await reloads(master, load, 3);
    const { answered, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(600);
  });

  it('POSTs across --max-requests recycling: no 502', async () => {
    const { master, load } = await behindNginx(['--max-requests', '400']);
    await until(() => master.lines.filter((l) => /--max-requests 400 reached; replacing it/.test(l.text)).length >= 4 || undefined, '4 recycles', 20_000);
    const { answered, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(1600);
  });
});

describe.skipIf(!haproxy.bin)(`kept-alive FastCGI connections (HAProxy ${haproxyVersion(haproxy.bin) ?? ''} fcgi-app, keep-conn) across reloads`, () => {
  it('POSTs across 3 reloads: every request answered', async () => {
    const { master, port } = await serve(['--processes', '2'], '--fastcgi-socket');
    const proxy = await startHaproxy(
      haproxy.bin!,
      (front) => `global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  bind 127.0.0.1:${front}
  default_backend tsgi
backend tsgi
  use-fcgi-app tsgi
  http-reuse always
  server tsgi 127.0.0.1:${port} proto fcgi
fcgi-app tsgi
  docroot /
  path-info ^()(/.*)$
  option keep-conn
`,
    );
    cleanups.push(() => proxy.stop());
    const load = backToBack(proxy.port, 20, { post: true });
    await reloads(master, load, 3);
    const { answered, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(600);
  });
});
