// Reads what a shared object says about where it can run: its ELF machine, its program
// interpreter (a shared object has none), the libraries it needs (DT_NEEDED) and the
// symbol versions it needs from each (DT_VERNEED, glibc's GLIBC_2.x). The release build
// checks every binding it makes with it, and the release tests every binding it ships: a
// glibc binary named "musl", or an x86-64 one named "arm64", fails both.
//
// 64-bit little-endian ELF only: every target tsgi builds is one; anything else is refused.
import { readFileSync } from 'node:fs';

/** e_machine values, by the names readelf prints. */
const MACHINES = /** @type {Record<number, string>} */ ({ 62: 'x86-64', 183: 'AArch64' });

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_VERNEED = 0x6ffffffen;
const DT_VERNEEDNUM = 0x6fffffffn;

/**
 * @typedef {object} ElfInfo
 * @property {string} machine      `x86-64`, `AArch64`, or `e_machine N` for any other
 * @property {string | null} interpreter  PT_INTERP, null for a shared object
 * @property {string[]} needed     DT_NEEDED, in order
 * @property {Record<string, string[]>} versions  the symbol versions needed, by library
 */

/**
 * @param {string} file
 * @returns {ElfInfo}
 */
export function readElf(file) {
  const b = readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const machineId = b.readUInt16LE(0x12);
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);

  /** @type {Array<{ vaddr: bigint, offset: bigint, filesz: bigint }>} */
  const loads = [];
  let interpreter = null;
  let dynamic = -1;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = b.readUInt32LE(at);
    const offset = b.readBigUInt64LE(at + 8);
    const filesz = b.readBigUInt64LE(at + 32);
    if (type === PT_LOAD) loads.push({ vaddr: b.readBigUInt64LE(at + 16), offset, filesz });
    else if (type === PT_INTERP) interpreter = cString(b, Number(offset));
    else if (type === PT_DYNAMIC) dynamic = Number(offset);
  }

  /** The file offset of a virtual address, through the segment that loads it. */
  const fileOffset = (/** @type {bigint} */ vaddr) => {
    const seg = loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
    if (!seg) throw new Error(`${file}: address 0x${vaddr.toString(16)} is in no loaded segment`);
    return Number(vaddr - seg.vaddr + seg.offset);
  };

  /** @type {bigint[]} */
  const neededAt = [];
  let strtab = -1;
  let verneed = -1;
  let verneedNum = 0;
  for (let at = dynamic; dynamic >= 0; at += 16) {
    const tag = b.readBigInt64LE(at);
    const value = b.readBigUInt64LE(at + 8);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededAt.push(value);
    else if (tag === DT_STRTAB) strtab = fileOffset(value);
    else if (tag === DT_VERNEED) verneed = fileOffset(value);
    else if (tag === DT_VERNEEDNUM) verneedNum = Number(value);
  }
  const str = (/** @type {bigint | number} */ off) => cString(b, strtab + Number(off));

  /** @type {Record<string, string[]>} */
  const versions = {};
  // Elf64_Verneed { vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32 },
  // each followed (at vn_aux) by vn_cnt Elf64_Vernaux { hash u32, flags u16, other u16, name u32, next u32 }.
  for (let n = 0, at = verneed; n < verneedNum; n++) {
    const names = (versions[str(b.readUInt32LE(at + 4))] ??= []);
    for (let k = 0, aux = at + b.readUInt32LE(at + 8); k < b.readUInt16LE(at + 2); k++, aux += b.readUInt32LE(aux + 12))
      names.push(str(b.readUInt32LE(aux + 8)));
    at += b.readUInt32LE(at + 12);
  }

  return { machine: MACHINES[machineId] ?? `e_machine ${machineId}`, interpreter, needed: neededAt.map(str), versions };
}

/**
 * @param {Buffer} b
 * @param {number} at
 */
function cString(b, at) {
  return b.toString('latin1', at, b.indexOf(0, at));
}

/**
 * Which C library a shared object was linked against, from what it needs: glibc's
 * `libc.so.6`, or musl's `libc.so` (`libc.musl-<arch>.so.1` as Alpine names it) with no
 * glibc symbol version anywhere. Anything else (both, neither) is `unknown`.
 * @param {ElfInfo} elf
 * @returns {'glibc' | 'musl' | 'unknown'}
 */
export function libcOf(elf) {
  const glibc = elf.needed.includes('libc.so.6') || Object.values(elf.versions).some((v) => v.some((name) => name.startsWith('GLIBC_')));
  const musl = elf.needed.some((lib) => lib === 'libc.so' || /^libc\.musl-[a-z0-9_]+\.so\.1$/.test(lib));
  return glibc === musl ? 'unknown' : glibc ? 'glibc' : 'musl';
}

/**
 * The newest glibc symbol version a shared object needs (`2.28`), or null.
 * @param {ElfInfo} elf
 */
export function newestGlibc(elf) {
  const all = Object.values(elf.versions)
    .flat()
    .flatMap((name) => (/^GLIBC_(\d+(?:\.\d+)*)$/.exec(name) ?? []).slice(1));
  return all.sort(compareVersions).at(-1) ?? null;
}

/**
 * @param {string} a
 * @param {string} b
 */
export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}
