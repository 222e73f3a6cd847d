// A WebSocket echo server as apps write it: an http.Server with a `ws` server attached,
// exported for tsgi (--module), or served by its own node:http server when run directly
// (node ws-echo.mjs PORT). For bench/ws-echo.mjs.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { serveIfMain } from './serve-directly.mjs';

const server = http.createServer((_req, res) => res.end('ws-echo\n'));
new WebSocketServer({ server }).on('connection', (socket) => {
  socket.on('message', (data, binary) => socket.send(data, { binary }));
});

export default server;
serveIfMain(
  import.meta.url,
  'ws-echo',
  (port, host) =>
    new Promise((resolve) => {
      server.listen(port, host, () => resolve(server));
    }),
);
