/**
 * `--health-path`: every listener (uwsgi, FastCGI, HTTP) answers it itself, never calling
 * the app: 200 while the server accepts, 503 from the first moment of a drain (a
 * `--shutdown-delay`, or a graceful stop's wind-down).
 */
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { Server } from '../../src/server/server.js';
import { fcgiExchange, nginxParams, request as fcgiRequest, stdoutOf } from '../helpers/fastcgi.js';
import { request as uwsgiRequest } from '../helpers/tsgi.js';
import { nginxVars, parseResponse } from '../helpers/uwsgi.js';
import { useTestServers } from '../helpers/servers.js';
import { maskDate, open, req } from '../helpers/http-raw.js';

const servers = useTestServers();

/** An app that counts its calls. */
function countingApp(): { app: App; calls: number } {
  const state = { calls: 0, app: undefined as unknown as App };
  state.app = (_, startResponse) => {
    state.calls++;
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return ['the app\n'];
  };
  return state;
}

type Asker = (uri: string) => Promise<{ status: number; body: string; headers: Array<[string, string]> }>;

/** A server on all three protocols, and a way to ask each. */
function serveAll(app: App): { server: Server; ask: Record<'uwsgi' | 'fastcgi' | 'http', Asker> } {
  const server = servers.track(new Server(app, { healthPath: '/healthz' }));
  const uwsgi = server.listen('127.0.0.1:0', { protocol: 'uwsgi' });
  const fastcgi = server.listen('127.0.0.1:0', { protocol: 'fastcgi' });
  const http = server.listen('127.0.0.1:0', { protocol: 'http' });
  const status = (statusLine: string) => Number(statusLine.split(' ')[1] ?? statusLine.split(' ')[0]);
  return {
    server,
    ask: {
      uwsgi: async (uri) => {
        const r = await uwsgiRequest(uwsgi, nginxVars('GET', uri));
        return { status: status(r.statusLine), body: r.body.toString(), headers: r.headers };
      },
      fastcgi: async (uri) => {
        const { records } = await fcgiExchange(fastcgi, fcgiRequest(1, nginxParams('GET', uri)), { until: [1] });
        const { statusLine, headers, body } = parseResponse(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n'), stdoutOf(records, 1)]));
        // A CGI response states its status in a Status: header (absent means 200).
        const cgi = headers.find(([n]) => n.toLowerCase() === 'status')?.[1];
        return { status: cgi ? Number(cgi.split(' ')[0]) : status(statusLine), body: body.toString(), headers };
      },
      http: async (uri) => {
        const response = await fetch(`http://${http}${uri}`);
        return { status: response.status, body: await response.text(), headers: [...response.headers] };
      },
    },
  };
}

describe('--health-path', () => {
  for (const protocol of ['uwsgi', 'fastcgi', 'http'] as const) {
    it(`${protocol}: 200 ok while accepting, 503 once draining, and the app is never called for it`, async () => {
      const counted = countingApp();
      const { server, ask } = serveAll(counted.app);
      const healthy = await ask[protocol]('/healthz?probe=1');
      expect({ status: healthy.status, body: healthy.body }).toEqual({ status: 200, body: 'ok\n' });
      expect(healthy.headers.find(([n]) => n.toLowerCase() === 'cache-control')?.[1]).toBe('no-store');
      expect(counted.calls).toBe(0);
      // Any other path is the app's.
      expect((await ask[protocol]('/healthz/more')).body).toBe('the app\n');
      expect(counted.calls).toBe(1);

      server.startDraining();
      const draining = await ask[protocol]('/healthz');
      expect({ status: draining.status, body: draining.body }).toEqual({ status: 503, body: 'draining\n' });
      // Draining, the server still serves the app.
      expect((await ask[protocol]('/')).body).toBe('the app\n');
      expect(counted.calls).toBe(2);
    });
  }

  it("a graceful stop's wind-down answers 503 to a kept-alive client asking again, and closes", async () => {
    const counted = countingApp();
    const server = servers.track(new Server(counted.app, { healthPath: '/healthz' }));
    const client = await open(server.listen('127.0.0.1:0', { protocol: 'http' }));
    try {
      await client.write(req('GET', '/healthz'));
      await client.until((d) => d.includes('ok\n'), 'the first answer');
      expect(client.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      const before = client.text().length;
      const stopped = server.windDown(5000);
      await client.write(req('GET', '/healthz'));
      await client.until((d) => maskDate(d).length > before && d.includes('draining\n'), 'the answer during the wind-down');
      const second = client.text().slice(before);
      expect(second).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(second).toMatch(/\r\nConnection: close\r\n/i);
      await stopped;
      expect(counted.calls).toBe(0);
    } finally {
      client.destroy();
    }
  });

  it('a server without it passes the path to the app', async () => {
    const counted = countingApp();
    const address = servers.serve(counted.app);
    const r = await uwsgiRequest(address, nginxVars('GET', '/healthz'));
    expect(r.body.toString()).toBe('the app\n');
    expect(counted.calls).toBe(1);
  });
});
