/**
 * The loader's routes in the repository, as `tsgi --version` reports them: the prebuild
 * the build placed in prebuilds/, TSGI_NATIVE_PATH before it (and a bad one passed over,
 * with the reason kept), and TSGI_NATIVE=0. The platform package and the fallback when no
 * binding exists at all are checked from a real install in install/packaging.test.ts.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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
