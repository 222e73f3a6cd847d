/**
 * examples/deploy/ held to tsgi: each file's tsgi options are read by the option table
 * (a renamed or mistyped option fails here), the files agree with each other (the
 * probes ask the health path the options set, the grace covers the drain), the systemd
 * pair runs as systemd would run it (socket activation through `systemd-socket-activate`,
 * READY=1 to a notify recorder), and nginx accepts the upstream config.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { configFromCommandLine } from '../../src/config/index.js';
import { freePort } from '../../scripts/lib/processes.mjs';
import { testConfig, uwsgiParams } from '../../scripts/lib/nginx.mjs';
import { startTsgi, type Tsgi } from '../helpers/chaos.js';
import { hasNginx, nginxBin } from '../helpers/nginx.js';
import { activationLauncher, python, socketActivate, startNotifyRecorder, type NotifyRecorder } from '../helpers/systemd.js';
import { request as uwsgiRequest } from '../helpers/tsgi.js';
import { nginxVars } from '../helpers/uwsgi.js';

const DIR = path.resolve('examples/deploy');
const read = (file: string) => readFileSync(path.join(DIR, file), 'utf8');

/** The arguments after the tsgi command in a command line, as a list. */
function argsAfterTsgi(command: readonly string[]): string[] {
  const at = command.findIndex((word) => /(^|\/)tsgi$/.test(word));
  expect(at, `no tsgi command in ${JSON.stringify(command)}`).toBeGreaterThanOrEqual(0);
  return command.slice(at + 1);
}

/** Each file's tsgi command line. */
const commandLines: Record<string, () => string[]> = {
  Dockerfile: () => argsAfterTsgi(JSON.parse(/^CMD (\[.*\])$/m.exec(read('Dockerfile'))![1]!) as string[]),
  'tsgi.service': () => argsAfterTsgi(/^ExecStart=(.*)$/m.exec(read('tsgi.service'))![1]!.split(/\s+/)),
  'kubernetes.yaml': () => {
    const deployment = deploymentOf();
    const container = deployment.spec.template.spec.containers[0];
    return argsAfterTsgi([...container.command, ...container.args]);
  },
  'nginx-upstream.conf': () => argsAfterTsgi(/^#\s+(tsgi .*)$/m.exec(read('nginx-upstream.conf'))![1]!.split(/\s+/)),
};

interface Container {
  command: string[];
  args: string[];
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
}
function deploymentOf(): { spec: { template: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } } } } {
  const docs = parseAllDocuments(read('kubernetes.yaml')).map((d) => d.toJS() as { kind: string });
  return docs.find((d) => d.kind === 'Deployment') as unknown as ReturnType<typeof deploymentOf>;
}

/** The config a command line gives, checked by the option table. */
function configOf(args: string[]) {
  const { config, warnings } = configFromCommandLine(args, {});
  expect(warnings).toEqual([]);
  return config;
}

describe('examples/deploy', () => {
  for (const [file, args] of Object.entries(commandLines)) {
    it(`${file}: its tsgi options are all in the option table, with valid values`, () => {
      const config = configOf(args());
      expect(config.module).toBe('app.mjs');
    });
  }

  it('Dockerfile: two stages, a non-root user, a HEALTHCHECK on the health path, a grace within docker stop', () => {
    const text = read('Dockerfile');
    expect(text.match(/^FROM /gm)).toHaveLength(2);
    expect(text).not.toMatch(/rustup|cargo/);
    expect(text).toMatch(/^USER node$/m);
    const config = configOf(commandLines.Dockerfile!());
    expect(/^HEALTHCHECK .*\n.*fetch\('http:\/\/127\.0\.0\.1:8000(\/[^']*)'\)/m.exec(text)?.[1]).toBe(config['health-path']);
    expect(config['http-socket']).toEqual([':8000']);
  });

  it('kubernetes.yaml: the readiness probe asks the health path, liveness the stats, and the grace covers drain and stop', () => {
    const deployment = deploymentOf();
    const spec = deployment.spec.template.spec;
    const config = configOf(commandLines['kubernetes.yaml']!());
    expect(spec.containers[0]!.readinessProbe.httpGet.path).toBe(config['health-path']);
    expect(spec.containers[0]!.livenessProbe.httpGet.path).toBe('/livez');
    expect(config['stats-http']).toBe(true);
    expect(config['shutdown-delay']).toBeGreaterThan(0);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(config['shutdown-delay'] + config['reload-mercy']);
  });

  it.skipIf(!hasNginx)('nginx-upstream.conf: nginx -t accepts it', () => {
    const prefix = mkdtempSync(path.join(os.tmpdir(), 'tsgi-deploy-nginx-'));
    try {
      writeFileSync(path.join(prefix, 'uwsgi_params'), uwsgiParams().text);
      copyFileSync(path.join(DIR, 'nginx-upstream.conf'), path.join(prefix, 'app.conf'));
      const conf = path.join(prefix, 'nginx.conf');
      writeFileSync(conf, `pid ${prefix}/nginx.pid;\nevents {}\nhttp {\n  include ${prefix}/app.conf;\n}\n`);
      const checked = testConfig(nginxBin!, prefix, conf);
      expect(checked.output).toMatch(/syntax is ok/);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!socketActivate.bin || !python.bin)('examples/deploy: tsgi.service with tsgi.socket, as systemd runs them', () => {
  let dir: string;
  let tsgi: Tsgi | undefined;
  let recorder: NotifyRecorder | undefined;
  afterEach(async () => {
    tsgi?.kill();
    await tsgi?.exited;
    recorder?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the socket unit's sockets are served by the service's options; READY=1; the socket file stays", async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-deploy-'));
    const port = await freePort();
    // The units' addresses, moved where a test may bind them.
    const place = (text: string) => text.replaceAll('/run/tsgi/app.sock', path.join(dir, 'app.sock')).replaceAll('127.0.0.1:8000', `127.0.0.1:${port}`);
    const listens = [...read('tsgi.socket').matchAll(/^ListenStream=(.*)$/gm)].map((m) => place(m[1]!));
    expect(listens).toEqual([path.join(dir, 'app.sock'), `127.0.0.1:${port}`]);
    const app = path.join(dir, 'app.mjs');
    writeFileSync(app, "export default { fetch: () => new Response('deployed') };\n");
    const args = commandLines['tsgi.service']!().map((word) => (word === 'app.mjs' ? app : place(word)));
    const native = process.env.TSGI_NATIVE !== '0';
    recorder = await startNotifyRecorder(dir);
    tsgi = await startTsgi(args, null, { launcher: activationLauncher(listens, { env: { NOTIFY_SOCKET: recorder.path } }) });
    await tsgi.line(/Listening on .* as 4/);
    // The first connection starts the service; then both sockets serve.
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok\n');
    const uwsgi = await uwsgiRequest(path.join(dir, 'app.sock'), nginxVars('GET', '/'));
    expect(uwsgi.body.toString()).toBe('deployed');
    if (native) expect((await recorder.next((n) => n.fields.READY === '1')).fields.STATUS).toMatch(/^4 worker\(s\) serving/);
    process.kill(tsgi.pid, 'SIGTERM');
    expect(await tsgi.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(path.join(dir, 'app.sock')) && statSync(path.join(dir, 'app.sock')).isSocket()).toBe(true);
  });
});
