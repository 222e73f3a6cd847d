/**
 * Node's `'upgrade'` event for any app: `withUpgrades(app, emitter)` hands an upgrade
 * request (a WebSocket handshake) to `emitter`'s `'upgrade'` listeners, as Node's own
 * server emits it, when the emitter has some and the connection can switch; every other
 * request goes to `app`. An http.Server with `ws` or socket.io attached is such an
 * emitter; so is the `server` a fetch-style module exports for its WebSockets
 * (`injectWebSocket(server)` of @hono/node-ws).
 *
 * The listener gets `req`, the connection as a Duplex (upgraded-socket.ts) and the bytes
 * read after the head (none here: they arrive through the socket). The connection is the
 * listener's from then on; the request stays in flight until it closes.
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { App, Body, Environ } from '../app/contract.js';
import { describeError } from '../errors.js';
import { log } from '../log.js';
import { serverHooks } from '../server/environ.js';
import { createIncomingMessage } from './node-request.js';
import { UpgradedSocket } from './upgraded-socket.js';

const NOTHING: Body = [];

export function withUpgrades(app: App, upgrades: EventEmitter): App {
  return function upgradingApp(environ, startResponse) {
    // CONNECT is Node's 'connect' event, not 'upgrade'.
    if (upgrades.listenerCount('upgrade') > 0 && environ.REQUEST_METHOD !== 'CONNECT' && emitUpgrade(upgrades, environ)) return NOTHING;
    return app(environ, startResponse);
  };
}

/** Emits `'upgrade'` for the request of `environ`; false where the connection cannot
 * switch (not an upgrade request, FastCGI): the request then goes to the app. */
function emitUpgrade(upgrades: EventEmitter, environ: Environ): boolean {
  const connection = serverHooks(environ)?.upgrade();
  if (!connection) return false;
  const socket = new UpgradedSocket(environ, connection);
  const req = createIncomingMessage(environ, socket as unknown as Socket);
  try {
    upgrades.emit('upgrade', req, socket, Buffer.alloc(0));
  } catch (error) {
    // Node's server would let it crash the process; here it costs this connection.
    log.error(`${environ.REQUEST_METHOD} ${String(environ.REQUEST_URI ?? environ.PATH_INFO)}: error in an 'upgrade' listener: ${describeError(error)}`);
    socket.destroy();
  }
  return true;
}
