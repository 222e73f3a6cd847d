/**
 * What bench/e2e.mjs races: each setup is a server behind nginx or on its own port, all
 * serving the same app (bench/apps/hello.mjs and its twins in Python, node:http,
 * node-fastcgi, PHP). A setup is
 *   { key, name, group, via, needs, workloads?, pair?, start(ctx) }
 * group: 'tsgi' | 'peer' | 'ceiling'; via: 'nginx' (wrk → nginx → the backend) or
 * 'direct' (wrk → the backend); needs: the peers it cannot run without (bench/e2e/peers.mjs
 * keys); workloads: the only workloads it serves (default all); pair: for the ratios, the
 * setup it is measured against (pure-TS → native, two workers → one).
 * start(ctx) starts the backend and resolves with { backend, cpuPids, upstream? }, where
 * upstream is the nginx location's pass (scripts/lib/nginx.mjs NginxLocation fields).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { somaxconn, startBackend, tsgiBenchFlags } from '../lib/e2e.mjs';
import { freePort } from '../../scripts/lib/processes.mjs';
import { preparePhpFpm } from './peers.mjs';

/** @typedef {import('./peers.mjs').Versions} Versions */
/** @typedef {import('../lib/e2e.mjs').Backend} Backend */
/** @typedef {Omit<import('../../scripts/lib/nginx.mjs').NginxLocation, 'path'>} Upstream */

/**
 * What a setup's start() gets: the repository, the CLI, the peers' binaries, the apps.
 * @typedef {object} SetupContext
 * @property {string} root
 * @property {string} cli dist/cli.js
 * @property {import('./peers.mjs').Bins} bins
 * @property {(file: string) => string} app the path of bench/apps/`file`
 */

/**
 * What start() resolves with: the backend (null for nginx alone), where it listens, and
 * the nginx location's pass.
 * @typedef {{ backend: Backend | null, port?: number | string, upstream?: Upstream }} Started
 */

/**
 * A setup (see above).
 * @typedef {object} Setup
 * @property {string} key
 * @property {string} name
 * @property {'tsgi' | 'peer' | 'ceiling'} group
 * @property {'nginx' | 'direct'} via
 * @property {Array<keyof import('./peers.mjs').Missing>} needs
 * @property {string[]} [workloads]
 * @property {string} [pair]
 * @property {{ uwsgi: string, node: string }} [baselines] the setups its ratios are to (default: BASELINES[via])
 * @property {(versions: Versions) => string} label
 * @property {(ctx: SetupContext) => Promise<Started>} start
 */

/**
 * The binary of a peer a setup needs; a setup whose peer is missing is skipped before it
 * starts, so this only names what went wrong if that ever changes.
 * @param {string | null} bin
 * @param {string} name
 * @returns {string}
 */
function binary(bin, name) {
  if (!bin) throw new Error(`${name} is not installed`);
  return bin;
}

/** Idle upstream connections nginx keeps per worker, where the protocol can keep them. */
const KEEPALIVE = 32;

/** The listen queue every backend asks for, so none refuses wrk's 50 connections at once. */
const backlog = () => String(Math.min(1024, somaxconn()));

/**
 * How each tsgi protocol is served and reached.
 * @type {Record<string, { flag: string, via: 'nginx' | 'direct', unix?: boolean, upstream?: (address: string) => Upstream, what: string }>}
 */
const TSGI_PROTOCOLS = {
  uwsgi: { flag: '--socket', via: 'nginx', upstream: (address) => ({ uwsgiPass: address }), what: 'uwsgi, nginx uwsgi_pass' },
  'uwsgi-unix': {
    flag: '--socket',
    via: 'nginx',
    unix: true,
    upstream: (address) => ({ uwsgiPass: address }),
    what: 'uwsgi over a Unix socket, nginx uwsgi_pass',
  },
  fastcgi: {
    flag: '--fastcgi-socket',
    via: 'nginx',
    upstream: (address) => ({ fastcgiPass: address, keepalive: KEEPALIVE }),
    what: 'FastCGI, nginx fastcgi_pass, keep-conn',
  },
  http: { flag: '--http-socket', via: 'direct', what: 'HTTP, direct' },
  'http-proxy': {
    flag: '--http-socket',
    via: 'nginx',
    upstream: (address) => ({ proxyPass: address, keepalive: KEEPALIVE }),
    what: 'HTTP, nginx proxy_pass, keepalive',
  },
};

/**
 * A tsgi setup: `protocol` of TSGI_PROTOCOLS, the native or the pure-TS reactor, `workers` processes.
 * @param {string} protocol
 * @param {{ pure?: boolean, workers?: number }} [options]
 * @returns {Setup}
 */
