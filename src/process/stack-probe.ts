/**
 * The stack probe: a thread inside a worker process (node:worker_threads) that answers
 * the master's "what is your JavaScript doing?" even while the worker's event loop spins.
 * For each question read from its channel it opens an inspector session on the worker's
 * main thread (`connectToMainThread`: no port is opened), enables the debugger, pauses
 * the main thread (V8 interrupts running JavaScript to do it), reads the paused call
 * frames, resumes, and closes the session. The answer is one JSON line (`StackAnswer`).
 * The main thread is never paused longer than it takes to copy the frames; between
 * questions no session exists (one left open would hold the process at its exit,
 * "waiting for the debugger to disconnect") and the debugger costs nothing.
 */
import { Session } from 'node:inspector';
import net from 'node:net';
import { workerData } from 'node:worker_threads';
import { CAPTURE_TIMEOUT_MS, MAX_FRAMES, type StackAnswer } from './stack-capture.js';

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

function post(session: Session, method: string): Promise<void> {
  return new Promise((resolve, reject) => session.post(method, {}, (error) => (error ? reject(error) : resolve())));
}

/** One frame as a stack trace line shows it: `spin (file:///srv/app.mjs:3:9)`;
 * `scripts`: URLs by script id (the paused frames of an ES module may carry no `url`). */
function frameText(frame: CallFrame, scripts: ReadonlyMap<string, string>): string {
  const url = frame.url || scripts.get(frame.location.scriptId) || '<unknown>';
  return `${frame.functionName || '<anonymous>'} (${url}:${frame.location.lineNumber + 1}:${frame.location.columnNumber + 1})`;
}

/** Pauses the main thread once and reads its frames; null if it did not pause in time
 * (it is inside a native call: no JavaScript runs to be interrupted). */
async function capture(): Promise<string[] | null> {
  const session = new Session();
  session.connectToMainThread();
  const scripts = new Map<string, string>();
  session.on('Debugger.scriptParsed', (message) => {
    const { scriptId, url } = message.params as { scriptId: string; url: string };
    if (url) scripts.set(scriptId, url);
  });
  let timer: NodeJS.Timeout | undefined;
  const paused = new Promise<CallFrame[] | null>((resolve) => {
    session.once('Debugger.paused', (message) => resolve((message.params as { callFrames: CallFrame[] }).callFrames));
    timer = setTimeout(resolve, CAPTURE_TIMEOUT_MS, null);
  });
  try {
    await post(session, 'Debugger.enable');
    await post(session, 'Debugger.pause');
    const frames = await paused;
    if (frames) await post(session, 'Debugger.resume');
    return frames && frames.slice(0, MAX_FRAMES).map((frame) => frameText(frame, scripts));
  } finally {
    clearTimeout(timer);
    // Closing the session disables its debugger (a pause still pending is dropped).
    session.disconnect();
  }
}

const channel = new net.Socket({ fd: (workerData as { fd: number }).fd, readable: true, writable: true });
channel.on('error', () => {});
let buffered = '';
let busy: Promise<void> = Promise.resolve();
channel.setEncoding('utf8');
channel.on('data', (chunk: string) => {
  buffered += chunk;
  let end: number;
  while ((end = buffered.indexOf('\n')) >= 0) {
    const id = Number(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    // One capture at a time: the inspector pauses one thread once.
    busy = busy.then(async () => {
      const frames = await capture().catch(() => null);
      const answer: StackAnswer = { id, frames };
      channel.write(JSON.stringify(answer) + '\n');
    });
  }
});
