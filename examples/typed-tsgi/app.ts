/**
 * A typed TSGI app: the request is an `Environ`, the answer goes through a `StartResponse`,
 * and request headers (`environ.HTTP_USER_AGENT`) read as `string | undefined`, no cast.
 *
 * Run the TypeScript as it is, through tsx (npm install -D tsx):
 *
 *   npx tsgi examples/typed-tsgi/app.ts --node-args "--import tsx" --http-socket :8080
 *   curl http://127.0.0.1:8080/   curl -d '{"a":1}' http://127.0.0.1:8080/echo
 *
 * or compile it first (the import is a type only, so the output needs nothing but tsgi):
 *
 *   npx tsc --strict --module nodenext --target es2022 --types node --rootDir examples/typed-tsgi --outDir build examples/typed-tsgi/app.ts
 *   npx tsgi build/app.js --http-socket :8080
 */
import type { App, Body, Environ, StartResponse } from 'tsgi';

interface Greeting {
  hello: string;
  agent: string;
  path: string;
}

function json(start: StartResponse, status: string, value: unknown): Body {
  start(status, [['Content-Type', 'application/json']]);
  return [JSON.stringify(value)];
}

/** The request body, read whole off `tsgi.input`, as JSON. */
async function readJson(environ: Environ): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of environ['tsgi.input']) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const app: App = async (environ, start) => {
  const { REQUEST_METHOD: method, PATH_INFO: path } = environ;
  if (method === 'GET' && path === '/') {
    const greeting: Greeting = { hello: 'typed TSGI', agent: environ.HTTP_USER_AGENT ?? 'unknown', path };
    return json(start, '200 OK', greeting);
  }
  if (method === 'POST' && path === '/echo') {
    if (!environ.CONTENT_TYPE?.startsWith('application/json')) return json(start, '415 Unsupported Media Type', { error: 'send JSON' });
    return json(start, '201 Created', { received: await readJson(environ) });
  }
  return json(start, '404 Not Found', { error: `no ${method} ${path}` });
};

export default app;
