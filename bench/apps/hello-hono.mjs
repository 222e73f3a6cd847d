// The hello route in Hono 4, for bench/e2e-adapters.mjs: served by tsgi (--module), or by
// Hono's own node:http server, @hono/node-server, when run directly (node hello-hono.mjs PORT).
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { serveIfMain } from './serve-directly.mjs';

const app = new Hono();
app.get('/hello', (c) => c.text('Hello, World!\n'));

export default app;
serveIfMain(
  import.meta.url,
  'hello-hono',
  (port, hostname) =>
    new Promise((resolve) => {
      const server = serve({ fetch: app.fetch, port, hostname }, () => resolve(server));
    }),
);
