/**
 * docs/benchmarks.md's results section and bench/results/*.md, e2e.svg are rendered
 * (scripts/render-performance.mjs) from the committed results of the last full benchmark runs
 * (bench/results/*.json); this keeps them from drifting apart. After a run or a change to
 * bench/lib/report.mjs: node scripts/render-performance.mjs.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { rendered } from '../../scripts/render-performance.mjs';

it('shows in docs/benchmarks.md and bench/results/ what scripts/render-performance.mjs renders from bench/results/*.json', () => {
  for (const [file, text] of Object.entries(rendered() as Record<string, string>)) {
    expect(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'), file).toBe(text);
  }
});
