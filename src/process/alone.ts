/**
 * `--master false`: one process binds its sockets and serves alone. Nothing respawns,
 * reloads or recycles it, a request that blocks the event loop is not cut short
 * (harakiri still ends requests that run long while the loop turns), and it cannot drop
 * privileges (it would load the app first).
 */
import { environmentOf, type Config } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { exampleApp } from '../app/example.js';
import { loadApp } from './load-app.js';
import { log, logThrough } from '../log.js';
import { noteIn, ownLineFormat } from '../observe/own-lines.js';
import { fdBackend, LogWriter } from '../observe/log-writer.js';
import { SLOT_BYTES, WorkerSlot } from './scoreboard.js';
import { warnIfExposed, type Listener } from '../net/sockets.js';
import { logUnhandledRejections, Worker } from './worker.js';

export async function serveAlone(config: Config, listeners: readonly Listener[], backlog: number): Promise<void> {
  if (config.uid !== undefined || config.gid !== undefined) {
    // The app would be loaded before the drop: only the master drops privileges safely.
    throw new TsgiError(ErrorCodes.INVALID_OPTION, '--uid and --gid need the master (leave out --master false)');
  }
  if (config['worker-sockets']) {
    // One process has no worker to pin a client to: its shared sockets already reach it,
    // and a proxy told to use PORT+1 would find nothing there.
    throw new TsgiError(ErrorCodes.INVALID_OPTION, '--worker-sockets needs the master (leave out --master false): one process serves every socket alone');
  }
  const logs = new LogWriter(fdBackend(2));
  const ownLines = ownLineFormat(config, { wid: 0 });
  logThrough(logs, ownLines);
  noteIn(logs, config, ownLines);
  logUnhandledRejections();
  // What the master gives its workers: this process is the worker.
  Object.assign(process.env, environmentOf(config.env));
  const app = config.module ? await loadApp(config.module, config.callable, config.adapter) : exampleApp;
  const worker = new Worker(app, config, { wid: 0, pid: process.pid }, new WorkerSlot(null, 0, SLOT_BYTES), logs, (message) => {
    if (message.kind === 'recycle') log.warn(`${message.reason}, but without a master nothing replaces this process; it goes on`);
  });
  for (const listener of listeners) {
    const { protocol, name, option } = listener;
    try {
      const bound = worker.server.listen(name, { protocol, mode: config['chmod-socket'], backlog });
      warnIfExposed(listener, bound);
      log.info(`serving ${config.module ?? 'the built-in example app'} over ${protocol} on ${bound} (no master)`);
    } catch (error) {
      worker.close();
      throw new TsgiError((error as TsgiError).code, `${option} ${(error as Error).message}`);
    }
  }
  process.on('uncaughtException', (error) => void worker.uncaught(error, config['uncaught-exception-grace'] * 1000).then(() => process.exit(1)));
  process.once('SIGTERM', () => {
    log.info(`SIGTERM: no longer accepting; finishing ${worker.server.activeRequests} request(s) in flight (up to ${config['reload-mercy']} s)`);
    void worker.stop(config['reload-mercy'] * 1000).then((aborted) => process.exit(aborted > 0 ? 1 : 0));
  });
  process.once('SIGINT', () => {
    log.info('SIGINT: closing now');
    worker.close();
    void logs.flushed().then(() => process.exit(0));
  });
}
