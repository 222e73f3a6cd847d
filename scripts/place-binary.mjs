#!/usr/bin/env node
// Puts the binding `napi build --platform` left in native/ where the two shipping routes
// look for it (ARCHITECTURE.md §5), the same file in both:
//   prebuilds/<platform>-<arch>/tsgi.napi[.<libc>].node  inside the main package, in
//     prebuildify's layout, found by node-gyp-build (the tags say N-API and which libc);
//   npm/<triple>/tsgi.<triple>.node                       the napi-rs platform package.
// The repository's own tests load the prebuild too: the dev build is the release build of
// this platform, so `npm test` exercises the route users get.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = readdirSync(path.join(root, 'native')).filter((f) => /^tsgi\..+\.node$/.test(f));
if (built.length === 0) throw new Error('native/ holds no tsgi.<triple>.node: run napi build first');

for (const file of built) {
  const triple = file.slice('tsgi.'.length, -'.node'.length);
  // linux-x64-gnu → linux-x64 + glibc; darwin-arm64 → darwin-arm64; win32-x64-msvc → win32-x64.
  const [platform, arch, abi] = triple.split('-');
  const libc = abi === 'gnu' ? '.glibc' : abi === 'musl' ? '.musl' : '';
  const prebuild = path.join(root, 'prebuilds', `${platform}-${arch}`, `tsgi.napi${libc}.node`);
  const packaged = path.join(root, 'npm', triple, file);
  for (const target of [prebuild, packaged]) {
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(path.join(root, 'native', file), target);
    console.log(`${path.relative(root, target)} ← native/${file}`);
  }
}
