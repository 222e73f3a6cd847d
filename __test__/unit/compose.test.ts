import { describe, expect, it } from 'vitest';
import { compose, type App, type Chunk, type Environ, type Middleware, type StartResponse } from '../../src/app/contract.js';
import { validate } from '../../src/app/validate.js';

function makeEnviron(path = '/'): Environ {
  return {
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: path,
    QUERY_STRING: '',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    'tsgi.version': [1, 0],
    'tsgi.url_scheme': 'http',
    'tsgi.input': { read: async () => new Uint8Array(0), readline: async () => new Uint8Array(0), async *[Symbol.asyncIterator]() {} },
    'tsgi.errors': { write() {}, writelines() {}, flush() {} },
    'tsgi.multithread': false,
    'tsgi.multiprocess': false,
    'tsgi.run_once': false,
    'tsgi.signal': new AbortController().signal,
    'tsgi.file_wrapper': () => [],
  };
}

/** Calls `app` as a server would; returns the head it got and the body as text. */
async function call(app: App, environ = makeEnviron()) {
  const heads: Array<{ status: string; headers: Array<[string, string]> }> = [];
  const start: StartResponse = (status, headers) => (heads.push({ status, headers }), () => true);
  const body = await app(environ, start);
  const chunks: Chunk[] = [];
  try {
    if (Symbol.iterator in body) for (const chunk of body) chunks.push(chunk);
    else for await (const chunk of body as AsyncIterable<Chunk>) chunks.push(chunk);
  } finally {
    body.close?.();
  }
  return { heads, text: chunks.map(String).join('') };
}

/** A middleware that records what it sees in `trace`, and marks the head and the body. */
function tracer(name: string, trace: string[]): Middleware {
  return (app) => async (environ, startResponse) => {
    trace.push(`${name}: request`);
    environ[`test.${name}`] = true;
    const body = await app(environ, (status, headers, excInfo) => {
      trace.push(`${name}: startResponse`);
      return startResponse(status, [...headers, ['X-Via', name]], excInfo);
    });
    trace.push(`${name}: body`);
    return (function* () {
      for (const chunk of body as Iterable<Chunk>) yield `${name}(${String(chunk)})`;
    })();
  };
}

describe('compose', () => {
  it('applies middleware outside-in: the first sees the request first and the response last', async () => {
    const trace: string[] = [];
    const app: App = (environ, start) => {
      trace.push(`app: request (a=${environ['test.a']}, b=${environ['test.b']})`);
      start('200 OK', [['Content-Type', 'text/plain']]);
      return ['hi'];
    };
    const { heads, text } = await call(compose(tracer('a', trace), tracer('b', trace))(app));
    expect(trace).toEqual(['a: request', 'b: request', 'app: request (a=true, b=true)', 'b: startResponse', 'a: startResponse', 'b: body', 'a: body']);
    expect(heads).toEqual([
      {
        status: '200 OK',
        headers: [
          ['Content-Type', 'text/plain'],
          ['X-Via', 'b'],
          ['X-Via', 'a'],
        ],
      },
    ]);
    expect(text).toBe('a(b(hi))');
  });

  it('is a(b(app))', async () => {
    const [t1, t2]: string[][] = [[], []];
    const app: App = (_e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['x']);
    const composed = await call(compose(tracer('a', t1), tracer('b', t1))(app));
    const nested = await call(tracer('a', t2)(tracer('b', t2)(app)));
    expect(composed).toEqual(nested);
    expect(t1).toEqual(t2);
  });

  it('with no middleware is the identity', () => {
    const app: App = () => [];
    expect(compose()(app)).toBe(app);
  });

  it('with one middleware is that middleware', async () => {
    const trace: string[] = [];
    const app: App = (_e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['x']);
    expect((await call(compose(tracer('only', trace))(app))).text).toBe('only(x)');
  });

  it('runs middleware that rewrites the environ and wraps startResponse', async () => {
    // Mounts the app at /api: moves the prefix from PATH_INFO to SCRIPT_NAME, and turns
    // the app's 404s into 410s.
    const mount: Middleware = (app) => (environ, startResponse) => {
      if (environ.PATH_INFO.startsWith('/api/')) {
        environ.SCRIPT_NAME += '/api';
        environ.PATH_INFO = environ.PATH_INFO.slice(4);
      }
      return app(environ, (status, headers, excInfo) =>
        startResponse(status.startsWith('404') ? '410 Gone' : status, [...headers, ['X-Mounted', environ.SCRIPT_NAME]], excInfo),
      );
    };
    const app: App = (environ, start) => {
      const found = environ.PATH_INFO === '/users';
      start(found ? '200 OK' : '404 Not Found', [['Content-Type', 'text/plain']]);
      return [`${environ.SCRIPT_NAME}|${environ.PATH_INFO}`];
    };
    // validate() composes like any middleware, on both sides of the rewrite.
    const stack = compose(validate, mount, validate)(app);
    const hit = await call(stack, makeEnviron('/api/users'));
    expect(hit.heads).toEqual([
      {
        status: '200 OK',
        headers: [
          ['Content-Type', 'text/plain'],
          ['X-Mounted', '/api'],
        ],
      },
    ]);
    expect(hit.text).toBe('/api|/users');
    const miss = await call(stack, makeEnviron('/api/nope'));
    expect(miss.heads[0]!.status).toBe('410 Gone');
    expect(miss.text).toBe('/api|/nope');
  });

  it('keeps a Promise-returning middleware chain working', async () => {
    const later: Middleware = (app) => async (environ, start) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return app(environ, start);
    };
    const app: App = async (_e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['async']);
    expect((await call(compose(later, later)(app))).text).toBe('async');
  });
});
