// Hello world for bench/e2e-uwsgi.mjs: the same response as hello.py, byte for byte.
const BODY = 'Hello, World!\n';
const HEADERS = [
  ['Content-Type', 'text/plain'],
  ['Content-Length', String(Buffer.byteLength(BODY))],
];

export default function application(environ, startResponse) {
  startResponse('200 OK', HEADERS);
  return [BODY];
}
