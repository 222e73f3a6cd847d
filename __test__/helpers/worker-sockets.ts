/**
 * What the --worker-sockets tests share: a port with room for the workers' own ports after
 * it, the stats (served with --stats-http) that say which pid holds which place, and
 * pausing a worker (SIGSTOP), which to the kernel looks like a worker too busy to accept.
 */
import { readFileSync } from 'node:fs';
import { checkPortFree, freePort } from '../../scripts/lib/processes.mjs';
import { until } from './chaos.js';

/** A free port P with P+1..P+`after` free too, a moment ago. */
export async function portWithRoom(after: number): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + after > 65535) continue;
    const free = await Promise.all(
      Array.from({ length: after }, (_, i) =>
        checkPortFree(port + i + 1).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (free.every(Boolean)) return port;
  }
}

export interface Stats {
  sockets: Array<{ name: string; proto: string; queue: number; worker?: number }>;
  workers: Array<{ id: number; pid: number; accepting: number }>;
}

/** The stats JSON of a `--stats 127.0.0.1:PORT --stats-http`. */
export async function statsOf(port: number): Promise<Stats> {
  return (await fetch(`http://127.0.0.1:${port}/`)).json() as Promise<Stats>;
}

/** Place N's pid (index N-1), once every place has a ready worker that is none of `gone`. */
export function placePids(statsPort: number, gone: readonly number[] = []): Promise<number[]> {
  return until(async () => {
    const { workers } = await statsOf(statsPort);
    return workers.every((w) => w.accepting === 1 && !gone.includes(w.pid)) ? workers.map((w) => w.pid) : null;
  }, 'every place to have a ready worker');
}

/** The process state letter of /proc/PID/stat: R, S, T (stopped)... */
function stateOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** Stops `pid` (SIGSTOP), resolving once the kernel has it stopped: it accepts nothing more. */
export async function pause(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await until(() => stateOf(pid) === 'T', `process ${pid} to be stopped`);
}

/** Lets a paused `pid` run again. */
export async function resume(pid: number): Promise<void> {
  process.kill(pid, 'SIGCONT');
  await until(() => stateOf(pid) !== 'T', `process ${pid} to run again`);
}
