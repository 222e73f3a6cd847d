/**
 * `fromNode(handler)`: a Node `(req, res)` handler (Express, Connect, Koa's callback(),
 * Fastify's routing, a plain http listener) as a TSGI app; with `upgrades`, the emitter
 * whose `'upgrade'` listeners take upgrade requests (an http.Server, as `ws` and
 * socket.io attach to it), WebSockets too.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { App, Body, Environ } from '../app/contract.js';
import { describeError } from '../errors.js';
import { log } from '../log.js';
import { serverHooks } from '../server/environ.js';
import { createIncomingMessage } from './node-request.js';
import { ResponseSocket, createServerResponse } from './node-response.js';
import { UpgradedSocket } from './upgraded-socket.js';

/** A `node:http` request listener. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Runs `handler` for each request, with a `req` and `res` that are Node's own
 * IncomingMessage and ServerResponse over a connection that is the TSGI request. A
 * handler that throws, or whose promise rejects, before it has answered gets a 500;
 * after, the error is logged and the response stands.
 */
export function fromNode(handler: NodeHandler, upgrades?: EventEmitter): App {
  return function nodeApp(environ, startResponse) {
    if (upgrades && upgrades.listenerCount('upgrade') > 0 && environ.REQUEST_METHOD !== 'CONNECT') {
      const upgraded = emitUpgrade(upgrades, environ);
      if (upgraded) return upgraded;
    }
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

const NOTHING: Body = [];

/**
 * Node's `'upgrade'` event for an upgrade request, as Node's own server emits it: the
 * listener gets `req`, the connection as a Duplex, and the bytes read after the head
 * (none here: they arrive through the socket). The connection is the app's from then on;
 * the TSGI body is empty. Undefined (the request goes to `'request'`, as Node's server does
 * for a request that is no upgrade) where the connection cannot switch.
 */
function emitUpgrade(upgrades: EventEmitter, environ: Environ): Body | undefined {
  const connection = serverHooks(environ)?.upgrade();
  if (!connection) return undefined;
  const socket = new UpgradedSocket(environ, connection);
  const req = createIncomingMessage(environ, socket as unknown as Socket);
  try {
    upgrades.emit('upgrade', req, socket, Buffer.alloc(0));
  } catch (error) {
    // Node's server would let it crash the process; here it costs this connection.
    log.error(`${environ.REQUEST_METHOD} ${String(environ.REQUEST_URI ?? environ.PATH_INFO)}: error in an 'upgrade' listener: ${describeError(error)}`);
    socket.destroy();
  }
  return NOTHING;
}
