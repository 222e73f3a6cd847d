/**
 * An environ for a request that did not come through tsgi's server (toNodeHandler,
 * toFetchHandler): a plain object with the CGI keys a proxy would have sent and the
 * `tsgi.*` entries, made from the request's parts.
 */
import type { Environ, Input } from '../app/contract.js';
import { pathOfUri } from '../server/environ.js';
import { errorStream } from '../app/error-stream.js';
import { fileWrapper } from '../app/file-wrapper.js';
import { BodyInput } from '../app/input.js';

/** Unread body bytes above which reading the source pauses (as in the server). */
export const INPUT_HIGH_WATER = 256 * 1024;

export interface RequestParts {
  method: string;
  /** Path and query, undecoded, as on the request line. */
  target: string;
  scheme: 'http' | 'https';
  /** From the Host header, else the listening address. */
  serverName: string;
  serverPort: string;
  protocol: string;
  remoteAddress?: string;
  remotePort?: string;
  /** Lowercase names; values of repeated headers already joined. */
  headers: Iterable<[string, string]>;
  input: Input;
  signal: AbortSignal;
}

const VERSION = Object.freeze([1, 0] as const);

export function standaloneEnviron(parts: RequestParts): Environ {
  const q = parts.target.indexOf('?');
  const environ: Environ = {
    REQUEST_METHOD: parts.method,
    REQUEST_URI: parts.target,
    SCRIPT_NAME: '',
    PATH_INFO: pathOfUri(parts.target),
    QUERY_STRING: q === -1 ? '' : parts.target.slice(q + 1),
    SERVER_NAME: parts.serverName,
    SERVER_PORT: parts.serverPort,
    SERVER_PROTOCOL: parts.protocol,
    'tsgi.version': VERSION,
    'tsgi.url_scheme': parts.scheme,
    'tsgi.input': parts.input,
    'tsgi.errors': errorStream,
    'tsgi.multithread': false,
    'tsgi.multiprocess': false,
    'tsgi.run_once': false,
    'tsgi.signal': parts.signal,
    'tsgi.file_wrapper': fileWrapper,
  };
  if (parts.remoteAddress !== undefined) environ.REMOTE_ADDR = parts.remoteAddress;
  if (parts.remotePort !== undefined) environ.REMOTE_PORT = parts.remotePort;
  for (const [name, value] of parts.headers) {
    if (name === 'content-type') environ.CONTENT_TYPE = value;
    else if (name === 'content-length') environ.CONTENT_LENGTH = value;
    // As nginx does: names with `_` could pass for others, and Proxy is httpoxy.
    else if (!name.includes('_') && name !== 'proxy') environ['HTTP_' + name.toUpperCase().replaceAll('-', '_')] = value;
  }
  return environ;
}

/** `tsgi.input` over a source that can be paused: what it pushes waits here, bounded. */
export function pausableInput(pause: (paused: boolean) => void): BodyInput {
  return new BodyInput(INPUT_HIGH_WATER, pause);
}

/** A Host header as [name, port]; the port is `defaultPort` when the header has none. */
export function splitHost(host: string, defaultPort: string): [string, string] {
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  if (end <= 0 || end >= host.length - 1) return [end > 0 ? host.slice(0, end) : host, defaultPort];
  return [host.slice(0, end), host.slice(end + 1)];
}
