/**
 * What the TSGI semantics tests share (serving/app-errors, body-close, start-response,
 * response-framing, input, backpressure, environ): a real in-process Server on
 * 127.0.0.1:0, one raw uwsgi request in, the raw HTTP response parsed; header lookups; and
 * the checks that a response was cut short and that a server went idle.
 */
import type { Headers } from '../../src/app/contract.js';
import type { TestServers } from './servers.js';
import { exchange, nginxVars, packet, parseResponse, waitFor } from './uwsgi.js';

export const TEXT: Headers = [['Content-Type', 'text/plain']];

/** The body of the server's static 500. */
export const ERROR_BODY = 'Internal Server Error\n';

/** A whole response, as the client got it, and how the connection ended. */
export interface RawResponse {
  statusLine: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** The connection was reset (ECONNRESET/EPIPE) rather than closed with a FIN. */
  reset: boolean;
  data: Buffer;
}

/** Sends one request and parses the complete response. */
export async function request(
  address: string,
  vars: Record<string, string> = nginxVars('GET', '/'),
  body: Buffer | string = '',
  modifier1 = 0,
): Promise<RawResponse> {
  const { data, reset } = await exchange(address, packet(vars, body, modifier1));
  return { ...parseResponse(data), reset, data };
}

export function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

export function headerNames(headers: Array<[string, string]>): string[] {
  return headers.map(([n]) => n.toLowerCase());
}

/** A response that, read as close-delimited, would look complete: it must not be one. */
export function looksComplete(data: Buffer, declared?: number): boolean {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const { headers, body } = parseResponse(data);
  const cl = headerValue(headers, 'Content-Length');
  if (cl !== undefined) return body.length === Number(cl);
  return declared === undefined ? true : body.length === declared;
}

/** The last server `servers.serve` started holds no request and no connection any more. */
export async function expectIdle(servers: TestServers): Promise<void> {
  const server = servers.started.at(-1)!;
  await waitFor(() => server.activeRequests === 0 && server.connections === 0, {
    what: `the server to be idle (requests ${server.activeRequests}, connections ${server.connections})`,
  });
}
