/**
 * systemd's side of its two protocols, for tests, without systemd as PID 1:
 *
 * - a `$NOTIFY_SOCKET` recorder: a Unix datagram socket (Node has none, so a few lines of
 *   Python's `socket` module) that records every datagram with its sender's pid, taken
 *   from the kernel's `SCM_CREDENTIALS` as systemd takes it (`NotifyAccess=main` drops a
 *   message from any other process);
 * - socket activation: systemd's own launcher, `systemd-socket-activate` (package
 *   systemd), which binds the sockets and execs the command with them as fds 3... and
 *   `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`, as a socket unit does.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { requirePeer } from './peers.js';

export const python = requirePeer('python3', 'python3', 'apt-get install python3');
export const socketActivate = requirePeer('systemd-socket-activate', 'systemd-socket-activate', 'apt-get install systemd');

/** One notification as systemd would get it. */
export interface Notification {
  /** The sender's pid (SCM_CREDENTIALS). */
  readonly pid: number;
  /** The datagram: `KEY=VALUE` lines. */
  readonly state: string;
  /** Its `KEY=VALUE` lines as a map. */
  readonly fields: Record<string, string>;
  /** When it arrived (Date.now()), and CLOCK_MONOTONIC then, µs. */
  readonly at: number;
  readonly monotonicUsec: bigint;
}

export interface NotifyRecorder {
  readonly path: string;
  readonly messages: Notification[];
  /** Resolves with the first message (past or future) after `from` (an index) that `match` accepts. */
  next(match: (n: Notification) => boolean, from?: number, timeoutMs?: number): Promise<Notification>;
  stop(): void;
}

const RECORDER = `
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("listening", flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", value[:12])[0]
    print(json.dumps({"pid": pid, "state": data.decode()}), flush=True)
`;

/** A recorder listening on `dir/notify.sock`. */
export async function startNotifyRecorder(dir: string): Promise<NotifyRecorder> {
  const socketPath = path.join(dir, 'notify.sock');
  const child = spawn(python.bin!, ['-c', RECORDER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Notification[] = [];
  const wakers = new Set<() => void>();
  let rest = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the notify recorder exited (${code})`)));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (line === 'listening') {
          resolve();
          continue;
        }
        const { pid, state } = JSON.parse(line) as { pid: number; state: string };
        const fields = Object.fromEntries(
          state
            .split('\n')
            .filter(Boolean)
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        messages.push({ pid, state, fields, at: Date.now(), monotonicUsec: process.hrtime.bigint() / 1000n });
      }
      for (const wake of wakers) wake();
    });
  });
  await listening;
  return {
    path: socketPath,
    messages,
    next: (match, from = 0, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const look = (): void => {
          const found = messages.slice(from).find(match);
          if (!found) return;
          wakers.delete(look);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          wakers.delete(look);
          reject(new Error(`no such notification within ${timeoutMs} ms; got: ${JSON.stringify(messages.map((m) => m.state))}`));
        }, timeoutMs);
        wakers.add(look);
        look();
      }),
    stop: () => void child.kill('SIGKILL'),
  };
}

/**
 * The command line of `systemd-socket-activate` binding `listens` (`HOST:PORT` or a path),
 * named `names` if given, with `env` set for the command. It passes no other variable of
 * its own environment, as a unit's service gets none but its own: TSGI_NATIVE (the test
 * matrix's reactor) is passed on too.
 */
export function activationLauncher(
  listens: readonly string[],
  { names, env = {} }: { names?: readonly string[]; env?: Record<string, string> } = {},
): string[] {
  const passed = { ...(process.env.TSGI_NATIVE !== undefined && { TSGI_NATIVE: process.env.TSGI_NATIVE }), ...env };
  return [
    socketActivate.bin!,
    ...listens.flatMap((address) => ['-l', address]),
    ...(names ? [`--fdname=${names.join(':')}`] : []),
    ...Object.entries(passed).map(([key, value]) => `--setenv=${key}=${value}`),
  ];
}
