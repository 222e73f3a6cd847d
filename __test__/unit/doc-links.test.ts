/**
 * The documentation is split over the README, docs/, ARCHITECTURE.md and CONTRIBUTING.md,
 * and pages link into each other by file and heading: every relative link must name a
 * file that exists, and a `#fragment` a heading of that file (GitHub's anchors).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const pages = [
  'README.md',
  'ARCHITECTURE.md',
  'CONTRIBUTING.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The text outside fenced code blocks, where links are links. */
function prose(text: string): string {
  return text.replace(/^```[^]*?^```$/gm, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const headings = [...prose(readFileSync(file, 'utf8')).matchAll(/^#{1,6} (.*)$/gm)].map((m) => slug(m[1]!));
  return new Set(headings);
}

describe('links between the documentation pages', () => {
  for (const page of pages) {
    it(`${page}: every relative link reaches its file and heading`, () => {
      const broken: string[] = [];
      for (const [, target] of prose(readFileSync(path.join(root, page), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [file, fragment] = target!.split('#') as [string, string | undefined];
        const resolved = file ? path.resolve(path.dirname(path.join(root, page)), file) : path.join(root, page);
        if (!existsSync(resolved)) broken.push(`${target}: no such file`);
        else if (fragment && resolved.endsWith('.md') && !anchors(resolved).has(fragment)) broken.push(`${target}: no such heading`);
      }
      expect(broken).toEqual([]);
    });
  }

  it('finds the pages it checks', () => {
    expect(pages).toContain('docs/options.md');
    expect(pages.length).toBeGreaterThan(8);
  });
});
