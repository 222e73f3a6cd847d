/**
 * Each binding the release ships is what its name says (issue 18): for every Linux
 * platform of napi.targets, both copies (the prebuild inside the main package and the
 * platform package's) exist, are the same bytes, and their ELF says the right machine
 * (x86-64, AArch64), a shared object (no program interpreter), the right C library (glibc's
 * libc.so.6 and the glibc dynamic linker of that machine, or musl's libc.so with no glibc
 * symbol version) and no glibc symbol newer than the floor (2.28, Node 20's own). The
 * check is scripts/lib/platforms.mjs's, which build:release runs too; here it is also shown
 * failing on a binding under another platform's name.
 *
 * Needs `npm run build:release` (skips and says so without it, fails under CI=true).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { linuxPlatforms, requireReleaseBuild, root, shipped } from '../helpers/release.js';
import { GLIBC_FLOOR, bindingProblems, expectedElf } from '../../scripts/lib/platforms.mjs';
import { newestGlibc, readElf } from '../../scripts/lib/elf.mjs';

const built = requireReleaseBuild();

describe.skipIf(!built)('the shipped bindings', () => {
  it.each(linuxPlatforms)('%s: both copies are one file, and its ELF is what the name says', (platform) => {
    const { prebuild, packaged } = shipped(platform);
    expect(readFileSync(prebuild).equals(readFileSync(packaged)), `${prebuild} and ${packaged} differ`).toBe(true);
    const elf = readElf(packaged);
    console.log(
      `${platform}: ${(statSync(packaged).size / 1024).toFixed(0)} KiB, ${elf.machine}, needs ${elf.needed.join(' ')}, newest glibc symbol ${newestGlibc(elf) ?? 'none'}`,
    );
    expect(bindingProblems(packaged, platform)).toEqual([]);
    const want = expectedElf(platform);
    expect(elf.machine).toBe(want.machine);
    expect(elf.interpreter).toBeNull();
    if (want.libc === 'musl') expect(elf.needed).toEqual(['libc.so']);
    else expect(elf.needed).toContain('libc.so.6');
  });

  it('refuses each binding under the name of another platform, and the development build for its glibc', () => {
    for (const platform of linuxPlatforms) {
      for (const other of linuxPlatforms.filter((p) => p !== platform)) {
        expect(bindingProblems(shipped(platform).packaged, other), `${platform} named ${other}`).not.toEqual([]);
      }
    }
    // `npm run build` links against this machine's glibc (2.36 on Debian 12).
    expect(bindingProblems(path.join(root, 'native', 'tsgi.linux-x64-gnu.node'), 'linux-x64-gnu').join()).toMatch(
      new RegExp(`newer than the floor GLIBC_${GLIBC_FLOOR.replace('.', '\\.')}`),
    );
  });
});
