import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { App, Body, Chunk, Environ, ErrorStream, Input, StartResponse } from '../../src/app/contract.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { BodyInput } from '../../src/app/input.js';
import { setLogSink, type LogLevel } from '../../src/log.js';
import { Server } from '../../src/server/server.js';
import { validate, type ValidatedBody, type ValidatedErrorStream, type ValidatedInput, type ValidateOptions } from '../../src/app/validate.js';
import { exchange, nginxVars, packet, parseResponse } from '../helpers/uwsgi.js';

// ---- fixtures ---------------------------------------------------------------------------------

function makeInput(body = ''): Input {
  const input = new BodyInput(1 << 20, () => {});
  if (body) input.push(Buffer.from(body));
  input.end();
  return input;
}

function makeErrors(): ErrorStream & { written: string[] } {
  const written: string[] = [];
  return {
    written,
    write: (text) => void written.push(text),
    writelines: (lines) => void written.push(...lines),
    flush: () => {},
  };
}

/** A valid environ; an override of `undefined` deletes the key. */
function makeEnviron(overrides: Record<string, unknown> = {}): Environ {
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: '/',
    QUERY_STRING: '',
    CONTENT_TYPE: '',
    CONTENT_LENGTH: '',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    'tsgi.version': [1, 0],
    'tsgi.url_scheme': 'http',
    'tsgi.input': makeInput(),
    'tsgi.errors': makeErrors(),
    'tsgi.multithread': false,
    'tsgi.multiprocess': false,
    'tsgi.run_once': false,
    'tsgi.signal': new AbortController().signal,
    'tsgi.file_wrapper': () => [],
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete environ[key];
    else environ[key] = value;
  }
  return environ as Environ;
}

/** A startResponse stub that records its calls and what write() receives. */
function recorder() {
  const calls: unknown[][] = [];
  const written: Chunk[] = [];
  const start = ((...args: unknown[]) => {
    calls.push(args);
    return (chunk: Chunk) => (written.push(chunk), true);
  }) as StartResponse;
  return { calls, written, start };
}

/** Plays the server: calls the validated app, iterates its body, closes it. */
async function run(app: App, environ: Environ = makeEnviron(), options: ValidateOptions = {}) {
  const warnings: string[] = [];
  const r = recorder();
  const body = (await validate(app, { onWarning: (w) => warnings.push(w), ...options })(environ, r.start)) as ValidatedBody;
  const chunks: Chunk[] = [];
  try {
    if (Symbol.iterator in body) for (const chunk of body) chunks.push(chunk);
    else for await (const chunk of body) chunks.push(chunk);
  } finally {
    body.close();
  }
  const text = chunks.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString())).join('');
  return { ...r, chunks, text, warnings, environ };
}

/** Resolves with what `action` threw or rejected with. */
async function caught(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a validation error, got none');
}

async function expectBreach(action: () => unknown, pattern: RegExp): Promise<void> {
  const error = await caught(action);
  expect(error).toBeInstanceOf(TsgiError);
  expect((error as TsgiError).code).toBe(ErrorCodes.VALIDATION);
  expect((error as TsgiError).message).toMatch(pattern);
}

type Loose = (...args: unknown[]) => unknown;
const loose = (start: StartResponse) => start as unknown as Loose;
const TEXT: Array<[string, string]> = [['Content-Type', 'text/plain']];
const ok = (start: StartResponse) => start('200 OK', [...TEXT]);
const okApp: App = (_environ, start) => (ok(start), ['ok']);

// ---- a correct app passes ------------------------------------------------------------------------

