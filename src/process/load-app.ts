/**
 * Loads the app named by --module and --callable, with errors that name the option, and
 * makes it a TSGI app as --adapter says (src/adapters/detect.ts). A module whose app is not
 * itself an http.Server may export one as `server` for its WebSockets: its `'upgrade'`
 * listeners get the upgrade requests (`injectWebSocket(server)` of @hono/node-ws, or a
 * `ws` server attached to it).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from '../app/contract.js';
import type { AdapterName } from '../config/options.js';
import { adapt, asHttpServer } from '../adapters/detect.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

export async function loadApp(module: string, callable: string, adapter: AdapterName = 'auto'): Promise<App> {
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
    const server = namespace.server === candidate ? null : await asHttpServer(namespace.server);
    if (server) {
      log.info(`--module ${module}: export "server" takes the WebSocket upgrades (its 'upgrade' listeners)`);
      const { withUpgrades } = await import('../adapters/upgrades.js');
      return withUpgrades(adapted.app, server);
    }
    return adapted.app;
  }
  throw new TsgiError(
    ErrorCodes.NOT_AN_APP,
    `--module ${module}: exports no app; export a function as default or as "${names.at(-1)}" (--callable sets the name)`,
  );
}
