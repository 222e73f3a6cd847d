/**
 * The entry of a worker process, forked by the master: waits for its start message,
 * arranges to die with the master, loads the app and serves the inherited sockets.
 */
import os from 'node:os';
import { loadApp, type LoadedApp } from './load-app.js';
import { describeError, ErrorCodes, TsgiError } from '../errors.js';
import { exampleApp } from '../app/example.js';
import { logThrough } from '../log.js';
import { noteIn, ownLineFormat } from '../observe/own-lines.js';
import { LogFile } from '../observe/log-file.js';
import { fdBackend, LogWriter } from '../observe/log-writer.js';
import { loadNative } from '../native/load.js';
import { prepareReactor } from '../server/server.js';
import { nameProcess } from './procname.js';
import { WorkerSlot } from './scoreboard.js';
import { startStackProbe } from './stack-capture.js';
import { logUnhandledRejections, runOnStart, Worker } from './worker.js';
import { EXIT_APP_LOAD, WorkerFd, type FromWorker, type ToWorker, type WorkerStart } from './worker-protocol.js';

function send(message: FromWorker): void {
  process.send?.(message);
}

/** A SIGKILLed master takes its workers along: the kernel's parent-death signal where the
 * native binding can set it, and the IPC channel closing in every case (below). */
function dieWithMaster(masterPid: number): void {
  loadNative().binding?.setParentDeathSignal(os.constants.signals.SIGKILL);
  // The master may have died before the signal was armed.
  if (process.ppid !== masterPid) process.exit(1);
}

async function start(message: WorkerStart): Promise<void> {
  const { config } = message;
  nameProcess(config, message.wid);
  dieWithMaster(message.masterPid);
  // The request log and tsgi's own lines go straight to the log, not through the master.
  const logFile = config.logto === undefined ? null : new LogFile(config.logto, WorkerFd.LOG);
  const logs = logFile?.writer ?? new LogWriter(fdBackend(WorkerFd.LOG));
  const ownLines = ownLineFormat(config, { wid: message.wid });
  logThrough(logs, ownLines);
  noteIn(logs, config, ownLines);
  logUnhandledRejections();
  process.on('message', (next: ToWorker) => {
    if (next.kind !== 'reopen-logs') return;
    logFile?.reopen();
    send({ kind: 'logs-reopened' });
  });

  let loaded: LoadedApp;
  try {
    loaded = config.module ? await loadApp(config.module, config.callable, config.adapter) : { app: exampleApp, hooks: {} };
    await runOnStart(loaded.hooks, config);
  } catch (error) {
    send({ kind: 'failed', code: error instanceof TsgiError ? error.code : ErrorCodes.MODULE_LOAD, message: (error as Error).message });
    await logs.flushed();
    process.exit(EXIT_APP_LOAD);
  }
  if (message.probeFd !== undefined) startStackProbe(message.probeFd);
  await prepareReactor();
  const slot = new WorkerSlot(WorkerFd.SCOREBOARD, message.slot, message.scoreboardBytes, loadNative().binding?.mapShared);
  const worker = new Worker(loaded.app, config, { wid: message.wid, pid: process.pid }, slot, logs, send, loaded.hooks);
  message.sockets.forEach((socket, i) => worker.server.adopt(WorkerFd.FIRST_SOCKET + i, socket.protocol, message.backlog));
  // A throw nothing caught costs this worker, not the requests it holds (Worker.uncaught).
  process.on('uncaughtException', (error) => void worker.uncaught(error, config['uncaught-exception-grace'] * 1000).then(() => process.exit(1)));

  const stop = (graceMs: number) => void worker.stop(graceMs).then((aborted) => process.exit(aborted > 0 ? 1 : 0));
  process.on('message', (next: ToWorker) => {
    if (next.kind === 'stop') stop(next.graceMs);
    else if (next.kind === 'drain') worker.server.startDraining();
  });
  // systemd and `kill 0` signal every process of the group, not only the master: a
  // worker treats SIGTERM as the master would (graceful; with --shutdown-delay, a drain
  // the master ends) and SIGINT as fast.
  process.on('SIGTERM', () => (config['shutdown-delay'] > 0 ? worker.server.startDraining() : stop(config['reload-mercy'] * 1000)));
  process.on('SIGINT', () => (worker.close(), process.exit(0)));
  send({ kind: 'ready' });
}

// The master's to act on, from the moment this process exists (a standby worker, forked
// ahead, may wait a long time for its start): SIGTTIN's and SIGTTOU's default would stop
// this process, SIGHUP's end it.
for (const signal of ['SIGHUP', 'SIGTTIN', 'SIGTTOU'] as const) process.on(signal, () => {});
// A master gone before the start message: nothing will start this process.
process.once('disconnect', () => process.exit(1));

process.once('message', (message: ToWorker) => {
  if (message.kind === 'start') {
    start(message).catch((error: unknown) => {
      // In the log's shape (--log-json, --log-date), as the worker's other lines.
      process.stderr.write(`${ownLineFormat(message.config, { wid: message.wid })('error', `worker failed to start: ${describeError(error)}`)}\n`);
      process.exit(1);
    });
  }
});
