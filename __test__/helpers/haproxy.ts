/**
 * A private HAProxy for tests: the config a test writes (given a free port for its
 * frontend), checked with `haproxy -c`, then run in the foreground (`haproxy -db`) as a
 * child in its own process group; `stop()` ends it. What HAProxy logs (the config sends
 * its log to stdout) is kept, and can be awaited.
 *
 *   const haproxy = requirePeer('HAProxy', 'haproxy', 'apt-get install haproxy');
 *   const proxy = await startHaproxy(haproxy.bin!, (port) => `... bind 127.0.0.1:${port} ...`);
 *   await fetch(proxy.url('/x'));
 *   await proxy.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, stopProcess, waitForPort } from '../../scripts/lib/processes.mjs';

export interface Haproxy {
  port: number;
  /** The config file. */
  cfg: string;
  configText: string;
  child: ChildProcess;
  /** `http://127.0.0.1:port` + path. */
  url(path?: string): string;
  /** Everything HAProxy printed (its log, with `log stdout`), so far. */
  output(): string;
  /** Resolves once the output (from `from` on) matches `pattern`; rejects after `timeoutMs`. */
  waitForOutput(pattern: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

/** `haproxy -v`'s first line ("HAProxy version 2.6.12-1+deb12u4 ..."), or null. */
export function haproxyVersion(bin: string | null): string | null {
  if (!bin) return null;
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return (result.stdout || '').split('\n')[0]?.trim() || null;
}

/** Every HAProxy still running, killed if this process exits without stopping them. */
const running = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

/**
 * Starts HAProxy with `config(port)`, `port` being free on 127.0.0.1 for the frontend to
 * bind. Resolves once that port accepts connections; tries another port if it was taken.
 */
export async function startHaproxy(bin: string, config: (port: number) => string, options: { timeoutMs?: number } = {}): Promise<Haproxy> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bin, await freePort(), config, options.timeoutMs ?? 10_000);
    } catch (error) {
      lastError = error;
      if (!/cannot bind socket|Address already in use/i.test(String((error as Error)?.message))) break;
    }
  }
  throw lastError;
}

async function startOnce(bin: string, port: number, config: (port: number) => string, timeoutMs: number): Promise<Haproxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-haproxy-'));
  const cfg = path.join(dir, 'haproxy.cfg');
  const configText = config(port);
  writeFileSync(cfg, configText);
  const remove = () => rmSync(dir, { recursive: true, force: true });

  const checked = spawnSync(bin, ['-c', '-f', cfg], { encoding: 'utf8' });
  if (checked.status !== 0) {
    remove();
    throw new Error(`haproxy -c rejected the config:\n${checked.stdout}${checked.stderr}\n--- ${cfg} ---\n${configText}`);
  }

  const child = spawn(bin, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (data: string) => {
    output += data;
    for (const listener of listeners) listener();
  };
  child.stdout!.setEncoding('utf8').on('data', onData);
  child.stderr!.setEncoding('utf8').on('data', onData);
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});
  installExitHook();
  running.add(child.pid!);
  child.once('exit', () => running.delete(child.pid!));

  const describe = () => `haproxy -db -f ${cfg}\n--- output ---\n${output.split('\n').slice(-40).join('\n') || '(none)'}\n--- ${cfg} ---\n${configText}`;
  try {
    await Promise.race([waitForPort(port, { timeoutMs, child, describe }), spawnError]);
  } catch (error) {
    await stopProcess(child, { group: true, graceMs: 1000 });
    remove();
    throw error;
  }

  let stopped = false;
  return {
    port,
    cfg,
    configText,
    child,
    url: (p = '/') => `http://127.0.0.1:${port}${p.startsWith('/') ? p : `/${p}`}`,
    output: () => output,
    waitForOutput(pattern, { from = 0, timeoutMs: wait = 5_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output.slice(from));
          if (!match) return false;
          finish();
          resolve(match[0]);
          return true;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`HAProxy did not print ${pattern} within ${wait} ms; it printed:\n${output.slice(from).split('\n').slice(-20).join('\n')}`));
        }, wait);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = () => void check();
        listeners.add(listener);
        check();
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // SIGTERM: HAProxy's immediate stop.
      await stopProcess(child, { group: true, graceMs: 5_000 });
      remove();
    },
  };
}