describe('validate: a correct app passes', () => {
  it('returning an array', async () => {
    const result = await run((_e, start) => {
      start('200 OK', [
        ['Content-Type', 'text/plain'],
        ['X-A', '1'],
      ]);
      return ['hello ', new TextEncoder().encode('world')];
    });
    expect(result.calls).toEqual([
      [
        '200 OK',
        [
          ['Content-Type', 'text/plain'],
          ['X-A', '1'],
        ],
      ],
    ]);
    expect(result.text).toBe('hello world');
    expect(result.warnings).toEqual([]);
  });

  it('returning a generator that calls startResponse during the first iteration', async () => {
    const result = await run((_e, start) =>
      (function* () {
        yield ''; // an empty chunk before startResponse is allowed: no body byte yet
        ok(start);
        yield 'a';
        yield 'b';
      })(),
    );
    expect(result.text).toBe('ab');
  });

  it('returning an async generator', async () => {
    const result = await run(
      async function* (environ, start) {
        ok(start);
        yield await environ['tsgi.input'].read();
        yield 'done';
      },
      makeEnviron({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '4', 'tsgi.input': makeInput('data') }),
    );
    expect(result.text).toBe('datadone');
  });

  it('returning a Promise', async () => {
    const result = await run(async (_e, start) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      ok(start);
      return ['later'];
    });
    expect(result.text).toBe('later');
  });

  it('using write(), excInfo, a 204 without Content-Type, tsgi.input and tsgi.errors', async () => {
    const errors = makeErrors();
    const environ = makeEnviron({ 'tsgi.input': makeInput('line 1\nline 2\n'), 'tsgi.errors': errors, CONTENT_LENGTH: '14' });
    const result = await run(async (env, start) => {
      const first = await env['tsgi.input'].readline();
      const rest: Uint8Array[] = [];
      for await (const chunk of env['tsgi.input']) rest.push(chunk);
      env['tsgi.errors'].write('note\n');
      env['tsgi.errors'].writelines(['a\n', 'b\n']);
      env['tsgi.errors'].flush();
      ok(start);
      const write = start('204 No Content', [], new Error('changed my mind'));
      write(Buffer.from(first));
      write(Buffer.concat(rest).toString());
      return [];
    }, environ);
    expect(result.calls.map((c) => c[0])).toEqual(['200 OK', '204 No Content']);
    expect(result.written.map(String)).toEqual(['line 1\n', 'line 2\n']);
    expect(errors.written).toEqual(['note\n', 'a\n', 'b\n']);
  });

  it("passing the server's close() and return() through to the app's body", async () => {
    const events: string[] = [];
    const body = Object.assign(
      (function* () {
        try {
          yield 'one';
          yield 'two';
        } finally {
          events.push('finally');
        }
      })(),
      { close: () => events.push('close') },
    );
    const r = recorder();
    const wrapped = validate((_e, start) => (ok(start), body))(makeEnviron(), r.start) as ValidatedBody & Iterable<Chunk>;
    const iterator = wrapped[Symbol.iterator]();
    expect(iterator.next()).toEqual({ done: false, value: 'one' });
    iterator.return?.();
    wrapped.close();
    expect(events).toEqual(['finally', 'close']);
  });

  it('returning an async iterable with close(), stopped early', async () => {
    const events: string[] = [];
    const body = {
      async *[Symbol.asyncIterator]() {
        try {
          yield 'one';
          yield 'two';
        } finally {
          events.push('finally');
        }
      },
      close: () => events.push('close'),
    };
    const r = recorder();
    const wrapped = (await validate(async (_e, start) => (ok(start), body))(makeEnviron(), r.start)) as ValidatedBody & AsyncIterable<Chunk>;
    const iterator = wrapped[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 'one' });
    await iterator.return?.();
    wrapped.close();
    expect(events).toEqual(['finally', 'close']);
  });

  it('with an environ that is a Proxy (as the server makes it)', async () => {
    const result = await run(okApp, new Proxy(makeEnviron(), {}));
    expect(result.text).toBe('ok');
  });
});

// ---- the app's side ------------------------------------------------------------------------------

