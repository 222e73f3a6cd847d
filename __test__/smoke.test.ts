import { afterEach, describe, expect, it } from 'vitest';
import { Server } from '../src/server.js';
import { exchange, nginxVars, packet, parseResponse } from './helpers/uwsgi.js';

describe('a uwsgi request end to end', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('serves a GET with its environ', async () => {
    server = new Server((environ, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [`${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${environ.QUERY_STRING}`];
    });
    const address = server.listen('127.0.0.1:0');
    const { data } = await exchange(address, packet(nginxVars('GET', '/hello?x=1')));
    const response = parseResponse(data);
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.headers).toEqual([['Content-Type', 'text/plain'], ['Content-Length', '14']]);
    expect(response.body.toString()).toBe('GET /hello x=1');
  });
});
