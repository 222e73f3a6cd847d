/**
 * Requests as JavaScript knows them (crates/tsgi-reactor/src/stream.rs): one per request
 * handed over (a FastCGI one from its BEGIN_REQUEST), freed when its response ends or it is
 * aborted; its token is what the batch and `write` name. What every request has is here;
 * what one protocol keeps about a request is its `proto` part, defined in that protocol's
 * file. Streams are named by slot and generation, as the native table names them
 * (table.rs), so a stale token names nothing and JavaScript finds a request by its slot.
 */
import type { Conn } from './conn.js';
import type { FastcgiStream } from './fastcgi.js';
import type { HttpStream } from './http.js';
import { Layout } from '../native/batch.js';

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

/** A token: a slot and the slot's generation, as the native table makes them (table.rs). */
const SLOT_BITS = Layout.TOKEN_SLOT_BITS;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const GENERATION_MASK = 0xfff;

/** Every request JavaScript may write to, by token: slots reused through a free list, each
 * reuse a new generation, so a stale token names nothing. */
export class Streams {
  private readonly slots: Array<Stream | undefined> = [];
  private readonly generations: number[] = [];
  private readonly free: number[] = [];

  get(token: number): Stream | undefined {
    const stream = this.slots[token & SLOT_MASK];
    return stream?.token === token ? stream : undefined;
  }

  has(token: number): boolean {
    return this.get(token) !== undefined;
  }

  /** Opens a request on `conn` if `handOver(token)`, given the token it will have, says it
   * went into the batch. The token is known first, so a request that does not fit leaves no
   * trace. */
  open(conn: Conn, proto: ProtoStream, handOver: (token: number) => boolean = () => true): Stream | undefined {
    const slot = this.free.length > 0 ? this.free[this.free.length - 1]! : this.slots.length;
    if (slot > SLOT_MASK) return undefined;
    const generation = ((this.generations[slot] ?? 0) + 1) & GENERATION_MASK;
    const token = ((generation << SLOT_BITS) | slot) >>> 0;
    if (!handOver(token)) return undefined;
    if (slot === this.slots.length) this.slots.push(undefined);
    else this.free.pop();
    this.generations[slot] = generation;
    const stream: Stream = { token, conn, inApp: false, paused: false, wantDrain: false, wrote: false, proto };
    this.slots[slot] = stream;
    conn.streams.push(stream);
    return stream;
  }

  /** Frees `stream`; false if it was gone already. */
  remove(stream: Stream): boolean {
    const slot = stream.token & SLOT_MASK;
    if (this.slots[slot] !== stream) return false;
    this.slots[slot] = undefined;
    this.free.push(slot);
    return true;
  }

  /** Drops the requests of a connection without telling JavaScript (it was told already). */
  forget(conn: Conn): void {
    for (const stream of conn.streams.splice(0)) this.remove(stream);
  }
}
