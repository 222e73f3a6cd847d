#!/usr/bin/env node
/**
 * The built-in example app behind a private nginx, to click around in:
 *
 *   npm run build && npm run example            # http://127.0.0.1:8080/
 *   node scripts/example-behind-nginx.mjs [--port 8080] [--tcp]
 *
 * Starts `node dist/cli.js` (no --module: the example app) on a Unix socket in a temp dir
 * (or on 127.0.0.1:<free port> with --tcp), and nginx on 127.0.0.1:PORT passing every
 * request to it with `uwsgi_pass`. Without nginx, tsgi serves HTTP on 127.0.0.1:PORT
 * itself, and the script says how to add nginx. Runs until Ctrl-C (or SIGTERM), then
 * stops both and removes the temp files.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNginx, startNginx } from '../scripts/lib/nginx.mjs';
import { freePort, stopProcess, waitForPort } from '../scripts/lib/processes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const usage = 'usage: node scripts/example-behind-nginx.mjs [--port 8080] [--tcp]\n';

/**
 * @param {string[]} argv
 * @returns {{ port: number, tcp: boolean }}
 */
function parseOptions(argv) {
  const options = { port: 8080, tcp: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    } else if (arg === '--tcp') {
      options.tcp = true;
    } else if (arg === '--port' || arg.startsWith('--port=')) {
      const value = arg.includes('=') ? arg.slice(7) : argv[++i];
      const port = Number(value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        process.stderr.write(`example: --port takes a port number, got ${value}\n`);
        process.exit(2);
      }
      options.port = port;
    } else {
      process.stderr.write(`example: unknown argument ${arg}\n${usage}`);
      process.exit(2);
    }
  }
  return options;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const cli = path.join(root, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error(`${path.relative(root, cli)} is missing: run npm run build first`);
  const withNginx = findNginx() !== null;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-example-'));
  /** @type {import('node:child_process').ChildProcess | undefined} */
  let tsgi;
  /** @type {import('./lib/nginx.mjs').Nginx | undefined} */
  let nginx;
  let stopping = false;
  /** @param {number} code */
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    await nginx?.stop().catch((/** @type {unknown} */ e) => process.stderr.write(`example: stopping nginx: ${e instanceof Error ? e.message : e}\n`));
    await stopProcess(tsgi, { signal: 'SIGTERM', graceMs: 5_000 });
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => {
    process.stdout.write('\nstopping nginx and tsgi...\n');
    void stop(0);
  });
  process.on('SIGTERM', () => void stop(0));

  try {
    const socket = !withNginx ? `127.0.0.1:${options.port}` : options.tcp ? `127.0.0.1:${await freePort()}` : path.join(dir, 'tsgi.sock');
    // detached: Ctrl-C reaches this script only, which then stops tsgi in order.
    // As root (a container, say), the example runs its workers as root: it says so.
    const asRoot = process.getuid?.() === 0 ? ['--allow-root'] : [];
    const listen = withNginx ? ['--socket', socket, '--chmod-socket', '666'] : ['--http-socket', socket];
    const child = spawn(process.execPath, [cli, ...listen, ...asRoot], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    tsgi = child;
    child.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`example: tsgi exited unexpectedly (${signal ?? `code ${code}`})\n`);
        void stop(1);
      }
    });
    await waitForPort(socket.includes(':') ? Number(socket.split(':')[1]) : socket, { child, timeoutMs: 10_000 });
    if (!withNginx) {
      const base = `http://${socket}`;
      process.stdout.write(
        [
          `nginx is not installed: tsgi serves HTTP itself (--http-socket ${socket})`,
          `open ${base}/`,
          `  curl -d 'hello' ${base}/   echoes the body`,
          'To put nginx in front, as in production: apt-get install nginx (or set NGINX=/path/to/nginx), then run this again.',
          'Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      return;
    }

    nginx = await startNginx({
      port: options.port,
      errorLogLevel: 'warn',
      locations: [{ path: '/', uwsgiPass: options.tcp ? socket : `unix:${socket}` }],
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`example: ${message}\n`);
    if (/Address already in use/.test(message)) process.stderr.write(`example: port ${options.port} is taken; pick another with --port\n`);
    await stop(1);
    return;
  }

  const base = nginx.baseUrl;
  process.stdout.write(
    [
      `tsgi on ${options.tcp ? 'tcp' : 'unix'} socket, nginx ${nginx.prefix}/conf/nginx.conf`,
      `open ${base}/`,
      `  ${base}/stream            ten chunks, one every 100 ms (curl -N)`,
      `  curl -d 'hello' ${base}/   echoes the body`,
      'Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}

main().catch((error) => {
  process.stderr.write(`example: ${error?.stack ?? error}\n`);
  process.exit(1);
});
