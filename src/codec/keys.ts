/**
 * The well-known CGI variable names, in id order (id = index + 1; 0 means "not known").
 *
 * The native reactor sends a known name as its id, so no string is made for it. This
 * table must equal `crates/tsgi-wire/src/keys.rs`; a test compares it with the binding's
 * `knownKeys()`. Append only: ids are positions.
 */
export const KNOWN_KEYS: readonly string[] = [
  'REQUEST_METHOD',
  'REQUEST_URI',
  'PATH_INFO',
  'QUERY_STRING',
  'SCRIPT_NAME',
  'CONTENT_TYPE',
  'CONTENT_LENGTH',
  'SERVER_NAME',
  'SERVER_PORT',
  'SERVER_PROTOCOL',
  'SERVER_ADDR',
  'SERVER_SOFTWARE',
  'GATEWAY_INTERFACE',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'REMOTE_USER',
  'REQUEST_SCHEME',
  'HTTPS',
  'DOCUMENT_ROOT',
  'DOCUMENT_URI',
  'SCRIPT_FILENAME',
  'HTTP_HOST',
  'HTTP_USER_AGENT',
  'HTTP_ACCEPT',
  'HTTP_ACCEPT_ENCODING',
  'HTTP_ACCEPT_LANGUAGE',
  'HTTP_CONNECTION',
  'HTTP_COOKIE',
  'HTTP_REFERER',
  'HTTP_AUTHORIZATION',
  'HTTP_CACHE_CONTROL',
  'HTTP_PRAGMA',
  'HTTP_ORIGIN',
  'HTTP_IF_NONE_MATCH',
  'HTTP_IF_MODIFIED_SINCE',
  'HTTP_X_FORWARDED_FOR',
  'HTTP_X_FORWARDED_PROTO',
  'HTTP_X_REAL_IP',
  'HTTP_X_REQUESTED_WITH',
  'HTTP_UPGRADE',
  'HTTP_CONTENT_LENGTH',
  'HTTP_CONTENT_TYPE',
  'HTTP_TRANSFER_ENCODING',
  'HTTP_PROXY',
];

/** Name → id. */
export const KEY_IDS: ReadonlyMap<string, number> = new Map(KNOWN_KEYS.map((name, i) => [name, i + 1]));

/** Ids the server itself reads. */
export const KeyId = {
  REQUEST_METHOD: 1,
  REQUEST_URI: 2,
  PATH_INFO: 3,
  QUERY_STRING: 4,
  SCRIPT_NAME: 5,
  CONTENT_LENGTH: 7,
  SERVER_NAME: 8,
  SERVER_PORT: 9,
  SERVER_PROTOCOL: 10,
  REQUEST_SCHEME: 17,
  HTTPS: 18,
  HTTP_HOST: 22,
  HTTP_CONNECTION: 27,
  HTTP_COOKIE: 28,
  HTTP_UPGRADE: 40,
  HTTP_CONTENT_LENGTH: 41,
  HTTP_CONTENT_TYPE: 42,
  HTTP_PROXY: 44,
} as const;

/** Lengths of the known names: a key of another length is not looked up at all. */
const KNOWN_LENGTHS = new Set(KNOWN_KEYS.map((name) => name.length));

/** The id of the key `buf[offset..offset+length]` (latin-1), or 0. */
export function lookupKey(buf: Buffer, offset: number, length: number): number {
  if (!KNOWN_LENGTHS.has(length)) return 0;
  return KEY_IDS.get(buf.toString('latin1', offset, offset + length)) ?? 0;
}

/** Vars the codecs never hand over: PEP 3333 forbids the first two, httpoxy the third. */
export function isDropped(id: number): boolean {
  return id === KeyId.HTTP_CONTENT_LENGTH || id === KeyId.HTTP_CONTENT_TYPE || id === KeyId.HTTP_PROXY;
}
