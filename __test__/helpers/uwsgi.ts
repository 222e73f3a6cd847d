/** Builds uwsgi packets and talks to a server over a raw socket. */
import net from 'node:net';
import { setLogSink, type LogLevel } from '../../src/log.js';

export type Vars = Array<[string, string | Buffer]> | Record<string, string>;

/** The vars block for `vars` (u16 LE lengths). */
export function varsBlock(vars: Vars): Buffer {
  const entries = Array.isArray(vars) ? vars : Object.entries(vars);
  const parts: Buffer[] = [];
  for (const [key, value] of entries) {
    const k = Buffer.from(key, 'latin1');
    const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    const kl = Buffer.alloc(2);
    kl.writeUInt16LE(k.length);
    const vl = Buffer.alloc(2);
    vl.writeUInt16LE(v.length);
    parts.push(kl, k, vl, v);
  }
  return Buffer.concat(parts);
}

/** A whole packet: header (modifier1, datasize, modifier2), vars block, body. */
export function packet(vars: Vars, body: Buffer | string = '', modifier1 = 0, modifier2 = 0): Buffer {
  const block = varsBlock(vars);
  const header = Buffer.from([modifier1, block.length & 0xff, block.length >> 8, modifier2]);
  return Buffer.concat([header, block, Buffer.from(body)]);
}

/** The vars nginx's uwsgi_params sends for a simple request. */
export function nginxVars(method: string, uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const q = uri.indexOf('?');
  return {
    QUERY_STRING: q === -1 ? '' : uri.slice(q + 1),
    REQUEST_METHOD: method,
    CONTENT_TYPE: '',
    CONTENT_LENGTH: '',
    REQUEST_URI: uri,
    PATH_INFO: q === -1 ? uri : uri.slice(0, q),
    DOCUMENT_ROOT: '/usr/share/nginx/html',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_SCHEME: 'http',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '54321',
    SERVER_PORT: '80',
    SERVER_NAME: 'localhost',
    HTTP_HOST: 'localhost',
    ...extra,
  };
}

/** Connects to "host:port" or a Unix socket path. */
export function connect(address: string): net.Socket {
  if (address.includes('/')) return net.connect(address);
  const i = address.lastIndexOf(':');
  return net.connect(Number(address.slice(i + 1)), address.slice(0, i).replace(/^\[|\]$/g, ''));
}

/** Sends `data` (in pieces, if several are given) and resolves with everything the server
 * sent until it closed, and how it closed. */
export function exchange(address: string, ...pieces: Buffer[]): Promise<{ data: Buffer; reset: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(address);
    const chunks: Buffer[] = [];
    let reset = false;
    socket.on('connect', () => {
      for (const piece of pieces) socket.write(piece);
    });
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      else reject(e);
    });
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), reset }));
  });
}

/** Splits an HTTP response into status line, headers and body. */
export function parseResponse(data: Buffer): { statusLine: string; headers: Array<[string, string]>; body: Buffer } {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete head in ${JSON.stringify(data.toString('latin1'))}`);
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.map((line) => {
    const i = line.indexOf(':');
    return [line.slice(0, i), line.slice(i + 1).trim()] as [string, string];
  });
  return { statusLine: statusLine!, headers, body: data.subarray(end + 4) };
}

// ---- hand-built packets, slow senders, kept connections ----------------------------------

/** A raw 4-byte uwsgi header with any datasize (not necessarily the block's length). */
export function header(modifier1: number, datasize: number, modifier2 = 0): Buffer {
  return Buffer.from([modifier1, datasize & 0xff, (datasize >> 8) & 0xff, modifier2]);
}

/** One var as it goes on the wire, with its real lengths. */
export function rawVar(key: string | Buffer, value: string | Buffer): Buffer {
  return varsBlock([[typeof key === 'string' ? key : key.toString('latin1'), value]]);
}

/** Header + hand-built vars block; datasize is the block's length unless given. */
export function rawPacket(block: Buffer, options: { modifier1?: number; modifier2?: number; datasize?: number } = {}): Buffer {
  return Buffer.concat([header(options.modifier1 ?? 0, options.datasize ?? block.length, options.modifier2 ?? 0), block]);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a truthy value (returned), or fails after `timeout` ms. */
export async function waitFor<T>(probe: () => T, options: { timeout?: number; interval?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeout ?? 5000);
  for (;;) {
    const value = probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`);
    await delay(options.interval ?? 5);
  }
}

