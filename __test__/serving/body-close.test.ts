/**
 * The end of a response body, end to end over uwsgi: the body's close() runs however the
 * response ends (a normal end, an error, a client gone before or during the body),
 * tsgi.signal fires exactly once when the client goes, and a generator's finally runs when
 * the server stops iterating early (Content-Length reached, an invalid chunk).
 */
import { describe, expect, it } from 'vitest';
import type { Chunk } from '../../src/app/contract.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { useTestServers } from '../helpers/servers.js';
import { TEXT, expectIdle, request } from '../helpers/tsgi.js';
import { RawClient, delay, exchange, nginxVars, packet, waitFor } from '../helpers/uwsgi.js';

const servers = useTestServers();
const { serve } = servers;

describe('close() is always called', () => {
  it('after a normal end (array body), and the signal does not fire', async () => {
    let closed = 0;
    let signal: AbortSignal | undefined;
    const address = serve((environ, start) => {
      signal = environ['tsgi.signal'];
      start('200 OK', TEXT);
      return Object.assign(['done'], { close: () => void closed++ });
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('done');
    await waitFor(() => closed === 1, { what: 'close()' });
    await delay(20);
    expect(closed).toBe(1);
    expect(signal!.aborted).toBe(false);
  });

  it('after a normal end (custom iterable object)', async () => {
    let closed = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      const parts = ['a', 'b', 'c'];
      return {
        [Symbol.iterator]: () => parts[Symbol.iterator](),
        close: () => void closed++,
      };
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('abc');
    await waitFor(() => closed === 1, { what: 'close()' });
  });

  it('after a normal end (async generator with close)', async () => {
    let closed = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      async function* gen(): AsyncGenerator<Chunk> {
        yield 'x';
        await delay(1);
        yield 'y';
      }
      return Object.assign(gen(), { close: () => void closed++ });
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('xy');
    await waitFor(() => closed === 1, { what: 'close()' });
  });

  it('after an error mid-iteration (before and after headers went out)', async () => {
    let closed = 0;
    let step = 0;
    let failAt = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      step = 0;
      return {
        [Symbol.iterator]: () => ({
          next: (): IteratorResult<Chunk> => {
            step++;
            if (step === failAt) throw new Error(`boom-at-${step}`);
            return step > 3 ? { done: true, value: undefined } : { done: false, value: `part${step}` };
          },
        }),
        close: () => void closed++,
      };
    });
    failAt = 1;
    const first = await request(address);
    expect(first.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => closed === 1, { what: 'close() after the 500' });
    failAt = 2;
    const { reset } = await exchange(address, packet(nginxVars('GET', '/')));
    expect(reset).toBe(true);
    await waitFor(() => closed === 2, { what: 'close() after the reset' });
  });

  it('when the app itself throws, close() of nothing is not an issue, and a rejected Promise body is logged', async () => {
    const address = serve(() => Promise.reject(new Error('boom-rejected')));
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => servers.logs.find(/boom-rejected/), { what: 'the log line' });
  });

  it('when the client goes mid-stream: close(), return(), and tsgi.signal fires exactly once', async () => {
    let closed = 0;
    let finallyRan = 0;
    let aborts = 0;
    let produced = 0;
    let signal: AbortSignal | undefined;
    const address = serve((environ, start) => {
      signal = environ['tsgi.signal'];
      signal.addEventListener('abort', () => aborts++);
      start('200 OK', TEXT);
      async function* slow(): AsyncGenerator<Chunk> {
        try {
          for (;;) {
            produced++;
            yield `tick ${produced}\n`;
            await delay(10);
          }
        } finally {
          finallyRan++;
        }
      }
      return Object.assign(slow(), { close: () => void closed++ });
    });
    const client = new RawClient(address);
    await client.connected;
    await client.write(packet(nginxVars('GET', '/stream')));
    await waitFor(() => client.data.includes('tick 2'), { what: 'some of the stream' });
    client.destroy();
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(finallyRan).toBe(1);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(TsgiError);
    expect((signal!.reason as TsgiError).code).toBe(ErrorCodes.CLIENT_GONE);
    const after = produced;
    await delay(60);
    expect(produced).toBe(after);
    expect(aborts).toBe(1);
    expect(closed).toBe(1);
    await expectIdle(servers);
  });

  it('when the client goes before an async app returns: the signal fires, and close() runs on the late body', async () => {
    let closed = 0;
    let aborted = false;
    let reason: unknown;
    const address = serve(async (environ, start) => {
      const signal = environ['tsgi.signal'];
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = signal.aborted;
      reason = signal.reason;
      start('200 OK', TEXT);
      return Object.assign(['too late'], { close: () => void closed++ });
    });
    const client = new RawClient(address);
    await client.connected;
    await client.write(packet(nginxVars('GET', '/slow')));
    await delay(20);
    client.destroy();
    await waitFor(() => closed === 1, { what: 'close() of the late body' });
    expect(aborted).toBe(true);
    expect((reason as TsgiError).code).toBe(ErrorCodes.CLIENT_GONE);
    await expectIdle(servers);
  });

  it('when the client goes while a sync generator waits for the queue to drain', async () => {
    let closed = 0;
    let finallyRan = 0;
    let produced = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      function* endless(): Generator<Chunk> {
        try {
          for (;;) {
            produced++;
            yield chunk;
          }
        } finally {
          finallyRan++;
        }
      }
      return Object.assign(endless(), { close: () => void closed++ });
    });
    const client = new RawClient(address);
    await client.connected;
    client.socket.pause();
    await client.write(packet(nginxVars('GET', '/endless')));
    await waitFor(() => produced > 4, { what: 'the generator to fill the queue' });
    client.destroy();
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(finallyRan).toBe(1);
    await expectIdle(servers);
  });
});

