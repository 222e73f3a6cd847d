/**
 * The uwsgi request body and what follows it (docs/malformed-input.md,
 * U19-U21): a body cut short by a half-close, a second packet after the body never
 * parsed, Transfer-Encoding and HTTP_CONTENT_LENGTH that do not frame the body, a body
 * stalled past socketTimeout.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { useTestServers } from '../helpers/servers.js';
import { RawClient, delay, exchange, nginxVars, packet, parseResponse, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

describe('the request body', () => {
  it('U19: a body shorter than CONTENT_LENGTH, then a half-close: the abort signal fires and the input rejects TSGI_ERR_BODY_TRUNCATED', async () => {
    let readError: unknown;
    let signalReason: unknown;
    let aborts = 0;
    let partial = 0;
    let settled = false;
    const address = serve(async (environ, start) => {
      const signal = environ['tsgi.signal'];
      signal.addEventListener('abort', () => {
        aborts++;
        signalReason = signal.reason;
      });
      try {
        for await (const chunk of environ['tsgi.input']) partial += chunk.length;
      } catch (error) {
        readError = error;
      }
      settled = true;
      start('200 OK', []);
      return ['must not be sent as complete'];
    });
    const client = new RawClient(address, { allowHalfOpen: true });
    await client.connected;
    await client.write(
      packet(
        [
          ['REQUEST_METHOD', 'POST'],
          ['PATH_INFO', '/up'],
          ['CONTENT_LENGTH', '10'],
        ],
        'abcd',
      ),
    );
    await delay(20);
    client.end();
    await waitFor(() => settled, { what: 'the app to see the abort' });
    expect(readError).toBeInstanceOf(TsgiError);
    expect((readError as TsgiError).code).toBe(ErrorCodes.BODY_TRUNCATED);
    expect(aborts).toBe(1);
    expect((signalReason as TsgiError).code).toBe(ErrorCodes.BODY_TRUNCATED);
    expect(partial).toBeLessThanOrEqual(4);
    await client.whenClosed;
    expect(client.data.toString()).not.toContain('must not be sent');
    await waitFor(() => servers.logs.find(/peer closed with 6 body bytes missing; request aborted/), { what: 'the log line' });
  });

  it('U19: read() pending when the peer half-closes rejects with TSGI_ERR_BODY_TRUNCATED', async () => {
    let readError: unknown;
    const address = serve(async (environ, start) => {
      try {
        await environ['tsgi.input'].read();
      } catch (error) {
        readError = error;
      }
      start('200 OK', []);
      return [];
    });
    const client = new RawClient(address, { allowHalfOpen: true });
    await client.connected;
    await client.write(
      packet([
        ['REQUEST_METHOD', 'POST'],
        ['CONTENT_LENGTH', '100'],
      ]),
    );
    await client.write('only some');
    await delay(20);
    client.end();
    await waitFor(() => readError !== undefined, { what: 'read() to reject' });
    expect((readError as TsgiError).code).toBe(ErrorCodes.BODY_TRUNCATED);
  });

  it('U20: a second uwsgi packet after the body is never parsed', async () => {
    let calls = 0;
    const bodies: string[] = [];
    const address = serve(async (environ, start) => {
      calls++;
      bodies.push(Buffer.from(await environ['tsgi.input'].read()).toString('latin1'));
      start('200 OK', []);
      return [`${environ.PATH_INFO}`];
    });
    const second = packet(nginxVars('GET', '/second'));
    const { data } = await exchange(
      address,
      Buffer.concat([
        packet(
          [
            ['REQUEST_METHOD', 'POST'],
            ['PATH_INFO', '/first'],
            ['CONTENT_LENGTH', '5'],
          ],
          'hello',
        ),
        second,
      ]),
    );
    expect(parseResponse(data).body.toString()).toBe('/first');
    expect(bodies).toEqual(['hello']);
    // Also when it arrives later, and after a request without a body.
    const client = new RawClient(address);
    await client.connected;
    await client.write(
      packet([
        ['REQUEST_METHOD', 'GET'],
        ['PATH_INFO', '/third'],
      ]),
    );
    await client.write(second);
    await client.whenClosed;
    expect(parseResponse(client.data).body.toString()).toBe('/third');
    await delay(30);
    expect(calls).toBe(2);
  });

  it('U21: HTTP_TRANSFER_ENCODING chunked and HTTP_CONTENT_LENGTH do not frame the body', async () => {
    const seen: Array<[string, unknown, unknown]> = [];
    const address = serve(async (environ, start) => {
      const body = Buffer.from(await environ['tsgi.input'].read()).toString('latin1');
      seen.push([body, environ.HTTP_TRANSFER_ENCODING, environ.HTTP_CONTENT_LENGTH]);
      start('200 OK', []);
      return ['ok'];
    });
    const chunked = '5\r\nhello\r\n0\r\n\r\n';
    await exchange(
      address,
      packet(
        [
          ['REQUEST_METHOD', 'POST'],
          ['CONTENT_LENGTH', '5'],
          ['HTTP_TRANSFER_ENCODING', 'chunked'],
          ['HTTP_CONTENT_LENGTH', '100'],
        ],
        'hello0\r\n\r\n',
      ),
    );
    await exchange(
      address,
      packet(
        [
          ['REQUEST_METHOD', 'POST'],
          ['HTTP_TRANSFER_ENCODING', 'chunked'],
        ],
        chunked,
      ),
    );
    expect(seen).toEqual([
      ['hello', 'chunked', undefined],
      ['', 'chunked', undefined],
    ]);
  });

  it('a body stalled past socketTimeout aborts the request (reset, input rejects)', async () => {
    let readError: unknown;
    const address = serve(
      async (environ, start) => {
        try {
          await environ['tsgi.input'].read();
        } catch (error) {
          readError = error;
        }
        start('200 OK', []);
        return [];
      },
      { socketTimeout: 0.3 },
    );
    const client = new RawClient(address);
    await client.connected;
    await client.write(
      packet(
        [
          ['REQUEST_METHOD', 'POST'],
          ['CONTENT_LENGTH', '10'],
        ],
        'abc',
      ),
    );
    const { data } = await client.whenClosed;
    expect(data.length).toBe(0);
    await waitFor(() => readError !== undefined, { what: 'read() to reject' });
    expect(readError).toBeInstanceOf(TsgiError);
    await waitFor(() => servers.logs.find(/request body stalled for socket-timeout 0.3 s with 7 bytes missing/), { what: 'the log line' });
  });
});
