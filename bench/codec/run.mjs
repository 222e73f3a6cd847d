#!/usr/bin/env node
/**
 * The codec micro-benchmarks: packets/s and MB/s of tsgi's native codec, its pure-TypeScript
 * codec and the pure-JS codecs people use, on realistic requests (bench/codec/requests.mjs),
 * one fresh process per suite (bench/codec/suite.mjs), with ratios to the pure-TS codec.
 *
 *   npm run build && npm run bench:codec
 *   node bench/codec/run.mjs [--max-time 2] [--batch 32] [--only uwsgi,fastcgi,http] [--write]
 *
 * --write also saves bench/results/codec.json and codec.md (what docs/benchmarks.md shows).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionValue } from '../lib/args.mjs';
import { machineInfo } from '../lib/machine.mjs';
import { codecMarkdown } from '../lib/report.mjs';
import { PROTOCOLS, REQUESTS } from './requests.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
/** @param {string} name @param {string} fallback */
const value = (name, fallback) => optionValue(argv, name, fallback);
const maxTime = value('max-time', '2');
const batch = value('batch', '32');
const protocols = value('only', PROTOCOLS.join(',')).split(',');

/** @type {import('../lib/report.mjs').CodecSuite[]} */
const suites = [];
for (const protocol of protocols) {
  for (const request of Object.keys(REQUESTS)) {
    const child = spawnSync(process.execPath, ['--no-deprecation', path.join(here, 'suite.mjs'), protocol, request, '--max-time', maxTime, '--batch', batch], {
      encoding: 'utf8',
    });
    if (child.status !== 0) {
      process.stderr.write(`codec: the ${protocol} ${request} suite failed:\n${child.stderr}\n`);
      process.exitCode = 1;
      continue;
    }
    /** @type {import('../lib/report.mjs').CodecSuite} */
    const suite = JSON.parse(child.stdout);
    suites.push(suite);
    const line = suite.results
      .map((r) => (r.skipped ? `${r.key} skipped` : `${r.key} ${Math.round(Number(r.packetsPerSecond)).toLocaleString('en-US')}/s`))
      .join(', ');
    process.stderr.write(`${protocol} ${request}: ${line}\n`);
  }
}

const results = { benchmark: 'codec', date: new Date().toISOString(), machine: machineInfo(), maxTime: Number(maxTime), batch: Number(batch), suites };
const markdown = codecMarkdown(results);
process.stdout.write(`${markdown}\n`);
if (argv.includes('--write')) {
  const dir = path.join(here, '../results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'codec.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(dir, 'codec.md'), `${markdown}\n`);
  process.stderr.write(`codec: wrote bench/results/codec.json and codec.md\n`);
}
