/**
 * The bindings of other platforms, loaded and serving under a Node of that platform
 * (issue 18): the official linux-arm64 Node under qemu-aarch64-static, and an Alpine-built
 * linux-x64-musl Node under musl's dynamic linker (helpers/release.ts says where each
 * comes from). For each: `tsgi --version` says the prebuild of that very platform loaded
 * (the loader's glibc-or-musl choice, made by a real Node of each libc), and the other
 * libc's binding of the same machine, named by TSGI_NATIVE_PATH, is refused by its dynamic
 * linker; then `tsgi --master false` (qemu-user cannot run a forked arm64 worker here:
 * the kernel has no binfmt handler for it) answers a uwsgi request and an HTTP request
 * from the native binding, and the requests/s of the native and the pure-TypeScript
 * reactor under that Node are printed, for what it is worth (a verdict on nothing: qemu
 * translates every instruction, and the machine is shared).
 *
 * Needs `npm run build:release`, `bash scripts/release-tools.sh` and .ci/run's apt
 * packages; each missing piece skips its tests and says so (fails under CI=true).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { foreignNodes, requireForeignNode, requireReleaseBuild, root, shipped, type ForeignNode } from '../helpers/release.js';
import { exchange, nginxVars, packet, parseResponse } from '../helpers/uwsgi.js';
import { request } from '../helpers/http.js';
import { freePort, stopProcess, waitForPort } from '../../scripts/lib/processes.mjs';

const built = requireReleaseBuild();
const cli = path.join(root, 'dist', 'cli.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-foreign-'));
const app = path.join(dir, 'app.mjs');
// The app says which Node runs it and which binding its server loaded (the same module
// instance: dist/index.js is the server's own).
writeFileSync(
  app,
  `import { loadNative } from ${JSON.stringify(path.join(root, 'dist', 'index.js'))};\n` +
    "export default (environ, start) => { start('200 OK', [['Content-Type', 'text/plain']]);\n" +
    '  const load = loadNative(); return [`${process.arch} ${load.kind} ${load.file ?? ""} ${environ.PATH_INFO}`]; };\n',
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The environment without the loader's switches, plus `extra`. */
function envWith(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('TSGI_NATIVE' in extra)) delete env.TSGI_NATIVE;
  if (!('TSGI_NATIVE_PATH' in extra)) delete env.TSGI_NATIVE_PATH;
  return env;
}

/** Starts tsgi alone (no master) under `node`, uwsgi and HTTP on fresh ports. */
async function startUnder(node: ForeignNode, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; uwsgi: string; http: number }> {
  const [uwsgiPort, httpPort] = [await freePort(), await freePort()];
  const asRoot = process.getuid?.() === 0 ? ['--allow-root'] : [];
  const args = [
    ...node.argv.slice(1),
    cli,
    '--master',
    'false',
    '--socket',
    `127.0.0.1:${uwsgiPort}`,
    '--http-socket',
    `127.0.0.1:${httpPort}`,
    '--disable-logging',
  ];
  const child = spawn(node.argv[0]!, [...args, '--module', app, ...asRoot], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  // Node under qemu starts in seconds, not milliseconds.
  await waitForPort(httpPort, { child, timeoutMs: 60_000 });
  await waitForPort(uwsgiPort, { child, timeoutMs: 10_000 });
  return { child, uwsgi: `127.0.0.1:${uwsgiPort}`, http: httpPort };
}

/** Requests/s over `seconds`, `connections` keep-alive clients each asking in turn, after
 * as many seconds of the same unmeasured (V8 compiling the hot paths, qemu translating them). */
async function rate(port: number, seconds: number, connections = 8): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const round = async (): Promise<number> => {
    const deadline = Date.now() + seconds * 1000;
    let done = 0;
    const client = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const reply = await request(`http://127.0.0.1:${port}/rate`, { agent });
        expect(reply.status).toBe(200);
        done++;
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: connections }, client));
    return done / ((Date.now() - started) / 1000);
  };
  await round();
  const measured = await round();
  agent.destroy();
  return measured;
}

const rates: string[] = [];
afterAll(() => {
  if (rates.length > 0) console.log(`requests/s (HTTP hello, no request log, 8 keep-alive connections, 5 s each after 5 s unmeasured):\n${rates.join('\n')}`);
});

for (const node of foreignNodes) {
  const ready = built && requireForeignNode(node);
  const [, arch, abi] = node.platform.split('-');
  const otherLibc = `linux-${arch}-${abi === 'gnu' ? 'musl' : 'gnu'}`;

  describe.skipIf(!ready)(`${node.platform}: ${node.how}`, () => {
    it(`loads the ${node.platform} prebuild by itself, and refuses the ${otherLibc} binding`, async () => {
      const run = promisify(execFile);
      const own = await run(node.argv[0]!, [...node.argv.slice(1), cli, '--version'], { env: envWith() });
      console.log(own.stdout);
      expect(own.stdout).toContain(`native binding: prebuild (${shipped(node.platform).prebuild})`);
      const other = shipped(otherLibc).packaged;
      const refused = await run(node.argv[0]!, [...node.argv.slice(1), cli, '--version'], { env: envWith({ TSGI_NATIVE_PATH: other }) });
      expect(refused.stdout).toContain(`native binding: prebuild (${shipped(node.platform).prebuild})`);
      expect(refused.stdout).toContain(`not used: env ${other}: `);
    }, 120_000);

    it('serves a uwsgi request and an HTTP request with the native binding; requests/s native and pure', async () => {
      const native = await startUnder(node, envWith());
      try {
        const uwsgi = parseResponse((await exchange(native.uwsgi, packet(nginxVars('GET', '/over-uwsgi')))).data);
        expect(uwsgi.statusLine).toBe('HTTP/1.1 200 OK');
        expect(uwsgi.body.toString()).toBe(`${arch} prebuild ${shipped(node.platform).prebuild} /over-uwsgi`);
        const reply = await request(`http://127.0.0.1:${native.http}/over-http`);
        expect(reply.status).toBe(200);
        expect(reply.body.toString()).toBe(`${arch} prebuild ${shipped(node.platform).prebuild} /over-http`);
        rates.push(`  ${node.platform}, native binding: ${(await rate(native.http, 5)).toFixed(0)}`);
      } finally {
        await stopProcess(native.child);
      }
      const pure = await startUnder(node, envWith({ TSGI_NATIVE: '0' }));
      try {
        const reply = await request(`http://127.0.0.1:${pure.http}/pure`);
        expect(reply.body.toString()).toBe(`${arch} pure  /pure`);
        rates.push(`  ${node.platform}, pure TypeScript: ${(await rate(pure.http, 5)).toFixed(0)}`);
      } finally {
        await stopProcess(pure.child);
      }
    }, 240_000);
  });
}
