// The platforms a binding is built for, by their two names (Rust's target triple and
// napi-rs's platform name), where each built binding goes, and what each must be to
// deserve its name. Shared by the builds (scripts/place-binary.mjs,
// scripts/build-release.mjs), the release pack (scripts/pack.mjs) and the release tests.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { libcOf, newestGlibc, compareVersions, readElf } from './elf.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The newest glibc a glibc binding may need: Node 20's own (its official Linux builds
 * need 2.28), so the binding loads wherever that Node runs (RHEL 8, Debian 10, Ubuntu 20.04,
 * Amazon Linux 2023). A plain `cargo build` on the build machine would need that
 * machine's glibc (2.34 on Debian 12); the release build links against 2.28's symbols.
 */
export const GLIBC_FLOOR = '2.28';

/**
 * napi-rs's name of a Rust target: x86_64-unknown-linux-gnu → linux-x64-gnu,
 * aarch64-apple-darwin → darwin-arm64, x86_64-pc-windows-msvc → win32-x64-msvc.
 * @param {string} target
 * @returns {string}
 */
export function platformOf(target) {
  const [cpu, , system, abi] = target.split('-');
  const arch = /** @type {Record<string, string>} */ ({ x86_64: 'x64', aarch64: 'arm64' })[cpu ?? ''];
  if (system === 'linux') return `linux-${arch}-${abi}`;
  if (target.endsWith('apple-darwin')) return `darwin-${arch}`;
  if (target.endsWith('pc-windows-msvc')) return `win32-${arch}-msvc`;
  throw new Error(`no platform name for ${target}`);
}

/**
 * Where a platform's binding is shipped, relative to the repository: inside the main
 * package in prebuildify's layout (`prebuilds/linux-x64/tsgi.napi.glibc.node`: the tags
 * say N-API and which libc, as node-gyp-build names them), and as the napi-rs platform
 * package (`npm/linux-x64-gnu/tsgi.linux-x64-gnu.node`).
 * @param {string} name the binary's name, package.json's napi.binaryName
 * @param {string} platform napi-rs's platform name
 */
export function shippedPaths(name, platform) {
  const [os, arch, abi] = platform.split('-');
  const libc = abi === 'gnu' ? '.glibc' : abi === 'musl' ? '.musl' : '';
  return { prebuild: path.join('prebuilds', `${os}-${arch}`, `${name}.napi${libc}.node`), packaged: path.join('npm', platform, `${name}.${platform}.node`) };
}

/**
 * What a Linux binding named `platform` must be: its ELF machine and its C library.
 * @param {string} platform linux-x64-gnu, linux-arm64-musl...
 */
export function expectedElf(platform) {
  const [, arch, abi] = platform.split('-');
  return { machine: arch === 'arm64' ? 'AArch64' : 'x86-64', libc: abi === 'musl' ? 'musl' : 'glibc' };
}

/**
 * Why the binding in `file` is not what `platform` says, or nothing: the wrong machine,
 * a program interpreter (a shared object has none), the wrong C library, another
 * architecture's dynamic linker among what it needs, a glibc symbol newer than the floor.
 * @param {string} file
 * @param {string} platform
 * @returns {string[]}
 */
export function bindingProblems(file, platform) {
  const want = expectedElf(platform);
  const elf = readElf(file);
  const problems = [];
  if (elf.machine !== want.machine) problems.push(`machine ${elf.machine}, not ${want.machine}`);
  if (elf.interpreter) problems.push(`has a program interpreter (${elf.interpreter}): not a shared object`);
  const libc = libcOf(elf);
  if (libc !== want.libc) problems.push(`linked against ${libc} (needs ${elf.needed.join(', ')}), not ${want.libc}`);
  const linker = want.machine === 'AArch64' ? 'ld-linux-aarch64.so.1' : 'ld-linux-x86-64.so.2';
  for (const lib of elf.needed.filter((l) => l.startsWith('ld-'))) {
    if (want.libc === 'musl' || lib !== linker) problems.push(`needs the dynamic linker ${lib}, not ${want.libc === 'musl' ? "musl's libc" : linker}`);
  }
  const newest = newestGlibc(elf);
  if (newest && compareVersions(newest, GLIBC_FLOOR) > 0) problems.push(`needs GLIBC_${newest}, newer than the floor GLIBC_${GLIBC_FLOOR}`);
  return problems;
}

/**
 * The platforms whose binding the repository holds now (npm/<platform>/ has its .node),
 * out of package.json's napi.targets.
 * @param {{ napi: { binaryName: string, targets: string[] } }} pkg
 * @returns {string[]}
 */
export function builtPlatforms(pkg) {
  return pkg.napi.targets.map(platformOf).filter((platform) => existsSync(path.join(root, shippedPaths(pkg.napi.binaryName, platform).packaged)));
}
