/**
 * The loader's routes in the repository, as `tsgi --version` reports them: the prebuild
 * the build placed in prebuilds/, TSGI_NATIVE_PATH before it (and a bad one passed over,
 * with the reason kept), and TSGI_NATIVE=0. The platform package and the fallback when no
 * binding exists at all are checked from a real install in install/packaging.test.ts.
 * Then the platform each route asks for, from faked process reports (glibc, musl, other
 * systems), as napi-rs tests its own loader; a real musl Node picking the musl binding
 * is release/foreign-node.test.ts.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { libcOfMaps, platformTriple, prebuildFile } from '../../src/native/load.js';
import { platformOf, shippedPaths } from '../../scripts/lib/platforms.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const prebuild = path.join(root, 'prebuilds', 'linux-x64', 'tsgi.napi.glibc.node');
const devBuild = path.join(root, 'native', 'tsgi.linux-x64-gnu.node');

async function version(env: Record<string, string>): Promise<string> {
  const clean = { ...process.env };
  delete clean.TSGI_NATIVE;
  delete clean.TSGI_NATIVE_PATH;
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(root, 'dist', 'cli.js'), '--version'], { env: { ...clean, ...env } });
  return stdout;
}

describe('the native loader', () => {
  it('loads the prebuild inside the package when nothing says otherwise', async () => {
    const out = await version({});
    expect(out).toContain(`native binding: prebuild (${prebuild})\n  not used: env: TSGI_NATIVE_PATH is not set\n`);
  });

  it('loads TSGI_NATIVE_PATH first', async () => {
    expect(await version({ TSGI_NATIVE_PATH: devBuild })).toMatch(new RegExp(`native binding: env \\(${devBuild.replaceAll('.', '\\.')}\\)\\n(?!  not used)`));
  });

  it('passes over a TSGI_NATIVE_PATH that does not load, and says why', async () => {
    const out = await version({ TSGI_NATIVE_PATH: '/nonexistent/tsgi.node' });
    expect(out).toContain(`native binding: prebuild (${prebuild})\n  not used: env /nonexistent/tsgi.node: Cannot find module '/nonexistent/tsgi.node'`);
  });

  it('serves with the pure-TypeScript reactor under TSGI_NATIVE=0, whatever binding exists', async () => {
    const out = await version({ TSGI_NATIVE: '0', TSGI_NATIVE_PATH: devBuild });
    expect(out).toContain('native binding: none; the pure-TypeScript reactor serves\n  not used: TSGI_NATIVE=0: the native binding is disabled\n');
  });
});

describe("the loader's platform", () => {
  const glibc = () => ({ header: { glibcVersionRuntime: '2.36' } });
  // A musl Node's report: its header has no glibc field (and its shared objects are musl's).
  const musl = () => ({ header: {}, sharedObjects: ['/lib/ld-musl-x86_64.so.1'] });

  it('names glibc Linux -gnu and musl Linux -musl, from the report of the running Node', () => {
    expect(platformTriple('linux', 'x64', glibc)).toBe('linux-x64-gnu');
    expect(platformTriple('linux', 'arm64', glibc)).toBe('linux-arm64-gnu');
    expect(platformTriple('linux', 'x64', musl)).toBe('linux-x64-musl');
    expect(platformTriple('linux', 'arm64', musl)).toBe('linux-arm64-musl');
    // No report at all (a Node built without it): not glibc's, so musl.
    expect(platformTriple('linux', 'x64', () => undefined)).toBe('linux-x64-musl');
  });

  it('names macOS and Windows without asking for a report', () => {
    const never = () => {
      throw new Error('the report is only read on Linux');
    };
    expect(platformTriple('darwin', 'arm64', never)).toBe('darwin-arm64');
    expect(platformTriple('darwin', 'x64', never)).toBe('darwin-x64');
    expect(platformTriple('win32', 'x64', never)).toBe('win32-x64-msvc');
  });

  it('names this machine as the build does', () => {
    expect(platformTriple()).toBe('linux-x64-gnu');
  });

  it("tells the running Node's libc from its memory map, and leaves it to the report when the map is unclear", () => {
    const line = (file: string) => `7f39c1a00000-7f39c1a26000 r--p 00000000 fe:00 326269                     ${file}`;
    const node = line('/usr/bin/node');
    expect(libcOfMaps([node, line('/usr/lib/x86_64-linux-gnu/libc.so.6'), line('/usr/lib/x86_64-linux-gnu/libm.so.6')].join('\n'))).toBe('gnu');
    expect(libcOfMaps([node, line('/lib/ld-musl-x86_64.so.1'), line('/usr/lib/libstdc++.so.6.0.32')].join('\n'))).toBe('musl');
    expect(libcOfMaps([node, line('/lib/libc.musl-aarch64.so.1')].join('\n'))).toBe('musl');
    // Neither (a static Node, an unpacked musl loaded by another name), or both (gcompat).
    expect(libcOfMaps([node, line('/opt/musl/usr/lib/x86_64-linux-musl/libc.so')].join('\n'))).toBeUndefined();
    expect(libcOfMaps([node, line('/lib/ld-musl-x86_64.so.1'), line('/lib/libc.so.6')].join('\n'))).toBeUndefined();
    expect(libcOfMaps(readFileSync('/proc/self/maps', 'latin1'))).toBe('gnu');
  });

  it('looks for each prebuild where the build places it', () => {
    const { napi } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { napi: { binaryName: string; targets: string[] } };
    for (const triple of napi.targets.map(platformOf)) {
      expect(prebuildFile(root, triple)).toBe(path.join(root, shippedPaths(napi.binaryName, triple).prebuild));
    }
    expect(prebuildFile(root, 'linux-arm64-musl')).toBe(path.join(root, 'prebuilds', 'linux-arm64', 'tsgi.napi.musl.node'));
  });
});
