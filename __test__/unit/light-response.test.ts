/**
 * The light Response a served fetch app gets as `globalThis.Response`: everything an app
 * can ask of it answers as Node's own Response would, and the fetch adapter sends a string
 * or bytes body from its arguments without making a web stream.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Environ, StartResponse } from '../../src/app/contract.js';
import { sendResponse } from '../../src/adapters/fetch-response.js';
import { installLightResponse, lightParts, realResponse } from '../../src/adapters/light-response.js';

const NativeResponse = globalThis.Response;
installLightResponse();
const Light = globalThis.Response;
afterAll(() => {
  globalThis.Response = NativeResponse;
});

/** The same observable state, asked of a light and of a native Response made alike. */
async function observed(make: (R: typeof Response) => Response) {
  const r = make(Light);
  return {
    instance: r instanceof NativeResponse,
    status: r.status,
    statusText: r.statusText,
    ok: r.ok,
    type: r.type,
    headers: [...r.headers],
    bodyUsed: r.bodyUsed,
    text: await r.text(),
  };
}

describe('the light Response', () => {
  it.each<[string, (R: typeof Response) => Response]>([
    ['a string', (R) => new R('hello')],
    [
      'bytes with a status and headers',
      (R) => new R(new Uint8Array([104, 105]), { status: 201, statusText: 'Made', headers: { 'X-A': ' 1 ', 'Content-Type': 'x/y' } }),
    ],
    ['no body, 204', (R) => new R(null, { status: 204 })],
    [
      'a header list',
      (R) =>
        new R('a', {
          headers: [
            ['x-b', '2'],
            ['x-b', '3'],
          ],
        }),
    ],
    ['a stream', (R) => new R(new Blob(['streamed']).stream())],
    ['a Blob', (R) => new R(new Blob(['blob']))],
  ])('%s: answers as Node’s Response does', async (_what, make) => {
    const native = await observed((R) => make(R === Light ? NativeResponse : R));
    const light = await observed(make);
    expect(light).toEqual({ ...native, instance: true });
  });

  it('refuses what Node refuses, with the same error', () => {
    expect(() => new Light('x', { status: 99 })).toThrow(RangeError);
    expect(() => new Light('x', { status: 204 })).toThrow(TypeError);
    expect(() => new Light('x', { headers: { 'bad name': 'x' } as Record<string, string> })).not.toThrow(); // checked when sent (the head's own check)
  });

  it('a string or bytes body is sent from its arguments until something makes a real Response', async () => {
    const sent = new Light('hi', { status: 202, headers: { 'X-A': '1' } });
    expect(lightParts(sent)).toEqual({ status: 202, statusText: '', headers: { 'X-A': '1' }, body: 'hi', defaultType: 'text/plain;charset=UTF-8' });
    // Headers set by middleware are the ones sent, with the default type fetch gives.
    sent.headers.set('x-b', '2');
    expect(lightParts(sent)!.defaultType).toBeNull();
    expect([...(lightParts(sent)!.headers as Headers)]).toEqual([
      ['content-type', 'text/plain;charset=UTF-8'],
      ['x-a', '1'],
      ['x-b', '2'],
    ]);
    // Reading the body makes the real one: from then on it is what is sent.
    expect(await sent.clone().text()).toBe('hi');
    expect(lightParts(sent)).toBeUndefined();
    expect(realResponse(sent)).toBeInstanceOf(NativeResponse);
    expect([...realResponse(sent).headers]).toContainEqual(['x-b', '2']);
  });

  it("Node's own Responses (Response.json() makes one) are sent as before", () => {
    const heads: string[] = [];
    const body = sendResponse(
      Light.json({ a: 1 }),
      {} as Environ,
      ((status: string, headers: unknown) => {
        heads.push(status, JSON.stringify(headers));
      }) as StartResponse,
    );
    expect(heads).toEqual(['200 OK', '[["content-type","application/json"]]']);
    expect((body as Uint8Array[]).map((chunk) => Buffer.from(chunk).toString())).toEqual(['{"a":1}']);
  });

  it('statics and subclasses keep working', async () => {
    const json = Light.json({ a: 1 });
    expect(json).toBeInstanceOf(NativeResponse);
    expect(await json.json()).toEqual({ a: 1 });
    class Html extends Light {
      constructor(html: string) {
        super(html, { headers: { 'content-type': 'text/html' } });
      }
    }
    const page = new Html('<p>');
    expect(page).toBeInstanceOf(Html);
    expect(page).toBeInstanceOf(NativeResponse);
    expect(page.headers.get('content-type')).toBe('text/html');
    expect(await page.text()).toBe('<p>');
  });
});
