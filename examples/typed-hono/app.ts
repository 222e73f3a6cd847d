/**
 * A typed Hono app under tsgi: typed routes and bodies, the TSGI environ as Hono's
 * bindings (`c.env.HTTP_USER_AGENT` is `string | undefined`), and server-sent events.
 * tsgi sees the `{ fetch }` object and serves it with the fetch adapter by itself.
 *
 * Run the TypeScript as it is, through tsx (npm install hono; npm install -D tsx):
 *
 *   npx tsgi examples/typed-hono/app.ts --node-args "--import tsx" --http-socket :8080
 *   curl http://127.0.0.1:8080/hello?name=you   curl -N http://127.0.0.1:8080/events
 *
 * or compile it first:
 *
 *   npx tsc --strict --module nodenext --target es2022 --types node --rootDir examples/typed-hono --outDir build examples/typed-hono/app.ts
 *   npx tsgi build/app.js --http-socket :8080
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Environ } from 'tsgi';

interface Todo {
  title: string;
  done: boolean;
}

const app = new Hono<{ Bindings: Environ }>();

app.get('/hello', (c) => c.json({ hello: c.req.query('name') ?? 'world', agent: c.env.HTTP_USER_AGENT ?? 'unknown' }));

app.post('/todos', async (c) => {
  const todo = await c.req.json<Todo>();
  if (typeof todo.title !== 'string') return c.json({ error: 'a todo has a title' }, 400);
  return c.json({ created: { title: todo.title, done: todo.done === true } satisfies Todo }, 201);
});

/** Three events 250 ms apart, each saying when it was sent. */
app.get('/events', (c) => {
  // nginx passes the events on as they come instead of buffering the stream.
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    for (let i = 0; i < 3; i++) {
      if (i > 0) await stream.sleep(250);
      await stream.writeSSE({ id: String(i), event: 'tick', data: JSON.stringify({ i, sentAt: Date.now() }) });
    }
  });
});

export default app;
