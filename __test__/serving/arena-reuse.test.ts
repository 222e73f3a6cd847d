/**
 * A request's vars stay its own however long it runs, and after: the reactor writes each
 * batch over the same shared arena, and each record is copied out before the next one. Apps
 * that read their vars at every moment of their life, and after their response (a timer
 * reading the environ, as a log written later would), with many connections sending at
 * once so that batches follow each other, must each read exactly what their request
 * carried: never another request's bytes.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { Server } from '../../src/server/server.js';
import { useTestServers } from '../helpers/servers.js';

const servers = useTestServers();

/** What a request says of itself, read from its environ when the app gets to it. */
function echo(environ: Parameters<App>[0]): string {
  return `${environ.HTTP_X_ID}|${environ.QUERY_STRING}|${environ.REQUEST_URI}|${environ.HTTP_X_PAD?.length ?? 0}`;
}

/** Each path reads its vars at another moment: at once, after microtasks, after a timer, after an immediate. */
const app: App = async (environ, startResponse) => {
  const kind = environ.PATH_INFO;
  if (kind === '/micro') for (let i = 0; i < 20; i++) await null;
  else if (kind === '/timer') await new Promise((resolve) => setTimeout(resolve, Number(environ.QUERY_STRING.split('&')[1]) % 15));
  else if (kind === '/immediate') await new Promise((resolve) => setImmediate(resolve));
  const text = echo(environ);
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [text];
};

function get(port: number, agent: http.Agent, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Reads nothing before it answers; reads its vars in a timer after the response. */
function lateReader(): { app: App; reads: Promise<string[]> } {
  const reads: Array<Promise<string>> = [];
  let all!: (reads: string[]) => void;
  const done = new Promise<string[]>((resolve) => (all = resolve));
  const app: App = (environ, startResponse) => {
    reads.push(new Promise((resolve) => setTimeout(() => resolve(echo(environ)), 5 + (reads.length % 10))));
    if (reads.length === 800) void Promise.all(reads).then(all);
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return ['answered'];
  };
  return { app, reads: done };
}

describe('the shared arena', () => {
  it('every request reads its own vars, whether it ends in its batch or runs on past later ones', async () => {
    const server = servers.track(new Server(app));
    const address = server.listen('127.0.0.1:0', { protocol: 'http' });
    const port = Number(address.split(':').pop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    try {
      const kinds = ['/now', '/micro', '/timer', '/immediate'];
      const asked: Array<Promise<[string, string]>> = [];
      for (let i = 0; i < 800; i++) {
        const path = `${kinds[i % kinds.length]}?n=${i}&${(i * 7919) % 1000}`;
        // Heads of many lengths, so that each batch lays its vars out differently.
        const headers = { 'X-Id': `request-${i}`, 'X-Pad': 'p'.repeat((i * 131) % 3000) };
        const expected = `request-${i}|n=${i}&${(i * 7919) % 1000}|${path}|${headers['X-Pad'].length}`;
        asked.push(get(port, agent, path, headers).then((body) => [body, expected]));
      }
      const answers = await Promise.all(asked);
      const wrong = answers.filter(([body, expected]) => body !== expected);
      expect(wrong.slice(0, 5)).toEqual([]);
    } finally {
      agent.destroy();
    }
  });

  it('an app that answered at once and reads its environ later still reads its own request', async () => {
    const { app: late, reads } = lateReader();
    const server = servers.track(new Server(late));
    const address = server.listen('127.0.0.1:0', { protocol: 'http' });
    const port = Number(address.split(':').pop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    try {
      const expected: string[] = [];
      const asked: Array<Promise<string>> = [];
      for (let i = 0; i < 800; i++) {
        const path = `/late?n=${i}`;
        const headers = { 'X-Id': `request-${i}`, 'X-Pad': 'p'.repeat((i * 131) % 3000) };
        expected.push(`request-${i}|n=${i}|${path}|${headers['X-Pad'].length}`);
        asked.push(get(port, agent, path, headers));
      }
      expect(new Set(await Promise.all(asked))).toEqual(new Set(['answered']));
      // Each app call read its own request: the reads, sorted, are the requests sent.
      expect([...(await reads)].sort()).toEqual([...expected].sort());
    } finally {
      agent.destroy();
    }
  });
});
