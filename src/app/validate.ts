/**
 * `validate(app)`: a middleware that checks both sides of the TSGI contract, the app's and
 * the server's, and throws a TsgiError (code VALIDATION) naming the rule at the first
 * breach. It is CPython's `wsgiref.validate` carried over: put it between a server and an
 * app while developing either. It costs a wrapper per call and per chunk, so it is not
 * meant for production.
 *
 * What is suspicious but allowed (an unknown method, a missing QUERY_STRING, a status
 * without a reason phrase) goes to `onWarning` instead.
 */
import {
  checkHead,
  type App,
  type Body,
  type Chunk,
  type Environ,
  type ErrorStream,
  type Headers,
  type Input,
  type StartResponse,
  type Write,
} from './contract.js';
import { ErrorCodes, TsgiError } from '../errors.js';
import { log } from '../log.js';

export interface ValidateOptions {
  /** Receives the warnings. Defaults to the worker's log (`log.warn`). */
  onWarning?: (message: string) => void;
}

/** `tsgi.input` as a validated app sees it: calling `close()` is a breach. */
export interface ValidatedInput extends Input {
  close(): never;
}

/** `tsgi.errors` as a validated app sees it: calling `close()` is a breach. */
export interface ValidatedErrorStream extends ErrorStream {
  close(): never;
}

/** The body the server gets from a validated app: it always has a `close()`, which the
 * server must call exactly once. */
export type ValidatedBody = Body & { close(): unknown };

