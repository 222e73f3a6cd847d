// The hello route in Fastify 5, for bench/e2e-adapters.mjs: served by tsgi (--module), or
// by Fastify's own node:http server when run directly (node hello-fastify.mjs PORT).
import Fastify from 'fastify';
import { serveIfMain } from './serve-directly.mjs';

const app = Fastify();
app.get('/hello', async (request, reply) => {
  reply.type('text/plain');
  return 'Hello, World!\n';
});

export default app;
serveIfMain(import.meta.url, 'hello-fastify', async (port, host) => {
  await app.listen({ port, host });
  return app;
});
