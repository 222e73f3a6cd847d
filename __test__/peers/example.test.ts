/**
 * The README's first command, `npm run example`: the built-in example app behind a
 * private nginx answers at the address it prints, and Ctrl-C (SIGINT) stops everything.
 * Without nginx, tsgi serves HTTP itself at that address and says how to add nginx.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/chaos.js';
import { announceNginx, hasNginx } from '../helpers/nginx.js';
import { freePort } from '../../scripts/lib/processes.mjs';

announceNginx();

/** Runs the example on a free port (`env` added); checks it serves, then stops it with Ctrl-C. Its output. */
async function example(env: NodeJS.ProcessEnv = {}): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.resolve('scripts/example-behind-nginx.mjs'), '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await until(() => output.includes(`open http://127.0.0.1:${port}/`) || child.exitCode !== null, 'the example to say where it serves', 20_000);
    expect(child.exitCode, output).toBeNull();
    const home = await fetch(`http://127.0.0.1:${port}/?from=test`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('QUERY_STRING = "from=test"');
    const echo = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'hello', headers: { 'Content-Type': 'text/x-test' } });
    expect(await echo.text()).toBe('hello');
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
  return output;
}

describe('npm run example', () => {
  it.skipIf(!hasNginx)('serves the example app behind nginx, echoes a POST, and stops on Ctrl-C', async () => {
    expect(await example()).toMatch(/tsgi on unix socket, nginx /);
  });

  it('without nginx, tsgi serves HTTP itself and says how to add nginx', async () => {
    const output = await example({ NGINX: '/nonexistent/nginx' });
    expect(output).toMatch(/nginx is not installed: tsgi serves HTTP itself \(--http-socket 127\.0\.0\.1:\d+\)/);
    expect(output).toMatch(/apt-get install nginx/);
  });
});