/** The environ keys a server must always supply. */
const REQUIRED_KEYS = [
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
/** wsgiref's list: any other method is worth a warning, not an error. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'OPTIONS', 'PATCH', 'PUT', 'DELETE', 'TRACE']);
/** Statuses whose responses have no body, hence no Content-Type. */
const NO_CONTENT = new Set([204, 304]);
const DIGITS = /^[0-9]+$/;

/** Per-call state shared by the startResponse and body wrappers. */
interface CallState {
  started: boolean;
}

export function validate(app: App, options: ValidateOptions = {}): App {
  const warn = options.onWarning ?? ((message: string) => log.warn(`validate: ${message}`));
  // wsgiref reports an unclosed body from __del__. JS has no destructor; a finalizer runs
  // only if and when the GC gets to the body, so this can only be a best-effort warning.
  const unclosed = new FinalizationRegistry<string>((message) => warn(message));

  return function validated(...args: unknown[]): ValidatedBody | Promise<ValidatedBody> {
    check(args.length === 2, `the app must be called with exactly two arguments (environ, startResponse), got ${args.length}`);
    const [environ, startResponse] = args;
    checkEnviron(environ, warn);
    check(typeof startResponse === 'function', `startResponse must be a function, got ${kind(startResponse)}`);
    // Replaced in place, as wsgiref does, so middleware further in sees the wrappers too.
    environ['tsgi.input'] = wrapInput(environ['tsgi.input']);
    environ['tsgi.errors'] = wrapErrors(environ['tsgi.errors']);
    const call: CallState = { started: false };
    const result = app(environ, wrapStartResponse(startResponse as StartResponse, call, warn));
    const finish = (body: unknown): ValidatedBody => wrapBody(body, call, unclosed);
    return isThenable(result) ? Promise.resolve(result).then(finish) : finish(result);
  };
}

// ---- the environ (the server's side) -------------------------------------------------------

function checkEnviron(environ: unknown, warn: (message: string) => void): asserts environ is Environ {
  check(typeof environ === 'object' && environ !== null && !Array.isArray(environ), `environ must be an object, got ${kind(environ)}`);
  const env = environ as Record<string, unknown>;
  checkEnvironKeys(env, warn);
  checkCgiValues(env);
  checkTsgiValues(env);
  checkPaths(env);
}

function checkEnvironKeys(env: Record<string, unknown>, warn: (message: string) => void): void {
  for (const key of REQUIRED_KEYS) check(env[key] != null, `environ is missing the required key ${key} (or it is null)`);
  // The request's Content-Type and Content-Length are CONTENT_TYPE and CONTENT_LENGTH only;
  // an HTTP_ copy would let an app read a length the server did not frame the body by.
  for (const key of ['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH']) {
    check(env[key] === undefined, `environ must not contain ${key} (use ${key.slice(5)})`);
  }
  if (env.QUERY_STRING === undefined) warn('environ has no QUERY_STRING: it should be present, if empty');
  if (!KNOWN_METHODS.has(env.REQUEST_METHOD as string)) warn(`unknown REQUEST_METHOD ${JSON.stringify(env.REQUEST_METHOD)}`);
}

function checkCgiValues(env: Record<string, unknown>): void {
  // Keys without a dot are CGI variables, always strings; extensions are named "prefix.name".
  for (const key of Object.keys(env)) {
    if (!key.includes('.'))
      check(typeof env[key] === 'string', `environ key ${key} must be a string (keys without a dot are CGI variables), got ${kind(env[key])}`);
  }
  const length = env.CONTENT_LENGTH as string | undefined;
  check(!length || DIGITS.test(length), `CONTENT_LENGTH must be empty or a non-negative integer, got ${JSON.stringify(length)}`);
}

function checkTsgiValues(env: Record<string, unknown>): void {
  const version = env['tsgi.version'];
  check(Array.isArray(version) && version.length === 2 && version.every(Number.isInteger), 'tsgi.version must be an array [major, minor]');
  check(
    env['tsgi.url_scheme'] === 'http' || env['tsgi.url_scheme'] === 'https',
    `tsgi.url_scheme must be "http" or "https", got ${JSON.stringify(env['tsgi.url_scheme'])}`,
  );
  for (const key of ['tsgi.multithread', 'tsgi.multiprocess', 'tsgi.run_once']) {
    check(typeof env[key] === 'boolean', `${key} must be a boolean, got ${kind(env[key])}`);
  }
  const input = env['tsgi.input'] as Record<string | symbol, unknown>;
  for (const method of ['read', 'readline', Symbol.asyncIterator]) {
    check(typeof input[method] === 'function', `tsgi.input must have ${String(method)}()`);
  }
  const errors = env['tsgi.errors'] as Record<string, unknown>;
  for (const method of ['write', 'writelines', 'flush']) {
    check(typeof errors[method] === 'function', `tsgi.errors must have ${method}()`);
  }
  // Optional, but typed in Environ: an app may use them without looking first.
  const signal = env['tsgi.signal'];
  check(signal === undefined || signal instanceof AbortSignal, 'tsgi.signal, when present, must be an AbortSignal');
  const fileWrapper = env['tsgi.file_wrapper'];
  check(fileWrapper === undefined || typeof fileWrapper === 'function', 'tsgi.file_wrapper, when present, must be a function');
}

function checkPaths(env: Record<string, unknown>): void {
  const script = (env.SCRIPT_NAME ?? '') as string;
  const path = (env.PATH_INFO ?? '') as string;
  check(script === '' || script.startsWith('/'), `SCRIPT_NAME must be empty or start with "/", got ${JSON.stringify(script)}`);
  check(path === '' || path.startsWith('/'), `PATH_INFO must be empty or start with "/", got ${JSON.stringify(path)}`);
  // The root of a site is SCRIPT_NAME "" and PATH_INFO "/", so that the two always join.
  check(script !== '/', 'SCRIPT_NAME must not be "/": the root is "" (and PATH_INFO "/")');
  check(script !== '' || path !== '', 'SCRIPT_NAME and PATH_INFO are both empty: PATH_INFO should be at least "/"');
}

// ---- tsgi.input and tsgi.errors ---------------------------------------------------------------

function wrapInput(input: Input): ValidatedInput {
  return {
    async read(...args: unknown[]): Promise<Uint8Array> {
      checkSizeArgument('read', args);
      return checkBytes('read', await input.read(args[0] as number | undefined));
    },
    async readline(...args: unknown[]): Promise<Uint8Array> {
      checkSizeArgument('readline', args);
      return checkBytes('readline', await input.readline(args[0] as number | undefined));
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
      for await (const chunk of input) yield checkBytes('iterator', chunk);
    },
    // The server owns the stream; an app that closes it breaks the server, not itself.
    close: () => breach('the app must not call close() on tsgi.input'),
  };
}

function checkSizeArgument(method: string, args: unknown[]): void {
  check(args.length <= 1, `tsgi.input.${method}() takes 0 or 1 argument (size), got ${args.length}`);
  check(args[0] === undefined || typeof args[0] === 'number', `tsgi.input.${method}(size): size must be a number, got ${kind(args[0])}`);
}

function checkBytes(method: string, value: unknown): Uint8Array {
  check(value instanceof Uint8Array, `tsgi.input's ${method} must produce Uint8Arrays, got ${kind(value)}`);
  return value;
}

function wrapErrors(errors: ErrorStream): ValidatedErrorStream {
  return {
    write(text: unknown): void {
      check(typeof text === 'string', `tsgi.errors.write() takes a string, got ${kind(text)}`);
      errors.write(text);
    },
    writelines(lines: unknown): void {
      check(typeof (lines as Iterable<unknown> | null)?.[Symbol.iterator] === 'function', 'tsgi.errors.writelines() takes an iterable of strings');
      const all = [...(lines as Iterable<unknown>)];
      for (const line of all) check(typeof line === 'string', `tsgi.errors.writelines() takes strings only, got ${kind(line)}`);
      errors.writelines(all as string[]);
    },
    flush: () => errors.flush(),
    close: () => breach('the app must not call close() on tsgi.errors'),
  };
}

// ---- startResponse and write (the app's side) ---------------------------------------------------

function wrapStartResponse(startResponse: StartResponse, call: CallState, warn: (message: string) => void): StartResponse {
  return function validatedStartResponse(...args: unknown[]): Write {
    check(args.length === 2 || args.length === 3, `startResponse() takes 2 or 3 arguments (status, headers[, excInfo]), got ${args.length}`);
    const [status, headers, excInfo] = args;
    const code = checkStatusAndHeaders(status, headers, warn);
    checkContentType(code, headers as Headers);
    checkExcInfo(excInfo);
    check(!call.started || excInfo != null, 'startResponse() called a second time without excInfo');
    // Passed on as given: validation should not change what the server sees.
    const write = startResponse(...(args as Parameters<StartResponse>));
    call.started = true;
    return function validatedWrite(chunk: Chunk): boolean {
      check(isChunk(chunk), `write() takes a string or a Uint8Array, got ${kind(chunk)}`);
      return write(chunk);
    };
  };
}

/** The server's own syntax rules (shared through checkHead), plus wsgiref's extra ones. */
function checkStatusAndHeaders(status: unknown, headers: unknown, warn: (message: string) => void): number {
  let code: number;
  try {
    // Also covers: headers an Array of [string, string] pairs, no Status header, no
    // hop-by-hop header, and a code >= 100 (the status pattern starts with [1-9]).
    code = checkHead(status, headers).code;
  } catch (error) {
    if (error instanceof TsgiError) throw new TsgiError(ErrorCodes.VALIDATION, error.message, { cause: error });
    throw error;
  }
  if ((status as string).length < 4) warn(`status ${JSON.stringify(status)} has no reason phrase: expected "NNN Reason"`);
  for (const [name] of headers as Headers) {
    // CGI turns "-" into "_" and back; a trailing one does not survive the round trip.
    check(!name.endsWith('-') && !name.endsWith('_'), `header name ${JSON.stringify(name)} must not end in "-" or "_"`);
  }
  return code;
}

function checkContentType(code: number, headers: Headers): void {
  const has = headers.some(([name]) => name.toLowerCase() === 'content-type');
  if (NO_CONTENT.has(code)) check(!has, `a ${code} response has no body, so it must not have a Content-Type header`);
  else check(has, `a ${code} response must have a Content-Type header`);
}

function checkExcInfo(excInfo: unknown): void {
  // The server rethrows excInfo when the head is already sent: it must be something
  // worth throwing. Error-like rather than instanceof Error, for errors of other realms.
  const errorLike = excInfo instanceof Error || (typeof excInfo === 'object' && excInfo !== null && typeof (excInfo as Error).message === 'string');
  check(excInfo == null || errorLike, `excInfo must be undefined, null or an Error, got ${kind(excInfo)}`);
}

// ---- the body --------------------------------------------------------------------------------------

function wrapBody(body: unknown, call: CallState, unclosed: FinalizationRegistry<string>): ValidatedBody {
  check(
    typeof body !== 'string' && !(body instanceof Uint8Array),
    'the app must return an iterable of chunks, not a bare string or Uint8Array (return [chunk])',
  );
  const object = body as Record<symbol, unknown> | null | undefined;
  const sync = typeof object?.[Symbol.iterator] === 'function';
  check(sync || typeof object?.[Symbol.asyncIterator] === 'function', `the app must return an iterable or async iterable of chunks, got ${kind(body)}`);
  const inner = body as Body;
  let closed = false;

  const before = (): void => check(!closed, 'the body was iterated after close()');
  const after = (step: IteratorResult<unknown>): IteratorResult<Chunk> => {
    if (step.done) {
      check(call.started, 'the body ended before startResponse() was called');
    } else {
      const chunk = step.value;
      check(isChunk(chunk), `a body chunk must be a string or a Uint8Array, got ${kind(chunk)}`);
      // PEP 3333 lets the app call startResponse during the first iteration: what counts
      // is that the head exists before the first byte of the body.
      check(call.started || chunk.length === 0, 'the body produced a non-empty chunk before startResponse() was called');
    }
    return step as IteratorResult<Chunk>;
  };

  // The server's return() (it stopped early) and close() reach the app's body unchanged;
  // a return() result is not checked: stopping early is allowed at any time.
  const iterate = (): Iterator<Chunk> => {
    const iterator = (inner as Iterable<unknown>)[Symbol.iterator]();
    return {
      next: () => (before(), after(iterator.next())),
      return: (value?: unknown) => (iterator.return ? iterator.return(value) : { done: true, value }) as IteratorResult<Chunk>,
    };
  };
  const iterateAsync = (): AsyncIterator<Chunk> => {
    const iterator = (inner as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    return {
      next: async () => (before(), after(await iterator.next())),
      return: async (value?: unknown) => (iterator.return ? await iterator.return(value) : { done: true, value }) as IteratorResult<Chunk>,
    };
  };
  const close = (): unknown => {
    check(!closed, "the body's close() was called a second time");
    closed = true;
    unclosed.unregister(wrapper);
    return inner.close?.();
  };

  const wrapper: ValidatedBody = sync ? { [Symbol.iterator]: iterate, close } : { [Symbol.asyncIterator]: iterateAsync, close };
  unclosed.register(wrapper, 'a body was dropped without its close() being called: the server must always call it', wrapper);
  return wrapper;
}

// ---- helpers ---------------------------------------------------------------------------------------

function check(ok: boolean, message: string): asserts ok {
  if (!ok) breach(message);
}

function breach(message: string): never {
  throw new TsgiError(ErrorCodes.VALIDATION, message);
}

function isChunk(value: unknown): value is Chunk {
  return typeof value === 'string' || value instanceof Uint8Array;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** A short name for a value's type, for messages. */
function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'a Uint8Array';
  return typeof value;
}
