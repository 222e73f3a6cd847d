/**
 * A private nginx for tests, benchmarks and the example: its own prefix in a temp dir,
 * its own nginx.conf, one `server` on 127.0.0.1 and a free port whose locations
 * `uwsgi_pass`, `fastcgi_pass` or `proxy_pass` to the upstreams you name. Plain ESM so bench scripts run without a build;
 * __test__/helpers/nginx.ts wraps it for vitest (types: ./nginx.d.mts).
 *
 *   const nginx = await startNginx({ locations: [{ path: '/tcp/', uwsgiPass: '127.0.0.1:3031' }] });
 *   await fetch(nginx.url('/tcp/hello'));
 *   await nginx.stop();
 *
 * nginx runs in the foreground (`-g 'daemon off;'`) as a child in its own process group,
 * master and workers; `stop()` (or, as a last resort, this process exiting) ends the group.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

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

const SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', '/sbin', '/opt/homebrew/bin'];

/** The full path of executable `name` on PATH (or in the usual sbin dirs), or null. */
export function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** The nginx binary: $NGINX if set, else `nginx` on PATH or in an sbin dir; null if none. */
export function findNginx() {
  if (process.env.NGINX) return existsSync(process.env.NGINX) ? process.env.NGINX : null;
  return findExecutable('nginx');
}

/** `nginx -v` output ("nginx version: nginx/1.22.1"), or null without nginx. */
export function nginxVersion(bin = findNginx()) {
  if (!bin) return null;
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return (result.stderr || result.stdout || '').trim() || null;
}

/** A TCP port that was free a moment ago on `host`. */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Rejects with "Address already in use" if `port` on `host` cannot be bound now. */
export function checkPortFree(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error) => reject(new Error(`${host}:${port}: ${error.code === 'EADDRINUSE' ? 'Address already in use' : error.message}`)));
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/** Resolves once `file` holds `pid` (nginx writes its pid file only after binding its
 * listen sockets, so another listener on the port cannot pass for it). */
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

/** Resolves once something accepts TCP connections on host:port (or a Unix socket path).
 * Rejects after `timeoutMs`, or at once if `child` exits first; `describe()` adds context. */
export function waitForPort(port, { host = '127.0.0.1', timeoutMs = 10_000, child, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  const what = typeof port === 'string' ? port : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (message) => {
      if (settled) return;
      settled = true;
      child?.off('exit', onExit);
      const context = describe ? describe() : '';
      reject(new Error(context ? `${message}\n${context}` : message));
    };
    const onExit = (code, signal) => fail(`the process that should listen on ${what} exited (${signal ?? `code ${code}`}) before it did`);
    child?.once('exit', onExit);
    if (child && child.exitCode !== null) return onExit(child.exitCode, child.signalCode);
    const attempt = () => {
      if (settled) return;
      const socket = typeof port === 'string' ? net.connect(port) : net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        if (settled) return;
        settled = true;
        child?.off('exit', onExit);
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) fail(`nothing accepted connections on ${what} within ${timeoutMs} ms`);
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/** Sends `signal` to `child` (to its process group if `group`) and waits for it to exit;
 * SIGKILL after `graceMs`. */
export async function stopProcess(child, { signal = 'SIGTERM', graceMs = 5_000, group = false } = {}) {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const send = (sig) => {
    try {
      process.kill(group ? -child.pid : child.pid, sig);
    } catch {
      // already gone
    }
  };
  send(signal);
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  if ((await Promise.race([exited, timedOut])) === 'timeout') {
    send('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/** The contents of uwsgi_params: the system's copy if there is one, else nginx's stock list. */
export function uwsgiParams() {
  return paramsFile('uwsgi_params', UWSGI_PARAMS_CANDIDATES, STOCK_UWSGI_PARAMS);
}

/** The contents of fastcgi_params: the system's copy if there is one, else nginx's stock list. */
export function fastcgiParams() {
  return paramsFile('fastcgi_params', FASTCGI_PARAMS_CANDIDATES, STOCK_FASTCGI_PARAMS);
}

function paramsFile(name, candidates, stock) {
  for (const file of candidates) {
    if (existsSync(file)) return { text: readFileSync(file, 'utf8'), source: file };
  }
  return { text: stock, source: `built-in copy of the stock ${name}` };
}

/**
 * nginx.conf for `options` (see startNginx); paths are absolute, inside `prefix`.
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
  } = options;
  const p = (name) => path.join(prefix, name);
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const upstreams = [];
  // Kept-alive upstream connections need an upstream block: its name, else the address.
  const upstream = (kind, address, location, index) => {
    if (!location.keepalive) return address;
    const name = `${kind}_keepalive_${index}`;
    const requests = location.keepaliveRequests ? `\n    keepalive_requests ${location.keepaliveRequests};` : '';
    upstreams.push(`  upstream ${name} {\n    server ${address};\n    keepalive ${location.keepalive};${requests}\n  }`);
    return name;
  };
  const blocks = locations.map((location, index) => {
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
    if (location.extra) lines.push(...[].concat(location.extra));
    return `    location ${location.path} {\n${lines.map((line) => `      ${line}`).join('\n')}\n    }`;
  });
  return `# generated by bench/lib/nginx.mjs
${asRoot ? 'user root;  # workers must reach root-owned Unix sockets' : '# not root: workers run as this user'}
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

/** Runs `nginx -t` on a prefix and config; returns { ok, output }. */
export function testConfig(bin, prefix, conf) {
  const result = spawnSync(bin, ['-t', '-p', prefix, '-e', path.join(prefix, 'logs/error.log'), '-c', conf, '-g', 'daemon off;'], { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim() };
}

/** Every nginx group still running, killed if this process exits without stopping them. */
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
 */
export async function startNginx(options = {}) {
  const bin = options.nginx ?? findNginx();
  if (!bin)
    throw new Error(
      'nginx is not installed (not on PATH nor in /usr/sbin, /usr/local/sbin); install it, e.g. apt-get install nginx, or set NGINX=/path/to/nginx',
    );
  const fixedPort = options.port !== undefined;
  const attempts = fixedPort ? 1 : 3;
  let lastError;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = fixedPort ? options.port : await freePort(options.host);
    try {
      return await startOnce(bin, port, options);
    } catch (error) {
      lastError = error;
      // A free port taken by someone else in between: try another one.
      if (!/Address already in use/.test(String(error?.message))) break;
    }
  }
  throw lastError;
}

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
    const spawnError = new Promise((_, reject) => child.once('error', reject));
    spawnError.catch(() => {});
    installExitHook();
    running.add(child.pid);
    child.once('exit', () => running.delete(child.pid));

    const describe = () =>
      `nginx ${args.join(' ')}\n--- nginx output ---\n${tail(output) || '(none)'}\n--- error.log ---\n${tail(errorLog()) || '(empty)'}\n--- nginx -t ---\n${testConfig(bin, prefix, conf).output}`;
    try {
      const timeoutMs = options.startTimeoutMs ?? 10_000;
      await Promise.race([waitForPidFile(path.join(prefix, 'nginx.pid'), child.pid, { child, timeoutMs, describe }), spawnError]);
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
      pid: child.pid,
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
          process.kill(-child.pid, 'SIGKILL'); // a worker left behind, if any
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
