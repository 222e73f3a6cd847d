/** tsgi's public API. */
export { compose, checkHead } from './app.js';
export { validate, type ValidateOptions, type ValidatedBody, type ValidatedErrorStream, type ValidatedInput } from './validate.js';
export type { App, Body, Chunk, Environ, ErrorStream, FileWrapper, Headers, Input, Middleware, StartResponse, Write } from './app.js';
export { ErrorCodes, TsgiError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Server } from './server.js';
export { fromFetch, type ExecutionContext, type FetchHandler } from './adapters/from-fetch.js';
export { fromNode, type NodeHandler } from './adapters/from-node.js';
export { toFetchHandler } from './adapters/to-fetch.js';
export { toNodeHandler } from './adapters/to-node.js';
export type { ListenOptions, ServerOptions } from './server.js';
export { loadNative } from './native.js';
export { setLogSink } from './log.js';
export type { LogLevel, LogSink } from './log.js';
export { serve, defineConfig, type ServeOptions } from './serve.js';
export type { BoundAddress, Container } from './container.js';
export type { Config, TsgiOptions } from './config.js';
