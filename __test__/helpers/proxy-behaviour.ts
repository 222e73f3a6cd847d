/**
 * The behaviour every proxy in front of tsgi must pass on (nginx uwsgi_pass, fastcgi_pass,
 * proxy_pass; HAProxy fcgi-app), registered as vitest tests for the locations a test file
 * names, against the app of helpers/proxy-apps.ts. Call inside the file's describe, after
 * its beforeAll has started the proxy:
 *
 *   describeProxyBehaviour({ url: (p) => nginx.url(p), server: () => server, proxied }, {
 *     stream: { vias: ['tcp', 'unix'] },
 *     big: { cases: [['big', 'tcp'], ['big-stream', 'unix']] },
 *   });
 *
 * Each entry is optional; each registers one test per location (or case) listed.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { beforeEach, expect, it } from 'vitest';
import type { Server } from '../../src/server/server.js';
import { disconnectAfterFirstPiece, request, type Reply } from './http.js';
import { BIG, BIG_SHA256, sha256, waitFor, within, type ProxyApp } from './proxy-apps.js';

export interface ProxyTarget {
  /** The URL of a path through the proxy. */
  url(path: string): string;
  /** The server behind the proxy. */
  server(): Server;
  proxied: ProxyApp;
}

export interface ProxyBehaviour {
  /** GET /<via>/echo?x=1&y=a%20b (or `path`): the environ, with `expected(via)` and any `check`. */
  echo?: {
    vias: readonly string[];
    name?: (via: string) => string;
    /** Default /<via>/echo?x=1&y=a%20b. */
    path?: (via: string) => string;
    headers?: http.OutgoingHttpHeaders;
    expected: (via: string) => Record<string, unknown>;
    check?: (environ: Record<string, unknown>, via: string) => void;
  };
  /** POST of `size` bytes to /<via>/sha256: the app hashes tsgi.input whole. */
  post?: {
    vias: readonly string[];
    size: number;
    /** Send Content-Length explicitly. */
    contentLength?: boolean;
    /** More keys /sha256 reports. */
    extra?: Record<string, unknown>;
  };
  /** /<via>/stream with X-Accel-Buffering: no: every chunk arrives, the first before the last is produced. */
  stream?: { vias: readonly string[] };
  /** 8 MiB responses, [route, via]; with `contentLength`, /big carries its Content-Length. */
  big?: { cases: ReadonlyArray<readonly ['big' | 'big-stream', string]>; contentLength?: boolean };
  /** An app that fails gives a 500; `after(via)` names a path that must then be served. */
  fails?: {
    routes: readonly string[];
    vias: readonly string[];
    after?: (via: string) => string;
    /** The body the `after` request must get. */
    afterBody?: string;
    check?: (route: string, via: string) => void;
  };
  /** An app that fails after its first chunk: never a complete response, and the next is served. */
  failsMidBody?: { vias: readonly string[] };
  /** A client that disconnects mid-response fires tsgi.signal, and the server keeps serving. */
  disconnect?: { vias: readonly string[] };
  /** 500 concurrent requests spread over `vias`, none lost. */
  concurrent?: { vias: readonly string[]; name?: string };
}

