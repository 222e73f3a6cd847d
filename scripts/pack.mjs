#!/usr/bin/env node
// Packs the main package as a release publishes it: its package.json then lists, in
// optionalDependencies at the package's own version (what `napi prepublish` writes before
// publishing), the platform packages that hold a binding: those of `napi.targets` that
// were built. macOS and Windows have none until the reactor has kqueue and IOCP backends,
// and a platform package published empty would only make npm download nothing. The repository's package.json cannot
// list them: they are published with the release, and until then `npm ci` refuses a
// lockfile that cannot hold them.
//
//   node scripts/pack.mjs [DESTINATION]   → prints the tarball's path
//
// The files are those `npm pack` takes from the repository (package.json "files"), copied
// to a staging folder with the release package.json; nothing in the repository changes.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { builtPlatforms, root } from './lib/platforms.mjs';

const destination = path.resolve(process.argv[2] ?? root);
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/**
 * @param {string[]} args
 * @param {string} cwd
 */
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', maxBuffer: 16 << 20 });
/** @type {string[]} */
const files = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], root))[0].files.map((/** @type {{ path: string }} */ f) => f.path);
const staging = mkdtempSync(path.join(os.tmpdir(), 'tsgi-pack-'));
try {
  for (const file of files) cpSync(path.join(root, file), path.join(staging, file));
  const release = {
    ...pkg,
    optionalDependencies: Object.fromEntries(builtPlatforms(pkg).map((platform) => [`${pkg.name}-${platform}`, pkg.version])),
  };
  writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(release, null, 2)}\n`);
  const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', destination], staging))[0];
  process.stdout.write(`${JSON.stringify({ ...packed, path: path.join(destination, packed.filename) })}\n`);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
