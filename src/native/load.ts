/**
 * Loads the native binding and says which copy won, and why the others did not.
 *
 * Order: `TSGI_NATIVE_PATH` (an explicit file), then the prebuild inside the package
 * (`prebuilds/<platform>-<arch>/tsgi.napi.<libc>.node`, prebuildify's layout), then the
 * napi-rs platform package (`tsgi-<platform triple>`, an optional dependency of the same
 * version); when none loads, the pure-TypeScript reactor (src/pure/) serves.
 * `TSGI_NATIVE=0` skips them all. Both packaged routes pick the file by one decision,
 * `platformTriple()`: on Linux, glibc or musl, the one the running Node has loaded.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { NativeBinding } from './binding.js';

/** The routes to a native binding, in the order they are tried. */
export type NativeRoute = 'env' | 'prebuild' | 'package';

/** The outcome of loading. */
export interface NativeLoad {
  /** The binding, or null: the pure-TypeScript reactor serves. */
  binding: NativeBinding | null;
  /** Which route won: `env` (TSGI_NATIVE_PATH), `prebuild` (prebuilds/ inside the package),
   * `package` (the platform package), or `pure` (none did). */
  kind: NativeRoute | 'pure';
  /** The file that loaded. */
  file?: string;
  /** Why each route before the winner failed, in order. */
  failures: string[];
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const packageJson = require(path.join(packageRoot, 'package.json')) as { name: string; version: string; napi: { binaryName: string } };

/** What platformTriple reads of a process report (`process.report.getReport()`). */
export interface LibcReport {
  header?: { glibcVersionRuntime?: string };
}

/**
 * The napi-rs name of a platform: `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`,
 * `win32-x64-msvc`. On Linux the C library decides, the one the running Node runs on, not
 * the file system's (a musl Node on a distribution other than Alpine, or a glibc one with
 * `/etc/alpine-release`, node-gyp-build's test, is named right): by default the libc
 * mapped into this process (`libcOfMaps`), else its report, as `report` gives one: a Node
 * built against glibc names the glibc it runs on in its header (`glibcVersionRuntime`); one
 * built against musl (Alpine's) has no such field. The arguments are for tests.
 */
export function platformTriple(platform: NodeJS.Platform = process.platform, arch: string = process.arch, report?: () => LibcReport | undefined): string {
  const base = `${platform}-${arch}`;
  if (platform === 'win32') return `${base}-msvc`;
  if (platform !== 'linux') return base;
  return `${base}-${report ? libcOfReport(report()) : ownLibc()}`;
}

const libcOfReport = (report: LibcReport | undefined): 'gnu' | 'musl' => (report?.header?.glibcVersionRuntime ? 'gnu' : 'musl');

/**
 * The C library a process's memory map (`/proc/PID/maps`) shows loaded: glibc's
 * `libc.so.6`, or musl's, which is its own dynamic linker (`ld-musl-ARCH.so.1`, also named
 * `libc.musl-ARCH.so.1`). Undefined when it shows neither, or both (a glibc program on musl
 * through gcompat).
 */
export function libcOfMaps(maps: string): 'gnu' | 'musl' | undefined {
  const glibc = /\/libc\.so\.6$/m.test(maps);
  const musl = /\/(?:ld-musl|libc\.musl)-\w+\.so\.1$/m.test(maps);
  return glibc === musl ? undefined : glibc ? 'gnu' : 'musl';
}

let libc: 'gnu' | 'musl' | undefined;

/** This process's C library: from its memory map (one small file read), else its report,
 * which takes 4 to 15 ms to gather (stacks, heap, handles...): half of a worker's start
 * once its modules are loaded. */
function ownLibc(): 'gnu' | 'musl' {
  if (libc) return libc;
  try {
    libc = libcOfMaps(readFileSync('/proc/self/maps', 'latin1'));
  } catch {
    // No /proc: the report tells.
  }
  return (libc ??= libcOfReport(process.report?.getReport() as LibcReport | undefined));
}

/** Where the main package holds `triple`'s prebuild: prebuildify's layout, whose tags say N-API and the libc. */
export function prebuildFile(root: string, triple: string): string {
  const [platform, arch, abi] = triple.split('-');
  const libc = abi === 'gnu' ? '.glibc' : abi === 'musl' ? '.musl' : '';
  return path.join(root, 'prebuilds', `${platform}-${arch}`, `${packageJson.napi.binaryName}.napi${libc}.node`);
}

/** Each route: where it looks, and the file it finds there (or why it finds none). */
const routes: Array<[NativeRoute, () => string]> = [
  [
    'env',
    () => {
      const file = process.env.TSGI_NATIVE_PATH;
      if (!file) throw new Error('TSGI_NATIVE_PATH is not set');
      return path.resolve(file);
    },
  ],
  ['prebuild', () => prebuildFile(packageRoot, platformTriple())],
  [
    'package',
    () => {
      const name = `${packageJson.name}-${platformTriple()}`;
      const manifest = require(`${name}/package.json`) as { version: string; main: string };
      // The binding and the TypeScript that drives it must come from the same release.
      if (manifest.version !== packageJson.version) throw new Error(`${name} is version ${manifest.version}, not ${packageJson.version}`);
      return require.resolve(name);
    },
  ],
];

let cached: NativeLoad | undefined;

/** Loads the binding once, trying each route in order, and remembers the outcome. */
export function loadNative(): NativeLoad {
  if (cached) return cached;
  const failures: string[] = [];
  if (process.env.TSGI_NATIVE === '0') {
    failures.push('TSGI_NATIVE=0: the native binding is disabled');
    return (cached = { binding: null, kind: 'pure', failures });
  }
  for (const [kind, find] of routes) {
    let file: string | undefined;
    try {
      file = find();
      const binding = require(file) as NativeBinding;
      return (cached = { binding, kind, file, failures });
    } catch (error) {
      failures.push(`${kind}${file ? ` ${file}` : ''}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  return (cached = { binding: null, kind: 'pure', failures });
}

/** What `tsgi --version` says about the reactor: the route that won, and why earlier ones failed. */
export function describeNative(load: NativeLoad = loadNative()): string {
  const won = load.binding ? `native binding: ${load.kind} (${load.file})` : 'native binding: none; the pure-TypeScript reactor serves';
  return [won, ...load.failures.map((failure) => `  not used: ${failure}`)].join('\n');
}
