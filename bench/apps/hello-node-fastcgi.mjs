// The end-to-end benchmarks' app (hello-node-handler.mjs) on node-fastcgi (npm), a baseline
// of bench/e2e.mjs: the same responses as hello.mjs, byte for byte.
//
//   node bench/apps/hello-node-fastcgi.mjs [PORT [HOST]]   (or PORT=9000 HOST=127.0.0.1)
//
// Listens for FastCGI on HOST:PORT (default 127.0.0.1:9000); SIGTERM and SIGINT close it.
//
// As published, node-fastcgi 2.0.0 cannot keep a connection open for nginx
// (`fastcgi_keep_conn on`):
//   1. It tests BeginRequest.flags.KEEP_CONN, but its fastcgi-stream 1.0.0 names the flag
//      KEEPCONN: the test is always false and it closes every connection after one response.
//   2. Were the flag seen, it still writes an empty FCGI_STDERR record (the end of the unused
//      stderr stream) after FCGI_END_REQUEST; nginx reads data on a connection it holds idle
//      as an error and closes it.
//   3. Its sockets keep Nagle's algorithm on (net.Server's default), so on a kept connection
//      the small records of a response wait for the previous ACK (~40 ms).
// With NODE_FASTCGI_FIX=1 this app works around all three (its own code only: the flag gets
// its missing name, the unused stderr stream is marked ended, TCP_NODELAY is set), so the
// package can serve kept-alive connections as it means to. Without it, the package runs
// as published.
import { createRequire } from 'node:module';
import fcgi from 'node-fastcgi';
import hello from './hello-node-handler.mjs';

const port = Number(process.argv[2] ?? process.env.PORT ?? 9000);
const host = process.argv[3] ?? process.env.HOST ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`hello-node-fastcgi: bad port ${process.argv[2] ?? process.env.PORT}\n`);
  process.exit(2);
}

const fix = process.env.NODE_FASTCGI_FIX === '1';
if (fix) {
  // fastcgi-stream as node-fastcgi itself loads it.
  const requireFromNodeFastcgi = createRequire(createRequire(import.meta.url).resolve('node-fastcgi'));
  const { flags } = /** @type {typeof import('fastcgi-stream')} */ (requireFromNodeFastcgi('fastcgi-stream')).records.BeginRequest;
  if (flags.KEEP_CONN === undefined) flags.KEEP_CONN = flags.KEEPCONN; // 1.
}

const server = fcgi.createServer((req, res) => {
  // 2. req.socket is node-fastcgi's Request; nothing is written to its stderr stream.
  if (fix && req.socket?.errorStream) req.socket.errorStream._finalized = true;
  hello(req, res);
});
if (fix) server.on('connection', (socket) => socket.setNoDelay(true)); // 3.
server.on('error', (error) => {
  process.stderr.write(`hello-node-fastcgi: ${error.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => process.stderr.write(`hello-node-fastcgi: listening on ${host}:${port}${fix ? ' (keep-alive fixes on)' : ''}\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => process.exit(0));
