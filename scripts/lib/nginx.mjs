/**
 * A private nginx for tests, benchmarks and the example: its own prefix in a temp dir,
 * its own nginx.conf, one `server` on 127.0.0.1 and a free port whose locations
 * `uwsgi_pass`, `fastcgi_pass` or `proxy_pass` to the upstreams you name. Plain ESM with
 * JSDoc types, so benchmarks and scripts run without a build; __test__/helpers/nginx.ts
 * wraps it for vitest. Ports and processes: ./processes.mjs.
 *
 *   const nginx = await startNginx({ locations: [{ path: '/tcp/', uwsgiPass: '127.0.0.1:3031' }] });
 *   await fetch(nginx.url('/tcp/hello'));
 *   await nginx.stop();
 *
 * nginx runs in the foreground (`-g 'daemon off;'`) as a child in its own process group,
 * master and workers; `stop()` (or, as a last resort, this process exiting) ends the group.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkPortFree, findExecutable, freePort, stopProcess, waitForPort } from './processes.mjs';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/**
 * @typedef {object} NginxLocation
 * @property {string} path The location prefix, e.g. `/tcp/`.
 * @property {string} [uwsgiPass] The uwsgi upstream: `HOST:PORT` or `unix:/path`.
 * @property {string} [fastcgiPass] The FastCGI upstream: `HOST:PORT` or `unix:/path` (then `fastcgi_params` is included).
 * @property {string} [proxyPass] The HTTP upstream (`proxy_pass http://...`): `HOST:PORT` or `unix:/path`.
 * @property {number} [keepalive] FastCGI or HTTP: keep up to this many idle connections per nginx worker
 *   (`upstream { keepalive N; }` with `fastcgi_keep_conn on`, or `proxy_http_version 1.1` and an empty
 *   `Connection`); default: a connection per request.
 * @property {number} [keepaliveRequests] With `keepalive` only: requests per upstream connection before nginx
 *   closes it (`keepalive_requests`; nginx's default is 1000).
 * @property {string | string[]} [extra] More directives for the location block, e.g. `uwsgi_buffering off;`.
 */

/**
 * @typedef {object} NginxOptions
 * @property {NginxLocation[]} [locations]
 * @property {number} [port] Listen port; default: a free one.
 * @property {string} [host] Listen address; default 127.0.0.1.
 * @property {number | 'auto'} [workerProcesses] `worker_processes`; default 1.
 * @property {number} [workerConnections] `worker_connections`; default 4096.
 * @property {'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit'} [errorLogLevel] `error_log` level; default `info`.
 * @property {boolean} [accessLog] Write an access log in the prefix; default true.
 * @property {string} [user] `user` the workers run as (the master starts as root to switch); default: root when run
 *   as root (so they reach root-owned Unix sockets), else the user running it.
 * @property {string} [httpExtra] Raw directives for the `http` block.
 * @property {string} [serverExtra] Raw directives for the `server` block.
 * @property {string} [nginx] The nginx binary; default findNginx().
 * @property {number} [startTimeoutMs] How long to wait for the port; default 10000 ms.
 */

/**
 * @typedef {object} Nginx
 * @property {string} bin
 * @property {string} prefix The temp dir holding conf, logs, temp paths and the pid file.
 * @property {number} port
 * @property {string} host
 * @property {string} conf The nginx.conf path.
 * @property {string} configText
 * @property {number} pid
 * @property {ChildProcess} child
 * @property {string} baseUrl `http://host:port`.
 * @property {(path?: string) => string} url `http://host:port` + path.
 * @property {() => string} errorLog The error log so far.
 * @property {() => string} accessLog The access log so far.
 * @property {() => string} output What nginx printed on stdout and stderr.
 * @property {() => Promise<void>} stop Stops nginx (master and workers) and removes the prefix.
 */

/** Where nginx's uwsgi_params usually lives; the first one found is copied into the prefix. */
const UWSGI_PARAMS_CANDIDATES = [
  '/etc/nginx/uwsgi_params',
  '/usr/local/nginx/conf/uwsgi_params',
  '/usr/local/etc/nginx/uwsgi_params',
  '/opt/homebrew/etc/nginx/uwsgi_params',
];

