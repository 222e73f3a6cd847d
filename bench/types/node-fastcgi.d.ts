/**
 * node-fastcgi and fastcgi-stream ship no types; these describe the part the benchmarks
 * use (bench/apps/hello-node-fastcgi.mjs, bench/codec/contenders.mjs).
 */
declare module 'node-fastcgi' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { Server } from 'node:net';

  /** The request an app gets: an http.IncomingMessage whose socket is node-fastcgi's Request. */
  export type Request = IncomingMessage & { socket: { errorStream?: { _finalized?: boolean } } | undefined };

  /** A net.Server that speaks FastCGI and hands each request to `handler` as node:http would. */
  export function createServer(handler: (req: Request, res: ServerResponse) => void): Server;

  const fcgi: { createServer: typeof createServer };
  export default fcgi;
}

declare module 'fastcgi-stream' {
  import type { EventEmitter } from 'node:events';

  /** Reads FastCGI records off a socket, emitting ('record', requestId, record). */
  export class FastCGIStream extends EventEmitter {
    constructor(socket: EventEmitter);
  }

  export const records: {
    BeginRequest: { TYPE: number; flags: Record<string, number | undefined> };
    Params: { TYPE: number };
  };
}
