/**
 * Processes and ports, for tests, benchmarks and scripts alike: find an executable, take a
 * free port, wait until something listens, stop a process (or its whole group). Plain ESM
 * with JSDoc types, so benchmarks and scripts run without a build and `tsc -p
 * tsconfig.check.json` checks it; tests import it as it is.
 *
 *   const port = await freePort();
 *   const child = spawn(bin, ['--port', String(port)], { detached: true });
 *   await waitForPort(port, { child });
 *   await stopProcess(child, { group: true });
 */
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/** Where system daemons live when PATH (a user's, a CI job's) does not list them. */
const SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', '/sbin', '/opt/homebrew/bin'];

/**
 * The full path of executable `name` on PATH (or in the usual sbin dirs), or null.
 * @param {string} name
 * @returns {string | null}
 */
export function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * A TCP port that was free a moment ago on `host`.
 * @param {string} [host]
 * @returns {Promise<number>}
 */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * Rejects with "Address already in use" if `port` on `host` cannot be bound now.
 * @param {number} port
 * @param {string} [host]
 * @returns {Promise<void>}
 */
export function checkPortFree(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (/** @type {NodeJS.ErrnoException} */ error) =>
      reject(new Error(`${host}:${port}: ${error.code === 'EADDRINUSE' ? 'Address already in use' : error.message}`)),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/**
 * @typedef {object} WaitForPortOptions
 * @property {string} [host] for a TCP port; default 127.0.0.1
 * @property {number} [timeoutMs] default 10000
 * @property {ChildProcess} [child] the process that should listen: its exit rejects at once
 * @property {() => string} [describe] context for the error message
 */

/**
 * Resolves once something accepts connections on host:port (or a Unix socket path).
 * Rejects after `timeoutMs`, or at once if `child` exits first; `describe()` adds context.
 * @param {number | string} port a TCP port, or a Unix socket path
 * @param {WaitForPortOptions} [options]
 * @returns {Promise<void>}
 */
export function waitForPort(port, { host = '127.0.0.1', timeoutMs = 10_000, child, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  const what = typeof port === 'string' ? port : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    /** @param {string} message */
    const fail = (message) => {
      if (settled) return;
      settled = true;
      child?.off('exit', onExit);
      const context = describe ? describe() : '';
      reject(new Error(context ? `${message}\n${context}` : message));
    };
    /**
     * @param {number | null} code
     * @param {NodeJS.Signals | null} signal
     */
    const onExit = (code, signal) => fail(`the process that should listen on ${what} exited (${signal ?? `code ${code}`}) before it did`);
    child?.once('exit', onExit);
    if (child && child.exitCode !== null) return onExit(child.exitCode, child.signalCode);
    const attempt = () => {
      if (settled) return;
      const socket = typeof port === 'string' ? net.connect(port) : net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        if (settled) return;
        settled = true;
        child?.off('exit', onExit);
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) fail(`nothing accepted connections on ${what} within ${timeoutMs} ms`);
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/**
 * @typedef {object} StopOptions
 * @property {NodeJS.Signals} [signal] sent first; default SIGTERM
 * @property {number} [graceMs] how long to wait before SIGKILL; default 5000
 * @property {boolean} [group] signal the process group (a child spawned `detached`)
 */

/**
 * Sends `signal` to `child` (to its process group if `group`) and waits for it to exit;
 * SIGKILL after `graceMs`.
 * @param {ChildProcess | null | undefined} child
 * @param {StopOptions} [options]
 * @returns {Promise<void>}
 */
export async function stopProcess(child, { signal = 'SIGTERM', graceMs = 5_000, group = false } = {}) {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  /** @param {NodeJS.Signals} sig */
  const send = (sig) => {
    try {
      process.kill(group ? -pid : pid, sig);
    } catch {
      // already gone
    }
  };
  send(signal);
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  if ((await Promise.race([exited, timedOut])) === 'timeout') {
    send('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}
