/**
 * Loads the native binding and says which copy won, and why the others did not.
 *
 * Order: `TSGI_NATIVE_PATH` (an explicit file), then the prebuild inside the package
 * (`prebuilds/<platform>-<arch>/`, prebuildify's layout, through node-gyp-build), then the
 * napi-rs platform package (`tsgi-<platform triple>`, an optional dependency of the same
 * version); when none loads, the pure-TypeScript reactor (src/pure/) serves.
 * `TSGI_NATIVE=0` skips them all.
 */
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
  /** Which route won: `env` (TSGI_NATIVE_PATH), `prebuild` (prebuilds/ inside the package,
   * through node-gyp-build), `package` (the platform package), or `pure` (none did). */
  kind: NativeRoute | 'pure';
  /** The file that loaded. */
  file?: string;
  /** Why each route before the winner failed, in order. */
  failures: string[];
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const packageJson = require(path.join(packageRoot, 'package.json')) as { name: string; version: string };

/** The napi-rs name of this platform (`linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`). */
export function platformTriple(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
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
  // prebuildify's layout, prebuilds/<platform>-<arch>/tsgi.napi.<libc>.node: node-gyp-build
  // picks the file whose tags fit this Node (platform, arch, libc).
  ['prebuild', () => (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot)],
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
