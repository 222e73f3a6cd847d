#!/usr/bin/env node
/**
 * What each adapter costs per request, without sockets: the dispatch of bench/dispatch.mjs
 * (a batch of nginx-like GETs decoded as the reactor lays them out, one Exchange each,
 * writes counted and dropped) with the same hello response served by a plain TSGI app,
 * fromFetch, fromNode, and Express, Fastify and Hono through them. Asynchronous answers
 * are awaited batch by batch, and the event loop turns between batches (as in the server:
 * Node's 'finish' and 'close' run there). The numbers are wall time per request on one
 * core: the cost an adapter adds is the difference to plain TSGI. Each app is measured in
 * a process of its own (one process serving several shapes of body would measure V8's
 * deoptimisations, not the adapters).
 *
 *   npm run build && node bench/adapters-dispatch.mjs [--seconds 2] [--only plain,node,...]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeBatch } from '../dist/native/batch.js';
import { Exchange } from '../dist/server/exchange.js';
import { optionValue } from './lib/args.mjs';
import { uwsgiBatch } from './lib/batch.mjs';
import { adapt } from '../dist/adapters/detect.js';

const args = process.argv.slice(2);
/** @param {string} name @param {string | null} fallback */
const option = (name, fallback) => optionValue(args, name, fallback);
const seconds = Number(option('seconds', '2'));
const only = option('only', '')?.split(',').filter(Boolean) ?? [];
/** Set in the child that measures one app: it prints [name, kind, ns] as JSON. */
const child = option('child', null);

const BODY = 'Hello, World!\n';
/** @type {import('../dist/app/contract.js').Headers} */
const HEADERS = [
  ['Content-Type', 'text/plain'],
  ['Content-Length', '14'],
];
/** @typedef {import('../dist/app/contract.js').App} App */
/** @typedef {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => unknown} NodeHandler */
/**
 * Each app as it is exported, and the --adapter it is served with.
 * @type {Record<string, [unknown, import('../dist/config/options.js').AdapterName]>}
 */
const apps = {
  plain: [/** @type {App} */ ((environ, start) => (start('200 OK', HEADERS), [BODY])), 'tsgi'],
  'plain-async': [/** @type {App} */ (async (environ, start) => (start('200 OK', HEADERS), [BODY])), 'tsgi'],
  fetch: [{ fetch: () => new Response(BODY, { headers: Object.fromEntries(HEADERS) }) }, 'auto'],
  node: [/** @type {NodeHandler} */ ((req, res) => (res.writeHead(200, Object.fromEntries(HEADERS)), res.end(BODY))), 'node'],
  'node-async': [/** @type {NodeHandler} */ (async (req, res) => (await null, res.writeHead(200, Object.fromEntries(HEADERS)), res.end(BODY))), 'node'],
  express: [(await import('./apps/hello-express.mjs')).default, 'auto'],
  fastify: [(await import('./apps/hello-fastify.mjs')).default, 'auto'],
  hono: [(await import('./apps/hello-hono.mjs')).default, 'auto'],
};

// A batch of 16 GET /hello, as nginx's uwsgi_params sends them.
const vars = {
  QUERY_STRING: '',
  REQUEST_METHOD: 'GET',
  CONTENT_TYPE: '',
  CONTENT_LENGTH: '',
  REQUEST_URI: '/hello',
  PATH_INFO: '/hello',
  DOCUMENT_ROOT: '/usr/share/nginx/html',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REQUEST_SCHEME: 'http',
  REMOTE_ADDR: '127.0.0.1',
  REMOTE_PORT: '5555',
  SERVER_PORT: '8080',
  SERVER_NAME: 'localhost',
  HTTP_HOST: '127.0.0.1:8080',
  HTTP_USER_AGENT: 'wrk',
  HTTP_ACCEPT: '*/*',
};
const N = 16;
const { arena, index, words } = uwsgiBatch(vars, N);

/**
 * Nanoseconds per request of `app`, dispatched in batches as the server dispatches them.
 * @param {string} name
 * @param {App} app
 */
async function measure(name, app) {
  let done = 0;
  let bytes = 0;
  /** @type {(() => void) | null} */
  let wake = null;
  /** @type {import('../dist/server/exchange.js').ExchangeContext} */
  const context = {
    app,
    transport: {
      write: (token, head, body) => ((bytes += (head?.length ?? 0) + (body?.length ?? 0)), 0),
      pause() {},
      abort() {},
      upgrade: () => false,
      writeError: () => false,
      sendFile: () => -2,
    },
    multiprocess: false,
    writeHighWater: 1 << 18,
    inputHighWater: 1 << 18,
    done(exchange) {
      active.delete(exchange.token);
      if (++done % N === 0) wake?.();
    },
    tunneled() {},
  };
  /** @type {import('../dist/native/request.js').RequestRecord[]} */
  const fresh = [];
  /** @type {Set<number>} */
  const active = new Set();
  /** @type {import('../dist/native/batch.js').BatchSink} */
  const sink = {
    request(record) {
      const exchange = new Exchange(record, context);
      active.add(record.token);
      fresh.push(record);
      exchange.run();
    },
    body() {},
    bodyEnd() {},
    abort() {},
    drain() {},
    log() {},
  };
  const batch = async () => {
    const target = done + N;
    decodeBatch(words, arena, index, sink);
    // As the server does: every record gets its own copy of its vars after its batch.
    for (const record of fresh) record.detach();
    fresh.length = 0;
    if (done < target) await new Promise((resolve) => (wake = () => resolve(undefined)));
  };
  /** @param {number} ms */
  const run = async (ms) => {
    const until = performance.now() + ms;
    let requests = 0;
    while (performance.now() < until) {
      await batch();
      requests += N;
      // Back to the event loop, as the server is after each batch: process.nextTick work
      // (Node's 'finish' and 'close') runs there, not after a whole run of microtasks.
      await new Promise(setImmediate);
    }
    return requests;
  };
  await run(500);
  const bytesBefore = bytes;
  const t0 = performance.now();
  const requests = await run(seconds * 1000);
  const ns = ((performance.now() - t0) * 1e6) / requests;
  if (bytes === bytesBefore) throw new Error(`${name}: nothing was written`);
  return ns;
}

if (child) {
  const entry = apps[child];
  if (!entry) throw new Error(`no app ${child}`);
  const [exported, adapter] = entry;
  const adapted = await adapt(exported, adapter);
  if (typeof adapted === 'string') throw new Error(`${child}: ${adapted}`);
  process.stdout.write(JSON.stringify([child, adapted.kind, await measure(child, adapted.app)]));
  process.exit(0);
}

const script = fileURLToPath(import.meta.url);
const results = [];
for (const name of Object.keys(apps)) {
  if (only.length && name !== 'plain' && !only.includes(name)) continue;
  results.push(JSON.parse(execFileSync(process.execPath, [script, '--child', name, '--seconds', String(seconds)], { encoding: 'utf8' })));
}
const plain = results.find(([name]) => name === 'plain')[2];
console.log(`# per-request dispatch cost, no sockets (${N} requests a batch, ${seconds} s each, a process per app)\n`);
console.log('| app | served as | µs per request | over plain TSGI |');
console.log('|---|---|---:|---:|');
for (const [name, kind, ns] of results) {
  console.log(`| ${name} | ${kind} | ${(ns / 1000).toFixed(2)} | +${((ns - plain) / 1000).toFixed(2)} µs |`);
}