describe('iterator return() when the server stops early', () => {
  it('runs the generator finally when Content-Length is reached before the end', async () => {
    let finallyRan = 0;
    let resumedAfterLimit = false;
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '5']]);
      return (function* () {
        try {
          yield 'hel';
          yield 'lo, and more';
          resumedAfterLimit = true;
          yield 'even more';
        } finally {
          finallyRan++;
        }
      })();
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('hello');
    await waitFor(() => finallyRan === 1, { what: 'the finally block' });
    expect(resumedAfterLimit).toBe(false);
  });

  it('runs the async generator finally when Content-Length is reached before the end', async () => {
    let finallyRan = 0;
    const address = serve((_environ, start) => {
      start('200 OK', [...TEXT, ['Content-Length', '4']]);
      return (async function* () {
        try {
          for (;;) {
            await delay(1);
            yield 'ab';
          }
        } finally {
          finallyRan++;
        }
      })();
    });
    const response = await request(address);
    expect(response.body.toString()).toBe('abab');
    await waitFor(() => finallyRan === 1, { what: 'the finally block' });
  });

  // The server stops iterating because the app yielded something it cannot send: as with
  // for-of, the iterator's return() must run so the generator's finally releases what it holds.
  it('runs the generator finally when a chunk is invalid', async () => {
    let finallyRan = 0;
    let closed = 0;
    const address = serve((_environ, start) => {
      start('200 OK', TEXT);
      const gen = (function* () {
        try {
          yield 42 as unknown as Chunk;
          yield 'never';
        } finally {
          finallyRan++;
        }
      })();
      return Object.assign(gen, { close: () => void closed++ });
    });
    const response = await request(address);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    await waitFor(() => servers.logs.find(/TSGI_ERR_INVALID_CHUNK|must be a string or a Uint8Array/), { what: 'the log line' });
    await waitFor(() => closed === 1, { what: 'close()' });
    expect(finallyRan).toBe(1);
  });
});
