/**
 * The environ an app gets over uwsgi: the CGI and tsgi keys with PEP 3333's defaults and
 * exclusions, required keys filled in, SCRIPT_NAME and PATH_INFO, repeated headers joined,
 * a var named __proto__ as plain data, an app's own changes, modifier1 30, tsgi.url_scheme,
 * and values that outlive the batch that brought them.
 */
import { describe, expect, it } from 'vitest';
import type { Environ } from '../../src/app/contract.js';
import { useTestServers } from '../helpers/servers.js';
import { TEXT, request } from '../helpers/tsgi.js';
import { delay, exchange, nginxVars, packet, parseResponse } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

describe('environ', () => {
  it('has the CGI and tsgi keys, with PEP 3333 defaults and exclusions', async () => {
    let seen: Record<string, unknown> = {};
    let keys: string[] = [];
    const address = serve((environ, start) => {
      keys = Object.keys(environ);
      seen = { ...environ };
      start('200 OK', TEXT);
      return [];
    });
    await request(
      address,
      nginxVars('POST', '/p/a?x=1&y=2', {
        CONTENT_LENGTH: '0',
        CONTENT_TYPE: 'text/plain',
        HTTP_CONTENT_LENGTH: '999',
        HTTP_CONTENT_TYPE: 'application/evil',
        HTTP_PROXY: 'http://evil.example:8080',
        HTTP_USER_AGENT: 'raw-test',
      }),
    );
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'POST',
      SCRIPT_NAME: '',
      PATH_INFO: '/p/a',
      QUERY_STRING: 'x=1&y=2',
      CONTENT_TYPE: 'text/plain',
      CONTENT_LENGTH: '0',
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      REQUEST_URI: '/p/a?x=1&y=2',
      HTTP_HOST: 'localhost',
      HTTP_USER_AGENT: 'raw-test',
      'tsgi.url_scheme': 'http',
      'tsgi.multithread': false,
      'tsgi.multiprocess': false,
      'tsgi.run_once': false,
    });
    expect(seen['tsgi.version']).toEqual([1, 0]);
    for (const key of ['HTTP_CONTENT_LENGTH', 'HTTP_CONTENT_TYPE', 'HTTP_PROXY']) {
      expect(keys).not.toContain(key);
      expect(seen[key]).toBeUndefined();
    }
    for (const key of [
      'tsgi.version',
      'tsgi.url_scheme',
      'tsgi.input',
      'tsgi.errors',
      'tsgi.multithread',
      'tsgi.multiprocess',
      'tsgi.run_once',
      'tsgi.signal',
      'tsgi.file_wrapper',
    ]) {
      expect(keys).toContain(key);
    }
    expect(typeof (seen['tsgi.input'] as { read?: unknown }).read).toBe('function');
    expect(typeof (seen['tsgi.errors'] as { write?: unknown }).write).toBe('function');
    expect(seen['tsgi.signal']).toBeInstanceOf(AbortSignal);
    expect(typeof seen['tsgi.file_wrapper']).toBe('function');
    for (const [key, value] of Object.entries(seen)) if (!key.includes('.')) expect(typeof value, key).toBe('string');
  });

  it('HTTP_CONTENT_LENGTH and friends are absent even when looked up directly', async () => {
    let probes: unknown[] = [];
    const address = serve((environ, start) => {
      probes = [environ.HTTP_CONTENT_LENGTH, environ.HTTP_CONTENT_TYPE, environ.HTTP_PROXY, 'HTTP_PROXY' in environ];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, nginxVars('GET', '/', { HTTP_CONTENT_LENGTH: '5', HTTP_CONTENT_TYPE: 'x/y', HTTP_PROXY: 'http://evil' }));
    expect(probes).toEqual([undefined, undefined, undefined, false]);
  });

  it('fills the required keys when the proxy sends only REQUEST_METHOD', async () => {
    let seen: Record<string, unknown> = {};
    const address = serve((environ, start) => {
      seen = { ...environ };
      start('200 OK', TEXT);
      return [];
    });
    await request(address, { REQUEST_METHOD: 'GET' });
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '',
      PATH_INFO: '/',
      QUERY_STRING: '',
      SERVER_PROTOCOL: 'HTTP/1.0',
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
    });
    expect(seen.CONTENT_LENGTH).toBeUndefined();
  });

  it('SCRIPT_NAME "/" becomes ""; PATH_INFO falls back to the decoded REQUEST_URI path', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ.SCRIPT_NAME, environ.PATH_INFO, environ.QUERY_STRING];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/', REQUEST_URI: '/a%20b/c?q=1', QUERY_STRING: 'q=1' });
    expect(seen).toEqual(['', '/a b/c', 'q=1']);
  });

  it('joins repeated HTTP_X_FOO with ", " and HTTP_COOKIE with "; "; other repeats: last wins', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ.HTTP_X_FOO, environ.HTTP_COOKIE, environ.SERVER_NAME];
      start('200 OK', TEXT);
      return [];
    });
    const vars: Array<[string, string]> = [
      ...Object.entries(nginxVars('GET', '/')),
      ['HTTP_X_FOO', 'a'],
      ['HTTP_COOKIE', 'c1=1'],
      ['HTTP_X_FOO', 'b, c'],
      ['HTTP_COOKIE', 'c2=2'],
      ['SERVER_NAME', 'second.example'],
    ];
    const { data } = await exchange(address, packet(vars));
    expect(parseResponse(data).statusLine).toBe('HTTP/1.1 200 OK');
    expect(seen).toEqual(['a, b, c', 'c1=1; c2=2', 'second.example']);
  });

  it('a var named __proto__ is plain data; Object.prototype is untouched', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [
        environ['__proto__'],
        Object.getPrototypeOf(environ),
        environ['constructor'],
        environ['hasOwnProperty'],
        environ['toString'],
        Object.keys(environ).includes('__proto__'),
        Object.prototype.hasOwnProperty.call(environ, '__proto__'),
      ];
      start('200 OK', TEXT);
      return [];
    });
    const vars: Array<[string, string]> = [
      ...Object.entries(nginxVars('GET', '/')),
      ['__proto__', 'polluted=1'],
      ['constructor', 'ctor'],
      ['hasOwnProperty', 'own'],
    ];
    await exchange(address, packet(vars));
    expect(seen).toEqual(['polluted=1', null, 'ctor', 'own', undefined, true, true]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('the app can set and delete keys, including derived and tsgi ones', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      environ.MY_KEY = 'mine';
      environ.PATH_INFO = '/rewritten';
      const mutable = environ as Partial<Environ>;
      delete mutable.QUERY_STRING;
      delete mutable.HTTP_HOST;
      delete mutable['tsgi.file_wrapper'];
      const keys = Object.keys(environ);
      seen = [
        environ.MY_KEY,
        environ.PATH_INFO,
        environ.QUERY_STRING,
        'QUERY_STRING' in environ,
        environ.HTTP_HOST,
        keys.includes('MY_KEY'),
        keys.includes('QUERY_STRING'),
        keys.includes('HTTP_HOST'),
        keys.includes('tsgi.file_wrapper'),
      ];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, nginxVars('GET', '/orig?q=1'));
    expect(seen).toEqual(['mine', '/rewritten', undefined, false, undefined, true, false, false, false]);
  });

  it('modifier1 30 strips SCRIPT_NAME from the front of PATH_INFO; modifier1 0 does not', async () => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ.SCRIPT_NAME, environ.PATH_INFO];
      start('200 OK', TEXT);
      return [];
    });
    const vars = nginxVars('GET', '/app/page', { SCRIPT_NAME: '/app' });
    const r30 = await request(address, vars, '', 30);
    expect(r30.statusLine).toBe('HTTP/1.1 200 OK');
    expect(seen).toEqual(['/app', '/page']);
    await request(address, vars, '', 0);
    expect(seen).toEqual(['/app', '/app/page']);
    await request(address, nginxVars('GET', '/other', { SCRIPT_NAME: '/app' }), '', 30);
    expect(seen).toEqual(['/app', '/other']);
    // Only at a path-segment boundary: "/app" is not a prefix of "/application".
    await request(address, nginxVars('GET', '/application', { SCRIPT_NAME: '/app' }), '', 30);
    expect(seen).toEqual(['/app', '/application']);
    await request(address, nginxVars('GET', '/app', { SCRIPT_NAME: '/app' }), '', 30);
    expect(seen).toEqual(['/app', '']);
  });

  it.each([
    [{ REQUEST_SCHEME: 'https' }, 'https', '80'],
    [{ REQUEST_SCHEME: 'http' }, 'http', '80'],
    [{ REQUEST_SCHEME: 'https', SERVER_PORT: '' }, 'https', '443'],
  ])('tsgi.url_scheme follows REQUEST_SCHEME (%o)', async (extra, scheme, port) => {
    let seen: unknown[] = [];
    const address = serve((environ, start) => {
      seen = [environ['tsgi.url_scheme'], environ.SERVER_PORT];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, nginxVars('GET', '/', extra));
    expect(seen).toEqual([scheme, port]);
  });

  it('tsgi.url_scheme is https with HTTPS=on and no REQUEST_SCHEME', async () => {
    let seen: unknown;
    const address = serve((environ, start) => {
      seen = environ['tsgi.url_scheme'];
      start('200 OK', TEXT);
      return [];
    });
    await request(address, { REQUEST_METHOD: 'GET', PATH_INFO: '/', HTTPS: 'on' });
    expect(seen).toBe('https');
  });

  it('environ values survive after the batch that delivered the request (async app)', async () => {
    let seen: unknown[] = [];
    const address = serve(async (environ, start) => {
      await delay(20);
      // Other requests have come and gone since: this one's vars must be intact.
      seen = [environ.PATH_INFO, environ.HTTP_X_ID, Object.keys(environ).includes('HTTP_X_ID')];
      start('200 OK', TEXT);
      return [String(environ.HTTP_X_ID)];
    });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => request(address, nginxVars('GET', `/r${i}`, { HTTP_X_ID: `id-${i}` }))));
    results.forEach((r, i) => expect(r.body.toString()).toBe(`id-${i}`));
    expect(seen[2]).toBe(true);
  });
});
