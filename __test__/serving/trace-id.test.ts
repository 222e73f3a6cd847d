/**
 * The W3C trace id through a real master and worker: a request's `traceparent` header
 * reaches `%(trace_id)` of the request log and `--log-json`'s `trace_id`; a malformed
 * one prints '-' and adds no field.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { freePort } from '../../scripts/lib/processes.mjs';

const APP = path.resolve('__test__/fixtures/observe-app.mjs');
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function serving(args: string[]): Promise<{ master: Tsgi; url: string }> {
  const port = await freePort();
  const master = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--module', APP, ...args]);
  cleanups.push(() => master.kill());
  return { master, url: `http://127.0.0.1:${port}` };
}

describe('the trace id in the request log', () => {
  it("%(trace_id): the traceparent's trace id, '-' for a malformed one", async () => {
    const { master, url } = await serving(['--log-format', 'line %(uri) trace=%(trace_id)']);
    await fetch(`${url}/a`, { headers: { traceparent: `00-${TRACE}-b7ad6b7169203331-01` } });
    await fetch(`${url}/b`, { headers: { traceparent: `00-${TRACE.toUpperCase()}-b7ad6b7169203331-01` } });
    expect((await master.line(/^line \/a /)).text).toBe(`line /a trace=${TRACE}`);
    expect((await master.line(/^line \/b /)).text).toBe('line /b trace=-');
  });

  it('--log-json: a trace_id field with a valid traceparent, none without', async () => {
    const { master, url } = await serving(['--log-json']);
    await fetch(`${url}/a`, { headers: { traceparent: `00-${TRACE}-b7ad6b7169203331-01` } });
    await fetch(`${url}/b`);
    const line = async (uri: string) => JSON.parse((await master.line(new RegExp(`"uri":"${uri}"`))).text) as Record<string, unknown>;
    expect(await line('/a')).toMatchObject({ uri: '/a', trace_id: TRACE });
    expect(await line('/b')).not.toHaveProperty('trace_id');
  });
});
