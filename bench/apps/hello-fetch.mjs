// Hello world as a bare fetch handler, for the adapter cost in bench/e2e-adapters.mjs: the
// same response as hello.mjs, through fromFetch and nothing else.
const BODY = 'Hello, World!\n';
const HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(BODY)) };

export default {
  fetch: () => new Response(BODY, { headers: HEADERS }),
};
