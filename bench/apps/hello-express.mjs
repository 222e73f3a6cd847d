// The hello route in Express 5, for bench/e2e-adapters.mjs: served by tsgi (--module), or
// by Express's own node:http server when run directly (node hello-express.mjs PORT).
import express from 'express';
import { serveIfMain } from './serve-directly.mjs';

const app = express();
app.get('/hello', (req, res) => {
  res.type('text/plain').send('Hello, World!\n');
});

export default app;
serveIfMain(
  import.meta.url,
  'hello-express',
  (port, host) =>
    new Promise((resolve) => {
      const server = app.listen(port, host, () => resolve(server));
    }),
);
