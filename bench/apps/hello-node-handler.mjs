// The end-to-end benchmarks' app as a node:http request listener: the same responses as
// hello.mjs (GET …/64k: 64 KiB; POST: "received N bytes\n"; else "Hello, World!\n"). The
// node:http baseline runs it (hello-node-http.mjs), node-fastcgi too (hello-node-fastcgi.mjs),
// and bench/e2e-adapters.mjs on tsgi (--adapter node) for the cost of the Node adapter.
const HELLO = Buffer.from('Hello, World!\n');
const BIG = Buffer.alloc(64 * 1024, 'x');

/**
 * @param {import('node:http').ServerResponse} res
 * @param {Buffer} body
 */
function send(res, body) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
  res.end(body);
}

/**
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
export default function hello(req, res) {
  if (req.method === 'POST') {
    let length = 0;
    req.on('data', (/** @type {Buffer} */ chunk) => (length += chunk.length));
    req.on('end', () => send(res, Buffer.from(`received ${length} bytes\n`)));
    return;
  }
  send(res, (req.url ?? '').endsWith('/64k') ? BIG : HELLO);
}