/** Where nginx's fastcgi_params usually lives. */
const FASTCGI_PARAMS_CANDIDATES = UWSGI_PARAMS_CANDIDATES.map((file) => file.replace(/uwsgi_params$/, 'fastcgi_params'));

/** nginx's stock uwsgi_params, for installs that do not ship the file where we look. */
const STOCK_UWSGI_PARAMS = `uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;

uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  DOCUMENT_ROOT      $document_root;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  REQUEST_SCHEME     $scheme;
uwsgi_param  HTTPS              $https if_not_empty;

uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  REMOTE_PORT        $remote_port;
uwsgi_param  SERVER_PORT        $server_port;
uwsgi_param  SERVER_NAME        $server_name;
`;

/** nginx's stock fastcgi_params, for installs that do not ship the file where we look. */
const STOCK_FASTCGI_PARAMS = `${STOCK_UWSGI_PARAMS.replaceAll('uwsgi_param ', 'fastcgi_param')}
fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
fastcgi_param  DOCUMENT_URI       $document_uri;
fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
fastcgi_param  SERVER_ADDR        $server_addr;
`;

/**
 * The nginx binary: $NGINX if set, else `nginx` on PATH or in an sbin dir; null if none.
 * @returns {string | null}
 */
export function findNginx() {
  if (process.env.NGINX) return existsSync(process.env.NGINX) ? process.env.NGINX : null;
  return findExecutable('nginx');
}

/**
 * `nginx -v` output ("nginx version: nginx/1.22.1"), or null without nginx.
 * @param {string | null} [bin]
 * @returns {string | null}
 */
export function nginxVersion(bin = findNginx()) {
  if (!bin) return null;
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return (result.stderr || result.stdout || '').trim() || null;
}

/**
 * Resolves once `file` holds `pid` (nginx writes its pid file only after binding its
 * listen sockets, so another listener on the port cannot pass for it).
 * @param {string} file
 * @param {number} pid
 * @param {{ child: ChildProcess, timeoutMs: number, describe: () => string }} options
 * @returns {Promise<void>}
 */
function waitForPidFile(file, pid, { child, timeoutMs, describe }) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return reject(new Error(`nginx exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready\n${describe()}`));
      }
      let text = '';
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch {
        // not yet
      }
      if (text === String(pid)) return resolve();
      if (Date.now() > deadline) return reject(new Error(`nginx did not write ${file} within ${timeoutMs} ms\n${describe()}`));
      setTimeout(check, 20);
    };
    check();
  });
}

/**
 * The contents of uwsgi_params: the system's copy if there is one, else nginx's stock list.
 * @returns {{ text: string, source: string }}
 */
export function uwsgiParams() {
  return paramsFile('uwsgi_params', UWSGI_PARAMS_CANDIDATES, STOCK_UWSGI_PARAMS);
}

/**
 * The contents of fastcgi_params: the system's copy if there is one, else nginx's stock list.
 * @returns {{ text: string, source: string }}
 */
export function fastcgiParams() {
  return paramsFile('fastcgi_params', FASTCGI_PARAMS_CANDIDATES, STOCK_FASTCGI_PARAMS);
}

/**
 * @param {string} name
 * @param {string[]} candidates
 * @param {string} stock
 * @returns {{ text: string, source: string }}
 */
function paramsFile(name, candidates, stock) {
  for (const file of candidates) {
    if (existsSync(file)) return { text: readFileSync(file, 'utf8'), source: file };
  }
  return { text: stock, source: `built-in copy of the stock ${name}` };
}

/**
 * nginx.conf for `options` (see startNginx); paths are absolute, inside `prefix`.
 * @param {string} prefix
 * @param {number} port
 * @param {NginxOptions} [options]
 * @returns {string}
 */
