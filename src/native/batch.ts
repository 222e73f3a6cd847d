/**
 * Reads the batches the native reactor writes (layout: crates/tsgi-reactor/src/batch.rs)
 * and turns each event into a call on a `BatchSink`.
 */
import { Protocol, RequestFlags, RequestRecord } from './request.js';

/**
 * The `end` word of a write: the response goes on, or it is complete and the connection
 * is kept for the peer's next request, or closed after it. Keep-alive is decided once, in
 * JavaScript (src/server/response-head.ts), and carried here; the reactors obey it.
 */
export const WriteEnd = { MORE: 0, KEEP_ALIVE: 1, CLOSE: 2 } as const;
export type WriteEndWord = (typeof WriteEnd)[keyof typeof WriteEnd];

/** Event kinds and layout constants; a test checks them against the binding's. */
export const Layout = {
  REQUEST: 1,
  BODY: 2,
  BODY_END: 3,
  ABORT: 4,
  DRAIN: 5,
  LOG: 6,
  REQUEST_HEADER_WORDS: 9,
  VAR_WORDS: 5,
  PROTOCOL_UWSGI: Protocol.UWSGI,
  PROTOCOL_FASTCGI: Protocol.FASTCGI,
  PROTOCOL_HTTP: Protocol.HTTP,
  FLAG_KEEP_ALIVE: RequestFlags.KEEP_ALIVE,
  FLAG_AWAITING_CONTINUE: RequestFlags.AWAITING_CONTINUE,
  FLAG_UPGRADE: RequestFlags.UPGRADE,
  FLAG_BODY_COMPLETE: RequestFlags.BODY_COMPLETE,
  FLAG_MANAGE_PATH_INFO: RequestFlags.MANAGE_PATH_INFO,
  WRITE_MORE: WriteEnd.MORE,
  WRITE_END_KEEP_ALIVE: WriteEnd.KEEP_ALIVE,
  WRITE_END_CLOSE: WriteEnd.CLOSE,
  /** A request's token is its slot, which is reused, in these low bits, and that slot's
   * generation above them (crates/tsgi-reactor/src/table.rs); both reactors make them so. */
  TOKEN_SLOT_BITS: 20,
} as const;

/** `reason` of an ABORT event. */
export const AbortReason = { PEER_GONE: 1, BODY_TRUNCATED: 2, TIMEOUT: 3, INTERNAL: 4 } as const;

/** Receives the events of a batch, in order. */
export interface BatchSink {
  request(record: RequestRecord): void;
  body(token: number, chunk: Buffer): void;
  bodyEnd(token: number): void;
  abort(token: number, reason: number): void;
  drain(token: number): void;
  log(level: number, text: string): void;
}

/** Decodes `index[0..words]` over `arena` into calls on `sink`. */
export function decodeBatch(words: number, arena: Buffer, index: Uint32Array, sink: BatchSink): void {
  let i = 0;
  while (i < words) {
    switch (index[i]) {
      case Layout.REQUEST: {
        const nvars = index[i + 3]!;
        const record = new RequestRecord(arena, index, i);
        i += Layout.REQUEST_HEADER_WORDS + Layout.VAR_WORDS * nvars;
        sink.request(record);
        break;
      }
      case Layout.BODY: {
        const off = index[i + 2]!;
        // Copied: the arena is rewritten by the next batch.
        sink.body(index[i + 1]!, Buffer.from(arena.subarray(off, off + index[i + 3]!)));
        i += 4;
        break;
      }
      case Layout.BODY_END:
        sink.bodyEnd(index[i + 1]!);
        i += 2;
        break;
      case Layout.ABORT:
        sink.abort(index[i + 1]!, index[i + 2]!);
        i += 3;
        break;
      case Layout.DRAIN:
        sink.drain(index[i + 1]!);
        i += 2;
        break;
      case Layout.LOG: {
        const off = index[i + 2]!;
        sink.log(index[i + 1]!, arena.toString('utf8', off, off + index[i + 3]!));
        i += 4;
        break;
      }
      default:
        throw new Error(`tsgi: corrupt batch: event kind ${index[i]} at word ${i}`);
    }
  }
}
