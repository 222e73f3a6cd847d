/**
 * Listening: what `Server.listen` binds (Unix sockets, TCP), and one server on several
 * sockets and protocols.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from '../../src/server/server.js';
import { fcgiExchange, reply } from '../helpers/fastcgi.js';
import { FASTCGI, TEXT, cgi, expectBytes, get } from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';
import { exchange, nginxVars, packet } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { track } = servers;

describe('listening', () => {
  let dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    dirs = [];
  });

  it('serves FastCGI on a Unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-fcgi-'));
    dirs.push(dir);
    const path = join(dir, 'fcgi.sock');
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