export function describeProxyBehaviour(target: ProxyTarget, plan: ProxyBehaviour): void {
  const { url, server, proxied } = target;

  if (plan.echo) {
    const { vias, name, path, headers, expected, check } = plan.echo;
    for (const via of vias) {
      it(name?.(via) ?? `GET with a query string via ${via}: the environ the app sees`, async () => {
        const reply = await request(url(path?.(via) ?? `/${via}/echo?x=1&y=a%20b`), { headers: headers ?? { Host: 'example.test', 'X-Foo': 'bar' } });
        expect(reply.status).toBe(200);
        const environ = JSON.parse(reply.body.toString());
        expect(environ).toMatchObject(expected(via));
        check?.(environ, via);
      });
    }
  }

  if (plan.post) {
    const { vias, size, contentLength, extra } = plan.post;
    for (const via of vias) {
      it(`POST of ${size / (1024 * 1024)} MiB via ${via}: the app hashes tsgi.input`, async () => {
        const body = randomBytes(size);
        const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream' };
        if (contentLength) headers['Content-Length'] = body.length;
        const reply = await request(url(`/${via}/sha256`), { method: 'POST', headers, body });
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body.toString())).toEqual({ sha256: sha256(body), bytes: body.length, CONTENT_LENGTH: String(body.length), ...extra });
      });
    }
  }

  if (plan.stream) {
    for (const via of plan.stream.vias) {
      it(`streams an async generator via ${via}: every chunk arrives, the first before the last is produced (X-Accel-Buffering: no)`, async () => {
        const id = `stream-${via}`;
        const reply = await request(url(`/${via}/stream?id=${id}&n=5&delay=200`));
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
        const times = proxied.produced.get(id)!;
        expect(times).toHaveLength(5);
        expect(reply.pieces[0]!.at).toBeLessThan(times[4]!);
        // Delivered as produced, not in one piece at the end.
        expect(reply.pieces.length).toBeGreaterThanOrEqual(3);
      });
    }
  }

  if (plan.big) {
    for (const [route, via] of plan.big.cases) {
      it(`sends an 8 MiB response (/${route} via ${via}) intact`, async () => {
        const reply = await request(url(`/${via}/${route}`));
        expect(reply.status).toBe(200);
        expect(reply.body.length).toBe(BIG.length);
        expect(sha256(reply.body)).toBe(BIG_SHA256);
        if (plan.big!.contentLength && route === 'big') expect(reply.headers['content-length']).toBe(String(BIG.length));
      });
    }
  }

  if (plan.fails) {
    const { routes, vias, after, afterBody, check } = plan.fails;
    for (const route of routes) {
      for (const via of vias) {
        it(`an app that fails (/${route} via ${via}) gives a 500${after ? ', and the next request is served' : ''}`, async () => {
          const reply = await request(url(`/${via}/${route}`));
          expect(reply.status).toBe(500);
          expect(reply.body.toString()).toBe('Internal Server Error\n');
          check?.(route, via);
          if (after) {
            const next = await request(url(after(via)));
            expect(next.status).toBe(200);
            if (afterBody !== undefined) expect(next.body.toString()).toBe(afterBody);
          }
        });
      }
    }
  }

  if (plan.failsMidBody) {
    for (const via of plan.failsMidBody.vias) {
      it(`an app that fails after its first chunk (via ${via}): the client never gets a complete response`, async () => {
        const outcome = await request(url(`/${via}/throw-mid-body`)).then(
          (reply) => `complete ${reply.status} ${JSON.stringify(reply.body.toString())}`,
          (error: Error) => `failed: ${error.message}`,
        );
        expect(outcome).toMatch(/^failed: .*(aborted|incomplete|socket hang up|ECONNRESET)/);
        const after = await request(url(`/${via}/echo`));
        expect(after.status).toBe(200);
      });
    }
  }

  if (plan.disconnect) {
    for (const via of plan.disconnect.vias) {
      it(`a client that disconnects mid-response (via ${via}) fires tsgi.signal, and the server keeps serving`, async () => {
        const id = `disconnect-${via}`;
        const { status, destroyedAt } = await disconnectAfterFirstPiece(url(`/${via}/slow?id=${id}`));
        expect(status).toBe(200);
        const record = proxied.slow.get(id)!;
        expect(record).toBeDefined();
        const abortedAt = await within(record.aborted, 5_000, 'tsgi.signal after the client went away');
        expect(abortedAt - destroyedAt).toBeLessThan(5_000);
        // The body was closed and the exchange is over.
        await waitFor(() => record.closedAt !== undefined, 3_000, "the slow body's close()");
        await waitFor(() => server().activeRequests === 0, 3_000, 'no active requests');
        expect(record.chunks).toBeLessThan(60);
        const after = await request(url(`/${via}/echo?after=1`));
        expect(after.status).toBe(200);
        expect(JSON.parse(after.body.toString())).toMatchObject({ QUERY_STRING: 'after=1' });
      });
    }
  }

  if (plan.concurrent) {
    const { vias, name } = plan.concurrent;
    it(name ?? 'serves 500 concurrent requests through the proxy, none lost', async () => {
      await waitFor(() => server().activeRequests === 0, 3_000, 'no active requests');
      const count = 500;
      proxied.concurrency.peak = 0;
      const replies = await Promise.allSettled(
        Array.from({ length: count }, (_, i) => request(url(`/${vias[i % vias.length]}/echo?i=${i}&delay=50`), { timeoutMs: 25_000 })),
      );
      const failures = replies.flatMap((r, i) => (r.status === 'rejected' ? [`#${i}: ${String(r.reason)}`] : []));
      expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
      const statuses = new Map<number, number>();
      replies.forEach((r, i) => {
        const reply = (r as PromiseFulfilledResult<Reply>).value;
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        if (reply.status === 200) expect(JSON.parse(reply.body.toString())).toMatchObject({ i: String(i), QUERY_STRING: `i=${i}&delay=50` });
      });
      expect(Object.fromEntries(statuses)).toEqual({ 200: count });
      // They really overlapped inside the app (each waits 50 ms there).
      expect(proxied.concurrency.peak).toBeGreaterThanOrEqual(100);
      await waitFor(() => server().activeRequests === 0, 3_000, 'no active requests');
    });
  }
}

/** A log a test's failure report shows the part of that was written during the test. */
export interface FailureLog {
  label: string;
  /** The whole log so far (it only grows). */
  text: () => string;
  /** Show only its last lines. */
  tail?: number;
}

/**
 * Registers a beforeEach that, when a test fails, prints what each log got during it, then
 * `footer()` (the proxy's config, say).
 */
export function showLogsOnFailure(logs: FailureLog[], footer: () => string): void {
  beforeEach((context) => {
    const marks = logs.map((log) => log.text().length);
    context.onTestFailed(() => {
      const parts = logs.map((log, i) => {
        let lines = log.text().slice(marks[i]).trim();
        if (log.tail) lines = lines.split('\n').slice(-log.tail).join('\n');
        return `--- ${log.label}${i === 0 ? ` during "${context.task.name}"` : ''} ---\n${lines || '(nothing)'}`;
      });
      console.error(`${parts.join('\n')}\n${footer()}`);
    });
  });
}