describe('validate: app-side breaches', () => {
  const cases: Array<[string, App, RegExp]> = [
    ['startResponse() with one argument', (_e, start) => (loose(start)('200 OK'), ['x']), /startResponse\(\) takes 2 or 3 arguments.*got 1/],
    ['startResponse() with four arguments', (_e, start) => (loose(start)('200 OK', TEXT, null, 1), ['x']), /takes 2 or 3 arguments.*got 4/],
    ['a status that is not a string', (_e, start) => (loose(start)(200, TEXT), ['x']), /invalid status line 200/],
    ['a status with a two-digit code', (_e, start) => (start('20 OK', TEXT), ['x']), /invalid status line "20 OK"/],
    ['a status code below 100', (_e, start) => (start('099 Low', TEXT), ['x']), /invalid status line "099 Low"/],
    ['a status with CRLF', (_e, start) => (start('200 OK\r\n', TEXT), ['x']), /invalid status line/],
    ['headers that are not an Array', (_e, start) => (loose(start)('200 OK', { 'Content-Type': 'text/plain' }), ['x']), /headers must be an array/],
    ['a header that is not a pair', (_e, start) => (loose(start)('200 OK', [['Content-Type', 'text/plain', 'x']]), ['x']), /must be a \[name, value\] pair/],
    ['a header value that is not a string', (_e, start) => (loose(start)('200 OK', [...TEXT, ['X-N', 1]]), ['x']), /invalid value for header X-N/],
    ['a Status header', (_e, start) => (start('200 OK', [...TEXT, ['Status', '200']]), ['x']), /Status header is not allowed/],
    ['a hop-by-hop header', (_e, start) => (start('200 OK', [...TEXT, ['Connection', 'close']]), ['x']), /hop-by-hop/],
    ['a header name ending in "-"', (_e, start) => (start('200 OK', [...TEXT, ['X-Foo-', '1']]), ['x']), /header name "X-Foo-" must not end in "-" or "_"/],
    ['a header name ending in "_"', (_e, start) => (start('200 OK', [...TEXT, ['X_Foo_', '1']]), ['x']), /header name "X_Foo_" must not end/],
    ['no Content-Type on a 200', (_e, start) => (start('200 OK', []), ['x']), /a 200 response must have a Content-Type header/],
    ['a Content-Type on a 204', (_e, start) => (start('204 No Content', TEXT), []), /a 204 response has no body, so it must not have a Content-Type/],
    [
      'a Content-Type on a 304',
      (_e, start) => (start('304 Not Modified', [['content-type', 'text/plain']]), []),
      /a 304 response .* must not have a Content-Type/,
    ],
    ['an excInfo that is not an Error', (_e, start) => (start('200 OK', TEXT, 'oops'), ['x']), /excInfo must be undefined, null or an Error, got string/],
    ['a second startResponse() without excInfo', (_e, start) => (ok(start), ok(start), ['x']), /startResponse\(\) called a second time without excInfo/],
    ['write() of a number', (_e, start) => (loose(ok(start) as unknown as StartResponse)(42), []), /write\(\) takes a string or a Uint8Array, got number/],
    ['a bare string body', (_e, start) => (ok(start), 'hello' as unknown as Body), /not a bare string or Uint8Array/],
    ['a bare Uint8Array body', (_e, start) => (ok(start), new Uint8Array(2) as unknown as Body), /not a bare string or Uint8Array/],
    [
      'a body that is not iterable',
      (_e, start) => (ok(start), { length: 1 } as unknown as Body),
      /must return an iterable or async iterable of chunks, got object/,
    ],
    ['a Promise of a string', async (_e, start) => (ok(start), 'late' as unknown as Body), /not a bare string/],
    ['a chunk that is a number', (_e, start) => (ok(start), [1] as unknown as Body), /a body chunk must be a string or a Uint8Array, got number/],
    [
      'an async chunk that is null',
      async function* (_e, start) {
        ok(start);
        yield null as unknown as Chunk;
      },
      /a body chunk must be a string or a Uint8Array, got null/,
    ],
    [
      'a non-empty chunk before startResponse()',
      (_e, start) =>
        (function* () {
          yield 'early';
          ok(start);
        })(),
      /the body produced a non-empty chunk before startResponse\(\) was called/,
    ],
    ['a body that ends without startResponse()', () => [], /the body ended before startResponse\(\) was called/],
  ];

  it.each(cases)('%s', async (_rule, app, pattern) => {
    await expectBreach(() => run(app), pattern);
  });

  it('keeps the original checkHead error as the cause', async () => {
    const error = (await caught(() => run((_e, start) => (start('bad', TEXT), ['x'])))) as TsgiError;
    expect((error.cause as TsgiError).code).toBe(ErrorCodes.INVALID_STATUS);
  });
});

// ---- the server's side: the call and the environ ----------------------------------------------------