function tsgi(protocol, { pure = false, workers = 1 } = {}) {
  const spec = TSGI_PROTOCOLS[protocol];
  if (!spec) throw new Error(`no tsgi protocol ${protocol}`);
  const { flag, via, unix, upstream, what } = spec;
  const key = `${pure ? 'pure' : 'tsgi'}-${protocol}${workers > 1 ? `-${workers}w` : ''}`;
  const reactor = pure ? 'pure-TS' : 'native';
  return {
    key,
    name: `tsgi ${reactor} ${protocol}${workers > 1 ? `, ${workers} workers` : ''}`,
    group: 'tsgi',
    via,
    needs: via === 'nginx' ? ['nginx'] : [],
    pair: pure ? `tsgi-${protocol}` : workers > 1 ? `tsgi-${protocol}` : undefined,
    // Over a Unix socket, the fair uWSGI is on a Unix socket too.
    baselines: unix ? { uwsgi: 'uwsgi-unix', node: 'node-http-proxy' } : undefined,
    label: () => `tsgi ${reactor}, ${what}${workers > 1 ? `, ${workers} workers` : ''}`,
    async start(ctx) {
      const port = unix ? path.join(mkdtempSync(path.join(os.tmpdir(), 'tsgi-e2e-')), 'app.sock') : await freePort();
      const address = typeof port === 'string' ? port : `127.0.0.1:${port}`;
      const args = [ctx.cli, flag, address, '--module', ctx.app('hello.mjs'), '--processes', String(workers), '--listen', backlog(), ...tsgiBenchFlags()];
      const env = { ...process.env, TSGI_NATIVE: pure ? '0' : '' };
      const backend = await startBackend(key, process.execPath, args, port, { cwd: ctx.root, env });
      return { backend, port, upstream: upstream?.(unix ? `unix:${address}` : address) };
    },
  };
}

/**
 * uWSGI 2.0 (Debian's, python3 plugin) with the same app in Python, one process: behind
 * nginx over TCP or a Unix socket, or serving HTTP itself.
 * @param {'tcp' | 'unix' | 'http'} transport
 * @returns {Setup}
 */
function uwsgi(transport) {
  const http = transport === 'http';
  const unix = transport === 'unix';
  return {
    key: http ? 'uwsgi-http' : unix ? 'uwsgi-unix' : 'uwsgi',
    name: http ? 'uWSGI --http-socket' : unix ? 'uWSGI, Unix socket' : 'uWSGI',
    group: 'peer',
    via: http ? 'direct' : 'nginx',
    needs: http ? ['uwsgi'] : ['uwsgi', 'nginx'],
    label: (v) =>
      `${v.uwsgi ? `uWSGI ${v.uwsgi}` : 'uWSGI'} (Python ${v.python ?? '?'}), ${http ? '--http-socket, direct (a connection per request)' : unix ? 'uwsgi over a Unix socket, nginx uwsgi_pass' : 'uwsgi, nginx uwsgi_pass'}`,
    async start(ctx) {
      const port = unix ? path.join(mkdtempSync(path.join(os.tmpdir(), 'tsgi-e2e-')), 'uwsgi.sock') : await freePort();
      const address = typeof port === 'string' ? port : `127.0.0.1:${port}`;
      const args = ['--plugin', 'python3', http ? '--http-socket' : '--socket', address, '--wsgi-file', ctx.app('hello.py')];
      args.push('--processes', '1', '--master', '--disable-logging', '--need-app', '--die-on-term', '--listen', backlog());
      // uWSGI's --http-socket closes after each response without saying so; wrk then sends
      // its next request on the closed connection and counts a read error per request.
      // The header tells wrk to reconnect instead.
      if (http) args.push('--add-header', 'Connection: close');
      // nginx's workers connect to the socket file: open it to them, as --chmod-socket does for tsgi.
      if (unix) args.push('--chmod-socket=666');
      const backend = await startBackend('uWSGI', binary(ctx.bins.uwsgi, 'uWSGI'), args, port);
      return { backend, port, upstream: http ? undefined : { uwsgiPass: unix ? `unix:${address}` : address } };
    },
  };
}

/**
 * node:http with the same app (bench/apps/hello-node-http.mjs), one process.
 * @param {boolean} proxy
 * @returns {Setup}
 */
function nodeHttp(proxy) {
  return {
    key: proxy ? 'node-http-proxy' : 'node-http',
    name: proxy ? 'node:http behind nginx' : 'node:http',
    group: 'peer',
    via: proxy ? 'nginx' : 'direct',
    needs: proxy ? ['nginx'] : [],
    label: (v) => `node:http (Node ${v.node}), ${proxy ? 'nginx proxy_pass, keepalive' : 'direct'}`,
    async start(ctx) {
      const port = await freePort();
      const backend = await startBackend('node:http', process.execPath, [ctx.app('hello-node-http.mjs'), String(port), '127.0.0.1'], port, { cwd: ctx.root });
      return { backend, port, upstream: proxy ? { proxyPass: `127.0.0.1:${port}`, keepalive: KEEPALIVE } : undefined };
    },
  };
}

