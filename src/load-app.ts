/** Loads the app named by --module and --callable, with errors that name the option. */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from './app.js';
import { ErrorCodes, TsgiError } from './errors.js';

export async function loadApp(module: string, callable: string): Promise<App> {
  const file = path.resolve(module);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && !(error as Error).message.includes(`'${file}'`) ? (error as Error).message : (error as Error).message.split('\n')[0];
    throw new TsgiError(ErrorCodes.MODULE_LOAD, `--module ${module}: cannot load ${file}: ${reason}`, { cause: error });
  }
  // An explicit --callable names the export; otherwise the default export, then `application`.
  const names = callable === 'application' ? ['default', 'application'] : [callable];
  for (const name of names) {
    const candidate = namespace[name];
    if (candidate === undefined) continue;
    if (typeof candidate !== 'function') {
      throw new TsgiError(ErrorCodes.NOT_AN_APP, `--module ${module}: export "${name}" is not a function (it is ${candidate === null ? 'null' : typeof candidate}); export the app as default or as ${callable}`);
    }
    return candidate as App;
  }
  throw new TsgiError(ErrorCodes.NOT_AN_APP, `--module ${module}: exports no app; export a function as default or as "${names.at(-1)}" (--callable sets the name)`);
}
