/**
 * Loads the app named by --module and --callable, with errors that name the option, and
 * makes it a TSGI app as --adapter says (src/adapters/detect.ts). A module whose app is not
 * itself an http.Server may export one as `server` for its WebSockets: its `'upgrade'`
 * listeners get the upgrade requests (`injectWebSocket(server)` of @hono/node-ws, or a
 * `ws` server attached to it). Its `onStart` and `onStop` (or the app object's) are the
 * hooks the worker runs (src/process/worker.ts).
 */
import { Server as HttpServer } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from '../app/contract.js';
import type { AdapterName } from '../config/options.js';
import { adapt } from '../adapters/detect.js';
import { withUpgrades } from '../adapters/upgrades.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

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
  const file = path.resolve(module);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && !(error as Error).message.includes(`'${file}'`)
        ? (error as Error).message
        : (error as Error).message.split('\n')[0];
    throw new TsgiError(ErrorCodes.MODULE_LOAD, `--module ${module}: cannot load ${file}: ${reason}`, { cause: error });
  }
  // An explicit --callable names the export; otherwise the default export, then `application`.
  const names = callable === 'application' ? ['default', 'application'] : [callable];
  for (const name of names) {
    const candidate = namespace[name];
    if (candidate === undefined) continue;
    const adapted = await adapt(candidate, adapter);
    if (typeof adapted === 'string') {
      throw new TsgiError(ErrorCodes.NOT_AN_APP, `--module ${module}: export "${name}" ${adapted}; export the app as default or as ${callable}`);
    }
    log.info(`--module ${module}: export "${name}" is served as a ${adapted.kind}`);
    const hooks = hooksOf(module, namespace, typeof candidate === 'object' ? candidate : null);
    const server = namespace.server;
    if (server instanceof HttpServer && server !== candidate) {
      log.info(`--module ${module}: export "server" takes the WebSocket upgrades (its 'upgrade' listeners)`);
      return { app: withUpgrades(adapted.app, server), hooks };
    }
    return { app: adapted.app, hooks };
  }
  throw new TsgiError(
    ErrorCodes.NOT_AN_APP,
    `--module ${module}: exports no app; export a function as default or as "${names.at(-1)}" (--callable sets the name)`,
  );
}
