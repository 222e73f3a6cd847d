/**
 * systemd's notification protocol (`sd_notify(3)`), spoken by the master: `READY=1` once
 * every initial worker is ready (`Type=notify`), `RELOADING=1` with `MONOTONIC_USEC` then
 * `READY=1` around a reload (`Type=notify-reload`), `STOPPING=1` when a stop begins,
 * `STATUS=` lines for `systemctl status`, and `WATCHDOG=1` every half `WATCHDOG_USEC`.
 *
 * Node has no Unix datagram sockets: the native binding sends them (`notify`), loaded on
 * demand only when `$NOTIFY_SOCKET` is set, so the master otherwise stays clear of it.
 * The variables are taken out of the environment, as `sd_notify`'s callers do, so the
 * workers and the app's children do not speak for the service.
 */
import { describeError } from '../errors.js';
import { log } from '../log.js';

/** Where the notifications go, or nothing when systemd did not ask for them. */
export interface Notifier {
  /** Sends `state` (newline-separated `KEY=VALUE` lines). A failure is logged once. */
  send(state: string): void;
  /** Stops the watchdog's pings. */
  close(): void;
}

/** `MONOTONIC_USEC=` of `RELOADING=1`: CLOCK_MONOTONIC, which libuv's hrtime reads. */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

const NONE: Notifier = { send() {}, close() {} };

/** The notifier `$NOTIFY_SOCKET` asks for (with the watchdog of `$WATCHDOG_USEC`). */
export async function systemdNotifier(env: NodeJS.ProcessEnv = process.env): Promise<Notifier> {
  const path = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  // The watchdog is this process's only when WATCHDOG_PID, if set, names it.
  const watchdog = Number.isInteger(watchdogUsec) && watchdogUsec > 0 && (env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid);
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];
  if (!path) return NONE;
  const { loadNative } = await import('../native/load.js');
  const native = loadNative();
  if (!native.binding) {
    log.warn(
      `NOTIFY_SOCKET is set, but the native binding did not load (${native.failures.at(-1)}): systemd is not told when tsgi is ready; use Type=exec, or a platform with the binding`,
    );
    return NONE;
  }
  const binding = native.binding;
  let warned = false;
  const send = (state: string): void => {
    try {
      binding.notify(path, state);
    } catch (error) {
      if (!warned) log.warn(`NOTIFY_SOCKET ${describeError(error)}: systemd may not be told how tsgi is`);
      warned = true;
    }
  };
  const pings = watchdog ? setInterval(() => send('WATCHDOG=1'), watchdogUsec / 2000) : undefined;
  pings?.unref();
  return { send, close: () => clearInterval(pings) };
}
