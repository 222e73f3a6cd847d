// The hello route in Koa 3, for bench/e2e-adapters.mjs: served by tsgi (--module), or by
// Koa's own node:http server (app.listen) when run directly (node hello-koa.mjs PORT).
import Koa from 'koa';
import { serveIfMain } from './serve-directly.mjs';

const app = new Koa();
app.use((ctx) => {
  if (ctx.method === 'GET' && ctx.path === '/hello') {
    ctx.type = 'text/plain';
    ctx.body = 'Hello, World!\n';
  }
});

export default app;
serveIfMain(
  import.meta.url,
  'hello-koa',
  (port, host) =>
    new Promise((resolve) => {
      const server = app.listen(port, host, () => resolve(server));
    }),
);
