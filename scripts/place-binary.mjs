#!/usr/bin/env node
// Puts the bindings `napi build --platform` left in a folder (native/ by default) where
// the two shipping routes look for them, the same file in both (scripts/lib/platforms.mjs):
//   prebuilds/<platform>-<arch>/tsgi.napi[.<libc>].node  inside the main package, in
//     prebuildify's layout (the tags say N-API and which libc);
//   npm/<triple>/tsgi.<triple>.node                       the napi-rs platform package.
// The repository's own tests load the prebuild too: the dev build is the release build of
// this platform but for its glibc floor, so `npm test` exercises the route users get.
//
//   node scripts/place-binary.mjs [FOLDER]
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { root, shippedPaths } from './lib/platforms.mjs';

const from = path.resolve(root, process.argv[2] ?? 'native');
const { napi } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const pattern = new RegExp(`^${napi.binaryName}\\.(.+)\\.node$`);
const built = readdirSync(from).filter((f) => pattern.test(f));
if (built.length === 0) throw new Error(`${path.relative(root, from)}/ holds no ${napi.binaryName}.<triple>.node: run napi build first`);

for (const file of built) {
  const platform = /** @type {RegExpExecArray} */ (pattern.exec(file))[1] ?? '';
  for (const target of Object.values(shippedPaths(napi.binaryName, platform))) {
    mkdirSync(path.join(root, path.dirname(target)), { recursive: true });
    copyFileSync(path.join(from, file), path.join(root, target));
    console.log(`${target} ← ${path.relative(root, path.join(from, file))}`);
  }
}
