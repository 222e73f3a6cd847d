/**
 * What the hand-built uwsgi packet tests share (serving/uwsgi-*.test.ts): the static
 * refusals byte for byte, a server whose app counts its calls, and the check that a good
 * request is still served after a bad one.
 */
import { expect } from 'vitest';
import { Server, type ServerOptions } from '../../src/server/server.js';
import type { TestServers } from './servers.js';
import { exchange, packet, parseResponse } from './uwsgi.js';

/** The static refusals, byte for byte (crates/tsgi-reactor/src/uwsgi.rs `static_response`). */
export const STATIC: Record<number, string> = {
  400: 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n',
  413: 'HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\nContent Too Large\n',
  431: 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n',
  501: 'HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nNot Implemented\n',
};

/** A server on 127.0.0.1:0 whose app counts its calls. */
export interface CountingServer {
  address: string;
  calls: () => number;
  server: Server;
}

/** `countingServer(options)` for a test file's servers: a server whose app counts its calls
 * and answers 200 "ok <PATH_INFO>". */
export function countingServers(servers: TestServers): (options?: ServerOptions) => CountingServer {
  return (options) => {
    let calls = 0;
    const server = servers.track(
      new Server((environ, start) => {
        calls++;
        start('200 OK', [['Content-Type', 'text/plain']]);
        return [`ok ${environ.PATH_INFO}`];
      }, options),
    );
    return { address: server.listen('127.0.0.1:0'), calls: () => calls, server };
  };
}

/** A good request must still be served. */
export async function expectStillServing(address: string, calls: () => number, before: number): Promise<void> {
  // Small enough for every fixture's limits (bufferSize 100, maxVars 4).
  const { data, reset } = await exchange(
    address,
    packet([
      ['REQUEST_METHOD', 'GET'],
      ['PATH_INFO', '/after'],
      ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ]),
  );
  const response = parseResponse(data);
  expect(response.statusLine).toBe('HTTP/1.1 200 OK');
  expect(response.body.toString()).toBe('ok /after');
  expect(reset).toBe(false);
  expect(calls()).toBe(before + 1);
}
