/**
 * The requests of the codec micro-benchmarks, each in the three wire forms: a uwsgi packet,
 * the FastCGI records nginx sends for it, and the HTTP head a client sends. The content is
 * that of crates/tsgi-wire/benches/uwsgi.rs (the same values), so the Rust and the
 * JavaScript numbers describe the same bytes:
 *
 *   nginx-14:   the 14 params of nginx's uwsgi_params for an https GET
 *   browser-40: those and 26 headers of a browser's XHR, a ~800-byte JWT and ~1 KiB of cookies
 *   vars-10k:   the same with its cookie grown to ~8 KiB: a ~10 KiB vars block
 *
 * The HTTP head is what the client sent: the request line and one header per HTTP_* var
 * (nginx-14 has none, so it gets the Host its HTTP/1.1 request must carry); nginx's own
 * params (REMOTE_ADDR, DOCUMENT_ROOT...) exist only on the uwsgi and FastCGI side.
 */

/** @typedef {Array<[string, string]>} Vars */

/**
 * The 14 params of nginx's uwsgi_params, as for an https GET.
 * @type {Vars}
 */
const NGINX_PARAMS = [
  ['QUERY_STRING', 'page=2&sort=desc'],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/api/v1/orders?page=2&sort=desc'],
  ['PATH_INFO', '/api/v1/orders'],
  ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'https'],
  ['HTTPS', 'on'],
  ['REMOTE_ADDR', '203.0.113.42'],
  ['REMOTE_PORT', '53422'],
  ['SERVER_PORT', '443'],
  ['SERVER_NAME', 'shop.example.com'],
];

/**
 * The browser request with `cookies` cookies of about 60 bytes each.
 * @param {number} cookies
 * @returns {Vars}
 */
function browser(cookies) {
  const jwt = `Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjEyMyJ9.${'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWV9'.repeat(5)}.${'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'.repeat(6)}`;
  const cookie = Array.from({ length: cookies }, (_, i) => `c${String(i).padStart(3, '0')}=${'x'.repeat(54)}`).join('; ');
  return [
    ...NGINX_PARAMS,
    ['HTTP_HOST', 'shop.example.com'],
    ['HTTP_USER_AGENT', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
    ['HTTP_ACCEPT', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
    ['HTTP_ACCEPT_LANGUAGE', 'en-GB,en;q=0.7,de;q=0.3'],
    ['HTTP_ACCEPT_ENCODING', 'gzip, deflate, br, zstd'],
    ['HTTP_CONNECTION', 'keep-alive'],
    ['HTTP_COOKIE', cookie],
    ['HTTP_AUTHORIZATION', jwt],
    ['HTTP_REFERER', 'https://shop.example.com/basket'],
    ['HTTP_ORIGIN', 'https://shop.example.com'],
    ['HTTP_CACHE_CONTROL', 'no-cache'],
    ['HTTP_PRAGMA', 'no-cache'],
    ['HTTP_IF_NONE_MATCH', 'W/"5e15153d-120f"'],
    ['HTTP_IF_MODIFIED_SINCE', 'Tue, 07 Jan 2020 00:00:00 GMT'],
    ['HTTP_X_FORWARDED_FOR', '198.51.100.7, 203.0.113.42'],
    ['HTTP_X_FORWARDED_PROTO', 'https'],
    ['HTTP_X_REAL_IP', '198.51.100.7'],
    ['HTTP_X_REQUESTED_WITH', 'XMLHttpRequest'],
    ['HTTP_UPGRADE_INSECURE_REQUESTS', '1'],
    ['HTTP_SEC_FETCH_DEST', 'empty'],
    ['HTTP_SEC_FETCH_MODE', 'cors'],
    ['HTTP_SEC_FETCH_SITE', 'same-origin'],
    ['HTTP_SEC_CH_UA', '"Chromium";v="128", "Not;A=Brand";v="24"'],
    ['HTTP_SEC_CH_UA_MOBILE', '?0'],
    ['HTTP_SEC_CH_UA_PLATFORM', '"Linux"'],
    ['HTTP_DNT', '1'],
  ];
}

/** name → [[var, value], ...]. */
/** @type {Record<string, Vars>} */
export const REQUESTS = {
  'nginx-14': NGINX_PARAMS,
  'browser-40': browser(16),
  'vars-10k': browser(136),
};

export const PROTOCOLS = ['uwsgi', 'fastcgi', 'http'];

/** @param {string} text */
const latin1 = (text) => Buffer.from(text, 'latin1');

/**
 * uwsgi: modifier1 0, datasize u16 LE, modifier2 0, then `u16 LE length, bytes` per key and value.
 * @param {Vars} vars
 * @returns {Buffer}
 */
export function uwsgiPacket(vars) {
  const parts = vars.flatMap(([key, value]) => [key, value].flatMap((text) => [u16le(text.length), latin1(text)]));
  const block = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0, block.length & 0xff, block.length >> 8, 0]), block]);
}

