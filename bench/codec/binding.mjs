/**
 * The benchmark build of the native binding: the binding's exports plus `parseBatch`
 * (tsgi-wire's codecs over many requests in one call), which only the crate's `bench`
 * feature compiles in. `npm run build:bench-binding` builds it into native-bench/
 * (git-ignored, never packed: the shipped binary has no parseBatch). It is loaded here by
 * its path, never through the loader (src/native/load.ts), so no server ever runs it.
 *
 * Its types, just what the benchmarks and their test call, are in binding.d.mts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(root, 'native-bench');

/** Builds the benchmark binding, or brings it up to date (cargo redoes only what changed).
 * Throws with the build's output if it fails. */
export function buildBenchBinding() {
  const build = spawnSync('npm', ['run', '--silent', 'build:bench-binding'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build:bench-binding failed:\n${build.stdout}${build.stderr}`);
}

/** The benchmark binding native-bench/ holds, or why there is none. */
export function loadBenchBinding() {
  const file = existsSync(dir) ? readdirSync(dir).find((name) => /^tsgi\..+\.node$/.test(name)) : undefined;
  if (!file) return { binding: null, why: 'native-bench/ holds no binding: run npm run build:bench-binding' };
  return { binding: createRequire(import.meta.url)(path.join(dir, file)), file: path.join(dir, file) };
}
