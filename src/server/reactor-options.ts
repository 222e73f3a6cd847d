/**
 * The reactor's options, each stated once: the option of the table that sets it
 * (src/config/options.ts, where its unit, default, bounds and help are), the name
 * `ServerOptions` takes it by (the public `new Server(app, options)`), and the reactor
 * option it becomes (src/native/binding.ts; documented in crates/tsgi-napi/src/options.rs).
 *
 * The worker's server options come from the config through this table, and the server
 * fills every reactor option from it, defaults from the option table included, so neither
 * reactor uses a default of its own. __test__/unit/binding-contract.test.ts holds the
 * native binding's defaults and its `@default` docs to the ones here.
 */
import { optionNamed, type Config } from '../config/options.js';
import type { ReactorOptions } from '../native/binding.js';
import type { ServerOptions } from './server.js';

/** Queue size above which a write asks for a DRAIN before more, bytes: the reactor's, and
 * the one the response streams of src/server/exchange.ts wait on. Not a user option. */
export const WRITE_HIGH_WATER = 256 * 1024;

/** Longest lingering close, ms: how long a closing connection drains unread bytes, so the
 * peer reads the response instead of a reset. Not a user option. */
export const LINGER_MS = 5_000;

/** The `ServerOptions` that reach the reactor (the others are the dispatch's own: the
 * health path, the added headers, post-buffering, static files, sendfile). */
type Limit = Exclude<keyof ServerOptions, 'multiprocess' | 'healthPath' | 'addHeaders' | 'postBuffering' | 'staticFiles' | 'sendfile'>;
/** Options of the table that always have a value (a default) of type `V`. */
type OptionOf<V> = { [N in keyof Config]-?: Config[N] extends V ? N : never }[keyof Config];
/** Reactor options of type `V`. */
type ReactorKeyOf<V> = { [K in keyof ReactorOptions]: ReactorOptions[K] extends V ? K : never }[keyof ReactorOptions];

/**
 * `ServerOptions` key → its option and its reactor option. An option of type `seconds`
 * reaches the reactor in milliseconds. The compiler checks that every `ServerOptions`
 * limit has a row and that the three agree on the value's type.
 */
export const REACTOR_OPTIONS = {
  bufferSize: { option: 'buffer-size', reactor: 'bufferSize' },
  maxVars: { option: 'max-vars', reactor: 'maxVars' },
  limitPost: { option: 'limit-post', reactor: 'limitPost' },
  socketTimeout: { option: 'socket-timeout', reactor: 'socketTimeoutMs' },
  keepaliveTimeout: { option: 'http-keepalive-timeout', reactor: 'keepaliveTimeoutMs' },
  requestTimeout: { option: 'http-request-timeout', reactor: 'requestTimeoutMs' },
  tunnelTimeout: { option: 'tunnel-timeout', reactor: 'tunnelTimeoutMs' },
  httpMaxRequestLine: { option: 'http-max-request-line', reactor: 'httpMaxRequestLine' },
  httpMaxHead: { option: 'http-max-head', reactor: 'httpMaxHead' },
  httpMaxHeaders: { option: 'http-max-headers', reactor: 'httpMaxHeaders' },
  httpMaxChunkExtension: { option: 'http-max-chunk-extension', reactor: 'httpMaxChunkExtension' },
  maxConns: { option: 'max-conns', reactor: 'maxConns' },
  fastcgiMaxReqs: { option: 'fastcgi-max-reqs', reactor: 'fastcgiMaxReqs' },
  fastcgiMultiplex: { option: 'fastcgi-multiplex', reactor: 'fastcgiMultiplex' },
  deferAccept: { option: 'defer-accept', reactor: 'deferAccept' },
  exclusiveAccept: { option: 'exclusive-accept', reactor: 'exclusiveAccept' },
} as const satisfies {
  readonly [K in Limit]-?: { readonly option: OptionOf<NonNullable<ServerOptions[K]>>; readonly reactor: ReactorKeyOf<NonNullable<ServerOptions[K]>> };
};

const rows = Object.entries(REACTOR_OPTIONS) as Array<[Limit, { option: keyof Config; reactor: keyof ReactorOptions }]>;

/** The `ServerOptions` limits the config sets. */
export function serverLimits(config: Config): Required<Pick<ServerOptions, Limit>> {
  return Object.fromEntries(rows.map(([key, { option }]) => [key, config[option]])) as Required<Pick<ServerOptions, Limit>>;
}

/** The options of a server's reactor: each limit as given, else its option's default, in
 * the reactor's unit; and the values that are not user options. */
export function reactorOptions(options: ServerOptions): ReactorOptions {
  const out: Record<string, number | boolean> = { writeHighWater: WRITE_HIGH_WATER, lingerMs: LINGER_MS };
  for (const [key, { option, reactor }] of rows) {
    const spec = optionNamed(option)!;
    const value = (options[key] ?? spec.default) as number | boolean;
    out[reactor] = spec.type === 'seconds' ? Math.round((value as number) * 1000) : value;
  }
  return out as ReactorOptions;
}

/** The option table's defaults, as reactor options. */
export const REACTOR_DEFAULTS: Readonly<ReactorOptions> = Object.freeze(reactorOptions({}));