/** @param {number} n */
const u16le = (n) => Buffer.from([n & 0xff, n >> 8]);

/**
 * A FastCGI length field: one byte below 128, else four with the high bit set.
 * @param {number} n
 */
const nvLength = (n) => (n < 128 ? Buffer.from([n]) : Buffer.from([((n >>> 24) & 0x7f) | 0x80, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]));

/**
 * One record of request 1, padded to 8 bytes as nginx pads.
 * @param {number} type
 * @param {Buffer} content
 */
function record(type, content) {
  const padding = (8 - (content.length % 8)) % 8;
  const header = Buffer.from([1, type, 0, 1, content.length >> 8, content.length & 0xff, padding, 0]);
  return Buffer.concat([header, content, Buffer.alloc(padding)]);
}

const BEGIN_REQUEST = 1;
const PARAMS = 4;
const STDIN = 5;
const RESPONDER_KEEP_CONN = Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]);

/**
 * FastCGI, as nginx sends a GET with fastcgi_keep_conn: BEGIN_REQUEST, one PARAMS record
 * with every pair, the empty PARAMS, the empty STDIN.
 * @param {Vars} vars
 * @returns {Buffer}
 */
export function fastcgiRecords(vars) {
  const pairs = Buffer.concat(vars.flatMap(([key, value]) => [nvLength(key.length), nvLength(value.length), latin1(key), latin1(value)]));
  return Buffer.concat([record(BEGIN_REQUEST, RESPONDER_KEEP_CONN), record(PARAMS, pairs), record(PARAMS, Buffer.alloc(0)), record(STDIN, Buffer.alloc(0))]);
}

/**
 * HTTP_USER_AGENT → User-Agent.
 * @param {string} name
 */
const headerName = (name) =>
  name
    .slice('HTTP_'.length)
    .split('_')
    .map((word) => word[0] + word.slice(1).toLowerCase())
    .join('-');

/**
 * The head the client sent: request line, a header per HTTP_* var (Host at least).
 * @param {Vars} vars
 * @returns {Buffer}
 */
export function httpHead(vars) {
  /** @param {string} name */
  const get = (name) => vars.find(([key]) => key === name)?.[1];
  const headers = vars.filter(([key]) => key.startsWith('HTTP_')).map(([key, value]) => `${headerName(key)}: ${value}`);
  if (!get('HTTP_HOST')) headers.unshift(`Host: ${get('SERVER_NAME')}`);
  return latin1(`${get('REQUEST_METHOD')} ${get('REQUEST_URI')} ${get('SERVER_PROTOCOL')}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`);
}

/** @type {Record<string, (vars: Vars) => Buffer>} */
const ENCODERS = { uwsgi: uwsgiPacket, fastcgi: fastcgiRecords, http: httpHead };

/**
 * The request `name` in `protocol`'s wire form.
 * @param {string} protocol
 * @param {string} name
 * @returns {Buffer}
 */
export function encode(protocol, name) {
  const vars = REQUESTS[name];
  const encoder = ENCODERS[protocol];
  if (!vars || !encoder) throw new Error(`no request ${name} in ${protocol}`);
  return encoder(vars);
}

/**
 * Header lines of the HTTP form: what an HTTP parser reports as headers.
 * @param {string} name
 */
export const httpHeaderCount = (name) => Math.max(1, (REQUESTS[name] ?? []).filter(([key]) => key.startsWith('HTTP_')).length);
