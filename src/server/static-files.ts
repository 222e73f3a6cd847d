/**
 * `--static-map /prefix=dir`: files the worker serves itself, before the app is called,
 * for every protocol and both reactors (the native one sends them with sendfile(2)). As
 * uWSGI's: matched on `PATH_INFO` (the app's, derived where the server sent none); GET
 * and HEAD only; a path with no regular file under it (nor an index file,
 * `--static-index`, for a directory) goes on to the app.
 *
 * Refused with `403 Forbidden`, never reaching the app nor the file system: a `..` segment
 * (`PATH_INFO` is decoded, so `%2e%2e` is one), a NUL byte, and a path whose real location
 * (symlinks resolved) is outside the mapped directory.
 *
 * Every file answer has `ETag` (nginx's form: mtime and size in hex), `Last-Modified`,
 * `Accept-Ranges`, a `Content-Type` from the extension, and `Expires` with
 * `Cache-Control: max-age` when a `--static-expires` pattern matches the file's path.
 * `If-None-Match`, else `If-Modified-Since`, answer `304`; a single `Range` answers `206`
 * (`416` when it starts past the end); several ranges are answered `200` with the whole file.
 */
import { closeSync, fstatSync, openSync, realpathSync, statSync, type Stats } from 'node:fs';
import type { App, Headers } from '../app/contract.js';
import { FileBody } from '../app/file-wrapper.js';
import { KeyId } from '../codec/keys.js';
import type { RequestRecord } from '../native/request.js';
import { pathInfo } from './environ.js';
import { log } from '../log.js';
import { staticExpires, staticMaps, type Config, type StaticExpires, type StaticMap } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';

export interface StaticFilesOptions {
  readonly maps: readonly StaticMap[];
  /** File names tried, in order, for a directory (`--static-index`). */
  readonly index?: readonly string[];
  readonly expires?: readonly StaticExpires[];
}

/** Content types by extension: what a site's static files mostly are. */
const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['html', 'text/html; charset=utf-8'],
  ['htm', 'text/html; charset=utf-8'],
  ['css', 'text/css; charset=utf-8'],
  ['js', 'text/javascript; charset=utf-8'],
  ['mjs', 'text/javascript; charset=utf-8'],
  ['json', 'application/json'],
  ['map', 'application/json'],
  ['txt', 'text/plain; charset=utf-8'],
  ['xml', 'application/xml'],
  ['svg', 'image/svg+xml'],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
  ['gif', 'image/gif'],
  ['webp', 'image/webp'],
  ['avif', 'image/avif'],
  ['ico', 'image/x-icon'],
  ['woff', 'font/woff'],
  ['woff2', 'font/woff2'],
  ['ttf', 'font/ttf'],
  ['otf', 'font/otf'],
  ['wasm', 'application/wasm'],
  ['pdf', 'application/pdf'],
  ['zip', 'application/zip'],
  ['gz', 'application/gzip'],
  ['mp4', 'video/mp4'],
  ['webm', 'video/webm'],
  ['mp3', 'audio/mpeg'],
  ['ogg', 'audio/ogg'],
]);
const DEFAULT_TYPE = 'application/octet-stream';

/** The static files the config asks for, or undefined for none; throws
 * `ERR_INVALID_OPTION` naming the option for a value it cannot read. */
export function staticFilesOptions(config: Config): StaticFilesOptions | undefined {
  const maps = config['static-map'] ?? [];
  if (maps.length === 0) return undefined;
  try {
    return { maps: staticMaps(maps), index: config['static-index'] ?? [], expires: staticExpires(config['static-expires'] ?? []) };
  } catch (error) {
    throw new TsgiError(ErrorCodes.INVALID_OPTION, (error as Error).message);
  }
}

/** A mapped directory, its real path in the byte-string form of CGI values (latin-1). */
interface Root {
  readonly prefix: string;
  readonly real: string;
}

/** The bytes of a latin-1 byte string, as a file system path. */
const bytesOf = (path: string): Buffer => Buffer.from(path, 'latin1');

export class StaticFiles {
  private readonly roots: Root[];
  private readonly index: readonly string[];
  private readonly expires: readonly StaticExpires[];

  /** Throws `ERR_INVALID_OPTION` for a mapped directory that is not one. */
  constructor(options: StaticFilesOptions) {
    // Resolved once: a directory that is a symlink is served from where it points.
    this.roots = options.maps.map(({ prefix, dir }) => {
      try {
        const real = realpathSync(dir, { encoding: 'buffer' });
        if (!statSync(real).isDirectory()) throw new Error('not a directory');
        return { prefix, real: real.toString('latin1') };
      } catch (error) {
        throw new TsgiError(ErrorCodes.INVALID_OPTION, `--static-map ${prefix}=${dir}: ${(error as Error).message}`);
      }
    });
    this.index = (options.index ?? []).map((name) => Buffer.from(name).toString('latin1'));
    this.expires = options.expires ?? [];
  }

  /** The worker's answer for `record` if it asks for a mapped file, else undefined (the app's). */
  answer(record: RequestRecord): App | undefined {
    const method = record.get(KeyId.REQUEST_METHOD);
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    // The app's PATH_INFO: nginx's stock fastcgi_params sends none, for one.
    const path = pathInfo(record);
    const root = this.roots.find(({ prefix }) => path === prefix || path.startsWith(`${prefix}/`));
    if (!root) return undefined;
    const rest = path.slice(root.prefix.length);
    if (rest.includes('\0') || rest.split('/').includes('..')) return FORBIDDEN;
    const found = this.find(root, rest);
    if (found === 'outside') return FORBIDDEN;
    if (found === null) return undefined;
    return this.serve(record, found);
  }