/** How a raw exchange ended. */
export interface RawResult {
  data: Buffer;
  /** The connection was reset (ECONNRESET/EPIPE) rather than closed with a FIN. */
  reset: boolean;
}

/**
 * Like `exchange`, but sends `data` in pieces with a pause after each: `split` is
 * `'bytes'` (one write per byte), a number of roughly equal pieces, or explicit cut
 * offsets. Stops sending once the server has closed its side. With `end`, half-closes
 * after the last piece.
 */
export function exchangeSlowly(
  address: string,
  data: Buffer,
  options: { split?: 'bytes' | number | number[]; delayMs?: number; end?: boolean } = {},
): Promise<RawResult> {
  const pieces = splitBuffer(data, options.split ?? 'bytes');
  const pause = options.delayMs ?? 1;
  return new Promise((resolve, reject) => {
    const socket = connect(address);
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let reset = false;
    let closed = false;
    socket.on('connect', async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (closed || !socket.writable) return;
        socket.write(pieces[i]!);
        if (i < pieces.length - 1) await delay(pause);
      }
      if (options.end && !closed && socket.writable) socket.end();
    });
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      else if (e.code !== 'ERR_STREAM_WRITE_AFTER_END' && e.code !== 'ERR_STREAM_DESTROYED') reject(e);
    });
    socket.on('close', () => {
      closed = true;
      resolve({ data: Buffer.concat(chunks), reset });
    });
  });
}

/** Cuts `data` into one-byte pieces, `n` roughly equal pieces, or at the given offsets. */
export function splitBuffer(data: Buffer, split: 'bytes' | number | number[]): Buffer[] {
  let cuts: number[];
  if (split === 'bytes') cuts = Array.from({ length: Math.max(0, data.length - 1) }, (_, i) => i + 1);
  else if (typeof split === 'number') cuts = Array.from({ length: split - 1 }, (_, i) => Math.round(((i + 1) * data.length) / split));
  else cuts = split;
  const pieces: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, data.length]) {
    if (cut > at) pieces.push(data.subarray(at, cut));
    at = Math.max(at, cut);
  }
  return pieces.length > 0 ? pieces : [data];
}

/**
 * A client connection kept open for the test to drive: collects what arrives, and
 * records whether the server ended with a FIN (`ended`), a reset, and when it closed.
 */
export class RawClient {
  readonly socket: net.Socket;
  readonly chunks: Buffer[] = [];
  received = 0;
  ended = false;
  reset = false;
  closed = false;
  error: Error | undefined;
  readonly connected: Promise<void>;
  readonly whenClosed: Promise<RawResult>;

  constructor(address: string, options: { allowHalfOpen?: boolean } = {}) {
    if (address.includes('/')) this.socket = net.connect({ path: address, allowHalfOpen: options.allowHalfOpen ?? false });
    else {
      const i = address.lastIndexOf(':');
      this.socket = net.connect({
        port: Number(address.slice(i + 1)),
        host: address.slice(0, i).replace(/^\[|\]$/g, ''),
        allowHalfOpen: options.allowHalfOpen ?? false,
      });
    }
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.received += d.length;
    });
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') this.reset = true;
      else this.error = e;
    });
    this.whenClosed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true;
        resolve({ data: this.data, reset: this.reset });
      }),
    );
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** Half-closes the sending side. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Routes the server's log lines into an array until `restore()`. */
export function captureLogs(): {
  lines: Array<{ level: LogLevel; line: string }>;
  text(): string;
  find(pattern: RegExp): { level: LogLevel; line: string } | undefined;
  restore(): void;
} {
  const lines: Array<{ level: LogLevel; line: string }> = [];
  const previous = setLogSink((level, line) => lines.push({ level, line }));
  return {
    lines,
    text: () => lines.map((l) => `${l.level}: ${l.line}`).join('\n'),
    find: (pattern) => lines.find((l) => pattern.test(l.line)),
    restore: () => void setLogSink(previous),
  };
}