export function renderConfig(prefix, port, options = {}) {
  const {
    host = '127.0.0.1',
    locations = [],
    workerProcesses = 1,
    workerConnections = 4096,
    errorLogLevel = 'info',
    accessLog = true,
    httpExtra = '',
    serverExtra = '',
    user,
  } = options;
  /** @param {string} name */
  const p = (name) => path.join(prefix, name);
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  /** @type {string[]} */
  const upstreams = [];
  /**
   * Kept-alive upstream connections need an upstream block: its name, else the address.
   * @param {string} kind
   * @param {string} address
   * @param {NginxLocation} location
   * @param {number} index
   */
  const upstream = (kind, address, location, index) => {
    if (!location.keepalive) return address;
    const name = `${kind}_keepalive_${index}`;
    const requests = location.keepaliveRequests ? `\n    keepalive_requests ${location.keepaliveRequests};` : '';
    upstreams.push(`  upstream ${name} {\n    server ${address};\n    keepalive ${location.keepalive};${requests}\n  }`);
    return name;
  };
  const blocks = locations.map((location, index) => {
    /** @type {string[]} */
    const lines = [];
    if (location.fastcgiPass) {
      const target = upstream('fastcgi', location.fastcgiPass, location, index);
      lines.push(`include ${p('fastcgi_params')};`);
      if (location.keepalive) lines.push('fastcgi_keep_conn on;');
      lines.push(`fastcgi_pass ${target};`);
    } else if (location.proxyPass) {
      const target = upstream('http', location.proxyPass, location, index);
      // ... and HTTP/1.1 without `Connection: close` (nginx's default is HTTP/1.0).
      if (location.keepalive) lines.push('proxy_http_version 1.1;', 'proxy_set_header Connection "";');
      // A Unix socket without an upstream block is written `http://unix:/path:`.
      lines.push(`proxy_pass http://${target === location.proxyPass && target.startsWith('unix:') ? `${target}:` : target};`);
    } else {
      lines.push(`include ${p('uwsgi_params')};`);
      if (location.uwsgiPass) lines.push(`uwsgi_pass ${location.uwsgiPass};`);
    }
    if (location.extra) lines.push(...[location.extra].flat());
    return `    location ${location.path} {\n${lines.map((line) => `      ${line}`).join('\n')}\n    }`;
  });
  return `# generated by scripts/lib/nginx.mjs
${user ? `user ${user};` : asRoot ? 'user root;  # workers must reach root-owned Unix sockets' : '# not root: workers run as this user'}
worker_processes ${workerProcesses};
worker_rlimit_nofile ${Math.max(1024, workerConnections * 2 + 64)};
pid ${p('nginx.pid')};
error_log ${p('logs/error.log')} ${errorLogLevel};

events {
  worker_connections ${workerConnections};
}

http {
  access_log ${accessLog ? `${p('logs/access.log')}` : 'off'};
  client_body_temp_path ${p('temp/client_body')};
  proxy_temp_path ${p('temp/proxy')};
  fastcgi_temp_path ${p('temp/fastcgi')};
  uwsgi_temp_path ${p('temp/uwsgi')};
  scgi_temp_path ${p('temp/scgi')};
  client_max_body_size 0;
  default_type application/octet-stream;
  keepalive_requests 100000;
${httpExtra ? `  ${httpExtra}\n` : ''}${upstreams.length ? `${upstreams.join('\n')}\n` : ''}
  server {
    listen ${host}:${port} backlog=4096;
    server_name localhost;
${serverExtra ? `    ${serverExtra}\n` : ''}${blocks.join('\n')}
  }
}
`;
}

/**
 * Runs `nginx -t` on a prefix and config.
 * @param {string} bin
 * @param {string} prefix
 * @param {string} conf
 * @returns {{ ok: boolean, output: string }}
 */
export function testConfig(bin, prefix, conf) {
  const result = spawnSync(bin, ['-t', '-p', prefix, '-e', path.join(prefix, 'logs/error.log'), '-c', conf, '-g', 'daemon off;'], { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim() };
}

/** Every nginx group still running, killed if this process exits without stopping them. */
/** @type {Set<number>} */
const running = new Set();
let exitHookInstalled = false;
function installExitHook() {
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
 * @param {string} text
 * @param {number} [lines]
 * @returns {string}
 */
function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts a private nginx. Options:
 *   locations: [{ path: '/tcp/', uwsgiPass | fastcgiPass | proxyPass: '127.0.0.1:3031' | 'unix:/path',
 *                 keepalive?: N (fastcgiPass, proxyPass), extra?: string | string[] }]
 *   port (default: a free one), host ('127.0.0.1'), workerProcesses (1),
 *   workerConnections (4096), errorLogLevel ('info'), accessLog (true),
 *   httpExtra / serverExtra (raw directives), nginx (the binary), startTimeoutMs (10000).
 * Resolves once the port accepts connections.
 * @param {NginxOptions} [options]
 * @returns {Promise<Nginx>}
 */
export async function startNginx(options = {}) {
  const bin = options.nginx ?? findNginx();
  if (!bin)
    throw new Error(
      'nginx is not installed (not on PATH nor in /usr/sbin, /usr/local/sbin); install it, e.g. apt-get install nginx, or set NGINX=/path/to/nginx',
    );
  const attempts = options.port !== undefined ? 1 : 3;
  let lastError;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort(options.host));
    try {
      return await startOnce(bin, port, options);
    } catch (error) {
      lastError = error;
      // A free port taken by someone else in between: try another one.
      if (!/Address already in use/.test(error instanceof Error ? error.message : String(error))) break;
    }
  }
  throw lastError;
}

