/**
 * The HTTP request an environ describes, as Node and fetch spell it: the request target
 * and URL, and the headers between their two spellings, CGI vars (`HTTP_X_FOO`,
 * `CONTENT_TYPE`) and lowercase field names (`x-foo`, `content-type`).
 */
import type { Environ } from '../app/contract.js';
import { serverHooks } from '../server/environ.js';

/** Header names already turned into environ keys: apps read the same few headers on every
 * request. Bounded, so that names made up by clients cannot grow it. */
const environKeys = new Map<string, string | undefined>();
const ENVIRON_KEYS_MAX = 512;

/** The environ key a lowercase header name is found under, or undefined if none can hold it. */
export function environKey(name: string): string | undefined {
  const known = environKeys.get(name);
  if (known !== undefined || environKeys.has(name)) return known;
  // Proxies drop names with `_` (nginx) or fold them onto `-`: no var is one of them.
  const key =
    name === 'content-type'
      ? 'CONTENT_TYPE'
      : name === 'content-length'
        ? 'CONTENT_LENGTH'
        : /^[!#$%&'*+.^`|~0-9a-z-]+$/.test(name)
          ? 'HTTP_' + name.toUpperCase().replaceAll('-', '_')
          : undefined;
  if (environKeys.size < ENVIRON_KEYS_MAX) environKeys.set(name, key);
  return key;
}

/** The lowercase header name of an environ key, or undefined if the key is no header. */
export function headerName(key: string): string | undefined {
  if (key.startsWith('HTTP_')) return key.slice(5).toLowerCase().replaceAll('_', '-');
  if (key === 'CONTENT_TYPE') return 'content-type';
  if (key === 'CONTENT_LENGTH') return 'content-length';
  return undefined;
}

/** The value of header `name` in `environ` (CONTENT_* sent empty count as absent). */
export function headerValue(environ: Environ, name: string): string | undefined {
  const key = environKey(name);
  if (key === undefined) return undefined;
  const value = environ[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Every request header of `environ`, in its order, as [lowercase name, value] pairs. */
export function headerList(environ: Environ): Array<[string, string]> {
  const list: Array<[string, string]> = [];
  // The server's environ lists its vars without making every tsgi.* value.
  const keys = serverHooks(environ)?.varNames() ?? Object.keys(environ);
  for (const key of keys) {
    const name = headerName(key);
    const value = environ[key];
    if (name !== undefined && typeof value === 'string' && value !== '') list.push([name, value]);
  }
  return list;
}

/** The request target as the client sent it: path and query, undecoded (Node's `req.url`). */
export function requestTarget(environ: Environ): string {
  const uri = environ.REQUEST_URI;
  if (typeof uri === 'string' && uri !== '') return uri;
  const path = encodeURI(environ.SCRIPT_NAME + environ.PATH_INFO) || '/';
  return environ.QUERY_STRING ? `${path}?${environ.QUERY_STRING}` : path;
}

/** The absolute URL of the request (fetch's `request.url`): scheme, Host (else the server's name and port), target. */
export function requestUrl(environ: Environ): string {
  const scheme = environ['tsgi.url_scheme'];
  let host = environ.HTTP_HOST;
  if (!host) {
    const port = environ.SERVER_PORT;
    host = port === (scheme === 'https' ? '443' : '80') ? environ.SERVER_NAME : `${environ.SERVER_NAME}:${port}`;
  }
  const target = requestTarget(environ);
  // An absolute-form target (a request to a proxy) is the URL already.
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target) ? target : `${scheme}://${host}${target}`;
}

/** The connection's ends and security as `net.Socket` and `tls.TLSSocket` name them: what
 * `req.socket` answers, for the requests' stand-in socket and an upgraded connection alike. */
export const socketAddress = {
  remoteAddress: (environ: Environ): string | undefined => environ.REMOTE_ADDR,
  remotePort(environ: Environ): number | undefined {
    const port = environ.REMOTE_PORT;
    return typeof port === 'string' && port !== '' ? Number(port) : undefined;
  },
  remoteFamily: (environ: Environ): string => (environ.REMOTE_ADDR?.includes(':') ? 'IPv6' : 'IPv4'),
  localAddress(environ: Environ): string | undefined {
    const address = environ.SERVER_ADDR;
    return typeof address === 'string' ? address : undefined;
  },
  localPort: (environ: Environ): number => Number(environ.SERVER_PORT),
  /** What `tls.TLSSocket` says and Express, Koa, Fastify and `ws` read: true behind TLS. */
  encrypted: (environ: Environ): true | undefined => (environ['tsgi.url_scheme'] === 'https' ? true : undefined),
  address(environ: Environ): { address?: string; port: number; family?: string } {
    const address = socketAddress.localAddress(environ);
    return { address, port: socketAddress.localPort(environ), family: address?.includes(':') ? 'IPv6' : 'IPv4' };
  },
};
