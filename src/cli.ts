#!/usr/bin/env node
/**
 * The command line: options → app → a server on each --socket, --fastcgi-socket and --http-socket.
 *
 * One process for now; the master and its workers come with their own issue.
 */
import { readFileSync } from 'node:fs';
import { helpText, parseArgs } from './config.js';
import { TsgiError } from './errors.js';
import { exampleApp } from './example-app.js';
import { loadApp } from './load-app.js';
import { log } from './log.js';
import { describeNative, type WireProtocol } from './native.js';
import { Server } from './server.js';

const DEFAULT_SOCKET = '127.0.0.1:3031';
/** How long SIGTERM waits for requests in flight (the master issue makes it an option). */
const SHUTDOWN_GRACE_MS = 30_000;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `tsgi ${pkg.version}\nnode ${process.version}\n${describeNative()}\n`;
}

async function main(argv: readonly string[]): Promise<void> {
  const config = parseArgs(argv);
  if (config.help) {
    process.stdout.write(helpText());
    return;
  }
  if (config.version) {
    process.stdout.write(version());
    return;
  }
  const app = config.module ? await loadApp(config.module, config.callable, config.adapter) : exampleApp;
  const server = new Server(app, {
    bufferSize: config['buffer-size'],
    maxVars: config['max-vars'],
    limitPost: config['limit-post'],
    socketTimeout: config['socket-timeout'],
    keepaliveTimeout: config['http-keepalive-timeout'],
    requestTimeout: config['http-request-timeout'],
    httpMaxRequestLine: config['http-max-request-line'],
    httpMaxHead: config['http-max-head'],
    httpMaxHeaders: config['http-max-headers'],
    httpMaxChunkExtension: config['http-max-chunk-extension'],
    maxConns: config['max-conns'],
    fastcgiMaxReqs: config['fastcgi-max-reqs'],
    fastcgiMultiplex: config['fastcgi-multiplex'],
  });
  const listeners: Array<[WireProtocol, string]> = [
    ...config.socket.map((socket): [WireProtocol, string] => ['uwsgi', socket]),
    ...config['fastcgi-socket'].map((socket): [WireProtocol, string] => ['fastcgi', socket]),
    ...config['http-socket'].map((socket): [WireProtocol, string] => ['http', socket]),
  ];
  if (listeners.length === 0) listeners.push(['uwsgi', DEFAULT_SOCKET]);
  for (const [protocol, socket] of listeners) {
    let bound: string;
    try {
      bound = server.listen(socket, { protocol, mode: config['chmod-socket'], backlog: config.listen });
    } catch (error) {
      server.close();
      const option = { uwsgi: '--socket', fastcgi: '--fastcgi-socket', http: '--http-socket' }[protocol];
      throw new TsgiError((error as TsgiError).code, `${option} ${(error as Error).message}`);
    }
    log.info(`serving ${config.module ?? 'the built-in example app'} over ${{ uwsgi: 'uwsgi', fastcgi: 'FastCGI', http: 'HTTP' }[protocol]} on ${bound}`);
  }
  // A promise the app forgot to handle is the app's bug, not a reason to drop every
  // request in flight: log it and keep serving.
  process.on('unhandledRejection', (reason) => {
    log.error(`unhandled promise rejection in the app: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  });
  // SIGTERM is a graceful shutdown (uWSGI < 2.1 made it a reload, a classic trap):
  // stop accepting, let requests in flight finish, then exit. SIGINT is immediate.
  process.once('SIGTERM', () => {
    log.info(`SIGTERM: no longer accepting; finishing ${server.activeRequests} request(s) in flight (up to ${SHUTDOWN_GRACE_MS / 1000} s)`);
    void server.shutdown(SHUTDOWN_GRACE_MS).then((aborted) => {
      if (aborted > 0) log.warn(`SIGTERM: aborted ${aborted} request(s) still running after ${SHUTDOWN_GRACE_MS / 1000} s`);
      process.exitCode = aborted > 0 ? 1 : 0;
    });
  });
  process.once('SIGINT', () => {
    log.info('SIGINT: closing now');
    server.close();
  });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof TsgiError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`tsgi: ${message}\n`);
  process.exitCode = error instanceof TsgiError && error.code === 'TSGI_ERR_INVALID_OPTION' ? 2 : 1;
});
