/**
 * `toNodeHandler(app)`: a TSGI app as a `node:http` request listener, so it runs under
 * `http.createServer`, or as Express or Connect middleware's last handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { App } from '../app/contract.js';
import { abortError } from '../app/input.js';
import { pausableInput, splitHost, standaloneEnviron } from './standalone-environ.js';
import { drive, type ResponseSink } from './tsgi-driver.js';

const ERROR_BODY = 'Internal Server Error\n';

export function toNodeHandler(app: App): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return (req, res) => {
    const input = pausableInput((paused) => (paused ? req.pause() : req.resume()));
    req.on('data', (chunk: Buffer) => input.push(chunk));
    req.on('end', () => input.end());
    const controller = new AbortController();
    // The client went away before the response ended.
    res.once('close', () => {
      if (res.writableFinished) return;
      const reason = abortError(!req.complete);
      input.fail(reason);
      controller.abort(reason);
    });
    const socket = req.socket;
    const scheme = (socket as TLSSocket).encrypted ? 'https' : 'http';
    const [serverName, serverPort] = req.headers.host
      ? splitHost(req.headers.host, scheme === 'https' ? '443' : '80')
      : [socket.localAddress ?? 'localhost', String(socket.localPort ?? '')];
    const environ = standaloneEnviron({
      method: req.method ?? 'GET',
      target: req.url ?? '/',
      scheme,
      serverName,
      serverPort,
      protocol: `HTTP/${req.httpVersion}`,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort === undefined ? undefined : String(socket.remotePort),
      headers: nodeHeaders(req),
      input,
      signal: controller.signal,
    });
    return drive(app, environ, nodeSink(res));
  };
}

/** req.headers as pairs; Node keeps repeated Set-Cookie apart, CGI joins them. */
function* nodeHeaders(req: IncomingMessage): Iterable<[string, string]> {
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) yield [name, Array.isArray(value) ? value.join(', ') : value];
  }
}

function nodeSink(res: ServerResponse): ResponseSink {
  return {
    head(head, contentLength) {
      const flat: string[] = [];
      for (const [name, value] of head.headers) flat.push(name, value);
      if (contentLength >= 0 && head.contentLength < 0) flat.push('Content-Length', String(contentLength));
      res.writeHead(head.code, head.status.slice(4), flat);
    },
    chunk(chunk) {
      if (res.write(chunk)) return;
      return new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    end() {
      res.end();
    },
    abort(error) {
      res.destroy(error);
    },
    fail() {
      res.writeHead(500, { 'Content-Type': 'text/plain', 'Content-Length': ERROR_BODY.length });
      res.end(ERROR_BODY);
    },
  };
}
