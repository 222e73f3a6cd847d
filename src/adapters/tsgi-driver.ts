/**
 * Runs a TSGI app outside tsgi's server (toNodeHandler, toFetchHandler), with the same
 * contract the server keeps: the head waits for the first non-empty chunk (so an error
 * before it is still a 500), startResponse's rules (checked head, excInfo), Content-Length
 * (no more bytes than declared; fewer is an aborted response), no body for HEAD, 1xx, 204
 * and 304, and the body's close() called once, whatever happens. A host supplies a sink.
 */
import { checkHead, isBodiless, type App, type Body, type CheckedHead, type Chunk, type Environ, type StartResponse } from '../app/contract.js';
import { ErrorCodes, TsgiError } from '../errors.js';
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

const byteLength = (chunk: Chunk) => (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);

/** Serves one request: resolves when the response is over, whichever way. */
export async function drive(app: App, environ: Environ, sink: ResponseSink): Promise<void> {
  let head: CheckedHead | null = null;
  let headSent = false;
  let sent = 0;
  const describeRequest = () => `${environ.REQUEST_METHOD} ${String(environ.REQUEST_URI ?? environ.PATH_INFO)}`;
  const noBody = () => environ.REQUEST_METHOD === 'HEAD' || isBodiless(head!.code);

  const sendHead = (contentLength: number) => {
    headSent = true;
    sink.head(head!, head!.contentLength >= 0 ? head!.contentLength : contentLength);
  };
  const send = (chunk: Chunk): void | Promise<void> => {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      throw new TsgiError(ErrorCodes.INVALID_CHUNK, `a body chunk must be a string or a Uint8Array, got ${typeof chunk}`);
    }
    if (chunk.length === 0) return;
    if (!head) throw new TsgiError(ErrorCodes.NO_START_RESPONSE, 'the body produced data before startResponse() was called');
    if (!headSent) sendHead(-1);
    if (noBody()) return;
    let piece = chunk;
    if (head.contentLength >= 0) {
      const room = head.contentLength - sent;
      if (byteLength(chunk) > room) {
        log.error(`${describeRequest()}: the app sent more than its Content-Length ${head.contentLength}; extra bytes dropped`);
        piece = Buffer.from(chunk as Uint8Array | string).subarray(0, room);
      }
    }
    sent += byteLength(piece);
    return piece.length > 0 ? sink.chunk(piece) : undefined;
  };
  const startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && excInfo !== null) {
      if (headSent) throw excInfo;
    } else if (head) {
      throw new TsgiError(ErrorCodes.START_RESPONSE_TWICE, 'startResponse() called a second time without excInfo');
    }
    head = checkHead(status, headers);
    // WSGI's write(): sent at once; the caller cannot wait, so backpressure is not applied.
    return (chunk) => {
      void send(chunk);
      return true;
    };
  };

  let body: Body | null = null;
  try {
    body = await app(environ, startResponse);
    if (typeof body === 'string' || body instanceof Uint8Array) body = [body];
    const known = Array.isArray(body) ? (body as Chunk[]).reduce((total, chunk) => total + byteLength(chunk), 0) : -1;
    for await (const chunk of body as AsyncIterable<Chunk>) {
      if (environ['tsgi.signal'].aborted) break;
      if (!headSent && known >= 0 && byteLength(chunk) > 0 && head) {
        // A list body: its length is known before the first byte goes out.
        sendHead(known);
      }
      await send(chunk);
    }
    if (environ['tsgi.signal'].aborted) return;
    // (startResponse set it from inside a callback: TypeScript cannot see that.)
    const final = head as CheckedHead | null;
    if (!final) throw new TsgiError(ErrorCodes.NO_START_RESPONSE, 'the body ended without startResponse() being called');
    if (!headSent) sendHead(0);
    if (!noBody() && final.contentLength >= 0 && sent < final.contentLength) {
      throw new TsgiError(ErrorCodes.INVALID_HEADER, `the app sent ${sent} of its Content-Length ${final.contentLength} bytes`);
    }
    sink.end();
  } catch (error) {
    if (environ['tsgi.signal'].aborted) return;
    log.error(`${describeRequest()}: app error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (headSent) sink.abort(error instanceof Error ? error : new Error(String(error)));
    else sink.fail();
  } finally {
    closeBody(body);
  }
}

function closeBody(body: Body | null): void {
  const close = body?.close;
  if (typeof close !== 'function') return;
  try {
    const result = close.call(body);
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, (error: unknown) => log.error(`error in the body's close(): ${String(error)}`));
    }
  } catch (error) {
    log.error(`error in the body's close(): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}
