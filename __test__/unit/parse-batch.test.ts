/**
 * The binding's parseBatch, the codec micro-benchmarks' way into tsgi-wire (bench/codec/):
 * on the benchmark's own requests, laid end to end, it finds what the pure-TypeScript codec
 * finds in each one, and it refuses what the codecs refuse, naming the request.
 *
 * parseBatch is only in the benchmark build of the binding (native-bench/, the crate's
 * `bench` feature), which this file builds, or brings up to date, before it starts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOLS, REQUESTS, encode } from '../../bench/codec/requests.mjs';
import { HeadVars, parseHead } from '../../src/codec/http/head.js';
import { ParamsDecoder, RecordType, parseRecord, type RecordHead } from '../../src/codec/fastcgi.js';
import { parseRequest } from '../../src/codec/uwsgi.js';
import { VarList } from '../../src/codec/wire.js';
import { buildBenchBinding, loadBenchBinding, type BenchBinding } from '../../bench/codec/binding.mjs';

let binding: BenchBinding;
beforeAll(() => {
  buildBenchBinding();
  const loaded = loadBenchBinding();
  if (!loaded.binding) throw new Error(loaded.why);
  binding = loaded.binding;
}, 600_000);
const protocols = PROTOCOLS as Array<'uwsgi' | 'fastcgi' | 'http'>;

/** The vars the pure-TypeScript codec finds in one request. */
function pureVars(protocol: string, packet: Buffer): number {
  if (protocol === 'uwsgi') {
    const vars = new VarList();
    parseRequest(packet, packet.length, { maxVarsBlock: 0xffff, maxVars: 1000, maxBody: 0 }, vars);
    return vars.count;
  }
  if (protocol === 'http') {
    const out = new HeadVars();
    parseHead(packet, packet.length, { maxRequestLine: 8192, maxHeadBytes: 16384, maxHeaders: 100, maxBody: 0, maxChunkExtension: 4096 }, out);
    return out.vars.count;
  }
  const params = new ParamsDecoder({ maxParamsBytes: 65536, maxVars: 1000, maxBody: 0 });
  for (let pos = 0; pos < packet.length;) {
    const record = parseRecord(packet, pos, packet.length) as RecordHead;
    if (record.type === RecordType.PARAMS) params.feed(packet.subarray(pos + 8, pos + 8 + record.contentLength));
    pos += record.total;
  }
  expect(params.done).toBe(true);
  return params.vars.count;
}

describe('parseBatch', () => {
  for (const protocol of protocols) {
    for (const name of Object.keys(REQUESTS)) {
      it(`finds in ${protocol} ${name} what the pure-TypeScript codec finds, request after request`, () => {
        const packet: Buffer = encode(protocol, name);
        const batch = Buffer.concat([packet, packet, packet]);
        expect(binding.parseBatch(protocol, batch, 3)).toEqual({ requests: 3, vars: 3 * pureVars(protocol, packet), bytes: batch.length });
      });
    }
  }

  it('names the request that is incomplete or refused, with the codec error code', () => {
    const packet: Buffer = encode('uwsgi', 'nginx-14');
    expect(() => binding.parseBatch('uwsgi', Buffer.concat([packet, packet.subarray(0, 10)]), 2)).toThrow(`request 2 at byte ${packet.length}: incomplete`);
    expect(() => binding.parseBatch('uwsgi', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 1)).toThrow('request 1 at byte 0: uwsgi_looks_like_http');
    expect(() => binding.parseBatch('http', Buffer.from('GET / HTTP/1.1\nHost: a\n\n'), 1)).toThrow('http_bare_lf');
    expect(() => binding.parseBatch('fastcgi', encode('http', 'nginx-14'), 1)).toThrow('fastcgi_looks_like_http');
    expect(() => binding.parseBatch('spdy' as 'http', packet, 1)).toThrow('unknown protocol');
  });
});
