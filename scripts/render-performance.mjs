#!/usr/bin/env node
/**
 * Renders what the committed results say, from bench/results/e2e.json and codec.json: the
 * results section of docs/benchmarks.md (between the bench markers), bench/results/e2e.md, e2e.svg
 * and codec.md. The benchmarks call the same renderers when they write the results, so
 * this matters after a change to the renderers (bench/lib/report.mjs).
 *
 *   node scripts/render-performance.mjs           # rewrite them
 *   node scripts/render-performance.mjs --check   # exit 1 if any differs from what it would write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { codecMarkdown, e2eMarkdown, e2eSvg, benchmarksSection, replaceBenchmarksSection } from '../bench/lib/report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** @param {string} file */
const read = (file) => readFileSync(path.join(root, file), 'utf8');

/** { file: text } of everything rendered from the results files. */
export function rendered() {
  const e2e = JSON.parse(read('bench/results/e2e.json'));
  const codec = JSON.parse(read('bench/results/codec.json'));
  return {
    'docs/benchmarks.md': replaceBenchmarksSection(read('docs/benchmarks.md'), benchmarksSection(e2e, codec)),
    'bench/results/e2e.md': `${e2eMarkdown(e2e)}\n`,
    'bench/results/e2e.svg': e2eSvg(e2e),
    'bench/results/codec.md': `${codecMarkdown(codec)}\n`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const stale = [];
  for (const [file, text] of Object.entries(rendered())) {
    if (text === read(file)) continue;
    stale.push(file);
    if (!process.argv.includes('--check')) writeFileSync(path.join(root, file), text);
  }
  if (process.argv.includes('--check') && stale.length) {
    process.stderr.write(`${stale.join(', ')}: not what bench/results/*.json give; run node scripts/render-performance.mjs\n`);
    process.exit(1);
  }
}
