/**
 * The HTTP/1.1 refusals (crates/tsgi-wire/src/http/mod.rs `Error`): each with its code,
 * its status (400 unless a limit: 413, 414, 417, 431) and its log line, word for word.
 */
import { MAX_CONTENT_LENGTH, WireError } from '../wire.js';

/** Most empty lines (CRLF) skipped before a request line. */
export const MAX_EMPTY_LINES = 4;

const e = (code: string, status: number, message: string): WireError => new WireError(`http_${code}`, status, message);

export const HttpErrors = {
  tooManyEmptyLines: () => e('too_many_empty_lines', 400, `HTTP request has more than ${MAX_EMPTY_LINES} empty lines before the request line`),
  bareLf: () => e('bare_lf', 400, 'HTTP line ended by a bare LF (CRLF required)'),
  bareCr: () => e('bare_cr', 400, 'HTTP CR not followed by LF'),
  invalidMethod: () => e('invalid_method', 400, 'HTTP method is empty, not an HTTP token, or not upper case'),
  invalidTarget: () => e('invalid_target', 400, 'HTTP request target is malformed or not allowed with its method'),
  invalidVersion: () => e('invalid_version', 400, 'HTTP version is not HTTP/1.0 or HTTP/1.1'),
  requestLineTooLong: (limit: number) =>
    e('request_line_too_long', 414, `HTTP request line is over http-max-request-line ${limit} bytes (raise --http-max-request-line)`),
  headTooLarge: (limit: number) => e('head_too_large', 431, `HTTP request head is over http-max-head ${limit} bytes (raise --http-max-head)`),
  tooManyHeaders: (limit: number) =>
    e('too_many_headers', 431, `HTTP request has more than http-max-headers ${limit} header fields (raise --http-max-headers)`),
  fieldTooLong: (length: number) => e('field_too_long', 431, `HTTP header name or value of ${length} bytes is over 65535`),
  whitespaceBeforeHeaders: () => e('whitespace_before_headers', 400, 'HTTP white space before the first header field'),
  obsFold: () => e('obs_fold', 400, 'HTTP header line folded (obs-fold), which requests may not use'),
  invalidHeaderName: () => e('invalid_header_name', 400, 'HTTP header name is empty, not an HTTP token, or followed by white space'),
  invalidHeaderValue: () => e('invalid_header_value', 400, 'HTTP header value has a control character'),
  underscoreFramingHeader: () => e('underscore_framing_header', 400, 'HTTP Content_Length or Transfer_Encoding header (underscore for hyphen)'),
  duplicateContentLength: () => e('duplicate_content_length', 400, 'HTTP Content-Length given twice'),
  invalidContentLength: () => e('invalid_content_length', 400, 'HTTP Content-Length is empty or not plain ASCII digits'),
  contentLengthOverflow: () => e('content_length_overflow', 400, `HTTP Content-Length is over ${MAX_CONTENT_LENGTH} (2^53 - 1)`),
  contentLengthWithTransferEncoding: () => e('content_length_with_transfer_encoding', 400, 'HTTP request has both Content-Length and Transfer-Encoding'),
  duplicateTransferEncoding: () => e('duplicate_transfer_encoding', 400, 'HTTP Transfer-Encoding given twice'),
  unsupportedTransferEncoding: () => e('unsupported_transfer_encoding', 400, 'HTTP Transfer-Encoding is not exactly chunked'),
  transferEncodingOnHttp10: () => e('transfer_encoding_on_http10', 400, 'HTTP/1.0 request with Transfer-Encoding'),
  missingHost: () => e('missing_host', 400, 'HTTP/1.1 request has no Host header'),
  duplicateHost: () => e('duplicate_host', 400, 'HTTP Host given twice'),
  invalidHost: () => e('invalid_host', 400, 'HTTP Host or target authority is not a valid host and port'),
  bodyOnConnect: () => e('body_on_connect', 400, 'HTTP CONNECT request with Content-Length or Transfer-Encoding'),
  invalidPercentEncoding: () => e('invalid_percent_encoding', 400, 'HTTP request path has a % not followed by two hex digits, or %00'),
  expectationFailed: () => e('expectation_failed', 417, 'HTTP Expect other than 100-continue'),
  bodyTooLarge: (length: number, limit: number) =>
    e('body_too_large', 413, `HTTP request body of ${length} bytes is over limit-post ${limit} (raise --limit-post)`),
  invalidChunkSize: () => e('invalid_chunk_size', 400, 'HTTP chunk size is not hex digits'),
  chunkSizeOverflow: () => e('chunk_size_overflow', 400, `HTTP chunk size is over ${MAX_CONTENT_LENGTH} (2^53 - 1)`),
  invalidChunkExtension: () => e('invalid_chunk_extension', 400, 'HTTP chunk extension is malformed'),
  chunkExtensionTooLong: (limit: number) =>
    e('chunk_extension_too_long', 413, `HTTP chunk extension is over http-max-chunk-extension ${limit} bytes (raise --http-max-chunk-extension)`),
  chunkDataNotTerminated: () => e('chunk_data_not_terminated', 400, 'HTTP chunk data not followed by CRLF'),
  invalidTrailer: () => e('invalid_trailer', 400, 'HTTP trailer field is malformed'),
  trailersTooLarge: (limit: number) => e('trailers_too_large', 431, `HTTP trailer section is over http-max-head ${limit} bytes (raise --http-max-head)`),
};

/** The HTTP parsing limits (crates/tsgi-wire/src/http/mod.rs `Limits`). */
export interface HttpLimits {
  maxRequestLine: number;
  maxHeadBytes: number;
  maxHeaders: number;
  maxBody: number;
  maxChunkExtension: number;
}
