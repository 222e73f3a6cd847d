/**
 * `fromFetch(handler)`: a fetch-style handler (`(request) => Response`, the `fetch` of
 * Hono, itty-router, Elysia, Cloudflare and Bun apps) as a TSGI app.
 */
import type { App, Environ } from '../app/contract.js';
import { log } from '../log.js';
import { createRequest } from './fetch-request.js';
import { sendResponse } from './fetch-response.js';
import { isResponse } from './light-response.js';
import { describeError } from '../errors.js';

/** What fetch hosts pass as the third argument (Cloudflare's ExecutionContext). */
export interface ExecutionContext {
  /** Lets `promise` run on after the response; its failure is logged. */
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}

/** A fetch handler. tsgi passes the request's environ as `env`. */
export type FetchHandler = (request: Request, env: Environ, ctx: ExecutionContext) => Response | Promise<Response>;

/** The waitUntil() promises of this process not settled yet: a graceful stop waits for them. */
const extended = new Set<Promise<unknown>>();

const executionContext: ExecutionContext = {
  waitUntil(promise) {
    const settled = Promise.resolve(promise)
      .catch((error: unknown) => log.error(`a waitUntil() promise failed: ${describeError(error)}`))
      .finally(() => extended.delete(settled));
    extended.add(settled);
  },
  passThroughOnException() {},
};

/** Resolves once every waitUntil() promise, those added meanwhile included, has settled. */
export async function waitUntilSettled(): Promise<void> {
  while (extended.size > 0) await Promise.all(extended);
}

/**
 * Runs `handler` for each request with a standard Request (method, URL, headers, the body
 * streamed from tsgi.input, a signal that fires when the client goes away) and sends the
 * Response it returns. A handler that throws or rejects gets a 500.
 */
export function fromFetch(handler: FetchHandler): App {
  return function fetchApp(environ, startResponse) {
    const result = handler(createRequest(environ), environ, executionContext);
    if (isResponse(result)) return sendResponse(result, environ, startResponse);
    return Promise.resolve(result).then((response) => sendResponse(response, environ, startResponse));
  };
}
