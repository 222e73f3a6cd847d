#!/usr/bin/env node
// Asks Node's own HTTP parser (llhttp, through the HTTPParser binding node:http uses, with
// the same strict settings: kLenientNone) how it frames each request of a corpus, and
// writes the answers to crates/tsgi-wire/tests/data/http-framing.json. The Rust test
// `http_differential` reads that file (it never needs Node) and checks that tsgi-wire's
// HTTP codec frames every request llhttp accepts exactly as llhttp does: where the head
// ends, the body bytes, where the request ends, method, target, version, header vars,
// keep-alive and upgrade; and refuses every request llhttp refuses.
//
// The corpus lists, with a reason, the requests where tsgi is deliberately stricter than
// llhttp (`stricter: 'http_error_code'`); everything else must agree.
//
// usage: node scripts/http-framing-corpus.mjs   (rewrite the JSON; commit it)
//        node scripts/http-framing-corpus.mjs --check   (exit 1 if the JSON is stale)
//
// Each request is fed to the parser one byte at a time, so the callbacks tell the exact
// offset at which the head and the message end.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

process.noDeprecation = true; // process.binding('http_parser') is deprecated, not gone.
// Untyped in @types/node: ./types/node-http-parser.d.ts describes the part used here.
const binding = /** @type {import('./types/node-http-parser.js').ProcessWithBinding} */ (/** @type {unknown} */ (process));
const { HTTPParser, methods } = binding.binding('http_parser');
const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute } = HTTPParser;

const out = join(dirname(fileURLToPath(import.meta.url)), '../crates/tsgi-wire/tests/data/http-framing.json');

/**
 * What llhttp decided about a request: accepted with its framing, or refused (or waiting
 * for more: error 'incomplete') at `offset`.
 * @typedef {{ accepted: boolean, head_len?: number, method?: string, url?: string, version?: string, headers?: string[][], upgrade?: boolean, keep_alive?: boolean, body?: string, end?: number }} Accepted
 * @typedef {{ accepted: false, error: string | undefined, reason?: string, offset: number }} Refused
 */

/**
 * What llhttp makes of the first request in `raw` (a latin-1 string).
 * @param {string} raw
 * @returns {Accepted | Refused}
 */
function llhttp(raw) {
  const parser = new HTTPParser();
  let off = 0;
  // Past 32 fields the binding hands the fields (and the URL) over early, in kOnHeaders.
  /** @type {string[]} */
  let headers = [];
  let early = '';
  /** @type {Accepted} */
  const r = { accepted: false };
  parser[kOnHeaders] = (/** @type {string[]} */ h, /** @type {string} */ u) => {
    headers = headers.concat(h);
    early += u;
  };
  parser[kOnHeadersComplete] = (
    /** @type {number} */ major,
    /** @type {number} */ minor,
    /** @type {string[] | undefined} */ h,
    /** @type {number} */ method,
    /** @type {string | undefined} */ url,
    /** @type {unknown} */ _s,
    /** @type {unknown} */ _m,
    /** @type {boolean} */ upgrade,
    /** @type {boolean} */ keepAlive,
  ) => {
    if (r.head_len !== undefined) return 0; // a second message: not ours to report
    if (h) headers = headers.concat(h);
    if (!url) url = early;
    Object.assign(r, {
      head_len: off + 1,
      method: methods[method],
      url,
      version: `${major}.${minor}`,
      headers: pairs(headers),
      upgrade: Boolean(upgrade),
      keep_alive: Boolean(keepAlive),
      body: '',
    });
    return 0;
  };
  parser[kOnBody] = (/** @type {Buffer} */ b) => {
    if (r.end === undefined) r.body += b.toString('latin1');
  };
  parser[kOnMessageComplete] = () => {
    if (r.end === undefined) {
      r.end = off + 1;
      r.accepted = true;
    }
  };
  parser[kOnExecute] = () => {};
  parser.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone);
  const buf = Buffer.from(raw, 'latin1');
  for (off = 0; off < buf.length && r.end === undefined; off++) {
    const ret = parser.execute(buf.subarray(off, off + 1));
    if (ret instanceof Error) {
      return { accepted: false, error: ret.code, reason: ret.reason, offset: off };
    }
  }
  if (!r.accepted) {
    // Neither complete nor refused: llhttp waits for more (a length it would read).
    return { accepted: false, error: 'incomplete', offset: buf.length };
  }
  return r;
}

