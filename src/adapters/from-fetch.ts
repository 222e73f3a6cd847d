/**
 * `fromFetch(handler)`: a fetch-style handler (`(request) => Response`, the `fetch` of
 * Hono, itty-router, Elysia, Cloudflare and Bun apps) as a TSGI app.
 */
import type { App, Environ } from '../app/contract.js';
import { createRequest } from './fetch-request.js';
import { sendResponse } from './fetch-response.js';
import { isResponse } from './light-response.js';
import { executionContext, type ExecutionContext } from './wait-until.js';

export type { ExecutionContext } from './wait-until.js';

/** A fetch handler. tsgi passes the request's environ as `env`. */
export type FetchHandler = (request: Request, env: Environ, ctx: ExecutionContext) => Response | Promise<Response>;

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
