/**
 * The JavaScript stack of a worker, asked for by the master (`--harakiri-verbose` before
 * a kill, `--slowlog-timeout` for a slow request). The worker runs a probe thread
 * (`stack-probe.ts`) on one end of a socket pair its master made at the fork; the master
 * writes a question id on its end and reads a JSON answer back. The thread answers even
 * while the worker's event loop spins: that is when the master asks.
 */
import type { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/index.js';
import { log } from '../log.js';

/** How long the probe waits for the main thread to pause (it cannot while inside a
 * native call), ms. */
export const CAPTURE_TIMEOUT_MS = 500;
/** How long the master waits for an answer before going on without it (a harakiri kill
 * then comes this much later at most), ms. */
export const STACK_GRACE_MS = 1000;
/** Frames kept, from the top. */
export const MAX_FRAMES = 20;

/** The probe's answer: the frames, top first, or null when the thread did not pause
 * (no JavaScript was running: a native call). */
export interface StackAnswer {
  id: number;
  frames: string[] | null;
}

/** Whether the master may ask for stacks, so that workers run a probe thread. */
export function wantsStacks(config: Config): boolean {
  return (config.harakiri > 0 && config['harakiri-verbose']) || config['slowlog-timeout'] > 0;
}

/** In the worker: starts the probe thread on the inherited descriptor `fd`. It never
 * keeps the process alive, and a failure costs the stacks, not the worker. */
export function startStackProbe(fd: number): void {
  const thread = new Worker(new URL('./stack-probe.js', import.meta.url), { workerData: { fd } });
  thread.unref();
  thread.on('error', (error) => log.warn(`stack probe thread failed, no JavaScript stacks from this worker: ${error.message}`));
}

/** In the master: asks one worker's probe thread. */
export class StackChannel {
  private next = 1;
  private buffered = '';
  private readonly waiting = new Map<number, (frames: string[] | null | undefined) => void>();

  constructor(private readonly socket: Duplex) {
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.read(chunk));
  }

  /** The worker's stack now: frames, null (inside a native call), or undefined when no
   * answer came within STACK_GRACE_MS (the probe is gone or stuck). */
  ask(): Promise<string[] | null | undefined> {
    const id = this.next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, STACK_GRACE_MS);
      this.waiting.set(id, (frames) => {
        clearTimeout(timer);
        resolve(frames);
      });
      this.socket.write(`${id}\n`);
    });
  }

  private read(chunk: string): void {
    this.buffered += chunk;
    let end: number;
    while ((end = this.buffered.indexOf('\n')) >= 0) {
      const answer = JSON.parse(this.buffered.slice(0, end)) as StackAnswer;
      this.buffered = this.buffered.slice(end + 1);
      const settle = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      settle?.(answer.frames);
    }
  }
}

/** A stack as log lines follow each other: `  at spin (file:///srv/app.mjs:3:9)`. */
export function stackLines(frames: string[] | null | undefined): string[] {
  if (frames === undefined) return ['  (no JavaScript stack: the probe thread did not answer in time)'];
  if (frames === null) return ['  (no JavaScript stack: the main thread is inside a native call)'];
  return frames.map((frame) => `  at ${frame}`);
}