/**
 * node-fastcgi (npm) behind fastcgi_pass, as published or with its keep-alive bugs worked
 * around (bench/apps/hello-node-fastcgi.mjs says which and why).
 * @param {boolean} fixed
 * @returns {Setup}
 */
function nodeFastcgi(fixed) {
  return {
    key: fixed ? 'node-fastcgi-fixed' : 'node-fastcgi',
    name: fixed ? 'node-fastcgi, keep-alive fixed' : 'node-fastcgi',
    group: 'peer',
    via: 'nginx',
    needs: ['nginx', 'nodeFastcgi'],
    label: (v) =>
      `node-fastcgi ${v.nodeFastcgi ?? '?'} ${fixed ? 'with its keep-alive bugs worked around' : 'as published (closes every connection)'}, nginx fastcgi_pass`,
    async start(ctx) {
      const port = await freePort();
      const env = { ...process.env, NODE_FASTCGI_FIX: fixed ? '1' : '0' };
      const backend = await startBackend('node-fastcgi', process.execPath, [ctx.app('hello-node-fastcgi.mjs'), String(port), '127.0.0.1'], port, {
        cwd: ctx.root,
        env,
      });
      return { backend, port, upstream: { fastcgiPass: `127.0.0.1:${port}`, keepalive: KEEPALIVE } };
    },
  };
}

/** @type {Setup} */
const phpFpm = {
  key: 'php-fpm',
  name: 'PHP-FPM',
  group: 'peer',
  via: 'nginx',
  needs: ['nginx', 'phpFpm'],
  label: (v) => `PHP-FPM ${v.phpFpm ?? '?'} (pm = static, one child, opcache), nginx fastcgi_pass, keep-conn`,
  async start(ctx) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-php-fpm-'));
    const bin = binary(ctx.bins.phpFpm, 'PHP-FPM');
    const php = preparePhpFpm(bin, port, dir);
    const backend = await startBackend('PHP-FPM', bin, php.args, port, { cwd: dir, env: php.env });
    backend.stopSignal = 'SIGQUIT'; // PHP-FPM's graceful stop
    return { backend, port, upstream: { fastcgiPass: `127.0.0.1:${port}`, keepalive: KEEPALIVE, extra: [`fastcgi_param SCRIPT_FILENAME ${php.script};`] } };
  },
};

/**
 * nginx answering by itself: the ceiling of any setup behind it. It has no app, so hello only.
 * @type {Setup}
 */
const nginxReturn = {
  key: 'nginx-return',
  name: 'nginx return 200',
  group: 'ceiling',
  via: 'nginx',
  needs: ['nginx'],
  workloads: ['hello'],
  label: (v) => `nginx ${v.nginx ?? ''} \`return 200\` (no backend: the ceiling)`.replace('  ', ' '),
  async start() {
    return { backend: null, upstream: { extra: ['default_type text/plain;', 'return 200 "Hello, World!\\n";'] } };
  },
};

/** Every setup, in the order of the tables. */
export const SETUPS = [
  ...Object.keys(TSGI_PROTOCOLS).map((protocol) => tsgi(protocol)),
  tsgi('uwsgi', { workers: 2 }),
  tsgi('http', { workers: 2 }),
  ...Object.keys(TSGI_PROTOCOLS).map((protocol) => tsgi(protocol, { pure: true })),
  uwsgi('tcp'),
  uwsgi('unix'),
  uwsgi('http'),
  nodeHttp(true),
  nodeHttp(false),
  nodeFastcgi(false),
  nodeFastcgi(true),
  phpFpm,
  nginxReturn,
];

/**
 * The tsgi setups' comparators: uWSGI and node:http reached the same way (nginx or direct).
 * @type {Record<string, { uwsgi: string, node: string }>}
 */
export const BASELINES = {
  nginx: { uwsgi: 'uwsgi', node: 'node-http-proxy' },
  direct: { uwsgi: 'uwsgi-http', node: 'node-http' },
};

/** bench:quick: one of each kind, enough for every target's ratio. */
export const QUICK_SETUPS = [
  'tsgi-uwsgi',
  'tsgi-fastcgi',
  'tsgi-http',
  'tsgi-http-2w',
  'pure-http',
  'uwsgi',
  'uwsgi-http',
  'node-http',
  'node-http-proxy',
  'node-fastcgi',
];
