/**
 * Errors with stable codes. The leaf module: it imports nothing of ours.
 *
 * Messages are for people and may change; `code` is for programs and does not. docs/errors.md
 * lists every code (a test keeps the two in step).
 */

export const ErrorCodes = {
  /** startResponse() was called a second time without excInfo. */
  START_RESPONSE_TWICE: 'TSGI_ERR_START_RESPONSE_TWICE',
  /** The status line is not "NNN Reason" (3 digits, no control characters). */
  INVALID_STATUS: 'TSGI_ERR_INVALID_STATUS',
  /** A header name is not an HTTP token, or a value holds CR, LF or another control character. */
  INVALID_HEADER: 'TSGI_ERR_INVALID_HEADER',
  /** The app set a hop-by-hop header (Connection, Transfer-Encoding, ...): the server owns those. */
  HOP_BY_HOP_HEADER: 'TSGI_ERR_HOP_BY_HOP_HEADER',
  /** The body produced data, or ended, before startResponse() was called. */
  NO_START_RESPONSE: 'TSGI_ERR_NO_START_RESPONSE',
  /** A body chunk is neither a string nor a Uint8Array. */
  INVALID_CHUNK: 'TSGI_ERR_INVALID_CHUNK',
  /** The client went away; the request was aborted. */
  CLIENT_GONE: 'TSGI_ERR_CLIENT_GONE',
  /** The request body ended before CONTENT_LENGTH bytes arrived. */
  BODY_TRUNCATED: 'TSGI_ERR_BODY_TRUNCATED',
  /** validate() found a breach of the TSGI contract. */
  VALIDATION: 'TSGI_ERR_VALIDATION',
  /** --module names a file that does not exist or fails to load. */
  MODULE_LOAD: 'TSGI_ERR_MODULE_LOAD',
  /** The module's export is not an app (a function). */
  NOT_AN_APP: 'TSGI_ERR_NOT_AN_APP',
  /** A socket could not be bound (address in use, permission, bad address). */
  LISTEN: 'TSGI_ERR_LISTEN',
  /** An option is unknown, or its value is invalid. */
  INVALID_OPTION: 'TSGI_ERR_INVALID_OPTION',
  /** The request ran longer than --harakiri (the reason of its tsgi.signal). */
  HARAKIRI: 'TSGI_ERR_HARAKIRI',
  /** A worker process could not be created at start-up (out of file descriptors, processes or memory). */
  WORKER_START: 'TSGI_ERR_WORKER_START',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An error raised by tsgi, with a stable `code`. */
export class TsgiError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TsgiError';
    this.code = code;
  }
}

/** An error as a log line shows it: its stack when it has one. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/**
 * A hint when `error` is what a Node `(req, res)` handler throws when it is called as a
 * TSGI app (its `res` is then startResponse: `res.setHeader is not a function`), or the
 * reverse; undefined for any other error.
 */
export function wrongInterfaceHint(error: unknown): string | undefined {
  if (!(error instanceof TypeError)) return undefined;
  if (/\.(?:setHeader|getHeader|hasHeader|removeHeader|writeHead|flushHeaders|once|end) is not a function/.test(error.message)) {
    return 'this looks like a Node (req, res) handler called as a TSGI app: serve it with --adapter node';
  }
  if (/\bstart_?[Rr]esponse is not a function/.test(error.message)) {
    return 'this looks like a TSGI app called as a Node handler: serve it with --adapter tsgi';
  }
  return undefined;
}