describe('validate: server-side breaches', () => {
  const call =
    (...args: unknown[]) =>
    () =>
      (validate(okApp) as unknown as (...args: unknown[]) => unknown)(...args);

  it.each([
    ['one argument', [makeEnviron()], /exactly two arguments.*got 1/],
    ['three arguments', [makeEnviron(), recorder().start, 'extra'], /exactly two arguments.*got 3/],
    ['a null environ', [null, recorder().start], /environ must be an object, got null/],
    ['an array environ', [[], recorder().start], /environ must be an object, got an array/],
    ['a string environ', ['GET /', recorder().start], /environ must be an object, got string/],
    ['a startResponse that is not a function', [makeEnviron(), 'start'], /startResponse must be a function/],
  ])('the app called with %s', async (_rule, args, pattern) => {
    await expectBreach(call(...(args as unknown[])), pattern);
  });

  const required = [
    'REQUEST_METHOD',
    'SERVER_NAME',
    'SERVER_PORT',
    'SERVER_PROTOCOL',
    'tsgi.version',
    'tsgi.input',
    'tsgi.errors',
    'tsgi.multithread',
    'tsgi.multiprocess',
    'tsgi.run_once',
    'tsgi.url_scheme',
  ];
  it.each(required)('environ without %s', async (key) => {
    await expectBreach(() => run(okApp, makeEnviron({ [key]: undefined })), new RegExp(`missing the required key ${key.replace('.', '\\.')}`));
  });

  const environCases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['tsgi.input null', { 'tsgi.input': null }, /missing the required key tsgi\.input/],
    ['HTTP_CONTENT_TYPE present', { HTTP_CONTENT_TYPE: 'text/plain' }, /must not contain HTTP_CONTENT_TYPE \(use CONTENT_TYPE\)/],
    ['HTTP_CONTENT_LENGTH present', { HTTP_CONTENT_LENGTH: '3' }, /must not contain HTTP_CONTENT_LENGTH \(use CONTENT_LENGTH\)/],
    ['a CGI variable that is a number', { REMOTE_PORT: 54321 }, /environ key REMOTE_PORT must be a string.*got number/],
    ['a CGI variable that is undefined-but-present', { HTTP_HOST: null }, /environ key HTTP_HOST must be a string.*got null/],
    ['a negative CONTENT_LENGTH', { CONTENT_LENGTH: '-1' }, /CONTENT_LENGTH must be empty or a non-negative integer, got "-1"/],
    ['a non-numeric CONTENT_LENGTH', { CONTENT_LENGTH: '12abc' }, /CONTENT_LENGTH must be empty or a non-negative integer/],
    ['a SCRIPT_NAME not starting with "/"', { SCRIPT_NAME: 'app' }, /SCRIPT_NAME must be empty or start with "\/", got "app"/],
    ['a PATH_INFO not starting with "/"', { PATH_INFO: 'x' }, /PATH_INFO must be empty or start with "\/", got "x"/],
    ['SCRIPT_NAME "/"', { SCRIPT_NAME: '/', PATH_INFO: '' }, /SCRIPT_NAME must not be "\/"/],
    ['SCRIPT_NAME and PATH_INFO both empty', { SCRIPT_NAME: '', PATH_INFO: '' }, /both empty: PATH_INFO should be at least "\/"/],
    ['tsgi.version not an array', { 'tsgi.version': '1.0' }, /tsgi\.version must be an array \[major, minor\]/],
    ['tsgi.url_scheme "ftp"', { 'tsgi.url_scheme': 'ftp' }, /tsgi\.url_scheme must be "http" or "https", got "ftp"/],
    ['tsgi.multithread not a boolean', { 'tsgi.multithread': 0 }, /tsgi\.multithread must be a boolean, got number/],
    ['tsgi.run_once not a boolean', { 'tsgi.run_once': 'no' }, /tsgi\.run_once must be a boolean/],
    ['tsgi.input without read()', { 'tsgi.input': { readline() {}, async *[Symbol.asyncIterator]() {} } }, /tsgi\.input must have read\(\)/],
    ['tsgi.input without readline()', { 'tsgi.input': { read() {}, async *[Symbol.asyncIterator]() {} } }, /tsgi\.input must have readline\(\)/],
    ['tsgi.input not async-iterable', { 'tsgi.input': { read() {}, readline() {} } }, /tsgi\.input must have Symbol\(Symbol\.asyncIterator\)\(\)/],
    ['tsgi.errors without write()', { 'tsgi.errors': { writelines() {}, flush() {} } }, /tsgi\.errors must have write\(\)/],
    ['tsgi.errors without writelines()', { 'tsgi.errors': { write() {}, flush() {} } }, /tsgi\.errors must have writelines\(\)/],
    ['tsgi.errors without flush()', { 'tsgi.errors': { write() {}, writelines() {} } }, /tsgi\.errors must have flush\(\)/],
    ['tsgi.signal not an AbortSignal', { 'tsgi.signal': { aborted: false } }, /tsgi\.signal, when present, must be an AbortSignal/],
    ['tsgi.file_wrapper not a function', { 'tsgi.file_wrapper': {} }, /tsgi\.file_wrapper, when present, must be a function/],
  ];
  it.each(environCases)('environ with %s', async (_rule, overrides, pattern) => {
    await expectBreach(() => run(okApp, makeEnviron(overrides)), pattern);
  });

  it('accepts an empty or numeric CONTENT_LENGTH, a mounted app, and a missing SCRIPT_NAME', async () => {
    for (const overrides of [
      { CONTENT_LENGTH: '' },
      { CONTENT_LENGTH: '0' },
      { CONTENT_LENGTH: undefined },
      { SCRIPT_NAME: '/app', PATH_INFO: '' },
      { SCRIPT_NAME: undefined },
    ]) {
      expect((await run(okApp, makeEnviron(overrides))).text).toBe('ok');
    }
  });
});

