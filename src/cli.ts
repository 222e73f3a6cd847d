#!/usr/bin/env node
/**
 * The command line: the configuration (files, environment, flags) merged and checked,
 * then the container (a master and its workers) runs as this whole process; or, with
 * `--master false`, one process serves alone.
 *
 * This module runs in the master process, which never loads the app nor the native
 * reactor: what needs them (`--version`, `--master false`) is imported on demand.
 */
import { configFromCommandLine, helpText, renderConfig, subject, type Origin } from './config/index.js';
import { backlogOf, checkStartable, DEFAULT_SOCKET, packageVersion, startContainer } from './process/container.js';
import { readFrom } from './process/reconfigure.js';
import { describeError, ErrorCodes, TsgiError } from './errors.js';
import { listenersOf } from './net/sockets.js';
import { jsonLines, type LineFormat } from './log.js';
import { ctl } from './process/control.js';

/** How the command line's own lines read: text, or once the options are read and ask for
 * it, JSON (--log-json). A configuration that cannot be read is reported in text: its
 * --log-json may be the mistake. */
let cliLines: LineFormat = (level, line) => (level === 'warn' ? `tsgi: warning: ${line}` : `tsgi: ${line}`);

async function version(): Promise<string> {
  const { describeNative } = await import('./native/load.js');
  return `tsgi ${packageVersion()}\nnode ${process.version}\n${describeNative()}\n`;
}

/** `--chdir`, as uWSGI's: the whole process moves, and the workers start there. */
function changeDirectory(directory: string, origin: Origin): void {
  try {
    process.chdir(directory);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (error as Error).message;
    throw new TsgiError(ErrorCodes.INVALID_OPTION, `${subject(origin, 'chdir')} ${JSON.stringify(directory)}: cannot change to it: ${why}`);
  }
}

/** `tsgi ctl PATH COMMAND [ARGS]`: the answer's JSON on stdout, exit 0; a failed command,
 * its JSON on stdout and its error on stderr, exit 1. */
async function control([path, ...words]: readonly string[]): Promise<void> {
  if (!path || words.length === 0) {
    throw new TsgiError(
      ErrorCodes.INVALID_OPTION,
      'usage: tsgi ctl CONTROL_SOCKET COMMAND [ARGS] (status, workers N|+1|-1, reload, chain-reload, reopen-logs, stop, shutdown, upgrade)',
    );
  }
  const { ok, line } = await ctl(path, words);
  process.stdout.write(`${line}\n`);
  if (!ok) {
    process.stderr.write(`${cliLines('error', `ctl ${words.join(' ')}: ${String((JSON.parse(line) as { error?: unknown }).error)}`)}\n`);
    process.exit(1);
  }
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'ctl') return control(argv.slice(1));
  // What a reload reads again and an upgrade starts with: the environment as given (tsgi
  // takes systemd's variables out of it as it starts), in the directory of start.
  const env = { ...process.env };
  const cwd = process.cwd();
  const loaded = configFromCommandLine(argv, process.env);
  const { config } = loaded;
  if (config.help) return void process.stdout.write(helpText());
  if (config.version) return void process.stdout.write(await version());
  if (config['log-json']) cliLines = jsonLines();
  for (const warning of loaded.warnings) process.stderr.write(`${cliLines('warn', warning)}\n`);
  if (config['print-config']) {
    // What a start would refuse (a log template, running as root) is refused here too.
    checkStartable(config);
    return void process.stdout.write(renderConfig(loaded));
  }
  if (config.chdir !== undefined) changeDirectory(config.chdir, loaded.origins.get('chdir')![0]!);
  if (config.master) {
    const container = await startContainer(config, {
      handleSignals: true,
      ownLog: true,
      reread: () => readFrom(cwd, () => configFromCommandLine(argv, { ...env })),
      upgrade: { execPath: process.execPath, execArgv: process.execArgv, cli: process.argv[1]!, argv, env, cwd },
    });
    process.exit(await container.closed);
  }
  checkStartable(config);
  const { serveAlone } = await import('./process/alone.js');
  return serveAlone(config, listenersOf(config, DEFAULT_SOCKET), await backlogOf(config));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const invalid = error instanceof TsgiError && error.code === ErrorCodes.INVALID_OPTION;
  // The configuration's refusal lists every problem found, a line each.
  const lines = invalid ? error.message.split('\n') : [error instanceof TsgiError ? error.message : describeError(error)];
  if (lines.length > 1 && invalid) lines.push(`${lines.length} problems; nothing was started`);
  process.stderr.write(lines.map((line) => `${cliLines('error', line)}\n`).join(''));
  // Exit now: a failed start may leave workers being killed or timers behind.
  process.exit(invalid ? 2 : 1);
});
