/**
 * A connection of the pure-TypeScript reactor and the requests on it, with the same
 * states as the native ones (crates/tsgi-reactor/src/conn.rs, stream.rs).
 */
import type net from 'node:net';
import type { ChunkedDecoder } from '../codec/http-chunked.js';
import type { ParamsDecoder } from '../codec/fastcgi.js';
import type { WireError } from '../codec/vars.js';
import type { WireProtocol } from '../native/binding.js';

/** Where the read side of a connection is. */
export const enum ReadState {
  /** uwsgi, HTTP: waiting for a request head. */
  Head,
  /** uwsgi: a vars block over buffer-size is read and thrown away, then refused. */
  DiscardVars,
  /** uwsgi, HTTP: streaming a Content-Length body; `remaining` bytes to come. */
  Body,
  /** uwsgi, HTTP: the request is read; uwsgi throws away whatever follows. */
  Done,
  /** FastCGI: records, for any number of requests. */
  Records,
  /** HTTP: a chunked body. */
  Chunked,
  /** HTTP after 101: the bytes both ways are the app's. */
  Tunnel,
  /** A refusal is being sent; what the peer sends is dropped. */
  Refused,
  /** Our side is shut after the last response; unread bytes are drained until `lingerUntil`. */
  Linger,
}

export const EMPTY = Buffer.alloc(0);

/** Log levels of LOG events. */
export const Level = { WARN: 1, ERROR: 2 } as const;

/** One request as JavaScript knows it (a uwsgi or HTTP connection has one at a time). */
export interface Stream {
  readonly token: number;
  readonly conn: Conn;
  /** FastCGI request id; 0 otherwise. */
  readonly id: number;
  keepConn: boolean;
  /** FastCGI input: PARAMS, then STDIN, then complete. */
  phase: 'params' | 'stdin' | 'complete';
  decoder: ParamsDecoder | null;
  /** STDIN bytes still expected; with `untilEnd`, still allowed by limit-post. */
  remaining: number;
  untilEnd: boolean;
  /** JavaScript has the request and its response has not ended. */
  inApp: boolean;
  paused: boolean;
  wantDrain: boolean;
  /** Response bytes went out: a refusal can no longer replace them. */
  wrote: boolean;
  awaitingContinue: boolean;
}

export class Conn {
  state: ReadState;
  /** Received and not yet handled. */
  pending: Buffer = EMPTY;
  readonly streams: Stream[] = [];
  /** A request asked to stop reading. */
  paused = false;
  /** Close (or linger) once the last response is out. */
  closing = false;
  /** FastCGI: a request without FCGI_KEEP_CONN began. */
  closeWhenIdle = false;
  /** Corked by writes during the current batch. */
  dirty = false;
  closed = false;
  /** Reading from the socket (not paused). */
  reading = true;
  /** Bytes thrown away after the request (uwsgi U20). */
  discarded = 0;
  /** Body (or discarded vars) bytes still to come. */
  remaining = 0;
  /** The refusal due once discarded vars are gone. */
  discardError: WireError | null = null;
  /** HTTP tunnel: the client closed its side. */
  tunnelEof = false;
  acceptedAt: number;
  /** HTTP: kept alive, waiting for a next request. */
  idle = false;
  requestDeadline = 0;
  deadline = 0;
  lingerUntil = 0;
  /** Bytes queued for the socket at the last tick, to notice a peer that reads nothing. */
  lastQueued = 0;
  chunked: ChunkedDecoder | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly protocol: WireProtocol,
    now: number,
  ) {
    this.state = protocol === 'fastcgi' ? ReadState.Records : ReadState.Head;
    this.acceptedAt = now;
  }

  /** Response bytes not yet handed to the kernel. */
  get queued(): number {
    return this.socket.writableLength;
  }

  take(n: number): void {
    this.pending = n >= this.pending.length ? EMPTY : this.pending.subarray(n);
  }
}

/** The static refusals (crates/tsgi-reactor/src/refusal.rs); nothing of the request is echoed. */
const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
};

function reasonOf(status: number): [number, string] {
  const reason = REASONS[status];
  return reason ? [status, reason] : [500, 'Internal Server Error'];
}

/** As an HTTP response, announcing the close that follows. */
export function httpRefusal(status: number): Buffer {
  const [code, reason] = reasonOf(status);
  return Buffer.from(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\nConnection: close\r\n\r\n${reason}\n`,
    'latin1',
  );
}

/** As a CGI response (FastCGI STDOUT). */
export function cgiRefusal(status: number): Buffer {
  const [code, reason] = reasonOf(status);
  return Buffer.from(`Status: ${code} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`, 'latin1');
}
