/**
 * What a module exports, made a TSGI app: a TSGI function as it is, a fetch handler
 * through `fromFetch`, a Node handler (Express, Connect, Koa, Fastify, an http.Server)
 * through `fromNode`. `--adapter` says which; `auto` tells by the export's shape.
 */
import type { Server as HttpServer } from 'node:http';
import type { App } from '../app/contract.js';
import type { AdapterName } from '../config/options.js';
import type { FetchHandler } from './from-fetch.js';
import type { NodeHandler } from './from-node.js';

// The adapters, node:http and the fetch classes (undici, which the fetch adapter touches as
// it loads) are loaded only for an app that needs them: a TSGI app's worker starts without
// them (issue 23, start-up).
const fetchAdapter = () => import('./from-fetch.js');
const nodeAdapter = () => import('./from-node.js');
const upgradesAdapter = () => import('./upgrades.js');

/** `value` if it is an http.Server, else null; node:http is loaded only for an object that listens. */
export async function asHttpServer(value: unknown): Promise<HttpServer | null> {
  if (typeof value !== 'object' || value === null || typeof (value as Shape).listen !== 'function') return null;
  const { Server } = await import('node:http');
  return value instanceof Server ? value : null;
}

/** `kind` with its article, as the start-up log says it: "an Express/Connect app", "an
 * http.Server", "a Koa app". */
export function withArticle(kind: string): string {
  return `${/^(?:[aeiou]|http\b)/i.test(kind) ? 'an' : 'a'} ${kind}`;
}

/** An app, and what it was recognised as (for the start-up log line). */
export interface AdaptedApp {
  app: App;
  kind: string;
  /** What told a bare function's kind, when it was not --adapter (the log says it). */
  why?: string;
}

type Shape = { [key: string]: unknown };

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

/** A `{ fetch }` object: Hono, Elysia, itty-router's and Cloudflare's and Bun's module shape. */
const fetchObject = (value: Shape) => isFunction(value.fetch);
/** Fastify: its routing function is the request handler, once the app is ready. */
const fastify = (value: Shape) => isFunction(value.routing) && isFunction(value.ready) && isFunction(value.register);
/** Koa: callback() makes the request handler. */
const koa = (value: Shape) => isFunction(value.callback) && isFunction(value.use) && Array.isArray(value.middleware);
/** Express and Connect apps are request handlers with handle() and use(). */
const expressLike = (value: Shape) => isFunction(value.handle) && isFunction(value.use);

/**
 * `exported` as a TSGI app, or a string saying why it is none (the caller words the error).
 * Fastify apps are made ready first (their plugins load).
 */
export async function adapt(exported: unknown, adapter: AdapterName): Promise<AdaptedApp | string> {
  const what = exported === null ? 'null' : typeof exported;
  if (exported === null || (typeof exported !== 'object' && typeof exported !== 'function')) return `is not a function (it is ${what})`;
  const shape = exported as Shape;
  switch (adapter) {
    case 'tsgi':
      return isFunction(exported)
        ? { app: exported as unknown as App, kind: 'TSGI app' }
        : `is not a function (it is ${what}); --adapter tsgi wants app(environ, startResponse)`;
    case 'fetch':
      if (fetchObject(shape)) return fromFetchObject(shape);
      return isFunction(exported)
        ? servedFetch(exported as unknown as FetchHandler, 'fetch handler')
        : `has no fetch() (it is ${what}); --adapter fetch wants (request) => Response or an object with fetch()`;
    case 'node':
      return (
        (await nodeApp(shape)) ??
        (isFunction(exported)
          ? { app: (await nodeAdapter()).fromNode(exported as unknown as NodeHandler), kind: 'Node handler' }
          : `is no Node handler (it is ${what}); --adapter node wants (req, res) => void, or an Express, Koa, Fastify app or http.Server`)
      );
    case 'auto':
      if (fetchObject(shape)) return fromFetchObject(shape);
      return (
        (await nodeApp(shape)) ??
        (isFunction(exported)
          ? { app: exported as unknown as App, kind: 'TSGI app' }
          : `is not an app (it is ${what} without fetch(), routing() or callback()); export a TSGI function, a { fetch } object, or an Express, Koa or Fastify app`)
      );
  }
}

async function fromFetchObject(shape: Shape): Promise<AdaptedApp> {
  const fetch = shape.fetch as FetchHandler;
  return servedFetch((request, env, ctx) => fetch.call(shape, request, env, ctx), 'fetch handler ({ fetch })');
}

/** A fetch handler served by the container: from here on its Responses are light ones. */
async function servedFetch(handler: FetchHandler, kind: string): Promise<AdaptedApp> {
  const [{ fromFetch }, { installLightResponse }] = await Promise.all([fetchAdapter(), import('./light-response.js')]);
  installLightResponse();
  return { app: fromFetch(handler), kind };
}

/** The Node frameworks' app objects, as Node handlers; undefined for anything else. */
async function nodeApp(shape: Shape): Promise<AdaptedApp | undefined> {
  if (fastify(shape)) {
    await (shape.ready as () => Promise<unknown>)();
    const routing = shape.routing as NodeHandler;
    const app = (await nodeAdapter()).fromNode((req, res) => routing.call(shape, req, res));
    // @fastify/websocket listens for upgrades on the app's own (never listening) server.
    const server = await asHttpServer(shape.server);
    return { app: server ? (await upgradesAdapter()).withUpgrades(app, server) : app, kind: 'Fastify app' };
  }
  if (koa(shape)) return { app: (await nodeAdapter()).fromNode((shape.callback as () => NodeHandler).call(shape)), kind: 'Koa app' };
  const server = await asHttpServer(shape);
  if (server)
    return {
      app: (await upgradesAdapter()).withUpgrades(
        (await nodeAdapter()).fromNode((req, res) => server.emit('request', req, res)),
        server,
      ),
      kind: 'http.Server',
    };
  if (isFunction(shape) && expressLike(shape)) return { app: (await nodeAdapter()).fromNode(shape as unknown as NodeHandler), kind: 'Express/Connect app' };
  if (isFunction(shape)) {
    const why = nodeHandlerSign(shape);
    if (why)
      return {
        app: (await nodeAdapter()).fromNode(shape as unknown as NodeHandler),
        kind: 'Node handler',
        why: `${why}; --adapter tsgi serves it as a TSGI app`,
      };
  }
  return undefined;
}

/**
 * What gives a bare function away as a Node `(req, res)` handler, or undefined: Next.js's
 * `getRequestHandler()` of the releases that return a bound `handleRequest`, or parameters
 * named as Node's are (Next.js 16's handler is an `async (req, res, parsedUrl)` arrow,
 * served so by __test__/peers/frameworks.test.ts). A TSGI app's are `(environ, startResponse)`.
 */
export function nodeHandlerSign(fn: (...args: never[]) => unknown): string | undefined {
  if (fn.name === 'bound handleRequest') return "Next.js's getRequestHandler()";
  const params = /^(?:async\s*)?(?:function\b[^(]*)?\(?\s*([\w$]+)\s*,\s*([\w$]+)/.exec(Function.prototype.toString.call(fn));
  if (params && /^(?:req|request|incoming)$/i.test(params[1]!) && /^(?:res|response|reply|outgoing)$/i.test(params[2]!)) {
    return `its parameters are (${params[1]}, ${params[2]})`;
  }
  return undefined;
}
