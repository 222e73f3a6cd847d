/**
 * Runs a TSGI app outside tsgi's server (toNodeHandler, toFetchHandler), with the contract
 * the server keeps, from the same response state (src/app/response.ts): startResponse's
 * rules, Content-Length (no more bytes than declared; fewer is an aborted response), no
 * body for HEAD, 1xx, 204 and 304, the body's close() called once whatever happens. The
 * head waits for the first non-empty chunk, so an error before it is still a 500. A host
 * supplies a sink.
 */
import type { App, Body, CheckedHead, Chunk, Environ, StartResponse } from '../app/contract.js';
import { byteLength, knownLength, ResponseState } from '../app/response.js';
import { describeError, ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

/** Where a response goes: a node:http response, a fetch Response's stream. */
export interface ResponseSink {
  /** The head, once, before any chunk. `contentLength` is -1 when unknown. */
  head(head: CheckedHead, contentLength: number): void;
  /** A body chunk; a promise when the sink wants the producer to wait (backpressure). */
  chunk(chunk: Chunk): void | Promise<void>;
  /** The response is complete. */
  end(): void;
  /** The response cannot be completed after its head went out: end it as broken. */
  abort(error: Error): void;
  /** The app failed before anything was sent. */
  fail(): void;
}

/** Serves one request: resolves when the response is over, whichever way. */
export async function drive(app: App, environ: Environ, sink: ResponseSink): Promise<void> {
  const describeRequest = () => `${environ.REQUEST_METHOD} ${String(environ.REQUEST_URI ?? environ.PATH_INFO)}`;
  // A host without a connection to switch cannot tunnel: a 101 is bodiless like any 1xx.
  const response = new ResponseState({ headRequest: environ.REQUEST_METHOD === 'HEAD', tunnels: false, describeRequest });

  const sendHead = (contentLength: number) => {
    response.headSent = true;
    const head = response.head!;
    sink.head(head, head.contentLength >= 0 ? head.contentLength : contentLength);
  };
  const send = (chunk: Chunk): void | Promise<void> => {
    if (!response.accepts(chunk)) return;
    if (!response.headSent) sendHead(-1);
    if (!response.bodyAllowed) return;
    const piece = response.take(chunk);
    return piece.length > 0 ? sink.chunk(piece) : undefined;
  };
  const startResponse: StartResponse = (status, headers, excInfo) => {
    response.start(status, headers, excInfo);
    // WSGI's write(): sent at once; the caller cannot wait, so backpressure is not applied.
    return (chunk) => {
      void send(chunk);
      return true;
    };
  };

  try {
    let body: Body = await app(environ, startResponse);
    if (typeof body === 'string' || body instanceof Uint8Array) body = [body];
    response.holdBody(body);
    const known = knownLength(body);
    for await (const chunk of body as AsyncIterable<Chunk>) {
      if (environ['tsgi.signal'].aborted) break;
      if (!response.headSent && known >= 0 && byteLength(chunk) > 0 && response.head) {
        // A list body: its length is known before the first byte goes out.
        sendHead(known);
      }
      await send(chunk);
    }
    if (environ['tsgi.signal'].aborted) return;
    const shortfall = response.shortfall();
    if (!response.headSent) sendHead(0);
    if (shortfall !== null) {
      log.error(`${describeRequest()}: ${shortfall}; response aborted`);
      sink.abort(new TsgiError(ErrorCodes.INVALID_HEADER, shortfall));
      return;
    }
    sink.end();
  } catch (error) {
    if (environ['tsgi.signal'].aborted) return;
    log.error(`${describeRequest()}: app error: ${describeError(error)}`);
    if (response.headSent) sink.abort(error instanceof Error ? error : new Error(String(error)));
    else sink.fail();
  } finally {
    response.closeBody();
  }
}
