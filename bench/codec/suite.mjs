#!/usr/bin/env node
/**
 * One suite of the codec micro-benchmarks, in a process of its own (bench/codec/run.mjs
 * starts one per suite, so no suite runs on code another one's inputs have shaped):
 * every contender of PROTOCOL (bench/codec/contenders.mjs) parses the same batch of
 * REQUEST (bench/codec/requests.mjs), timed by benchmark.js.
 *
 *   node --no-deprecation bench/codec/suite.mjs PROTOCOL REQUEST [--max-time S] [--batch N]
 *
 * Prints one JSON object: the packet size, and per contender packets/s, MB/s, benchmark.js's
 * relative margin of error and sample count, or why it was skipped.
 */
import { optionValue } from '../lib/args.mjs';
import Benchmark from 'benchmark';
import { contendersOf } from './contenders.mjs';
import { PROTOCOLS, REQUESTS, encode, httpHeaderCount } from './requests.mjs';

const [protocol, request, ...rest] = process.argv.slice(2);
/** @param {string} name @param {number} fallback */
const option = (name, fallback) => Number(optionValue(rest, name, String(fallback)));
if (protocol === undefined || request === undefined || !PROTOCOLS.includes(protocol) || !(request in REQUESTS)) {
  process.stderr.write(`usage: node bench/codec/suite.mjs ${PROTOCOLS.join('|')} ${Object.keys(REQUESTS).join('|')} [--max-time S] [--batch N]\n`);
  process.exit(2);
}
const maxTime = option('max-time', 2);
const batch = option('batch', 32);

/**
 * What a contender must find per request: each counts in its own unit.
 * @param {string} key
 * @param {string} request
 */
function expectedPerRequest(key, request) {
  const vars = REQUESTS[request] ?? [];
  const headers = httpHeaderCount(request);
  if (key === 'node-fastcgi') return vars.filter(([name]) => name.startsWith('HTTP_')).length + 2; // + Content-Type, Content-Length
  if (key === 'http-parser-js' || key === 'llhttp') return headers;
  // Ours on HTTP: the 5 vars of the request line, then one per header field.
  return protocol === 'http' ? 5 + headers : vars.length;
}

// Each packet in a buffer of its own, as reads deliver them.
const packet = encode(protocol, request);
const packets = Array.from({ length: batch }, () => Buffer.from(packet));
/** @type {import('../lib/report.mjs').CodecResult[]} */
const results = [];
const suite = new Benchmark.Suite(`${protocol} ${request}`);
for (const contender of await contendersOf(protocol)) {
  if ('skip' in contender) {
    results.push({ key: contender.key, skipped: contender.skip });
    continue;
  }
  const run = contender.prepare(packets);
  const found = run();
  const want = expectedPerRequest(contender.key, request) * batch;
  if (found !== want) {
    results.push({
      key: contender.key,
      label: contender.label,
      skipped: `found ${found} ${contender.unit} in ${batch} requests, expected ${want}: it misread the input`,
    });
    continue;
  }
  /** @type {import('../lib/report.mjs').CodecResult} */
  const result = { key: contender.key, label: contender.label, unit: contender.unit, perRequest: want / batch };
  results.push(result);
  suite.add(contender.key, run, {
    maxTime,
    /** @param {Benchmark.Event} event */
    onComplete(event) {
      const { hz, stats } = event.target;
      if (hz === undefined || stats === undefined) throw new Error(`${contender.key}: benchmark.js gave no result`);
      result.packetsPerSecond = hz * batch;
      result.mbPerSecond = (hz * batch * packet.length) / 1e6;
      result.rme = stats.rme;
      result.samples = stats.sample.length;
    },
  });
}
suite.run();
process.stdout.write(`${JSON.stringify({ protocol, request, packetBytes: packet.length, batch, maxTime, results })}\n`);
