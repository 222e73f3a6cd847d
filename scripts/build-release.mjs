#!/usr/bin/env node
// Builds the binding for every Linux target of package.json's napi.targets, from this one
// x86-64 machine, checks that each is what its name says, and places each where it ships
// (scripts/place-binary.mjs: prebuilds/ and npm/<triple>/).
//
//   npm run build:release          (after `bash scripts/release-tools.sh`)
//
// One route for all four: `napi build --cross-compile`, which runs cargo-zigbuild, zig
// being the C toolchain and linker of every target. It brings musl for both architectures
// (Debian has no aarch64 musl toolchain) and links the glibc targets against glibc
// GLIBC_FLOOR's symbols instead of the build machine's (scripts/lib/platforms.mjs). The
// glibc targets are named `<triple>.<glibc>`, cargo-zigbuild's spelling for that.
// macOS and Windows are built on their own runners (.github/workflows/release.yml).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { GLIBC_FLOOR, bindingProblems, platformOf, root } from './lib/platforms.mjs';

const out = path.join(root, 'native', 'release');
const tools = path.join(root, '.release-tools', 'bin');
const { napi } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const targets = /** @type {string[]} */ (napi.targets).filter((t) => t.includes('-linux-'));
const env = { ...process.env, PATH: [tools, process.env.PATH].join(path.delimiter) };

// Without cargo-zigbuild, `napi build -x` would run `cargo install` for it: say what to do instead.
try {
  execFileSync('cargo', ['help', 'zigbuild'], { env, stdio: 'ignore' });
} catch {
  throw new Error('cargo-zigbuild is not installed: run `bash scripts/release-tools.sh` first (CONTRIBUTING.md, Releasing)');
}

rmSync(out, { recursive: true, force: true });
const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
/** @type {Array<{ platform: string, target: string, bytes: number, seconds: string }>} */
const built = [];
for (const target of targets) {
  const platform = platformOf(target);
  const zigTarget = target.endsWith('-gnu') ? `${target}.${GLIBC_FLOOR}` : target;
  const started = Date.now();
  console.log(`\n${platform}: napi build --target ${zigTarget} --cross-compile`);
  execFileSync(
    process.execPath,
    [
      napiCli,
      'build',
      '--platform',
      '--release',
      '--manifest-path',
      'crates/tsgi-napi/Cargo.toml',
      '--output-dir',
      out,
      '--no-js',
      '--target',
      zigTarget,
      '--cross-compile',
    ],
    { cwd: root, env, stdio: 'inherit' },
  );
  const file = path.join(out, `${napi.binaryName}.${platform}.node`);
  if (!existsSync(file)) throw new Error(`napi build left no ${path.relative(root, file)}`);
  const problems = bindingProblems(file, platform);
  if (problems.length > 0) throw new Error(`${path.relative(root, file)} is not a ${platform} binding: ${problems.join('; ')}`);
  built.push({ platform, target: zigTarget, bytes: statSync(file).size, seconds: ((Date.now() - started) / 1000).toFixed(0) });
}

execFileSync(process.execPath, [path.join(root, 'scripts', 'place-binary.mjs'), out], { stdio: 'inherit' });
console.log('\nplatform          target                              size       build');
for (const b of built) console.log(`${b.platform.padEnd(17)} ${b.target.padEnd(35)} ${`${(b.bytes / 1024).toFixed(0)} KiB`.padEnd(10)} ${b.seconds} s`);
