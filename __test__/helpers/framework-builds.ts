/**
 * The framework matrix's apps that need a build: the Next.js app (`next build`, into its
 * .next/) and the NestJS app (tsc, strict, into its dist/), both git-ignored. Each is built
 * when its output is missing or older than a source, once per machine however many test
 * processes ask (the native and the pure runs start together): the first takes a lock
 * directory, the others wait for it to go.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { until } from './chaos.js';

const run = promisify(execFile);

export const FRAMEWORKS = path.resolve('__test__/fixtures/frameworks');
export const NEXT_APP = path.join(FRAMEWORKS, 'next-app');
export const NEST_APP = path.join(FRAMEWORKS, 'nest-app');

const LOCK = path.join(FRAMEWORKS, '.build-lock');
/** A lock older than this was left by a run that died: it is taken over. */
const STALE_LOCK_MS = 5 * 60_000;

interface Build {
  name: string;
  /** Files and folders whose change calls for a new build. */
  sources: string[];
  /** The file the build writes last. */
  output: string;
  command: string[];
}

const BUILDS: Build[] = [
  {
    name: 'Next.js (next build)',
    sources: ['app', 'public', 'next.config.mjs'].map((name) => path.join(NEXT_APP, name)),
    output: path.join(NEXT_APP, '.next/BUILD_ID'),
    command: [path.resolve('node_modules/next/dist/bin/next'), 'build', NEXT_APP],
  },
  {
    name: 'NestJS (tsc)',
    sources: ['src', 'tsconfig.json'].map((name) => path.join(NEST_APP, name)),
    output: path.join(NEST_APP, 'dist/main.js'),
    command: [path.resolve('node_modules/typescript/bin/tsc'), '-p', path.join(NEST_APP, 'tsconfig.json')],
  },
];

/** The newest modification time under `file`. */
function newest(file: string): number {
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(file).map((entry) => newest(path.join(file, entry))));
}

const stale = (build: Build) => !existsSync(build.output) || statSync(build.output).mtimeMs < Math.max(...build.sources.map(newest));

/** Builds what is stale; says what it built and how long each took. */
export async function buildFrameworkApps(): Promise<string[]> {
  await until(() => takeLock(), 'the other test process to finish building the framework apps', 180_000, 100);
  try {
    const report: string[] = [];
    for (const build of BUILDS.filter(stale)) {
      const started = Date.now();
      try {
        await run(process.execPath, build.command, { env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' }, maxBuffer: 16 * 1024 * 1024 });
      } catch (error) {
        const { stdout, stderr } = error as { stdout?: string; stderr?: string };
        throw new Error(`${build.name} failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
      }
      report.push(`${build.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    return report;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function takeLock(): boolean {
  try {
    mkdirSync(LOCK);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
    } catch {
      // released meanwhile
    }
    return false;
  }
}
