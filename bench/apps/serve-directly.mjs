// What the framework hello apps share: when a file is run with node itself (not loaded by
// tsgi's --module), it serves on the framework's own node:http server.
//
//   node bench/apps/hello-express.mjs PORT [HOST]
import { fileURLToPath } from 'node:url';

/**
 * Calls `listen(port, host)` when `moduleUrl` is the script node was started with; what it
 * gives (or resolves with) is closed on SIGINT and SIGTERM.
 * @param {string} moduleUrl
 * @param {string} name
 * @param {(port: number, host: string) => { close(): unknown } | Promise<{ close(): unknown }>} listen
 */
export function serveIfMain(moduleUrl, name, listen) {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  const port = Number(process.argv[2] ?? 8080);
  const host = process.argv[3] ?? '127.0.0.1';
  Promise.resolve(listen(port, host)).then(
    (server) => {
      process.stderr.write(`${name}: listening on ${host}:${port}\n`);
      const stop = () => Promise.resolve(server?.close?.()).finally(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (/** @type {unknown} */ error) => {
      process.stderr.write(`${name}: ${error instanceof Error ? (error.stack ?? error) : error}\n`);
      process.exit(1);
    },
  );
}
