/**
 * `fromNode(handler)`: a Node `(req, res)` handler (Express, Connect, Koa's callback(),
 * Fastify's routing, a plain http listener) as a TSGI app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { App } from '../app/contract.js';
import { createIncomingMessage } from './node-request.js';
import { ResponseSocket, createServerResponse } from './node-response.js';

/** A `node:http` request listener. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Runs `handler` for each request, with a `req` and `res` that are Node's own
 * IncomingMessage and ServerResponse over a connection that is the TSGI request. A
 * handler that throws, or whose promise rejects, before it has answered gets a 500;
 * after, the error is logged and the response stands.
 */
export function fromNode(handler: NodeHandler): App {
  return function nodeApp(environ, startResponse) {
    const socket = new ResponseSocket(environ, startResponse);
    const req = createIncomingMessage(environ, socket as unknown as Socket);
    const res = createServerResponse(req, socket);
    socket.attach(req, res);
    let result: unknown;
    try {
      result = handler(req, res);
    } catch (error) {
      // The body fails with it (a 500 if nothing was sent), or it is logged if the
      // response had ended.
      socket.fail(error);
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, (error: unknown) => socket.fail(error));
    }
    return socket.body();
  };
}
