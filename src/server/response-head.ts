/**
 * The response head on the wire, per protocol: the status line, and for HTTP/1.1 the
 * headers a server adds (`Date`, `Server`) and the framing (`Content-Length`, chunked, or a
 * close-delimited body) with `Connection` to match. uwsgi and FastCGI peers (nginx) frame
 * the response to their client themselves, so they get only what the app gave, plus a
 * `Content-Length` when the body is known whole.
 *
 * This is also the one place that decides whether the connection carries another request
 * after the response (`Framing.close`): the exchange carries the answer on its last write,
 * and the reactors obey it.
 */
import { isBodiless, type CheckedHead, type Headers } from '../app/contract.js';
import { KeyId } from '../codec/keys.js';
import { Protocol, RequestFlags, type RequestRecord } from '../native/request.js';

const HTTP_VERSION = /^HTTP\/1\.[01]$/;
const NONE: Headers = [];

/** How the body of a response travels. */
export interface Framing {
  /** The head, ready for the wire. */
  readonly text: string;
  /** HTTP: the body goes in chunks (see `chunk`). */
  readonly chunked: boolean;
  /** The connection closes after this response: the peer did not allow another request
   * (uwsgi never does; FastCGI without FCGI_KEEP_CONN; HTTP/1.0 without keep-alive, an
   * upgrade request), or nothing else can tell where the body ends, or `closing`. */
  readonly close: boolean;
}

let dateSecond = -1;
let dateText = '';

/** The `Date` header value, made once a second. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * The head for `head`. `knownLength` is the body length when the whole body is in hand
 * (else -1); `headRequest` says the method was HEAD (the headers describe a body not sent);
 * `closing` that the connection cannot carry another request whatever the client asked.
 */
export function serializeHead(
  record: RequestRecord,
  head: CheckedHead,
  knownLength: number,
  headRequest: boolean,
  closing = false,
  added: Headers = NONE,
): Framing {
  const protocol = record.protocol;
  let text = `${statusLine(record, protocol)} ${head.status}\r\n`;
  let hasDate = false;
  let hasServer = false;
  for (const [name, value] of head.headers) {
    text += `${name}: ${value}\r\n`;
    if (protocol === Protocol.HTTP) {
      const lower = name.toLowerCase();
      hasDate ||= lower === 'date';
      hasServer ||= lower === 'server';
    }
  }
  // --add-header's, after the app's, as uWSGI adds them. Over HTTP, `Connection: close`
  // (the one hop-by-hop header the option takes) is the framing's: the connection closes.
  for (const [name, value] of added) {
    const lower = name.toLowerCase();
    if (protocol === Protocol.HTTP && lower === 'connection') {
      closing = true;
      continue;
    }
    text += `${name}: ${value}\r\n`;
    hasDate ||= lower === 'date';
    hasServer ||= lower === 'server';
  }
  const bodiless = isBodiless(head.code);
  let lengthKnown = head.contentLength >= 0;
  if (!lengthKnown && knownLength >= 0 && !bodiless) {
    text += `Content-Length: ${knownLength}\r\n`;
    lengthKnown = true;
  }
  const allowed = (record.flags & RequestFlags.KEEP_ALIVE) !== 0 && !closing;
  if (protocol !== Protocol.HTTP) return { text: text + '\r\n', chunked: false, close: !allowed };

  if (!hasDate) text += `Date: ${httpDate()}\r\n`;
  if (!hasServer) text += 'Server: tsgi\r\n';
  // 101: the app's Upgrade and Connection say it all; the bytes after are unframed, and
  // the tunnel ends with the connection.
  if (head.code === 101) return { text: text + '\r\n', chunked: false, close: true };
  const http11 = record.get(KeyId.SERVER_PROTOCOL) === 'HTTP/1.1';
  const framed = lengthKnown || bodiless || headRequest;
  const chunked = !framed && http11;
  if (chunked) text += 'Transfer-Encoding: chunked\r\n';
  // Without a length or chunks, only the close tells the client where the body ends.
  const close = !allowed || (!framed && !chunked);
  if (close) text += 'Connection: close\r\n';
  else if (!http11) text += 'Connection: keep-alive\r\n';
  return { text: text + '\r\n', chunked, close };
}

/**
 * The head as uWSGI's request log counts it (`N headers in M bytes`, `%(hsize)`): the
 * status line as the protocol writes it, the app's headers and `--add-header`'s, the
 * blank line; not the headers tsgi adds on its own (`Date`, `Server`, the framing). Made
 * when a line asks.
 */
export function appHeadSize(record: RequestRecord, head: CheckedHead, added: Headers = NONE): number {
  let bytes = statusLine(record, record.protocol).length + 1 + head.status.length + 2 + 2;
  for (const [name, value] of head.headers) bytes += name.length + 2 + value.length + 2;
  for (const [name, value] of added) bytes += name.length + 2 + value.length + 2;
  return bytes;
}

/** `HTTP/1.1` or the request's version (uwsgi), `Status:` (FastCGI's CGI response). */
function statusLine(record: RequestRecord, protocol: number): string {
  if (protocol === Protocol.FASTCGI) return 'Status:';
  if (protocol === Protocol.HTTP) return 'HTTP/1.1';
  const version = record.get(KeyId.SERVER_PROTOCOL);
  return version !== undefined && HTTP_VERSION.test(version) ? version : 'HTTP/1.0';
}

/**
 * The framing around one piece of a chunked body: what goes before it (the CRLF that ends
 * the previous chunk, the size line) and, at the end, the last chunk. `open` says a chunk
 * was sent before; returns the text before `body` and the text after it.
 */
export function chunkFrame(bodyLength: number, open: boolean, end: boolean): { before: string; after: string; open: boolean } {
  let before = '';
  if (bodyLength > 0) {
    before = `${open ? '\r\n' : ''}${bodyLength.toString(16)}\r\n`;
    open = true;
  }
  const after = end ? `${open ? '\r\n' : ''}0\r\n\r\n` : '';
  return { before, after, open };
}
