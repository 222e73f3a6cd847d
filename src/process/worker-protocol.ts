/**
 * What the master and a worker say to each other over the IPC channel, and how a worker
 * process's descriptors are laid out. Messages are rare (start, ready, stop, recycle):
 * per-request state goes through the scoreboard, log lines through a pipe.
 */
import type { Config } from '../config/index.js';
import type { ErrorCode } from '../errors.js';
import type { WireProtocol } from '../native/binding.js';

/** Descriptors of a worker process: 0 is /dev/null, 1 and 2 the app's stdout and stderr
 * (pipes to the master), 3 the IPC channel, then these. */
export const WorkerFd = {
  /** tsgi's own log lines (request log, warnings): the master's log (stderr or `--logto`),
   * which the worker writes to itself. */
  LOG: 4,
  /** The scoreboard file. */
  SCOREBOARD: 5,
  /** The first listening socket; the others follow in `WorkerStart.sockets` order. */
  FIRST_SOCKET: 6,
} as const;

/** The worker's exit code when the app cannot be loaded (gunicorn's APP_LOAD_ERROR). */
export const EXIT_APP_LOAD = 4;

/** master → worker, first: everything the worker needs to serve. */
export interface WorkerStart {
  kind: 'start';
  config: Config;
  /** 1..processes: the worker's place (a replacement keeps it). */
  wid: number;
  /** Its slot in the scoreboard, and the scoreboard's size. */
  slot: number;
  scoreboardBytes: number;
  masterPid: number;
  /** Listen queue length each worker listens with. */
  backlog: number;
  /** The sockets this worker serves, in descriptor order from `WorkerFd.FIRST_SOCKET`:
   * every shared one, then its place's own (`--worker-sockets`). */
  sockets: Array<{ name: string; protocol: WireProtocol }>;
  /** The stack probe's end of its channel to the master (`stack-capture.ts`), after the
   * sockets; absent when no stack will be asked for. */
  probeFd?: number;
}

/** master → worker: stop accepting, finish the requests in flight within `graceMs`, exit. */
export interface WorkerStop {
  kind: 'stop';
  graceMs: number;
}

/** master → worker: `--logto` was moved (SIGUSR1): open a new file of that name, then say
 * `logs-reopened`. */
export interface WorkerReopenLogs {
  kind: 'reopen-logs';
}

/** master → worker: `--shutdown-delay` began: health answers 503, serving goes on until
 * a `stop`. */
export interface WorkerDrain {
  kind: 'drain';
}

export type ToWorker = WorkerStart | WorkerStop | WorkerReopenLogs | WorkerDrain;

/** worker → master. `ready`: the app is loaded and the sockets are served. `recycle`:
 * the worker reached a limit (`--max-requests`) and asks to be replaced. `failed`: the
 * app could not be loaded (the worker then exits with EXIT_APP_LOAD). `logs-reopened`: the
 * answer to `reopen-logs`. `uncaught`: an exception nothing caught; the worker accepts nothing
 * more, finishes what it holds within --uncaught-exception-grace and exits. `slow`: a
 * request past --slowlog-timeout, for the master's slowlog. */
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'recycle'; reason: string }
  | { kind: 'failed'; code: ErrorCode; message: string }
  | { kind: 'logs-reopened' }
  | { kind: 'uncaught' }
  /** `--slowlog-timeout`: a request still running, its loop turning (awaiting I/O). */
  | { kind: 'slow'; request: string; seconds: number; waiting: string };
