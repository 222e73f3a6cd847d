/**
 * Loads the app named by --module and --callable, with errors that name the option, and
 * makes it a TSGI app as --adapter says (src/adapters/detect.ts). A module whose app is not
 * itself an http.Server may export one as `server` for its WebSockets: its `'upgrade'`
 * listeners get the upgrade requests (`injectWebSocket(server)` of @hono/node-ws, or a
 * `ws` server attached to it). Its `onStart` and `onStop` (or the app object's) are the
 * hooks the worker runs (src/process/worker.ts).
 *
 * A module that fails to load says what Node would have said: where (file:line:column,
 * and the line with a caret for a syntax error) and the stack, without the loader's own
 * frames.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { App } from '../app/contract.js';
import type { AdapterName } from '../config/options.js';
import { adapt, asHttpServer, withArticle } from '../adapters/detect.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

/** `app.mjs:api`: a module file and the export to serve (uWSGI's `module:callable`). */
const WITH_EXPORT = /^(.+\.[cm]?[jt]sx?):([A-Za-z_$][\w$]*)$/;

/** TypeScript sources, which Node 20 cannot import by itself. */
const TYPESCRIPT = /\.[cm]?tsx?$/;

/** tsgi's own files (dist/), whose frames say nothing of the app. */
const OWN_FILES = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** What a module may run at start and at stop: its own exports `onStart` and `onStop`, or
 * the app object's methods of those names (`export default { fetch, onStart, onStop }`). */
export interface AppHooks {
  readonly onStart?: () => unknown;
  readonly onStop?: () => unknown;
}

/** The app and its hooks. */
export interface LoadedApp {
  readonly app: App;
  readonly hooks: AppHooks;
}

/** `onStart` and `onStop` of the module, else of the exported app object, bound to it. */
function hooksOf(module: string, namespace: Record<string, unknown>, exported: unknown): AppHooks {
  const hooks: { onStart?: () => unknown; onStop?: () => unknown } = {};
  for (const name of ['onStart', 'onStop'] as const) {
    const owner = namespace[name] !== undefined ? undefined : (exported as Record<string, unknown> | null);
    const hook = owner ? owner[name] : namespace[name];
    if (hook === undefined) continue;
    if (typeof hook !== 'function') throw new TsgiError(ErrorCodes.NOT_AN_APP, `--module ${module}: ${name} is not a function (it is ${typeof hook})`);
    hooks[name] = () => (hook as () => unknown).call(owner);
  }
  return hooks;
}

export async function loadApp(module: string, callable: string, adapter: AdapterName = 'auto'): Promise<LoadedApp> {
  const named = WITH_EXPORT.exec(module);
  if (named && callable !== 'application' && callable !== named[2]) {
    throw new TsgiError(ErrorCodes.NOT_AN_APP, `--module ${module} names export "${named[2]}" and --callable names "${callable}"; keep one`);
  }
  const spec = named ? named[1]! : module;
  const file = path.resolve(spec);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const { summary, details } = loadFailure(spec, file, error);
    // The place and the stack, as Node prints them, go to the log; the error is one line,
    // for the master's own (start-up failure, reload failed).
    if (details) log.error(`--module ${module}: cannot load ${file}:\n${details}`);
    throw new TsgiError(ErrorCodes.MODULE_LOAD, `--module ${module}: cannot load ${file}: ${summary}`, { cause: error });
  }
  // An export named in --module or --callable; otherwise the default export, then `application`.
  const names = named ? [named[2]!] : callable === 'application' ? ['default', 'application'] : [callable];
  for (const name of names) {
    const candidate = namespace[name];
    if (candidate === undefined) continue;
    const adapted = await adapt(candidate, adapter);
    if (typeof adapted === 'string') {
      throw new TsgiError(ErrorCodes.NOT_AN_APP, `--module ${module}: export "${name}" ${adapted}; export the app as default or as ${names.at(-1)}`);
    }
    log.info(`--module ${module}: export "${name}" is served as ${withArticle(adapted.kind)}${adapted.why ? ` (${adapted.why})` : ''}`);
    const hooks = hooksOf(module, namespace, typeof candidate === 'object' ? candidate : null);
    const server = namespace.server === candidate ? null : await asHttpServer(namespace.server);
    if (server) {
      log.info(`--module ${module}: export "server" takes the WebSocket upgrades (its 'upgrade' listeners)`);
      const { withUpgrades } = await import('../adapters/upgrades.js');
      return { app: withUpgrades(adapted.app, server), hooks };
    }
    return { app: adapted.app, hooks };
  }
  const exported = Object.keys(namespace).filter((key) => key !== 'server');
  throw new TsgiError(
    ErrorCodes.NOT_AN_APP,
    `--module ${module}: exports no app: no ${names.map((name) => `"${name}"`).join(' or ')} export` +
      ` (it exports ${exported.length ? exported.map((key) => `"${key}"`).join(', ') : 'nothing'}); ` +
      `export the app as default, or name the export: ${spec}:NAME or --callable NAME`,
  );
}