/**
 * [name, value] pairs from a flat [name, value, name, value...] list.
 * @param {string[]} flat
 */
function pairs(flat) {
  /** @type {string[][]} */
  const p = [];
  for (let i = 0; i < flat.length; i += 2) p.push([flat[i], flat[i + 1]]);
  return p;
}

const H = 'Host: a\r\n';
/**
 * @param {string} fields
 * @param {string} body
 */
const post = (fields, body) => `POST / HTTP/1.1\r\n${H}${fields}\r\n${body}`;
/** @param {string} body */
const chunked = (body) => post('Transfer-Encoding: chunked\r\n', body);

// [name, request] agree with llhttp; [name, request, {stricter: code, reason}] are
// refused by tsgi (with that error code) though llhttp accepts them; [name, request,
// {looser: reason}] are accepted by tsgi though llhttp refuses them.
/** @type {Array<[string, string] | [string, string, { stricter: string, reason: string } | { looser: string }]>} */
const corpus = [
  // Valid requests, every framing.
  ['GET', `GET / HTTP/1.1\r\n${H}\r\n`],
  ['GET with query and escapes', `GET /a%20b/c?x=1&y=%zz HTTP/1.1\r\n${H}User-Agent: t\r\nAccept: */*\r\n\r\n`],
  ['POST with Content-Length', post('Content-Type: text/plain\r\nContent-Length: 11\r\n', 'hello world')],
  ['POST with Content-Length 0', post('Content-Length: 0\r\n', '')],
  ['Content-Length with leading zeros', post('Content-Length: 0005\r\n', 'hello')],
  ['CVE-2019-15606: Content-Length with trailing white space', post('Content-Length: 5  \r\n', 'hello')],
  [
    'CVE-2019-15606: Content-Length with a trailing tab',
    post('Content-Length: 5\t\r\n', 'hello'),
    { looser: 'a trailing HTAB is OWS (RFC 9110 §5.5) and trimmed like a space; llhttp refuses a tab after Content-Length digits. Same length either way' },
  ],
  ['chunked', chunked('5\r\nhello\r\n0\r\n\r\n')],
  ['chunked, empty body', chunked('0\r\n\r\n')],
  ['chunked, upper-case hex and leading zeros', chunked('1A\r\nabcdefghijklmnopqrstuvwxyz\r\n00000\r\n\r\n')],
  ['chunked, one-byte chunks', chunked('1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n')],
  ['chunked, extensions', chunked('5;a=b;c;d="e f"\r\nhello\r\n0;last=1\r\n\r\n')],
  ['chunked, quoted extension with escapes and ;', chunked('5;a="b\\"c;d"\r\nhello\r\n0\r\n\r\n')],
  ['chunked, name-only extension', chunked('5;a\r\nhello\r\n0;b\r\n\r\n')],
  ['chunked, trailers', chunked('5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Empty:\r\n\r\n')],
  [
    'gunicorn rfc9110_trailer_forbidden: Content-Length in trailers, ignored',
    chunked('5\r\nhello\r\n0\r\nContent-Length: 7\r\n\r\n'),
    { looser: 'trailers are read and dropped, never used for framing; llhttp refuses Content-Length there' },
  ],
  ['Transfer-Encoding: Chunked (case)', post('Transfer-Encoding: Chunked\r\n', '3\r\nabc\r\n0\r\n\r\n')],
  ['HTTP/1.0 GET', 'GET /old HTTP/1.0\r\n\r\n'],
  ['HTTP/1.0 keep-alive', 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'],
  ['HTTP/1.0 POST with Content-Length', 'POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi'],
  ['Connection: close', `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
  ['Connection with several tokens', `GET / HTTP/1.1\r\n${H}Connection: foo, Close\r\n\r\n`],
  ['absolute form', 'GET http://a.example:8080/p/q?r=s HTTP/1.1\r\nHost: b\r\n\r\n'],
  ['absolute form without a path', 'GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n'],
  ['OPTIONS *', `OPTIONS * HTTP/1.1\r\n${H}\r\n`],
  ['CONNECT', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n'],
  ['RFC 9112 §2.2: empty lines before the request line', `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`],
  [
    'WebSocket upgrade',
    `GET /chat HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ],
  ['Upgrade with a body', post('Connection: upgrade\r\nUpgrade: foo\r\nContent-Length: 2\r\n', 'ab')],
  ['Upgrade without the Connection token', `GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\n\r\n`],
  ['Expect: 100-continue', `PUT /f HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`],
  ['HEAD', `HEAD / HTTP/1.1\r\n${H}\r\n`],
  ['other methods: DELETE', `DELETE /x HTTP/1.1\r\n${H}\r\n`],
  ['other methods: PROPFIND with a body', `PROPFIND /x HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\n<a>`],
  ['other methods: M-SEARCH', `M-SEARCH / HTTP/1.1\r\n${H}\r\n`],
  ['header values: obs-text, padding, empty', `GET / HTTP/1.1\r\n${H}X-Obs: caf\xe9\r\nX-Pad:   v  \r\nX-Empty:\r\n\r\n`],
  ['repeated Cookie', `GET / HTTP/1.1\r\n${H}Cookie: a=1\r\nCookie: b=2\r\n\r\n`],
  ['underscore header dropped, framing unchanged', `GET / HTTP/1.1\r\n${H}X_Forwarded_For: 6.6.6.6\r\n\r\n`],
  ['httpoxy: Proxy dropped', `GET / HTTP/1.1\r\n${H}Proxy: http://evil\r\n\r\n`],
  ['many headers', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 60 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`],
  ['a request after the request', `GET /1 HTTP/1.1\r\n${H}\r\nGET /2 HTTP/1.1\r\n${H}\r\n`],
  ['a body that looks like a request', post(`Content-Length: ${`GET /admin HTTP/1.1\r\n${H}\r\n`.length}\r\n`, `GET /admin HTTP/1.1\r\n${H}\r\n`)],

  // Where tsgi refuses what llhttp accepts, on purpose.
  [
    'RFC 9112 §3.2: HTTP/1.1 without Host',
    'GET / HTTP/1.1\r\n\r\n',
    { stricter: 'http_missing_host', reason: 'RFC 9112 §3.2 requires 400; node:http answers 400 too (requireHostHeader), after the parser' },
  ],
  ['RFC 9112 §3.2: Host twice', `GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`, { stricter: 'http_duplicate_host', reason: 'RFC 9112 §3.2 requires 400' }],
  ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', { stricter: 'http_invalid_host', reason: 'not a host; SERVER_NAME is derived from it' }],
  [
    'gunicorn rfc9112_target: * with GET',
    `GET * HTTP/1.1\r\n${H}\r\n`,
    { stricter: 'http_invalid_target', reason: 'asterisk form only with OPTIONS (RFC 9112 §3.2.4)' },
  ],
  [
    'M-SEARCH *',
    `M-SEARCH * HTTP/1.1\r\n${H}\r\n`,
    { stricter: 'http_invalid_target', reason: 'asterisk form only with OPTIONS; SSDP is not served over --http-socket' },
  ],
  [
    'two spaces after the method',
    `GET  / HTTP/1.1\r\n${H}\r\n`,
    { stricter: 'http_invalid_target', reason: 'RFC 9112 §3: single SP; llhttp skips extra spaces' },
  ],
  ['fragment in the target', `GET /a#b HTTP/1.1\r\n${H}\r\n`, { stricter: 'http_invalid_target', reason: 'a request target has no fragment (RFC 9112 §3.2)' }],
  [
    'absolute form with another scheme',
    `GET ftp://a/ HTTP/1.1\r\n${H}\r\n`,
    { stricter: 'http_invalid_target', reason: 'only http and https targets are served' },
  ],
  [
    'percent sign without hex digits',
    `GET /100% HTTP/1.1\r\n${H}\r\n`,
    { stricter: 'http_invalid_percent_encoding', reason: 'PATH_INFO is decoded (llhttp does not decode); nginx refuses it too' },
  ],
  ['encoded NUL', `GET /a%00 HTTP/1.1\r\n${H}\r\n`, { stricter: 'http_invalid_percent_encoding', reason: 'a NUL in PATH_INFO would cut file names short' }],
  ['HTTP/2.0 request line', `GET / HTTP/2.0\r\n${H}\r\n`, { stricter: 'http_invalid_version', reason: 'only HTTP/1.0 and 1.1 are spoken (§2.3)' }],
  [
    'gunicorn 22: chunked on HTTP/1.0',
    'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    { stricter: 'http_transfer_encoding_on_http10', reason: 'RFC 9112 §6.1: faulty framing' },
  ],
  [
    'gunicorn chunked_03: gzip, chunked',
    post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'),
    { stricter: 'http_unsupported_transfer_encoding', reason: 'no coding but chunked is decoded (§2.3)' },
  ],
  [
    'gunicorn 040, puma#4021: Content_Length',
    post('Content_Length: 5\r\n', 'hello'),
    {
      stricter: 'http_underscore_framing_header',
      reason: 'refused so no CGI mapping can make it CONTENT_LENGTH; llhttp takes it as an unknown header and the body as the next request',
    },
  ],
  [
    'extension with an empty value',
    chunked('5;a=\r\nhello\r\n0\r\n\r\n'),
    { stricter: 'http_invalid_chunk_extension', reason: 'ext-val is a token or quoted-string (RFC 9112 §7.1.1)' },
  ],
  [
    'extension without a name',
    chunked('5;=b\r\nhello\r\n0\r\n\r\n'),
    { stricter: 'http_invalid_chunk_extension', reason: 'ext-name is a token (RFC 9112 §7.1.1)' },
  ],
  [
    'five empty lines before the request line',
    `\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
    { stricter: 'http_too_many_empty_lines', reason: 'RFC 9112 §2.2 asks for at least one; more than four is not a client' },
  ],
  [
    'Expect: foo',
    `GET / HTTP/1.1\r\n${H}Expect: foo\r\n\r\n`,
    { stricter: 'http_expectation_failed', reason: 'RFC 9110 §10.1.1: 417; node:http answers 417 too, after the parser' },
  ],
  [
    'CONNECT with a body',
    'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 2\r\n\r\nab',
    { stricter: 'http_body_on_connect', reason: 'what follows a CONNECT head is tunnel data; llhttp ignores the length' },
  ],
  [
    'Content-Length of 2^53',
    post('Content-Length: 9007199254740992\r\n', ''),
    { stricter: 'http_content_length_overflow', reason: 'lengths stay exact in JavaScript (2^53 - 1); llhttp allows up to 2^64 - 1' },
  ],
  ['chunk size of 2^53', chunked('20000000000000\r\n'), { stricter: 'http_chunk_size_overflow', reason: 'as Content-Length' }],

  // Both refuse (§2.3, §1.5).
  ['llhttp Only LFs present (CVE-2022-32214)', 'GET / HTTP/1.1\nHost: a\n\n'],
  ['CVE-2025-23167: \\r\\n\\rX', `GET / HTTP/1.1\r\n${H}\rX`],
  ['CVE-2022-35256: x:\\rTransfer-Encoding', post('x:\rTransfer-Encoding: chunked\r\n', '0\r\n\r\n')],
  ['CVE-2024-27982: space before the first header', 'POST / HTTP/1.1\r\n Content-Length: 5\r\nHost: a\r\n\r\nhello'],
  ['CVE-2022-32215: obs-fold', post('Transfer-Encoding: chunked\r\n , identity\r\n', '0\r\n\r\n')],
  ['CVE-2021-22959: space before the colon', post('Content-Length : 5\r\n', 'hello')],
  ['CVE-2018-7159: Content-Length 1 2', post('Content-Length: 1 2\r\n', 'hello')],
  ['Content-Length: 5, 5', post('Content-Length: 5, 5\r\n', 'hello')],
  ['Content-Length twice', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello')],
  ['Content-Length: +5', post('Content-Length: +5\r\n', 'hello')],
  ['empty Content-Length', post('Content-Length:\r\n', '')],
  ['Content-Length and Transfer-Encoding', post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n')],
  ['CVE-2019-15605: chunked not last', post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n')],
  ['Transfer-Encoding: identity', post('Transfer-Encoding: identity\r\n', '')],
  ['CVE-2020-8287: Transfer-Encoding twice', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n')],
  ['lower-case method', `get / HTTP/1.1\r\n${H}\r\n`],
  ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`],
  ['space after the version', `GET / HTTP/1.1 \r\n${H}\r\n`],
  ['non-ASCII in the target', `GET /\xff HTTP/1.1\r\n${H}\r\n`],
  ['DEL in a value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`],
  ['NUL in a value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`],
  ['0x chunk size', chunked('0x5\r\nhello\r\n0\r\n\r\n')],
  ['space after the chunk size', chunked('5 \r\nhello\r\n0\r\n\r\n')],
  ['space after ;', chunked('5; a=b\r\nhello\r\n0\r\n\r\n')],
  ['unbalanced quote in an extension', chunked('5;a="b\r\nhello\r\n0\r\n\r\n')],
  ['chunk data too long', chunked('5\r\nhelloXX\r\n0\r\n\r\n')],
  ['bare LF after chunk data', chunked('5\r\nhello\n0\r\n\r\n')],
];

const cases = corpus.map(([name, request, opts]) => {
  /** @type {{ name: string, request: string, llhttp: Accepted | Refused, stricter?: string, looser?: boolean, reason?: string }} */
  const entry = { name, request, llhttp: llhttp(request) };
  if (opts && 'stricter' in opts) Object.assign(entry, { stricter: opts.stricter, reason: opts.reason });
  if (opts && 'looser' in opts) Object.assign(entry, { looser: true, reason: opts.looser });
  return entry;
});

// Sanity of the corpus itself: a request marked stricter is one llhttp accepts.
for (const c of cases) {
  if (c.stricter && 'error' in c.llhttp && c.llhttp.error !== 'incomplete') {
    throw new Error(`${c.name}: marked stricter, but llhttp refuses it too (${c.llhttp.error})`);
  }
  if (c.looser && c.llhttp.accepted) throw new Error(`${c.name}: marked looser, but llhttp accepts it`);
}

const json = `{
  "generator": "scripts/http-framing-corpus.mjs",
  "node": ${JSON.stringify(process.version)},
  "llhttp": ${JSON.stringify(process.versions.llhttp)},
  "cases": [
${cases.map((c) => `    ${JSON.stringify(c)}`).join(',\n')}
  ]
}
`;

if (process.argv.includes('--check')) {
  const old = readFileSync(out, 'utf8').replace(/"node": "[^"]*",\n  "llhttp": "[^"]*",/, '');
  if (old !== json.replace(/"node": "[^"]*",\n  "llhttp": "[^"]*",/, '')) {
    console.error(`${out} is stale: run node scripts/http-framing-corpus.mjs`);
    process.exit(1);
  }
  console.log(`${out}: up to date (${cases.length} cases)`);
} else {
  writeFileSync(out, json);
  const accepted = cases.filter((c) => c.llhttp.accepted).length;
  const stricter = cases.filter((c) => c.stricter).length;
  const looser = cases.filter((c) => c.looser).length;
  console.log(`wrote ${out}: ${cases.length} cases, llhttp ${process.versions.llhttp} accepts ${accepted}; tsgi stricter on ${stricter}, looser on ${looser}`);
}
