/**
 * Enough of RFC 6455 for tests that tunnel WebSockets through tsgi: a TSGI echo app that
 * answers the handshake with 101 and sends back every message it gets, and the frames a raw
 * client sends and reads. No extensions (the app accepts none of those offered), no
 * fragmented messages (neither `ws` nor these tests send any).
 */
import { createHash } from 'node:crypto';
import type { App, Environ } from '../../src/app/contract.js';

export const OPCODE = { TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** One frame: its opcode and (unmasked) payload. */
export interface Frame {
  opcode: number;
  payload: Buffer;
}

/** A final frame, masked with `mask` (a client's frame) or not (a server's). */
export function frame(opcode: number, payload: Buffer | string, mask?: Buffer): Buffer {
  const data = Buffer.from(payload);
  const length = data.length;
  const head = length < 126 ? Buffer.alloc(2) : length < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (length < 126) head[1] = length;
  else if (length < 0x10000) ((head[1] = 126), head.writeUInt16BE(length, 2));
  else ((head[1] = 127), head.writeBigUInt64BE(BigInt(length), 2));
  if (!mask) return Buffer.concat([head, data]);
  head[1]! |= 0x80;
  return Buffer.concat([head, mask, data.map((b, i) => b ^ mask[i % 4]!)]);
}

/** A client's frame, masked as clients must. */
export function clientFrame(opcode: number, payload: Buffer | string): Buffer {
  return frame(opcode, payload, Buffer.from([0x37, 0xfa, 0x21, 0x3d]));
}

/** Reads whole frames from the start of `buf`: the frames, and the bytes of the next one. */
export function readFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const masked = (buf[at + 1]! & 0x80) !== 0;
    let length = buf[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (buf.length < start + 2) break;
      length = buf.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (buf.length < start + 8) break;
      length = Number(buf.readBigUInt64BE(start));
      start += 8;
    }
    const mask = masked ? buf.subarray(start, start + 4) : null;
    if (masked) start += 4;
    if (buf.length < start + length) break;
    const payload = Buffer.from(buf.subarray(start, start + length));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    frames.push({ opcode: buf[at]! & 0x0f, payload });
    at = start + length;
  }
  return { frames, rest: buf.subarray(at) };
}

/** What the echo app saw. */
export interface EchoSeen {
  /** The environ of its request. */
  environ?: Environ;
  /** `tsgi.input` ended (the client closed its side) before a close frame came. */
  inputEnded?: boolean;
}

/**
 * A WebSocket echo app: 101 with the accept key, then every text or binary message back as
 * it came, a pong for a ping, and a close answered with the same code, after which the app
 * ends (and the server closes the connection). When the input ends without a close frame,
 * it sends one text message, `input ended`, and ends.
 */
export function websocketEchoApp(seen: EchoSeen = {}): App {
  return async function* (environ: Environ, start) {
    seen.environ = environ;
    start('101 Switching Protocols', [
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Accept', acceptKey(environ.HTTP_SEC_WEBSOCKET_KEY as string)],
    ]);
    const pieces: Buffer[] = [];
    for await (const data of environ['tsgi.input']) {
      pieces.push(Buffer.from(data));
      const { frames, rest } = readFrames(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
      pieces.splice(0, pieces.length, rest);
      for (const { opcode, payload } of frames) {
        if (opcode === OPCODE.CLOSE) {
          yield frame(OPCODE.CLOSE, payload.subarray(0, 2));
          return;
        }
        yield frame(opcode === OPCODE.PING ? OPCODE.PONG : opcode, payload);
      }
    }
    seen.inputEnded = true;
    yield frame(OPCODE.TEXT, 'input ended');
  };
}
