#!/usr/bin/env node
/**
 * Rewrites the README's performance section (between the bench markers) from the committed
 * results, bench/results/e2e.json and codec.json.
 *
 *   node bench/readme.mjs           # rewrite README.md
 *   node bench/readme.mjs --check   # exit 1 if README.md is not what it would write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmeSection, replaceReadmeSection } from './lib/report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file) => readFileSync(path.join(root, file), 'utf8');

/** README.md as this script would leave it. */
export function renderedReadme() {
  const section = readmeSection(JSON.parse(read('bench/results/e2e.json')), JSON.parse(read('bench/results/codec.json')));
  return replaceReadmeSection(read('README.md'), section);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = renderedReadme();
  if (process.argv.includes('--check')) {
    if (readme !== read('README.md')) {
      process.stderr.write('README.md: the performance section differs from bench/results/; run node bench/readme.mjs\n');
      process.exit(1);
    }
  } else {
    writeFileSync(path.join(root, 'README.md'), readme);
  }
}
