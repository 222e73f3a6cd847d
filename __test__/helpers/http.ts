/**
 * An HTTP client that hides nothing, for tests that put a real proxy (nginx, HAProxy) in
 * front of tsgi: one request per fresh connection (no pooling that could hide a failure),
 * the raw header list, and when each piece of the body arrived.
 */
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Names and values as they came, in order: [name, value, name, value...]. */
  rawHeaders: string[];
  body: Buffer;
  /** When each piece of the body arrived (ms since epoch), and its size. */
  pieces: Array<{ at: number; size: number }>;
}

export interface RequestOptions {
  method?: string;
  /** Object, or a flat [name, value, name, value...] list to send repeated names. */
  headers?: http.OutgoingHttpHeaders | string[];
  /** A Buffer (sent with Content-Length), or pieces (sent chunked). */
  body?: Buffer | Buffer[];
  /** Fails the request when no complete response came within this; default 20 s. */
  timeoutMs?: number;
  /** Default false: a fresh connection, closed after the response. */
  agent?: http.Agent | false;
}

/** One request; resolves with the complete response, rejects on a truncated one. */
export function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers as http.OutgoingHttpHeaders, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        const pieces: Reply['pieces'] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          pieces.push({ at: Date.now(), size: chunk.length });
        });
        res.on('error', reject);
        res.on('aborted', () => reject(new Error(`${url}: response aborted after ${Buffer.concat(chunks).length} bytes`)));
        res.on('end', () => {
          clearTimeout(timer);
          if (!res.complete) reject(new Error(`${url}: response incomplete`));
          else resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), pieces });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`${url}: no complete response within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const body = options.body;
    if (Array.isArray(body)) {
      for (const piece of body) req.write(piece);
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** Every value of header `name` in the order received. */
export function rawHeaderValues(reply: Reply, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < reply.rawHeaders.length; i += 2) {
    if (reply.rawHeaders[i]!.toLowerCase() === name.toLowerCase()) values.push(reply.rawHeaders[i + 1]!);
  }
  return values;
}

/**
 * Opens a request and resolves once the first piece of its body has arrived, then
 * destroys the connection: a client that goes away mid-response. Resolves with the time
 * it went away.
 */
export function disconnectAfterFirstPiece(url: string, timeoutMs = 10_000): Promise<{ status: number; destroyedAt: number }> {
  return new Promise((resolve, reject) => {
    let destroyedAt = 0;
    const req = http.get(url, { agent: false }, (res) => {
      res.once('data', () => {
        destroyedAt = Date.now();
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode!, destroyedAt });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`${url}: no body within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => {
      if (!destroyedAt) {
        clearTimeout(timer);
        reject(error);
      }
    });
  });
}
