/**
 * Request headers between their two spellings: CGI vars (`HTTP_X_FOO`, `CONTENT_TYPE`) in
 * an environ, and lowercase field names (`x-foo`, `content-type`) in Node and fetch.
 */
import type { Environ } from '../app.js';

/** The environ key a lowercase header name is found under, or undefined if none can hold it. */
export function environKey(name: string): string | undefined {
  if (name === 'content-type') return 'CONTENT_TYPE';
  if (name === 'content-length') return 'CONTENT_LENGTH';
  // Proxies drop names with `_` (nginx) or fold them onto `-`: no var is one of them.
  if (!/^[!#$%&'*+.^`|~0-9a-z-]+$/.test(name)) return undefined;
  return 'HTTP_' + name.toUpperCase().replaceAll('-', '_');
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
  for (const key of Object.keys(environ)) {
    const name = headerName(key);
    const value = environ[key];
    if (name !== undefined && typeof value === 'string' && value !== '') list.push([name, value]);
  }
  return list;
}
