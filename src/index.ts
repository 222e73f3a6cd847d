/** tsgi's public API. */
export { compose, checkHead } from './app.js';
export { validate, type ValidateOptions, type ValidatedBody, type ValidatedErrorStream, type ValidatedInput } from './validate.js';
export type { App, Body, Chunk, Environ, ErrorStream, FileWrapper, Headers, Input, Middleware, StartResponse, Write } from './app.js';
export { ErrorCodes, TsgiError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Server } from './server.js';
export type { ListenOptions, ServerOptions } from './server.js';
export { loadNative } from './native.js';
export { setLogSink } from './log.js';
export type { LogLevel, LogSink } from './log.js';
