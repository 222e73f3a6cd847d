/**
 * The `socket` of Node's `'upgrade'` event: a real `stream.Duplex` over a connection the
 * app took over (`ServerHooks.upgrade`), so that `ws`, socket.io and `@fastify/websocket`
 * run unchanged. What the app writes goes out as it is (its own `101` head first), with
 * backpressure: a write returns false while the connection's queue is full, and the stream
 * waits for it to drain. What the client sends is read from `tsgi.input` only as the app
 * reads the stream, so a slow app pauses the socket instead of filling memory; the client
 * closing its side ends the readable side.
 *
 * Like the sockets of Node's own server (`allowHalfOpen: true`), the writable side stays
 * open when the client ends its side; `end()` closes the connection once its bytes are
 * sent, `destroy()` at once. A client that goes away closes the stream without an
 * `'error'`: an app without an error listener must not take the worker down with it.
 */
import { Duplex } from 'node:stream';
import type { Environ } from '../app/contract.js';
import type { RawConnection } from '../server/environ.js';
import { socketAddress } from './request-parts.js';

type Callback = (error?: Error | null) => void;

export class UpgradedSocket extends Duplex {
  // What apps read off a net.Socket.
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string;
  readonly localAddress: string | undefined;
  readonly localPort: number;
  readonly encrypted: true | undefined;
  readonly connecting = false;
  bytesRead = 0;
  bytesWritten = 0;

  /** A read of `tsgi.input` is under way (one at a time). */
  private pulling = false;
  /** The readable side has ended: the client closed its side, or ours is done. */
  private readEnded = false;
  /** The connection ended from our side (end or destroy): nothing more to send. */
  private done = false;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly environ: Environ,
    private readonly connection: RawConnection,
  ) {
    super({ allowHalfOpen: true });
    this.remoteAddress = socketAddress.remoteAddress(environ);
    this.remotePort = socketAddress.remotePort(environ);
    this.remoteFamily = socketAddress.remoteFamily(environ);
    this.localAddress = socketAddress.localAddress(environ);
    this.localPort = socketAddress.localPort(environ);
    this.encrypted = socketAddress.encrypted(environ);
  }

  address(): { address?: string; port: number; family?: string } {
    return socketAddress.address(this.environ);
  }

  // ---- reading: the client's bytes, as the app asks for them ----------------------------

  override _read(): void {
    if (this.pulling) return;
    this.pulling = true;
    void this.pull();
  }

  /** Reads `tsgi.input` while the stream wants more; ends it when the client's side ends. */
  private async pull(): Promise<void> {
    const input = this.environ['tsgi.input'];
    try {
      for (;;) {
        const chunk = await input.read(64 * 1024);
        if (this.readEnded) return;
        if (chunk.length === 0) {
          this.endReadable();
          return;
        }
        this.bytesRead += chunk.length;
        this.touch();
        if (!this.push(chunk)) return;
      }
    } catch {
      // The client went away (or the server is closing the connection): the stream
      // closes, without an error an app may not listen for.
      this.done = true;
      this.destroy();
    } finally {
      this.pulling = false;
    }
  }

  // ---- writing: the app's bytes, as they are ---------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.bytesWritten += chunk.length;
    this.touch();
    if (this.connection.write(chunk)) callback();
    else this.connection.onDrain(() => callback());
  }

  /** Our side is done: the connection closes once its bytes are out, so nothing more will be
   * read either (the stream ends, and closes, as a socket whose peer then closes does). */
  override _final(callback: Callback): void {
    this.done = true;
    this.connection.end();
    this.endReadable();
    callback();
  }

  private endReadable(): void {
    if (this.readEnded) return;
    this.readEnded = true;
    this.push(null);
  }

  override _destroy(error: Error | null, callback: Callback): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (!this.done) {
      this.done = true;
      this.connection.destroy();
    }
    callback(error);
  }

  // ---- net.Socket's options --------------------------------------------------------------

  /** `'timeout'` after `ms` without a byte either way (0: never), as net.Socket does. */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleMs = ms;
    if (callback) this.once('timeout', callback);
    this.touch();
    return this;
  }

  /** Responses and frames go out whole already (TCP_NODELAY is on): nothing to change. */
  setNoDelay(): this {
    return this;
  }

  /** Keep-alive probes are the listener's (and the proxy's) business. */
  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.idleMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs);
      this.idleTimer.unref();
    }
  }
}
