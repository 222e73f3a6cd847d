/**
 * fromNode: the req and res a Node handler gets behave as Node's own where apps rely on
 * them. Each test serves a handler on tsgi's HTTP listener and looks at what the client
 * got, and at what the handler saw.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { fromNode, type NodeHandler } from '../../src/adapters/from-node.js';
import { request } from '../helpers/http.js';
import { sha256, waitFor } from '../helpers/proxy-apps.js';
import { useTestServers } from '../helpers/servers.js';

const servers = useTestServers();
const serve = (handler: NodeHandler) => `http://${servers.serve(fromNode(handler), {}, { protocol: 'http' })}`;

describe('fromNode: req', () => {
  it('has the method, the raw target, the version, lowercase headers (lazy, enumerable, writable), rawHeaders and the socket addresses', async () => {
    let seen: Record<string, unknown> = {};
    const base = serve((req, res) => {
      const single = req.headers['x-foo'];
      const upper = (req.headers as Record<string, unknown>)['X-Foo'];
      req.headers['x-added'] = 'by the app';
      seen = {
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        major: req.httpVersionMajor,
        single,
        upper,
        keys: Object.keys(req.headers).sort(),
        added: req.headers['x-added'],
        raw: req.rawHeaders.slice(),
        rawIsArray: Array.isArray(req.rawHeaders),
        remoteAddress: req.socket.remoteAddress,
        remotePortIsNumber: typeof req.socket.remotePort === 'number',
        connection: req.connection === req.socket,
        complete: req.complete,
      };
      res.end('ok');
    });
    const reply = await request(`${base}/a%20b/c?x=1&y=%2F`, { headers: { 'X-Foo': 'bar', Cookie: 'a=1' } });
    expect(reply.status).toBe(200);
    expect(seen).toMatchObject({
      method: 'GET',
      url: '/a%20b/c?x=1&y=%2F',
      httpVersion: '1.1',
      major: 1,
      single: 'bar',
      upper: undefined,
      added: 'by the app',
      rawIsArray: true,
      remoteAddress: '127.0.0.1',
      remotePortIsNumber: true,
      connection: true,
      complete: true,
    });
    expect(seen.keys).toEqual(expect.arrayContaining(['x-foo', 'cookie', 'host', 'x-added']));
    expect(seen.raw).toEqual(expect.arrayContaining(['x-foo', 'bar', 'cookie', 'a=1']));
  });

  it('is a readable stream of the request body (a 3 MiB chunked upload), with backpressure', async () => {
    const base = serve((req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex'), complete: req.complete })));
    });
    const body = randomBytes(3 * 1024 * 1024);
    const pieces = Array.from({ length: 48 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
    const reply = await request(`${base}/upload`, { method: 'POST', body: pieces });
    expect(JSON.parse(reply.body.toString())).toEqual({ bytes: body.length, sha256: sha256(body), complete: true });
  });
});

describe('fromNode: res', () => {
  it('setHeader, getHeader, hasHeader, removeHeader, statusCode and statusMessage; repeated Set-Cookie stay apart', async () => {
    const seen: unknown[] = [];
    const base = serve((req, res) => {
      res.statusCode = 299;
      res.statusMessage = 'Fine Enough';
      res.setHeader('X-Gone', 'soon');
      res.setHeader('Content-Type', 'text/plain');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      seen.push(res.getHeader('content-type'), res.hasHeader('x-gone'), res.headersSent);
      res.removeHeader('X-Gone');
      seen.push(res.hasHeader('x-gone'));
      res.end('body');
      seen.push(res.headersSent, res.writableEnded);
    });
    const reply = await request(`${base}/`);
    expect(reply.status).toBe(299);
    expect(reply.rawHeaders).toEqual(expect.arrayContaining(['Content-Type', 'text/plain']));
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers['x-gone']).toBeUndefined();
    expect(reply.body.toString()).toBe('body');
    expect(seen).toEqual(['text/plain', true, false, false, true, true]);
  });

  it('writeHead with a reason and a flat header list; the wire has no Transfer-Encoding from Node, tsgi frames the body', async () => {
    const base = serve((req, res) => {
      res.writeHead(201, 'Made', ['X-One', '1', 'X-Two', '2']);
      res.write('a');
      setTimeout(() => res.end('b'), 20);
    });
    const reply = await request(`${base}/`);
    expect(reply.status).toBe(201);
    expect(reply.headers['x-one']).toBe('1');
    expect(reply.headers['x-two']).toBe('2');
    expect(reply.body.toString()).toBe('ab');
    // One Transfer-Encoding (tsgi's), not Node's on top of it.
    expect(reply.rawHeaders.filter((h) => h.toLowerCase() === 'transfer-encoding')).toHaveLength(1);
  });

  it("flushHeaders sends the head before any body; 'finish' comes before 'close', and the socket closes last", async () => {
    const events: string[] = [];
    let flushedAt = 0;
    const base = serve((req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.flushHeaders();
      flushedAt = Date.now();
      events.push(`headersSent ${res.headersSent}`);
      res.on('finish', () => events.push(`finish ${res.writableFinished}`));
      res.on('close', () => events.push(`close ${res.writableFinished}`));
      // The connection Node's handler sees carried this request only: it closes after it.
      req.socket.on('close', () => events.push(`socket close ${req.socket.destroyed}`));
      setTimeout(() => res.end('late'), 150);
    });
    const headAt = await new Promise<number>((resolve, reject) => {
      const socket = net.connect(Number(new URL(base).port), '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      socket.once('data', () => resolve(Date.now()));
      socket.on('error', reject);
      socket.on('close', () => undefined);
    });
    expect(headAt - flushedAt).toBeLessThan(100);
    await waitFor(() => events.length === 4, 3_000, 'finish and close');
    expect(events).toEqual(['headersSent true', 'finish true', 'close true', 'socket close true']);
  });

  it("res.write() returns false past 64 KiB queued and 'drain' follows: 8 MiB written that way arrive whole", async () => {
    const chunk = randomBytes(64 * 1024);
    let falses = 0;
    let mostQueued = 0;
    const base = serve((req, res) => {
      let left = 128;
      const writeMore = () => {
        while (left > 0) {
          left--;
          mostQueued = Math.max(mostQueued, res.writableLength);
          if (!res.write(chunk)) {
            falses++;
            expect(res.writableNeedDrain).toBe(true);
            res.once('drain', writeMore);
            return;
          }
        }
        res.end();
      };
      writeMore();
    });
    const reply = await request(`${base}/`);
    expect(reply.body.length).toBe(128 * chunk.length);
    expect(sha256(reply.body)).toBe(sha256(Buffer.concat(Array.from({ length: 128 }, () => chunk))));
    expect(falses).toBeGreaterThan(10);
    expect(mostQueued).toBeLessThanOrEqual(128 * 1024);
  });

  it('a HEAD request: the head only, as for GET', async () => {
    const base = serve((req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end('not sent');
    });
    const reply = await request(`${base}/`, { method: 'HEAD' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/plain');
    expect(reply.body.length).toBe(0);
  });

  it('a handler that throws, or rejects, before answering: 500', async () => {
    const base = serve((req) => {
      if (req.url === '/throw') throw new Error('thrown');
      return Promise.reject(new Error('rejected'));
    });
    for (const path of ['/throw', '/reject']) {
      const reply = await request(`${base}${path}`);
      expect(reply.status).toBe(500);
      expect(reply.body.toString()).toBe('Internal Server Error\n');
    }
    expect(servers.logs.text()).toMatch(/thrown/);
    expect(servers.logs.text()).toMatch(/rejected/);
  });

  it('a handler that throws after its response ended: the response stands, the error is logged', async () => {
    const base = serve((req, res) => {
      res.end('done');
      throw new Error('too late');
    });
    const reply = await request(`${base}/`);
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('done');
    expect(servers.logs.text()).toMatch(/failed after its response ended: Error: too late/);
  });

  it('res.destroy() after the head went out: the client never gets a complete response', async () => {
    let closed = false;
    const base = serve((req: IncomingMessage, res: ServerResponse) => {
      res.on('close', () => (closed = true));
      res.write('partial');
      setTimeout(() => res.destroy(new Error('gave up')), 30);
    });
    const outcome = await request(`${base}/`).then(
      () => 'complete',
      (error: Error) => error.message,
    );
    expect(outcome).toMatch(/aborted|incomplete|socket hang up|ECONNRESET/);
    expect(closed).toBe(true);
  });
});
