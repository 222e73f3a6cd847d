/**
 * The built-in example app, served when no --module is given:
 * `GET /` shows the environ, `POST /` (any path) echoes the body back, and
 * `GET /stream` streams ten chunks, one every 100 ms.
 */
import type { App, Environ } from './contract.js';

const TEXT = 'text/plain; charset=utf-8';

async function* stream(signal: AbortSignal): AsyncGenerator<string> {
  for (let i = 1; i <= 10 && !signal.aborted; i++) {
    yield `chunk ${i} of 10\n`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function showEnviron(environ: Environ): string {
  const lines = ['Hello from tsgi.', '', 'environ:'];
  for (const key of Object.keys(environ).sort()) {
    const value = environ[key];
    const shown = typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? JSON.stringify(value) : `[${typeof value}]`;
    lines.push(`  ${key} = ${shown}`);
  }
  return lines.join('\n') + '\n';
}

export const exampleApp: App = async (environ, startResponse) => {
  if (environ.REQUEST_METHOD === 'POST' || environ.REQUEST_METHOD === 'PUT') {
    const body = await environ['tsgi.input'].read();
    startResponse('200 OK', [['Content-Type', environ.CONTENT_TYPE || 'application/octet-stream']]);
    return [body];
  }
  if (environ.PATH_INFO === '/stream') {
    startResponse('200 OK', [
      ['Content-Type', TEXT],
      ['X-Accel-Buffering', 'no'],
    ]);
    return stream(environ['tsgi.signal']);
  }
  startResponse('200 OK', [['Content-Type', TEXT]]);
  return [showEnviron(environ)];
};
