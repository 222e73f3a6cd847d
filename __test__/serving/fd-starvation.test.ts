/**
 * A worker out of file descriptors (ulimit -n) while clients keep connecting: accept fails
 * again and again (the native reactor retries every 100 ms), and the log gets one line for
 * it, not ten a second; once descriptors return, the worker serves. On the pure reactor
 * libuv accepts and closes the waiting connections itself and reports nothing (docs/install.md,
 * "The pure-TypeScript path"): the clients see their connections closed.
 */
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, until } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const native = process.env.TSGI_NATIVE !== '0';
const APP = path.resolve('__test__/fixtures/chaos-app.mjs');
const STARVED = /accept: .*(EMFILE|Too many open files).*\(raise the fd limit, ulimit -n\)/;

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

describe('a worker out of file descriptors', () => {
  it('logs one line while accept keeps failing, and serves again once descriptors return', async () => {
    const port = await freePort();
    const tsgi = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, '--master', 'false', '--disable-logging'], /no master/, {
      fdLimit: 64,
    });
    cleanups.push(() => tsgi.kill());
    const held: net.Socket[] = [];
    let closedByServer = 0;
    cleanups.push(() => held.forEach((s) => s.destroy()));
    // Each sends the start of a head and waits: accepted (TCP_DEFER_ACCEPT waits for a
    // byte), then held open until the head timeout.
    const connect = () =>
      held.push(
        net
          .connect(port, '127.0.0.1', function (this: net.Socket) {
            this.write('GET /ok HTTP/1.1\r\n');
          })
          .on('error', () => {})
          .on('close', () => closedByServer++),
      );
    // More connections than descriptors, then one more every 20 ms: every rest of the
    // listener ends in another failed accept.
    for (let i = 0; i < 100; i++) connect();
    const first = native ? await tsgi.line(STARVED) : { at: await until(() => (closedByServer > 0 ? Date.now() : undefined), 'libuv closing connections') };
    const more = setInterval(connect, 20);
    cleanups.push(() => clearInterval(more));
    // A second long enough for ten failed accepts at the native reactor's 100 ms rest.
    await until(() => Date.now() > first.at + 1000 || undefined, 'a second of failed accepts');
    clearInterval(more);
    expect(tsgi.lines.filter((l) => STARVED.test(l.text))).toHaveLength(native ? 1 : 0);

    held.splice(0).forEach((s) => s.removeAllListeners('close').destroy());
    const answer = await until(
      () =>
        fetch(`http://127.0.0.1:${port}/ok`).then(
          (res) => res.status,
          () => undefined,
        ),
      'the worker serving again',
    );
    expect(answer).toBe(200);
  });
});
