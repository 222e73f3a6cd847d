/**
 * What the master reads about processes and sockets from Linux's /proc: a worker's
 * resident memory, and the listen queue of a TCP socket. Every reading is best effort:
 * on a failure (the process is gone, another OS) it answers 0.
 */
import { readFile } from 'node:fs/promises';

/** Resident and virtual memory of `pid`, bytes. */
export async function memoryOf(pid: number): Promise<{ rss: number; vsz: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), vsz: kib('VmSize') };
}

/**
 * Connections waiting to be accepted on the TCP sockets listening on `ports`, from
 * /proc/net/tcp and tcp6: for a socket in LISTEN state (st 0A) the kernel reports its
 * accept queue as rx_queue. (The queue's size is the backlog the workers listen with.)
 */
export async function listenQueues(ports: readonly number[]): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  if (ports.length === 0) return found;
  const wanted = new Set(ports);
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== '0A') continue;
      const port = parseInt(fields[1]?.split(':')[1] ?? '', 16);
      if (!wanted.has(port)) continue;
      const waiting = parseInt(fields[4]?.split(':')[1] ?? '0', 16);
      found.set(port, (found.get(port) ?? 0) + waiting);
    }
  }
  return found;
}

/** Connections the kernel dropped because a listen queue was full, since boot, for the
 * whole network namespace (TcpExt ListenOverflows of /proc/net/netstat); null if unknown. */
export async function listenOverflows(): Promise<number | null> {
  const text = await readFile('/proc/net/netstat', 'utf8').catch(() => '');
  const [names, values] = text.split('\n').filter((line) => line.startsWith('TcpExt:'));
  const at = names?.split(/\s+/).indexOf('ListenOverflows') ?? -1;
  const value = at > 0 ? Number(values?.split(/\s+/)[at]) : NaN;
  return Number.isFinite(value) ? value : null;
}
