/**
 * The package as a user gets it (issue 7): `npm pack` the main package and the
 * linux-x64-gnu platform package, install both tarballs into an empty folder with a PATH
 * that has no cargo or rustc, then check each loader route from that install, each serving
 * a uwsgi request through a real nginx: the prebuild inside the package; with it removed,
 * the platform package; with that removed too, the pure-TypeScript reactor. The tarballs'
 * file lists are checked against what the sources say they must hold (a prebuild for every
 * platform built: this one after `npm run build`, four after `npm run build:release`), the
 * packed package.json against what a published package needs (publint, the metadata, no
 * source map comment), and the packed sizes and the install time are printed.
 *
 * Needs the build (`npm run build`: dist/, prebuilds/, npm/linux-x64-gnu/*.node), nginx
 * and publint (a devDependency).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { announceNginx, hasNginx, startNginx, type Nginx } from '../helpers/nginx.js';
import { requirePeer } from '../helpers/peers.js';
import { stopProcess } from '../../scripts/lib/processes.mjs';
import { builtPlatforms, shippedPaths } from '../../scripts/lib/platforms.mjs';

announceNginx();
const publint = requirePeer('publint', 'publint', 'npm ci: it is a devDependency');

const root = path.resolve(import.meta.dirname, '../..');
const triple = 'linux-x64-gnu';
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  napi: { binaryName: string; targets: string[] };
};
const platformDir = path.join(root, 'npm', triple);
const platformName = `${pkg.name}-${triple}`;

/** PATH without the directories that hold cargo or rustc. */
function pathWithoutRust(): string {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !existsSync(path.join(dir, 'cargo')) && !existsSync(path.join(dir, 'rustc')))
    .join(path.delimiter);
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

const run = promisify(execFile);

/** The platform package, packed as it is. --ignore-scripts: the test checks what the build left. */
async function packPlatform(destination: string): Promise<Packed> {
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', destination], { cwd: platformDir, maxBuffer: 16 << 20 });
  return (JSON.parse(stdout) as Packed[])[0]!;
}

/** The main package, packed as a release publishes it (scripts/pack.mjs adds the
 * optionalDependencies), and what npm said on stderr while packing. */
async function packMain(destination: string): Promise<Packed & { stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, [path.join(root, 'scripts', 'pack.mjs'), destination], { maxBuffer: 16 << 20 });
  return { ...(JSON.parse(stdout) as Packed), stderr };
}

/** What the main tarball must hold: a compiled .js and .d.ts per source (.cjs and .d.cts
 * for the CommonJS entry), the prebuild of every platform built, the README, the LICENSE
 * and package.json. */
function expectedMainFiles(): string[] {
  const files = ['package.json', 'README.md', 'LICENSE', ...builtPlatforms(pkg).map((p) => shippedPaths(pkg.napi.binaryName, p).prebuild)];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, 'src', dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (rel.endsWith('.cts')) files.push(`dist/${rel.slice(0, -4)}.cjs`, `dist/${rel.slice(0, -4)}.d.cts`);
      else if (rel.endsWith('.ts')) files.push(`dist/${rel.slice(0, -3)}.js`, `dist/${rel.slice(0, -3)}.d.ts`);
    }
  };
  walk('');
  return files.sort();
}

/** Resolves once `sock` accepts a connection; fails if `child` exits first or after 10 s. */
async function waitForSocket(sock: string, child: ChildProcess): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`tsgi exited with ${child.exitCode} before listening on ${sock}`);
    const up = await new Promise<boolean>((resolve) =>
      net
        .connect(sock)
        .on('connect', function (this: net.Socket) {
          this.destroy();
          resolve(true);
        })
        .on('error', () => resolve(false)),
    );
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`tsgi did not listen on ${sock} within 10 s`);
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

