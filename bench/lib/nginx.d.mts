/** Types for ./nginx.mjs (a private nginx for tests, benchmarks and the example). */
import type { ChildProcess } from 'node:child_process';

export interface NginxLocation {
  /** The location prefix, e.g. `/tcp/`. */
  path: string;
  /** The uwsgi upstream: `HOST:PORT` or `unix:/path`. */
  uwsgiPass?: string;
  /** The FastCGI upstream: `HOST:PORT` or `unix:/path` (then `fastcgi_params` is included). */
  fastcgiPass?: string;
  /** The HTTP upstream (`proxy_pass http://...`): `HOST:PORT` or `unix:/path`. */
  proxyPass?: string;
  /** FastCGI or HTTP: keep up to this many idle connections per nginx worker (`upstream { keepalive N; }`
   * with `fastcgi_keep_conn on`, or `proxy_http_version 1.1` and an empty `Connection`); default: a
   * connection per request. */
  keepalive?: number;
  /** With `keepalive` only: requests per upstream connection before nginx closes it
   * (`keepalive_requests`; nginx's default is 1000). */
  keepaliveRequests?: number;
  /** More directives for the location block, e.g. `uwsgi_buffering off;`. */
  extra?: string | string[];
}

export interface NginxOptions {
  locations?: NginxLocation[];
  /** Listen port; default: a free one. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** `worker_processes`; default 1. */
  workerProcesses?: number | 'auto';
  /** `worker_connections`; default 4096. */
  workerConnections?: number;
  /** `error_log` level; default `info`. */
  errorLogLevel?: 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit';
  /** Write an access log in the prefix; default true. */
  accessLog?: boolean;
  /** Raw directives for the `http` block. */
  httpExtra?: string;
  /** Raw directives for the `server` block. */
  serverExtra?: string;
  /** The nginx binary; default findNginx(). */
  nginx?: string;
  /** How long to wait for the port; default 10000 ms. */
  startTimeoutMs?: number;
}

export interface Nginx {
  bin: string;
  /** The temp dir holding conf, logs, temp paths and the pid file. */
  prefix: string;
  port: number;
  host: string;
  /** The nginx.conf path. */
  conf: string;
  configText: string;
  pid: number;
  child: ChildProcess;
  /** `http://host:port`. */
  baseUrl: string;
  /** `http://host:port` + path. */
  url(path?: string): string;
  /** The error log so far. */
  errorLog(): string;
  /** The access log so far. */
  accessLog(): string;
  /** What nginx printed on stdout and stderr. */
  output(): string;
  /** Stops nginx (master and workers) and removes the prefix. */
  stop(): Promise<void>;
}

export function findExecutable(name: string): string | null;
export function findNginx(): string | null;
export function nginxVersion(bin?: string | null): string | null;
export function checkPortFree(port: number, host?: string): Promise<void>;
export function freePort(host?: string): Promise<number>;
export function waitForPort(
  port: number | string,
  options?: { host?: string; timeoutMs?: number; child?: ChildProcess; describe?: () => string },
): Promise<void>;
export function stopProcess(child: ChildProcess | undefined | null, options?: { signal?: NodeJS.Signals; graceMs?: number; group?: boolean }): Promise<void>;
export function uwsgiParams(): { text: string; source: string };
export function fastcgiParams(): { text: string; source: string };
export function renderConfig(prefix: string, port: number, options?: NginxOptions): string;
export function testConfig(bin: string, prefix: string, conf: string): { ok: boolean; output: string };
export function startNginx(options?: NginxOptions): Promise<Nginx>;
