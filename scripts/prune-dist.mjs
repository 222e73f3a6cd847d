#!/usr/bin/env node
// Removes from dist/ what tsc compiled from sources that are gone (a renamed or deleted
// src/ file), and what it no longer writes at all (source maps: the package ships no
// sources for them to point at), so a pack never ships it. Deleting dist/ before tsc would do too, but would
// leave a window with no dist/ for anything running from it meanwhile.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The source a dist/ file was compiled from: a.js, a.d.ts → a.ts; a.cjs, a.d.cts → a.cts; null for any other file.
 * @param {string} rel
 * @returns {string | null}
 */
function sourceOf(rel) {
  const match = /^(.*?)(\.d)?\.(js|cjs|ts|cts)$/.exec(rel);
  if (!match) return null;
  return `${match[1]}.${match[3] === 'cjs' || match[3] === 'cts' ? 'cts' : 'ts'}`;
}

/** @param {string} dir a folder of dist/, relative to it */
function prune(dir) {
  for (const entry of readdirSync(path.join(root, 'dist', dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(rel);
      if (readdirSync(path.join(root, 'dist', rel)).length === 0) rmSync(path.join(root, 'dist', rel), { recursive: true });
      continue;
    }
    const source = sourceOf(rel);
    if (source && existsSync(path.join(root, 'src', source))) continue;
    rmSync(path.join(root, 'dist', rel));
    console.log(`dist/${rel}: built from no source in src/, removed`);
  }
}

prune('');
