/**
 * Listening: Unix sockets (the mode, removed on close, a live one never stolen, a stale one
 * replaced, a file that is not a socket refused), TCP (a port in use, host names, IPv6,
 * names that do not resolve), `unix:PATH`, FastCGI on a Unix socket, and one server
 * serving uwsgi and FastCGI on two sockets.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { Server } from '../../src/server/server.js';
import { fcgiExchange, reply } from '../helpers/fastcgi.js';
import { FASTCGI, TEXT, cgi, expectBytes, get } from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { exchange, nginxVars, packet, parseResponse } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { track } = servers;
let tempDirs: string[] = [];

afterEach(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs = [];
});

describe('listening', () => {
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-raw-'));
    tempDirs.push(dir);
    return dir;
  }

  it.each([0o660, 0o600])('serves on a Unix socket with mode %o, removed on close', async (mode) => {
    const path = join(tempDir(), 'x.sock');
    const server = track(
      new Server((environ, start) => {
        start('200 OK', []);
        return [`unix ${environ.PATH_INFO}`];
      }),
    );
    expect(server.listen(path, { mode })).toBe(path);
    const stat = statSync(path);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(mode);
    const { data } = await exchange(path, packet(nginxVars('GET', '/via-unix')));
    expect(parseResponse(data).body.toString()).toBe('unix /via-unix');
    server.close();
    expect(existsSync(path)).toBe(false);
  });

  it("a live server's socket is not stolen", async () => {
    const path = join(tempDir(), 'y.sock');
    const first = track(
      new Server((_environ, start) => {
        start('200 OK', []);
        return ['first'];
      }),
    );
    first.listen(path);
    const second = track(new Server(() => []));
    let caught: unknown;
    try {
      second.listen(path);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TsgiError);
    expect((caught as TsgiError).code).toBe(ErrorCodes.LISTEN);
    expect(existsSync(path)).toBe(true);
    const { data } = await exchange(path, packet(nginxVars('GET', '/')));
    expect(parseResponse(data).body.toString()).toBe('first');
  });

  it('a stale socket file left by a dead process is replaced', async () => {
    const path = join(tempDir(), 'stale.sock');
    // A process that listens and is killed leaves its socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(statSync(path).isSocket()).toBe(true);
    const server = track(
      new Server((_environ, start) => {
        start('200 OK', []);
        return ['new'];
      }),
    );
    expect(server.listen(path)).toBe(path);
    const { data } = await exchange(path, packet(nginxVars('GET', '/')));
    expect(parseResponse(data).body.toString()).toBe('new');
  });

  it('a path that exists and is not a socket is refused', () => {
    const path = join(tempDir(), 'file.txt');
    writeFileSync(path, 'keep me');
    const server = track(new Server(() => []));
    expect(() => server.listen(path)).toThrow(TsgiError);
    expect(existsSync(path)).toBe(true);
  });

  it('a TCP port in use throws TSGI_ERR_LISTEN mentioning EADDRINUSE', () => {
    const first = track(new Server(() => []));
    const address = first.listen('127.0.0.1:0');
    expect(address).toMatch(/^127\.0\.0\.1:[1-9][0-9]*$/);
    const second = track(new Server(() => []));
    let caught: unknown;
    try {
      second.listen(address);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TsgiError);
    expect((caught as TsgiError).code).toBe(ErrorCodes.LISTEN);
    expect((caught as TsgiError).message).toMatch(/EADDRINUSE/);
    expect((caught as TsgiError).message).toContain(address);
  });

  it.each([
    ['a host name', 'localhost:0', /^127\.0\.0\.1:[1-9][0-9]*$/],
    ['an IPv6 literal', '[::1]:0', /^\[::1\]:[1-9][0-9]*$/],
  ])('serves on %s (%s), bound at once', async (_what, spec, bound) => {
    const server = track(
      new Server((environ, start) => {
        start('200 OK', []);
        return [`at ${environ.PATH_INFO}`];
      }),
    );
    const address = server.listen(spec);
    expect(address).toMatch(bound);
    const { data } = await exchange(address, packet(nginxVars('GET', '/named')));
    expect(parseResponse(data).body.toString()).toBe('at /named');
  });

  it('serves on unix:PATH', async () => {
    const path = join(tempDir(), 'prefixed.sock');
    const server = track(
      new Server((_environ, start) => {
        start('200 OK', []);
        return ['prefixed'];
      }),
    );
    expect(server.listen(`unix:${path}`)).toBe(path);
    const { data } = await exchange(path, packet(nginxVars('GET', '/')));
    expect(parseResponse(data).body.toString()).toBe('prefixed');
  });

  it('a name that does not resolve throws TSGI_ERR_LISTEN', () => {
    const server = track(new Server(() => []));
    expect(() => server.listen('nosuchhost.invalid:3031')).toThrow(
      expect.objectContaining({ code: ErrorCodes.LISTEN, message: expect.stringMatching(/failed to lookup address information/) }),
    );
  });

  it('an address without a port throws TSGI_ERR_LISTEN', () => {
    const server = track(new Server(() => []));
    expect(() => server.listen('3031')).toThrow(expect.objectContaining({ code: ErrorCodes.LISTEN }));
  });

  it('serves FastCGI on a Unix socket', async () => {
    const path = join(tempDir(), 'fcgi.sock');
    const server = track(
      new Server((environ, start) => {
        start('200 OK', TEXT);
        return [`unix ${environ.PATH_INFO}`];
      }),
    );
    expect(server.listen(path, { protocol: 'fastcgi' })).toBe(path);
    expect(statSync(path).isSocket()).toBe(true);
    const result = await fcgiExchange(path, get('/via-unix'));
    expectBytes(result.data, reply(1, cgi('unix /via-unix')));
  });

  it('serves uwsgi and FastCGI from one server on two sockets', async () => {
    const server = track(
      new Server((environ, start) => {
        start('200 OK', TEXT);
        return [`both ${environ.PATH_INFO}`];
      }),
    );
    const uwsgi = server.listen('127.0.0.1:0');
    const fcgi = server.listen('127.0.0.1:0', FASTCGI);
    expect((await exchange(uwsgi, packet(nginxVars('GET', '/u')))).data.toString()).toMatch(/\r\n\r\nboth \/u$/);
    expectBytes((await fcgiExchange(fcgi, get('/f'))).data, reply(1, cgi('both /f')));
  });
});
