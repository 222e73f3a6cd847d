/** tsgi's public API. */
export { compose, checkHead } from './app/contract.js';
export { validate, type ValidateOptions, type ValidatedBody, type ValidatedErrorStream, type ValidatedInput } from './app/validate.js';
export type { App, Body, Chunk, Environ, ErrorStream, FileWrapper, Headers, Input, Middleware, StartResponse, Write } from './app/contract.js';
export { ErrorCodes, TsgiError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Server } from './server/server.js';
export { fromFetch, type ExecutionContext, type FetchHandler } from './adapters/from-fetch.js';
export { fromNode, type NodeHandler } from './adapters/from-node.js';
export { toFetchHandler } from './adapters/to-fetch.js';
export { toNodeHandler } from './adapters/to-node.js';
export type { ListenOptions, ServerOptions } from './server/server.js';
export { loadNative } from './native/load.js';
export { setLogSink } from './log.js';
export type { LogLevel, LogSink } from './log.js';
export { serve, defineConfig, type ServeOptions } from './serve.js';
export type { BoundAddress, Container } from './process/container.js';
export type { Config, TsgiOptions } from './config/index.js';
