/**
 * Per-test servers and captured logs: `serve(app)` starts a server on 127.0.0.1:0, and
 * every server started in a test is closed, and the log sink restored, after it.
 */
import { afterEach, beforeEach } from 'vitest';
import type { App } from '../../src/app/contract.js';
import { Server, type ListenOptions, type ServerOptions } from '../../src/server/server.js';
import { captureLogs } from './uwsgi.js';

export interface TestServers {
  /** Starts a server for `app` on 127.0.0.1:0 (with `listen`'s options); returns its address. */
  serve(app: App, options?: ServerOptions, listen?: ListenOptions): string;
  /** Closes `server` after the test. */
  track(server: Server): Server;
  /** Servers started in this test, oldest first. */
  readonly started: readonly Server[];
  /** The log lines of this test. */
  readonly logs: ReturnType<typeof captureLogs>;
}

/** Call at the top level of a test file. */
export function useTestServers(): TestServers {
  const started: Server[] = [];
  let logs: ReturnType<typeof captureLogs> | undefined;
  beforeEach(() => {
    logs = captureLogs();
  });
  afterEach(() => {
    for (const server of started.splice(0)) server.close();
    logs?.restore();
  });
  const track = (server: Server): Server => (started.push(server), server);
  return {
    serve: (app, options, listen) => track(new Server(app, options)).listen('127.0.0.1:0', listen),
    track,
    started,
    get logs() {
      return logs!;
    },
  };
}
