/**
 * tsgi from code: `serve()` runs the container the command line runs (a master in this
 * process, the workers forked from it), with the same options by camelCase name, checked
 * by the same table. `defineConfig()` checks options without serving, for a config
 * module of your own.
 *
 * A library should not take its host's process over: `serve()` leaves the host's signal
 * handlers and log sink alone unless asked (`handleSignals`; `logto`).
 */
import { configFromCode, type TsgiOptions } from './config/index.js';
import { startContainer, type Container } from './process/container.js';
import { ErrorCodes, TsgiError } from './errors.js';
import { log } from './log.js';

export interface ServeOptions {
  /** Take SIGTERM (graceful shutdown), SIGINT/SIGQUIT (fast), SIGHUP (reload) and
   * SIGUSR1 (reopen `logto`) as the command line does. Default: false. */
  readonly handleSignals?: boolean;
}

/** Starts a master and its workers; resolves once every worker is ready. */
export async function serve(options: TsgiOptions, { handleSignals = false }: ServeOptions = {}): Promise<Container> {
  const { config, warnings } = configFromCode(options, 'serve()', process.env);
  if (!config.master)
    throw new TsgiError(ErrorCodes.INVALID_OPTION, 'serve(): master: serve() always runs a master; to serve in this process, use new Server(app)');
  if (config.chdir !== undefined)
    throw new TsgiError(
      ErrorCodes.INVALID_OPTION,
      'serve(): chdir: would move the whole host process; give absolute paths, or start the host process where it should run',
    );
  for (const warning of warnings) log.warn(warning);
  return startContainer(config, {
    handleSignals,
    ownLog: config.logto !== undefined,
    reread: () => configFromCode(options, 'serve()', process.env),
  });
}

/** Checks `options` as `serve()` would (throwing a TsgiError naming the mistake) and
 * returns them as they are. */
export function defineConfig<const T extends TsgiOptions>(options: T): T {
  configFromCode(options, 'defineConfig()', process.env);
  return options;
}