// ---- the server's side: the body's lifecycle ----------------------------------------------------------

describe('validate: the body after the app returns', () => {
  const start = () => {
    const inner = { closes: 0 };
    const body = validate((_e, s) => (ok(s), Object.assign(['a', 'b'], { close: () => void inner.closes++ })))(
      makeEnviron(),
      recorder().start,
    ) as ValidatedBody & Iterable<Chunk>;
    return { inner, body };
  };

  it('iterated after close()', async () => {
    const { body } = start();
    const iterator = body[Symbol.iterator]();
    iterator.next();
    body.close();
    await expectBreach(() => iterator.next(), /the body was iterated after close\(\)/);
  });

  it('an async body iterated after close()', async () => {
    const body = (await validate(async function* (_e, s) {
      ok(s);
      yield 'a';
    })(makeEnviron(), recorder().start)) as ValidatedBody & AsyncIterable<Chunk>;
    const iterator = body[Symbol.asyncIterator]();
    body.close();
    await expectBreach(() => iterator.next(), /iterated after close\(\)/);
  });

  it('close() called twice', async () => {
    const { inner, body } = start();
    body.close();
    await expectBreach(() => body.close(), /the body's close\(\) was called a second time/);
    expect(inner.closes).toBe(1);
  });

  it('gives every body a close(), even when the app returns none', () => {
    const body = validate(okApp)(makeEnviron(), recorder().start) as ValidatedBody;
    expect(typeof body.close).toBe('function');
    expect(body.close()).toBeUndefined();
  });

  it('warns when a body is garbage-collected without close() being called', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const warnings: string[] = [];
    const validated = validate(okApp, { onWarning: (w) => warnings.push(w) });
    validated(makeEnviron(), recorder().start); // the body is dropped unclosed
    const closed = validated(makeEnviron(), recorder().start) as ValidatedBody;
    closed.close();
    for (let i = 0; i < 20 && warnings.length === 0; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(warnings).toEqual(['a body was dropped without its close() being called: the server must always call it']);
  });
});

// ---- tsgi.input and tsgi.errors wrappers ---------------------------------------------------------------

describe('validate: tsgi.input and tsgi.errors', () => {
  /** Runs an app that uses the wrapped streams in `use`, and returns what it threw. */
  const using = (use: (input: ValidatedInput, errors: ValidatedErrorStream) => unknown) =>
    run(
      async (environ, start) => {
        await use(environ['tsgi.input'] as ValidatedInput, environ['tsgi.errors'] as ValidatedErrorStream);
        ok(start);
        return [];
      },
      makeEnviron({ 'tsgi.input': makeInput('abc\ndef'), CONTENT_LENGTH: '7' }),
    );

  it.each([
    ['close() on tsgi.input', (input: ValidatedInput) => input.close(), /must not call close\(\) on tsgi\.input/],
    ['close() on tsgi.errors', (_i: ValidatedInput, errors: ValidatedErrorStream) => errors.close(), /must not call close\(\) on tsgi\.errors/],
    ['read() with two arguments', (input: ValidatedInput) => (input.read as Loose)(1, 2), /tsgi\.input\.read\(\) takes 0 or 1 argument \(size\), got 2/],
    ['readline() with two arguments', (input: ValidatedInput) => (input.readline as Loose)(1, 2), /tsgi\.input\.readline\(\) takes 0 or 1 argument/],
    ['read() with a string size', (input: ValidatedInput) => (input.read as Loose)('3'), /read\(size\): size must be a number, got string/],
    [
      'write() of a Buffer on tsgi.errors',
      (_i: ValidatedInput, errors: ValidatedErrorStream) => (errors.write as Loose)(Buffer.from('x')),
      /tsgi\.errors\.write\(\) takes a string, got a Uint8Array/,
    ],
    [
      'writelines() with a number on tsgi.errors',
      (_i: ValidatedInput, errors: ValidatedErrorStream) => (errors.writelines as Loose)(['a', 1]),
      /writelines\(\) takes strings only, got number/,
    ],
    [
      'writelines() of a non-iterable',
      (_i: ValidatedInput, errors: ValidatedErrorStream) => (errors.writelines as Loose)(5),
      /writelines\(\) takes an iterable of strings/,
    ],
  ])('%s', async (_rule, use, pattern) => {
    await expectBreach(() => using(use as (input: ValidatedInput, errors: ValidatedErrorStream) => unknown), pattern);
  });

  it('read(), read(size) and readline(size) still work through the wrapper', async () => {
    const seen: string[] = [];
    await using(async (input) => {
      seen.push(
        String(await input.readline(2)),
        String(await input.readline()),
        String(await input.read(1)),
        String(await input.read()),
        String(await input.read()),
      );
    });
    expect(seen).toEqual(['ab', 'c\n', 'd', 'ef', '']);
  });

  it("a server's input that produces something other than Uint8Arrays", async () => {
    const bad = { read: async () => 'text', readline: async () => new Uint8Array(0), async *[Symbol.asyncIterator]() {} };
    await expectBreach(
      () => run(async (environ, start) => (await environ['tsgi.input'].read(), ok(start), []), makeEnviron({ 'tsgi.input': bad })),
      /tsgi\.input's read must produce Uint8Arrays, got string/,
    );
  });
});

// ---- warnings --------------------------------------------------------------------------------------------

describe('validate: warnings', () => {
  it('go to onWarning: a missing QUERY_STRING, an unknown method, a status without a reason', async () => {
    const result = await run((_e, start) => (start('200', [...TEXT]), ['x']), makeEnviron({ QUERY_STRING: undefined, REQUEST_METHOD: 'BREW' }));
    expect(result.text).toBe('x');
    expect(result.warnings).toEqual([
      'environ has no QUERY_STRING: it should be present, if empty',
      'unknown REQUEST_METHOD "BREW"',
      'status "200" has no reason phrase: expected "NNN Reason"',
    ]);
  });

  it('go to the log by default', async () => {
    const lines: Array<[LogLevel, string]> = [];
    const previous = setLogSink((level, line) => lines.push([level, line]));
    try {
      const body = validate(okApp)(makeEnviron({ REQUEST_METHOD: 'CONNECT' }), recorder().start) as ValidatedBody;
      body.close();
    } finally {
      setLogSink(previous);
    }
    expect(lines).toEqual([['warn', 'validate: unknown REQUEST_METHOD "CONNECT"']]);
  });
});

// ---- the real server's side of the contract ---------------------------------------------------------------

describe('validate: the real server passes', () => {
  let server: Server | undefined;
  let restoreLog: ReturnType<typeof setLogSink> | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
    if (restoreLog) setLogSink(restoreLog);
    restoreLog = undefined;
  });

  /** An app that touches every part of the contract: environ, input, errors, write, body, close. */
  function contractApp(closes: { count: number }, async: boolean): App {
    return async (environ, start) => {
      const body = Buffer.from(await environ['tsgi.input'].read()).toString();
      environ['tsgi.errors'].write('');
      environ['tsgi.errors'].flush();
      const keys = Object.keys(environ)
        .filter((k) => !k.startsWith('tsgi.'))
        .sort();
      const summary = `${environ.REQUEST_METHOD} [${environ.SCRIPT_NAME}] [${environ.PATH_INFO}] ${environ.QUERY_STRING} ${body}|${keys.includes('HTTP_CONTENT_TYPE')}`;
      const write = start('200 OK', [['Content-Type', 'text/plain']]);
      write('');
      const close = () => void closes.count++;
      if (async) {
        return Object.assign(
          (async function* () {
            yield summary;
          })(),
          { close },
        );
      }
      return Object.assign(
        (function* () {
          yield summary;
        })(),
        { close },
      );
    };
  }

  it.each([
    ['a GET as nginx sends it', packet(nginxVars('GET', '/hello?x=1')), false, 'GET [] [/hello] x=1 |false'],
    [
      "a POST with nginx's HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH copies",
      packet(
        nginxVars('POST', '/form', { CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '5', HTTP_CONTENT_TYPE: 'text/plain', HTTP_CONTENT_LENGTH: '5' }),
        'hello',
      ),
      true,
      'POST [] [/form]  hello|false',
    ],
    ['an app mounted at SCRIPT_NAME "/"', packet(nginxVars('GET', '/x', { SCRIPT_NAME: '/' })), false, 'GET [] [/x]  |false'],
    ['a mounted app (modifier1 30 strips SCRIPT_NAME)', packet(nginxVars('GET', '/app/x', { SCRIPT_NAME: '/app' }), '', 30), true, 'GET [/app] [/x]  |false'],
    ['a bare packet with only REQUEST_METHOD and REQUEST_URI', packet({ REQUEST_METHOD: 'GET', REQUEST_URI: '/' }), false, 'GET [] [/]  |false'],
  ])('%s', async (_name, request, async, expected) => {
    const logged: string[] = [];
    restoreLog = setLogSink((level, line) => void logged.push(`${level}: ${line}`));
    const warnings: string[] = [];
    const closes = { count: 0 };
    server = new Server(validate(contractApp(closes, async), { onWarning: (w) => warnings.push(w) }));
    const address = server.listen('127.0.0.1:0');
    const { data } = await exchange(address, request);
    const response = parseResponse(data);
    expect(logged).toEqual([]); // a breach would have been logged as an app error (and answered 500)
    expect(response.statusLine).toMatch(/^HTTP\/1\.[01] 200 OK$/);
    expect(response.body.toString()).toContain(expected);
    expect(warnings).toEqual([]);
    await vi.waitFor(() => expect(closes.count).toBe(1));
    expect(logged).toEqual([]); // and a second close() would have been logged too
  });

  // modifier1 30 strips SCRIPT_NAME from PATH_INFO only at a path-segment boundary, so
  // PATH_INFO keeps its leading "/".
  it.each([
    ['SCRIPT_NAME "/app" and a request for /application', packet(nginxVars('GET', '/application', { SCRIPT_NAME: '/app' }), '', 30)],
    ['SCRIPT_NAME "/app/" (trailing slash) and a request for /app/x', packet(nginxVars('GET', '/app/x', { SCRIPT_NAME: '/app/' }), '', 30)],
  ])('modifier1 30 with %s keeps PATH_INFO starting with "/"', async (_name, request) => {
    const logged: string[] = [];
    restoreLog = setLogSink((_level, line) => void logged.push(line));
    server = new Server(validate((_e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['ok']), { onWarning: () => {} }));
    const { data } = await exchange(server.listen('127.0.0.1:0'), request);
    expect(logged).toEqual([]); // a breach would be logged as an app error
    expect(parseResponse(data).statusLine).toMatch(/ 200 OK$/);
  });
});
