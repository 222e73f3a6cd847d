// Hello world as a node:http request listener: the same response as hello.mjs. The
// baseline server of bench/e2e-http.mjs runs it on node:http; bench/e2e-adapters.mjs runs
// it on tsgi (--adapter node) for the cost of the Node adapter.
const BODY = Buffer.from('Hello, World!\n');
const HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(BODY.length) };

export default function hello(req, res) {
  res.writeHead(200, HEADERS);
  res.end(BODY);
}