/** Why a module could not be imported: one line, and Node's own report (the place, the
 * stack) when it has more to say. */
interface LoadFailure {
  readonly summary: string;
  readonly details?: string;
}

/** Why `file` (named `spec` by the user) could not be imported, in Node's words and place. */
function loadFailure(spec: string, file: string, error: unknown): LoadFailure {
  const failure = error as NodeJS.ErrnoException;
  if (failure.code === 'ERR_MODULE_NOT_FOUND' || failure.code === 'ERR_UNSUPPORTED_DIR_IMPORT') {
    if (!existsSync(file)) return { summary: uwsgiModuleName(spec) ?? 'no such file' };
    // What the module imports is missing; Node says from where.
    return { summary: failure.message.split('\n')[0]! };
  }
  if (failure.code === 'ERR_UNKNOWN_FILE_EXTENSION' && TYPESCRIPT.test(file)) {
    return {
      summary:
        `Node ${process.versions.node} does not run TypeScript by itself. Start tsgi through a loader: ` +
        `node --import tsx $(npx which tsgi) ... (or NODE_OPTIONS=--import=tsx, or --node-args "--import tsx"; npm install tsx), ` +
        'or compile with tsc and serve the .js',
    };
  }
  if (!(error instanceof Error)) return { summary: String(error) };
  if (error instanceof SyntaxError && !error.stack?.includes('\n    at file:')) return syntaxFailure(file, error);
  const stack = withoutLoaderFrames(error);
  const at = /^\s+at (?:.*\()?(.+?:\d+:\d+)\)?$/m.exec(stack)?.[1];
  return { summary: `${error.name}: ${error.message.split('\n')[0]}${at ? ` (at ${at})` : ''}`, details: stack };
}

/** uWSGI's Python form (`pkg.wsgi:app`, `myproject.wsgi`): a hint toward a file path. */
function uwsgiModuleName(spec: string): string | undefined {
  if (!/^[A-Za-z_][\w.]*(?::[A-Za-z_]\w*)?$/.test(spec) || /\.[cm]?[jt]sx?$/.test(spec)) return undefined;
  return `no such file; --module takes a file path, not a Python module name as uWSGI's module = pkg.wsgi:app does: name the JavaScript file (app.mjs), and the export with app.mjs:NAME or --callable NAME`;
}

/**
 * A syntax error: Node keeps where it is out of the error's stack (its own fatal handler
 * prints it). `node --check` on the module finds it in the module itself; otherwise it is
 * in something the module imports.
 */
function syntaxFailure(file: string, error: SyntaxError): LoadFailure {
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  // file:line, the line, the caret, the error; not node --check's own frames.
  const where = check.status !== 0 ? /^[^]*?\n\w*Error: [^\n]*/.exec(check.stderr.trim())?.[0] : undefined;
  if (!where) return { summary: `${error.name}: ${error.message} (in a module it imports: run node --check on them to see where)` };
  return { summary: `${error.name}: ${error.message} (at ${where.split('\n')[0]})`, details: where };
}

/** `error`'s stack without Node's module loader and tsgi's own frames, which say nothing of the app. */
function withoutLoaderFrames(error: Error): string {
  if (!error.stack) return `${error.name}: ${error.message}`;
  const own = (line: string) => line.includes('node:internal') || line.includes(OWN_FILES) || line.includes(pathToFileURL(OWN_FILES).href);
  return error.stack
    .split('\n')
    .filter((line) => !/^\s+at /.test(line) || !own(line))
    .join('\n');
}