  /** The real path of the regular file `rest` names under `root` (an index file for a
   * directory), null if there is none, 'outside' if it resolves out of the root. */
  private find(root: Root, rest: string): string | null | 'outside' {
    const real = realInside(root, root.real + rest);
    if (real === null || real === 'outside') return real;
    const stats = statOf(real);
    if (stats?.isFile()) return real;
    if (!stats?.isDirectory()) return null;
    for (const name of this.index) {
      const candidate = realInside(root, `${real}/${name}`);
      if (candidate === 'outside') return candidate;
      if (candidate !== null && statOf(candidate)?.isFile()) return candidate;
    }
    return null;
  }

  /** The answer for the file at `real`: opened now, so that what is measured is what is sent. */
  private serve(record: RequestRecord, real: string): App | undefined {
    let fd: number;
    try {
      fd = openSync(bytesOf(real), 'r');
    } catch {
      return undefined; // gone since it was found: the app's, as if it had never been
    }
    const stats = fstatSync(fd);
    const etag = `"${Math.floor(stats.mtimeMs / 1000).toString(16)}-${stats.size.toString(16)}"`;
    const lastModified = new Date(Math.floor(stats.mtimeMs / 1000) * 1000).toUTCString();
    const headers: Headers = [
      ['Content-Type', contentType(real)],
      ['ETag', etag],
      ['Last-Modified', lastModified],
      ['Accept-Ranges', 'bytes'],
    ];
    const expires = this.expires.find(({ pattern }) => pattern.test(real));
    if (expires) {
      headers.push(['Cache-Control', `max-age=${expires.seconds}`]);
      headers.push(['Expires', new Date(Date.now() + expires.seconds * 1000).toUTCString()]);
    }
    if (notModified(record, etag, stats)) {
      closeSync(fd);
      return (_, start) => (start('304 Not Modified', headers), []);
    }
    const range = requestedRange(record, etag, stats.size);
    if (range === 'unsatisfiable') {
      closeSync(fd);
      const body = '416 Requested Range Not Satisfiable\n';
      return (_, start) => (
        start('416 Range Not Satisfiable', [
          ['Content-Type', 'text/plain'],
          ['Content-Range', `bytes */${stats.size}`],
          ['Content-Length', String(body.length)],
        ]),
        [body]
      );
    }
    const file = new FileBody({ fd, owned: true }, undefined, range ?? { start: 0, length: stats.size });
    if (range) {
      headers.push(['Content-Range', `bytes ${range.start}-${range.start + range.length - 1}/${stats.size}`]);
      headers.push(['Content-Length', String(range.length)]);
      return (_, start) => (start('206 Partial Content', headers), file);
    }
    headers.push(['Content-Length', String(stats.size)]);
    return (_, start) => (start('200 OK', headers), file);
  }
}

const FORBIDDEN: App = (_, start) => {
  const body = 'Forbidden\n';
  start('403 Forbidden', [
    ['Content-Type', 'text/plain'],
    ['Content-Length', String(body.length)],
  ]);
  return [body];
};

/** The real path of `path` (a byte string) if it exists, 'outside' if it is not under `root`. */
function realInside(root: Root, path: string): string | null | 'outside' {
  let real: string;
  try {
    real = realpathSync(bytesOf(path), { encoding: 'buffer' }).toString('latin1');
  } catch {
    return null;
  }
  return real === root.real || real.startsWith(`${root.real}/`) ? real : 'outside';
}

function statOf(real: string): Stats | undefined {
  try {
    return statSync(bytesOf(real));
  } catch (error) {
    log.warn(`--static-map: ${real}: ${(error as Error).message}`);
    return undefined;
  }
}

function contentType(real: string): string {
  const slash = real.lastIndexOf('/');
  const dot = real.lastIndexOf('.');
  return dot > slash ? (CONTENT_TYPES.get(real.slice(dot + 1).toLowerCase()) ?? DEFAULT_TYPE) : DEFAULT_TYPE;
}

/** `If-None-Match` (weak comparison, `*`), else `If-Modified-Since` (to the second). */
function notModified(record: RequestRecord, etag: string, stats: Stats): boolean {
  const noneMatch = record.lookup('HTTP_IF_NONE_MATCH');
  if (noneMatch !== undefined) {
    return noneMatch.split(',').some((tag) => {
      const t = tag.trim();
      return t === '*' || t.replace(/^W\//, '') === etag;
    });
  }
  const since = record.lookup('HTTP_IF_MODIFIED_SINCE');
  if (since === undefined) return false;
  const date = Date.parse(since);
  return !Number.isNaN(date) && Math.floor(stats.mtimeMs / 1000) * 1000 <= date;
}

/**
 * The one range `Range: bytes=...` asks for, clipped to the file; null for the whole file
 * (no Range, one that is not a single byte range, several, or an `If-Range` that no longer
 * matches); 'unsatisfiable' when it starts past the end.
 */
function requestedRange(record: RequestRecord, etag: string, size: number): { start: number; length: number } | null | 'unsatisfiable' {
  const header = record.lookup('HTTP_RANGE');
  if (header === undefined || record.get(KeyId.REQUEST_METHOD) !== 'GET') return null;
  const ifRange = record.lookup('HTTP_IF_RANGE');
  if (ifRange !== undefined && ifRange.trim() !== etag) return null;
  const match = /^bytes=\s*(\d*)-(\d*)\s*$/.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    // A suffix: the last N bytes.
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    const length = Math.min(suffix, size);
    return size === 0 ? 'unsatisfiable' : { start: size - length, length };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, length: last - start + 1 };
}
