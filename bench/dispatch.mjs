// The cost of the TypeScript dispatch per request, without sockets or the native binding:
// decode a batch of 16 nginx-like GETs laid out as the reactor lays them out, and run a
// hello-world app against a transport that only counts writes. Run: node bench/dispatch.mjs
// (after npm run build). Measured on the development machine: ~600 ns per request.
import { decodeBatch } from '../dist/native/batch.js';
import { Exchange } from '../dist/server/exchange.js';
import { uwsgiBatch } from './lib/batch.mjs';
const vars = {
  QUERY_STRING: '',
  REQUEST_METHOD: 'GET',
  CONTENT_TYPE: '',
  CONTENT_LENGTH: '',
  REQUEST_URI: '/',
  PATH_INFO: '/',
  DOCUMENT_ROOT: '/usr/share/nginx/html',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REQUEST_SCHEME: 'http',
  REMOTE_ADDR: '127.0.0.1',
  REMOTE_PORT: '5555',
  SERVER_PORT: '8080',
  SERVER_NAME: 'localhost',
  HTTP_HOST: '127.0.0.1:8080',
};
const N = 16;
const { arena, index, words } = uwsgiBatch(vars, N);
const BODY = 'Hello, World!\n';
/** @type {import('../dist/app/contract.js').Headers} */
const HEADERS = [
  ['Content-Type', 'text/plain'],
  ['Content-Length', '14'],
];
/** @type {import('../dist/app/contract.js').App} */
const app = (environ, start) => {
  start('200 OK', HEADERS);
  return [BODY];
};
let writes = 0;
/** @type {import('../dist/server/exchange.js').ExchangeContext} */
const ctx = {
  app,
  transport: {
    write() {
      writes++;
      return 0;
    },
    pause() {},
    abort() {},
    upgrade: () => false,
    writeError: () => false,
    sendFile: () => -2,
  },
  multiprocess: false,
  writeHighWater: 1 << 18,
  inputHighWater: 1 << 18,
  done() {},
  tunneled() {},
};
/** @type {import('../dist/native/batch.js').BatchSink} */
const sink = {
  request(rec) {
    new Exchange(rec, ctx).run();
  },
  body() {},
  bodyEnd() {},
  abort() {},
  drain() {},
  log() {},
};
function round() {
  decodeBatch(words, arena, index, sink);
}
for (let i = 0; i < 20000; i++) round();
const t0 = process.hrtime.bigint();
const R = 100000;
for (let i = 0; i < R; i++) round();
const ns = Number(process.hrtime.bigint() - t0) / (R * N);
console.log(`${ns.toFixed(0)} ns per request (decode + exchange + app + head), writes ${writes}`);