describe.skipIf(!hasNginx)('the packed package, installed without a Rust toolchain', () => {
  let dir: string;
  let app: string;
  let main: Packed & { stderr: string };
  let platform: Packed;
  let nginx: Nginx | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithoutRust() };
  delete env.TSGI_NATIVE;
  delete env.TSGI_NATIVE_PATH;

  beforeAll(async () => {
    for (const built of [path.join(root, 'dist', 'cli.js'), path.join(root, 'prebuilds', 'linux-x64'), path.join(platformDir, `${pkg.name}.${triple}.node`)]) {
      if (!existsSync(built)) throw new Error(`${path.relative(root, built)} is missing: run npm run build first`);
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-packaging-'));
    [main, platform] = await Promise.all([packMain(dir), packPlatform(dir)]);
    app = path.join(dir, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    writeFileSync(
      path.join(app, 'app.mjs'),
      "export default (environ, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [`hello from ${environ.PATH_INFO}`]; };\n",
    );
    const sock = path.join(dir, 'tsgi.sock');
    nginx = await startNginx({ locations: [{ path: '/', uwsgiPass: `unix:${sock}` }] });
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('packs the files the sources call for, and nothing else', () => {
    console.log(
      `packed: ${main.filename} ${kib(main.size)} (${kib(main.unpackedSize)} unpacked, ${main.files.length} files); ${platform.filename} ${kib(platform.size)} (${kib(platform.unpackedSize)} unpacked)`,
    );
    expect(main.files.map((f) => f.path).sort()).toEqual(expectedMainFiles());
    expect(platform.files.map((f) => f.path).sort()).toEqual(['README.md', `${pkg.name}.${triple}.node`, 'package.json'].sort());
  });

  it('versions the platform packages with the main package, and lists as optional dependencies only those that hold a binding', async () => {
    const { stdout } = await run('tar', ['-xOzf', path.join(dir, main.filename), 'package/package.json']);
    const packed = JSON.parse(stdout) as { version: string; optionalDependencies: Record<string, string>; scripts?: Record<string, string> };
    const built = builtPlatforms(pkg);
    console.log(`optionalDependencies: ${Object.keys(packed.optionalDependencies).join(', ')}`);
    expect(built).toContain(triple);
    expect(Object.keys(packed.optionalDependencies).sort()).toEqual(built.map((t) => `${pkg.name}-${t}`).sort());
    // macOS and Windows: pure TypeScript until the reactor has kqueue and IOCP backends.
    for (const empty of ['darwin-arm64', 'darwin-x64', 'win32-x64-msvc']) expect(packed.optionalDependencies).not.toHaveProperty(`${pkg.name}-${empty}`);
    const targets = readdirSync(path.join(root, 'npm'));
    for (const target of targets) {
      const manifest = JSON.parse(readFileSync(path.join(root, 'npm', target, 'package.json'), 'utf8')) as { name: string; version: string };
      expect(manifest.name).toBe(`${pkg.name}-${target}`);
      expect(manifest.version).toBe(pkg.version);
      if (built.includes(target)) expect(packed.optionalDependencies[manifest.name]).toBe(pkg.version);
    }
    // Nothing runs at install time.
    for (const hook of ['preinstall', 'install', 'postinstall']) expect(packed.scripts?.[hook]).toBeUndefined();
  });

  it('is a package that looks like one: publint finds nothing, the metadata is there, no source map is pointed at', async () => {
    expect(main.stderr).not.toMatch(/npm warn/i);
    const unpacked = path.join(dir, 'unpacked');
    mkdirSync(unpacked);
    await run('tar', ['-xzf', path.join(dir, main.filename), '-C', unpacked]);
    const packed = JSON.parse(readFileSync(path.join(unpacked, 'package', 'package.json'), 'utf8')) as Record<string, unknown>;
    for (const field of ['license', 'repository', 'bugs', 'homepage', 'keywords']) expect(packed[field], field).toBeTruthy();
    expect(readFileSync(path.join(unpacked, 'package', 'LICENSE'), 'utf8')).toMatch(new RegExp(`^${packed.license as string} License`));
    // require('tsgi') is the ES module build through require(esm): unflagged from 20.19 and 22.12.
    expect(packed.engines).toEqual({ node: '^20.19.0 || >=22.12.0' });
    const js = main.files.map((f) => f.path).filter((f) => /\.c?js$/.test(f));
    for (const file of js) expect(readFileSync(path.join(unpacked, 'package', file), 'utf8'), file).not.toContain('sourceMappingURL');
    if (!publint.bin) return;
    for (const folder of [path.join(unpacked, 'package'), platformDir]) {
      const lint = spawnSync(publint.bin, ['--strict', folder], { encoding: 'utf8' });
      console.log(`publint ${path.basename(folder)}: ${lint.stdout.trim().split('\n').at(-1)}`);
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
      expect(lint.stdout).toContain('All good!');
    }
  }, 60_000);

  it('installs both tarballs into an empty folder with no cargo or rustc on PATH', async () => {
    for (const tool of ['cargo', 'rustc']) expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status).not.toBe(0);
    const started = Date.now();
    // Offline first: the dependencies come from the npm cache; the platform packages of
    // other machines are looked up, found missing, and skipped, as optional ones are.
    const result = spawnSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, main.filename), path.join(dir, platform.filename)],
      { cwd: app, env, encoding: 'utf8' },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(result.status, result.stderr).toBe(0);
    console.log(`installed in ${seconds.toFixed(1)} s: ${result.stdout.trim()}`);
    expect(existsSync(path.join(app, 'node_modules', pkg.name, 'prebuilds'))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules', platformName, `${pkg.name}.${triple}.node`))).toBe(true);
  }, 120_000);

  /** `npx tsgi --version` from the install, and a request through nginx to a server started from it. */
  async function route(): Promise<{ version: string; body: string }> {
    const bin = path.join(app, 'node_modules', '.bin', 'tsgi');
    // As a user would ask: npx, from the install (--no: never from the registry).
    const version = spawnSync('npx', ['--no', '--', 'tsgi', '--version'], { cwd: app, env, encoding: 'utf8' });
    expect(version.status, version.stderr).toBe(0);
    const sock = path.join(dir, 'tsgi.sock');
    // CI runs as root, where workers need the operator's consent.
    const asRoot = process.getuid?.() === 0 ? ['--allow-root'] : [];
    const server: ChildProcess = spawn(bin, ['--socket', sock, '--module', './app.mjs', ...asRoot], { cwd: app, env, stdio: ['ignore', 'inherit', 'inherit'] });
    try {
      await waitForSocket(sock, server);
      const reply = await request(nginx!.url('/packaged'));
      expect(reply.status).toBe(200);
      return { version: version.stdout, body: reply.body.toString() };
    } finally {
      await stopProcess(server);
    }
  }

  it('loads the prebuild inside the package, and serves through nginx', async () => {
    const { version, body } = await route();
    console.log(`route 1:\n${version}`);
    expect(version).toContain(
      `native binding: prebuild (${path.join(app, 'node_modules', pkg.name, 'prebuilds', 'linux-x64', `${pkg.name}.napi.glibc.node`)})`,
    );
    expect(body).toBe('hello from /packaged');
  }, 60_000);

  it('with the prebuild removed, loads the platform package, and serves through nginx', async () => {
    rmSync(path.join(app, 'node_modules', pkg.name, 'prebuilds'), { recursive: true });
    const { version, body } = await route();
    console.log(`route 2:\n${version}`);
    expect(version).toContain(`native binding: package (${path.join(app, 'node_modules', platformName, `${pkg.name}.${triple}.node`)})`);
    expect(version).toContain(
      `not used: prebuild ${path.join(app, 'node_modules', pkg.name, 'prebuilds', 'linux-x64', `${pkg.name}.napi.glibc.node`)}: Cannot find module`,
    );
    expect(body).toBe('hello from /packaged');
  }, 60_000);

  it('with the platform package removed too, falls back to the pure-TypeScript reactor, and still serves through nginx', async () => {
    rmSync(path.join(app, 'node_modules', platformName), { recursive: true });
    const { version, body } = await route();
    console.log(`route 3:\n${version}`);
    expect(version).toContain('native binding: none; the pure-TypeScript reactor serves');
    expect(version).toMatch(/not used: package: Cannot find module/);
    expect(body).toBe('hello from /packaged');
  }, 60_000);
});
