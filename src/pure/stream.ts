/**
 * Requests as JavaScript knows them (crates/tsgi-reactor/src/stream.rs): one per request
 * handed over (a FastCGI one from its BEGIN_REQUEST), freed when its response ends or it is
 * aborted; its token is what the batch and `write` name. What every request has is here;
 * what one protocol keeps about a request is its `proto` part, defined in that protocol's
 * file. The native table names streams by slot and generation (table.rs) so a stale token
 * names nothing; here a Map by token does, the tokens counted up and skipping live ones.
 */
import type { Conn } from './conn.js';
import type { FastcgiStream } from './fastcgi.js';
import type { HttpStream } from './http.js';

/** One request (a uwsgi or HTTP connection has one at a time). */
export interface Stream {
  readonly token: number;
  readonly conn: Conn;
  /** JavaScript has the request and its response has not ended. */
  inApp: boolean;
  paused: boolean;
  wantDrain: boolean;
  /** Response bytes went out: a refusal can no longer replace them. */
  wrote: boolean;
  /** What the request's protocol keeps about it. */
  readonly proto: ProtoStream;
}

/** uwsgi keeps nothing per request: the connection's state is the request's. */
export const UWSGI_STREAM = { protocol: 'uwsgi' } as const;

/** What one protocol keeps about a request. */
export type ProtoStream = typeof UWSGI_STREAM | FastcgiStream | HttpStream;

/** The peer asked to keep the connection after this request (FastCGI `FCGI_KEEP_CONN`):
 * what decides when the reactor, not JavaScript, ends it. */
export function keepsConn(proto: ProtoStream): boolean {
  return proto.protocol === 'fastcgi' && proto.keepConn;
}

/** Every request JavaScript may write to, by token. */
export class Streams {
  private readonly byToken = new Map<number, Stream>();
  private nextToken = 1;

  get(token: number): Stream | undefined {
    return this.byToken.get(token);
  }

  has(token: number): boolean {
    return this.byToken.has(token);
  }

  /** Opens a request on `conn` if `handOver(token)`, given the token it will have, says it
   * went into the batch. The token is known first, so a request that does not fit leaves no
   * trace. */
  open(conn: Conn, proto: ProtoStream, handOver: (token: number) => boolean = () => true): Stream | undefined {
    let token = this.nextToken;
    while (token === 0 || this.byToken.has(token)) token = (token + 1) >>> 0;
    if (!handOver(token)) return undefined;
    this.nextToken = (token + 1) >>> 0;
    const stream: Stream = { token, conn, inApp: false, paused: false, wantDrain: false, wrote: false, proto };
    this.byToken.set(token, stream);
    conn.streams.push(stream);
    return stream;
  }

  /** Frees `stream`; false if it was gone already. */
  remove(stream: Stream): boolean {
    return this.byToken.delete(stream.token);
  }

  /** Drops the requests of a connection without telling JavaScript (it was told already). */
  forget(conn: Conn): void {
    for (const stream of conn.streams.splice(0)) this.byToken.delete(stream.token);
  }
}
