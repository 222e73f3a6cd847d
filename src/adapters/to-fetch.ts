/**
 * `toFetchHandler(app)`: a TSGI app as a fetch handler, `(request) => Promise<Response>`,
 * for any host of those (Deno.serve, Bun.serve, Cloudflare, @hono/node-server, a test).
 * The Response comes once the head is known; its body streams from the app, a chunk per
 * pull (backpressure), and cancelling it closes the app's body.
 */
import type { App, Chunk } from '../app/contract.js';
import { TsgiError, ErrorCodes } from '../errors.js';
import { abortError } from '../app/input.js';
import { pausableInput, splitHost, standaloneEnviron } from './standalone-environ.js';
import { drive } from './tsgi-driver.js';

const ERROR_BODY = 'Internal Server Error\n';
const encoder = new TextEncoder();

export function toFetchHandler(app: App): (request: Request) => Promise<Response> {
  return (request) =>
    new Promise<Response>((resolve) => {
      const url = new URL(request.url);
      const scheme = url.protocol === 'https:' ? 'https' : 'http';
      const [serverName, serverPort] = splitHost(url.host, scheme === 'https' ? '443' : '80');
      const controller = new AbortController();
      const stop = (reason: unknown) => {
        if (controller.signal.aborted) return;
        input.fail(reason instanceof TsgiError ? reason : abortError(false));
        controller.abort(reason);
      };
      request.signal.addEventListener('abort', () => stop(request.signal.reason), { once: true });
      const input = pausableInput((paused) => (paused ? reading.pause() : reading.resume()));
      const reading = readInto(request.body, input, stop);
      const environ = standaloneEnviron({
        method: request.method,
        target: url.pathname + url.search,
        scheme,
        serverName,
        serverPort,
        protocol: 'HTTP/1.1',
        headers: request.headers,
        input,
        signal: controller.signal,
      });

      let stream: ReadableStreamDefaultController<Uint8Array>;
      let pulled: (() => void) | null = null;
      const body = new ReadableStream<Uint8Array>(
        {
          start: (c) => void (stream = c),
          pull: () => {
            const wake = pulled;
            pulled = null;
            wake?.();
          },
          // The consumer went away: the app's body is stopped and closed.
          cancel: () => {
            stop(new TsgiError(ErrorCodes.CLIENT_GONE, 'the response body was cancelled'));
            pulled?.();
          },
        },
        { highWaterMark: 0 },
      );
      void drive(app, environ, {
        head(head, contentLength) {
          const headers = new Headers(head.headers);
          if (contentLength >= 0 && head.contentLength < 0) headers.set('Content-Length', String(contentLength));
          const noBody = request.method === 'HEAD' || head.code === 204 || head.code === 205 || head.code === 304 || head.code < 200;
          if (noBody) stream.close();
          resolve(new Response(noBody ? null : body, { status: head.code, statusText: head.status.slice(4), headers }));
        },
        chunk(chunk: Chunk) {
          stream.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
          if ((stream.desiredSize ?? 0) > 0 || controller.signal.aborted) return;
          return new Promise<void>((wake) => (pulled = wake));
        },
        end() {
          stream.close();
        },
        abort(error) {
          stream.error(error);
        },
        fail() {
          resolve(new Response(ERROR_BODY, { status: 500, headers: { 'Content-Type': 'text/plain' } }));
        },
      });
    });
}

/** Pumps a request body into tsgi.input, pausing while the app has enough unread. */
function readInto(source: ReadableStream<Uint8Array> | null, input: ReturnType<typeof pausableInput>, stop: (reason: unknown) => void) {
  let paused = false;
  let pumping = false;
  const reader = source?.getReader();
  const pump = async () => {
    if (!reader) return input.end();
    if (pumping) return;
    pumping = true;
    try {
      while (!paused) {
        const step = await reader.read();
        if (step.done) return input.end();
        input.push(Buffer.from(step.value.buffer, step.value.byteOffset, step.value.byteLength));
      }
    } catch (error) {
      stop(error);
    } finally {
      pumping = false;
    }
  };
  void pump();
  return {
    pause: () => void (paused = true),
    resume: () => {
      paused = false;
      void pump();
    },
  };
}
