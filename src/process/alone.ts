/**
 * `--master false`: one process binds its sockets and serves alone. Nothing respawns,
 * reloads or recycles it, a request that blocks the event loop is not cut short
 * (harakiri still ends requests that run long while the loop turns), and it cannot drop
 * privileges (it would load the app first). systemd's protocols work as with a master:
 * inherited sockets are served, READY=1 follows the listening, STOPPING=1 a SIGTERM.
 */
import { environmentOf, type Config } from '../config/index.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { exampleApp } from '../app/example.js';
import { loadApp } from './load-app.js';
import { log, logThrough } from '../log.js';
import { noteIn, ownLineFormat } from '../observe/own-lines.js';
import { fdBackend, LogWriter } from '../observe/log-writer.js';
import { LogFile } from '../observe/log-file.js';
import { Slowlog } from '../observe/slowlog.js';
import { BYTES_PER_WORKER, WorkerSlot } from './scoreboard.js';
import { isUnixSocket, ownSocket, warnIfExposed, type Listener } from '../net/sockets.js';
import { socketOwner } from './privileges.js';
import { systemdNotifier } from './systemd.js';
import { inheritedSockets, refuseUnclaimed, takeInherited } from '../net/activation.js';
import { logUnhandledRejections, runOnStart, Worker } from './worker.js';
import { prepareReactor } from '../server/server.js';
import type { FromWorker } from './worker-protocol.js';

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
  for (const option of ['control-socket', 'master-fifo'] as const) {
    if (config[option] !== undefined)
      throw new TsgiError(ErrorCodes.INVALID_OPTION, `--${option} needs the master (leave out --master false): it is the master that takes the commands`);
  }
  if (config['standby-worker']) {
    throw new TsgiError(
      ErrorCodes.INVALID_OPTION,
      '--standby-worker needs the master (leave out --master false): one process serves alone, nothing replaces it',
    );
  }
  if (config.cheaper > 0) {
    throw new TsgiError(
      ErrorCodes.INVALID_OPTION,
      '--cheaper needs the master (leave out --master false): one process serves alone, there is no worker to add',
    );
  }
  // --logto: this process writes its lines to the file itself, as a worker does.
  const logFile = config.logto === undefined ? null : new LogFile(config.logto);
  const logs = logFile?.writer ?? new LogWriter(fdBackend(2));
  const ownLines = ownLineFormat(config, { wid: 0 });
  logThrough(logs, ownLines);
  noteIn(logs, config, ownLines);
  logUnhandledRejections();
  // systemd's variables are taken before the app could see them.
  const inherited = inheritedSockets();
  const adoptions = [];
  for (const listener of listeners) adoptions.push(await takeInherited(listener, inherited));
  refuseUnclaimed(inherited);
  const systemd = await systemdNotifier();
  // What the master gives its workers: this process is the worker.
  Object.assign(process.env, environmentOf(config.env));
  const { app, hooks } = config.module ? await loadApp(config.module, config.callable, config.adapter) : { app: exampleApp, hooks: {} };
  await runOnStart(hooks, config);
  // No master: slow requests whose loop turns are logged, a blocked loop is not seen.
  const slowlog = config['slowlog-timeout'] > 0 ? new Slowlog(config) : null;
  const report = (message: FromWorker): void => {
    if (message.kind === 'recycle') log.warn(`${message.reason}, but without a master nothing replaces this process; it goes on`);
    if (message.kind === 'slow') slowlog?.report(`worker 0 (pid ${process.pid})`, message.request, message.seconds, { kind: 'idle', waiting: message.waiting });
  };
  await prepareReactor();
  const worker = new Worker(app, config, { wid: 0, pid: process.pid }, new WorkerSlot(null, 0, BYTES_PER_WORKER), logs, report, hooks);
  const owner = config['chown-socket'] === undefined ? undefined : socketOwner(config['chown-socket']);
  for (const [i, listener] of listeners.entries()) {
    const { protocol, name, option } = listener;
    const adopted = adoptions[i];
    try {
      if (adopted) worker.server.adopt(adopted.fd, protocol, backlog);
      const bound = adopted?.local ?? worker.server.listen(name, { protocol, mode: config['chmod-socket'], backlog });
      if (!adopted && isUnixSocket(name)) ownSocket(bound, owner);
      warnIfExposed(listener, bound);
      log.info(`serving ${config.module ?? 'the built-in example app'} over ${protocol} on ${bound} (no master${adopted ? ', from systemd' : ''})`);
    } catch (error) {
      worker.close();
      throw new TsgiError((error as TsgiError).code, `${option} ${(error as Error).message}`);
    }
  }
  systemd.send('READY=1\nSTATUS=serving alone (no master)');
  process.on('uncaughtException', (error) => void worker.uncaught(error, config['uncaught-exception-grace'] * 1000).then(() => process.exit(1)));
  let delayed: NodeJS.Timeout | undefined;
  const stop = (): void => {
    clearTimeout(delayed);
    systemd.send('STOPPING=1');
    log.info(`SIGTERM: no longer accepting; finishing ${worker.server.activeRequests} request(s) in flight (up to ${config['reload-mercy']} s)`);
    void worker.stop(config['reload-mercy'] * 1000).then((aborted) => process.exit(aborted > 0 ? 1 : 0));
  };
  // --shutdown-delay: the first SIGTERM drains (health 503) and serves on, as the master does.
  process.on('SIGTERM', () => {
    const delay = config['shutdown-delay'];
    if (delay === 0 || delayed !== undefined) return stop();
    log.info(`SIGTERM: draining: --health-path answers 503, serving on for --shutdown-delay ${delay} s, then a graceful shutdown (another SIGTERM: at once)`);
    worker.server.startDraining();
    systemd.send(`STOPPING=1\nSTATUS=draining for --shutdown-delay ${delay} s`);
    delayed = setTimeout(stop, delay * 1000);
  });
  // SIGUSR1 reopens --logto after logrotate moved it, as with a master.
  process.on('SIGUSR1', () => {
    if (!logFile) return log.warn('SIGUSR1: there is no --logto file to reopen: tsgi logs to stderr');
    if (logFile.reopen()) log.info(`SIGUSR1: reopened --logto ${logFile.path}`);
  });
  process.once('SIGINT', () => {
    log.info('SIGINT: closing now');
    worker.close();
    void logs.flushed().then(() => process.exit(0));
  });
}
