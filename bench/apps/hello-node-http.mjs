// The end-to-end benchmarks' app (hello-node-handler.mjs) on Node's own http.createServer, a
// baseline of bench/e2e.mjs: the same status, Content-Type, Content-Length and bodies as
// hello.mjs (node:http adds its Date, Connection and Keep-Alive headers). One process, like tsgi.
//
//   node bench/apps/hello-node-http.mjs [PORT [HOST]]   (or PORT=8080 HOST=127.0.0.1)
//
// Listens on HOST:PORT (default 127.0.0.1:8080); SIGTERM and SIGINT close it.
import http from 'node:http';
import hello from './hello-node-handler.mjs';

const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const host = process.argv[3] ?? process.env.HOST ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`hello-node-http: bad port ${process.argv[2] ?? process.env.PORT}\n`);
  process.exit(2);
}

const server = http.createServer(hello);
server.listen(port, host, () => process.stderr.write(`hello-node-http: listening on ${host}:${port}\n`));

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
