/** Builds uwsgi packets and talks to a server over a raw socket. */
import net from 'node:net';

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
