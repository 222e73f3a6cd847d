#!/usr/bin/env node
/**
 * The command line: options → checks → sockets bound → privileges dropped → a master
 * and its workers (or, with `--master false`, one process serving alone).
 *
 * This module runs in the master process, which never loads the app nor the native
 * reactor: what needs them (`--version`, `--master false`) is imported on demand.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { helpText, parseArgs, type Config } from './config.js';
import { ErrorCodes, TsgiError } from './errors.js';
import { log, logThrough } from './log.js';
import { fdBackend, LogWriter } from './log-writer.js';
import { Master } from './master.js';
import { checkNotRoot, dropPrivileges } from './privileges.js';
import { compileFormat } from './request-log.js';
import { bindSocket, closeSockets, listenersOf, somaxconn, type BoundSocket } from './sockets.js';
import { serveStats } from './stats.js';

const DEFAULT_SOCKET = '127.0.0.1:3031';
const PROTOCOL_NAMES = { uwsgi: 'uwsgi', fastcgi: 'FastCGI', http: 'HTTP' } as const;

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function version(): Promise<string> {
  const { describeNative } = await import('./native.js');
  return `tsgi ${packageVersion()}\nnode ${process.version}\n${describeNative()}\n`;
}

/** The listen queue length: `--listen`, else the kernel's cap (warning if asked for more). */
async function backlogOf(config: Config): Promise<number> {
  const cap = await somaxconn();
  if (config.listen !== undefined && config.listen > cap) {
    log.warn(`--listen ${config.listen}: the kernel caps listen queues at ${cap} (net.core.somaxconn); raise it with sysctl for a longer queue`);
  }
  return config.listen ?? cap;
}

/** Where log lines go: stderr (the apps' stdout to stdout), or all to `--logto`, which
 * SIGUSR1 reopens (after logrotate moved it). */
function openLogs(logto: string | undefined): { logs: LogWriter; stdout: LogWriter; reopen(): void } {
  if (logto === undefined) return { logs: new LogWriter(fdBackend(2)), stdout: new LogWriter(fdBackend(1)), reopen() {} };
  let fd = openSync(logto, 'a', 0o640);
  const writer = new LogWriter(fdBackend(fd));
  const reopen = (): void => {
    let next: number;
    try {
      next = openSync(logto, 'a', 0o640);
    } catch (error) {
      log.error(`SIGUSR1: cannot reopen --logto ${logto}: ${(error as Error).message}; still writing to the old file`);
      return;
    }
    const old = fd;
    fd = next;
    writer.switchTo(fdBackend(next));
    // A write still in flight finishes on the old file first.
    setTimeout(() => closeSync(old), 1000).unref();
    log.info(`SIGUSR1: reopened --logto ${logto}`);
  };
  return { logs: writer, stdout: writer, reopen };
}

async function runMaster(config: Config): Promise<void> {
  const output = openLogs(config.logto);
  logThrough(output.logs);
  const backlog = await backlogOf(config);
  const sockets: BoundSocket[] = [];
  try {
    for (const listener of listenersOf(config, DEFAULT_SOCKET)) sockets.push(await bindSocket(listener, config['chmod-socket']));
    if (config.pidfile) writeFileSync(config.pidfile, `${process.pid}\n`);
    dropPrivileges(config.uid, config.gid, config['allow-root']);
  } catch (error) {
    await closeSockets(sockets, true);
    throw error;
  }
  const stats = config.stats ? await serveStats(config.stats, config['stats-http'], () => master.snapshot()) : null;
  const cleanup = async (): Promise<void> => {
    stats?.close();
    await closeSockets(sockets, config.vacuum);
    if (config.pidfile && config.vacuum) {
      try {
        unlinkSync(config.pidfile);
      } catch {
        // already gone
      }
    }
    await output.logs.flushed();
    await output.stdout.flushed();
  };
  const master: Master = new Master({
    config,
    sockets,
    backlog,
    logs: output.logs,
    stdout: output.stdout,
    version: `tsgi ${packageVersion()}`,
    onExit: (code) => void cleanup().then(() => process.exit(code)),
    onFatal: (error) =>
      void cleanup().then(() => {
        process.stderr.write(`tsgi: ${error.message}\n`);
        process.exit(error.code === ErrorCodes.INVALID_OPTION ? 2 : 1);
      }),
  });
  // SIGTERM is a graceful shutdown (uWSGI 2.0 made it a reload, a classic trap): the
  // workers stop accepting and finish their requests. SIGINT and SIGQUIT are fast.
  process.on('SIGTERM', () => {
    log.info(`SIGTERM: graceful shutdown; the workers finish their requests (up to --reload-mercy ${config['reload-mercy']} s)`);
    master.shutdown(true);
    void closeSockets(sockets, config.vacuum);
  });
  for (const signal of ['SIGINT', 'SIGQUIT'] as const) {
    process.on(signal, () => {
      log.info(`${signal}: fast shutdown`);
      master.shutdown(false);
    });
  }
  process.on('SIGHUP', () => master.background(master.reload('SIGHUP')));
  process.on('SIGUSR1', () => output.reopen());
  if (stats) log.info(`stats on ${stats.local}${config['stats-http'] ? ' (HTTP: / and /metrics)' : ''}`);
  await master.start();
  for (const socket of sockets) log.info(`serving ${config.module ?? 'the built-in example app'} over ${PROTOCOL_NAMES[socket.protocol]} on ${socket.local}`);
  log.info(`${config.processes} worker(s) ready (pid ${master.pids.join(', ')}); master pid ${process.pid}`);
}

async function main(argv: readonly string[]): Promise<void> {
  const config = parseArgs(argv);
  if (config.help) return void process.stdout.write(helpText());
  if (config.version) return void process.stdout.write(await version());
  checkNotRoot(config.uid, config['allow-root']);
  // Mistakes in the log template are found now, not in every worker.
  if (config['log-format'] !== undefined) compileFormat(config['log-format']);
  if (config.master) return runMaster(config);
  const { serveAlone } = await import('./alone.js');
  return serveAlone(config, listenersOf(config, DEFAULT_SOCKET), await backlogOf(config));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof TsgiError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`tsgi: ${message}\n`);
  process.exitCode = error instanceof TsgiError && error.code === ErrorCodes.INVALID_OPTION ? 2 : 1;
});
