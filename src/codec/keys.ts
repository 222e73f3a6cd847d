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

/** The known names as bytes, by id - 1. */
const KNOWN_BYTES: readonly Buffer[] = KNOWN_KEYS.map((name) => Buffer.from(name, 'latin1'));

/** The longest known name: a longer key is not looked up at all. */
const MAX_KNOWN_LENGTH = Math.max(...KNOWN_KEYS.map((name) => name.length));

/** Whether a key of this length can be known (index: length). */
const KNOWN_LENGTHS = new Uint8Array(MAX_KNOWN_LENGTH + 1);
for (const name of KNOWN_KEYS) KNOWN_LENGTHS[name.length] = 1;

/** Slots of the open-addressed table from a key's bytes to its id (a power of two). */
const SLOTS = 512;

/** A hash of the key's length and three of its bytes: no two known names share a slot
 * today, and a collision would cost one probe more, never a wrong id (every hit is
 * compared byte by byte). Known names are at least 5 bytes long. */
function slot(buf: Uint8Array, offset: number, length: number): number {
  return (length + buf[offset + length - 1]! * 3 + buf[offset + length - 2]! * 5 + buf[offset + (length >> 1)]! * 7) & (SLOTS - 1);
}

/** Slot → id (0: empty). */
const SLOT_IDS = new Uint8Array(SLOTS);
for (const [i, name] of KNOWN_BYTES.entries()) {
  let at = slot(name, 0, name.length);
  while (SLOT_IDS[at] !== 0) at = (at + 1) & (SLOTS - 1);
  SLOT_IDS[at] = i + 1;
}

/** The id of the key `buf[offset..offset+length]` (latin-1), or 0. Reads the bytes where
 * they are: no string is made (this runs for every var of every request). */
export function lookupKey(buf: Uint8Array, offset: number, length: number): number {
  if (length > MAX_KNOWN_LENGTH || KNOWN_LENGTHS[length] === 0) return 0;
  for (let at = slot(buf, offset, length); ; at = (at + 1) & (SLOTS - 1)) {
    const id = SLOT_IDS[at]!;
    if (id === 0) return 0;
    const known = KNOWN_BYTES[id - 1]!;
    if (known.length !== length) continue;
    let i = 0;
    while (i < length && buf[offset + i] === known[i]) i++;
    if (i === length) return id;
  }
}

/** Vars the codecs never hand over: PEP 3333 forbids the first two, httpoxy the third. */
export function isDropped(id: number): boolean {
  return id === KeyId.HTTP_CONTENT_LENGTH || id === KeyId.HTTP_CONTENT_TYPE || id === KeyId.HTTP_PROXY;
}