/**
 * @param {string} bin
 * @param {number} port
 * @param {NginxOptions} options
 * @returns {Promise<Nginx>}
 */
async function startOnce(bin, port, options) {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'tsgi-nginx-'));
  const remove = () => rmSync(prefix, { recursive: true, force: true });
  try {
    for (const dir of ['logs', 'temp', 'conf']) mkdirSync(path.join(prefix, dir), { recursive: true });
    writeFileSync(path.join(prefix, 'uwsgi_params'), uwsgiParams().text);
    writeFileSync(path.join(prefix, 'fastcgi_params'), fastcgiParams().text);
    const conf = path.join(prefix, 'conf/nginx.conf');
    const configText = renderConfig(prefix, port, options);
    writeFileSync(conf, configText);
    const errorLogFile = path.join(prefix, 'logs/error.log');
    const errorLog = () => {
      try {
        return readFileSync(errorLogFile, 'utf8');
      } catch {
        return '';
      }
    };

    const checked = testConfig(bin, prefix, conf);
    if (!checked.ok) {
      throw new Error(`nginx -t rejected the generated config:\n${checked.output}\n--- ${conf} ---\n${configText}`);
    }

    // A fixed port someone else listens on would otherwise pass the readiness probe.
    await checkPortFree(port, options.host ?? '127.0.0.1');

    const args = ['-p', prefix, '-e', errorLogFile, '-c', conf, '-g', 'daemon off;'];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (output += d));
    /** @type {Promise<never>} */
    const spawnError = new Promise((_, reject) => child.once('error', reject));
    spawnError.catch(() => {});
    const pid = child.pid;
    // No pid: the spawn failed, and spawnError rejects with why (the catch below cleans up).
    if (pid === undefined) return await spawnError;
    installExitHook();
    running.add(pid);
    child.once('exit', () => running.delete(pid));

    const describe = () =>
      `nginx ${args.join(' ')}\n--- nginx output ---\n${tail(output) || '(none)'}\n--- error.log ---\n${tail(errorLog()) || '(empty)'}\n--- nginx -t ---\n${testConfig(bin, prefix, conf).output}`;
    try {
      const timeoutMs = options.startTimeoutMs ?? 10_000;
      await Promise.race([waitForPidFile(path.join(prefix, 'nginx.pid'), pid, { child, timeoutMs, describe }), spawnError]);
      await Promise.race([waitForPort(port, { host: options.host ?? '127.0.0.1', timeoutMs, child, describe }), spawnError]);
    } catch (error) {
      await stopProcess(child, { group: true, graceMs: 1000 });
      throw error;
    }

    let stopped = false;
    const host = options.host ?? '127.0.0.1';
    return {
      bin,
      prefix,
      port,
      host,
      conf,
      configText,
      pid,
      child,
      baseUrl: `http://${host}:${port}`,
      url: (p = '/') => `http://${host}:${port}${p.startsWith('/') ? p : `/${p}`}`,
      errorLog,
      accessLog: () => {
        try {
          return readFileSync(path.join(prefix, 'logs/access.log'), 'utf8');
        } catch {
          return '';
        }
      },
      output: () => output,
      async stop() {
        if (stopped) return;
        stopped = true;
        // SIGTERM: fast shutdown of master and workers (the whole group, in case).
        await stopProcess(child, { group: true, graceMs: 5_000 });
        try {
          process.kill(-pid, 'SIGKILL'); // a worker left behind, if any
        } catch {
          // none
        }
        remove();
      },
    };
  } catch (error) {
    remove();
    throw error;
  }
}
