// The TSGI app of the end-to-end benchmarks (bench/e2e.mjs), the same responses as
// hello.py, hello-node-handler.mjs and e2e's PHP script, byte for byte:
//   GET …/64k: 64 KiB of "x"; POST: reads the body, answers "received N bytes\n";
//   anything else: "Hello, World!\n". Each with Content-Type text/plain and a Content-Length.
const HELLO = 'Hello, World!\n';
const BIG = Buffer.alloc(64 * 1024, 'x');
/**
 * @param {number} length
 * @returns {import('../../src/app/contract.js').Headers}
 */
const headers = (length) => [
  ['Content-Type', 'text/plain'],
  ['Content-Length', String(length)],
];
const HELLO_HEADERS = headers(Buffer.byteLength(HELLO));
const BIG_HEADERS = headers(BIG.length);

/** @type {import('../../src/app/contract.js').App} */
export default function application(environ, startResponse) {
  if (environ.REQUEST_METHOD === 'POST') return received(environ, startResponse);
  const big = environ.PATH_INFO.endsWith('/64k');
  startResponse('200 OK', big ? BIG_HEADERS : HELLO_HEADERS);
  return [big ? BIG : HELLO];
}

/**
 * @param {import('../../src/app/contract.js').Environ} environ
 * @param {import('../../src/app/contract.js').StartResponse} startResponse
 */
async function received(environ, startResponse) {
  let length = 0;
  for await (const chunk of environ['tsgi.input']) length += chunk.length;
  const body = `received ${length} bytes\n`;
  startResponse('200 OK', headers(body.length));
  return [body];
}
