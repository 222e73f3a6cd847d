/**
 * The release pipeline (.github/workflows/release.yml) is not run here, so it is checked:
 * actionlint finds nothing in it (and does find a job that needs a job that is not there,
 * so the check can fail), and it says what the release needs: the Linux job runs .ci/run
 * (which builds every Linux target of napi.targets and tests each), the macOS and Windows
 * matrix is exactly the other napi.targets, and publishing is done with provenance.
 *
 * Needs actionlint (`bash scripts/release-tools.sh`; skips and says so without it, fails
 * under CI=true).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { requirePeer } from '../helpers/peers.js';
import { pkg, root } from '../helpers/release.js';

const file = path.join(root, '.github', 'workflows', 'release.yml');
const actionlint = requirePeer('actionlint', path.join(root, '.release-tools', 'bin', 'actionlint'), 'bash scripts/release-tools.sh');

interface Step {
  run?: string;
  uses?: string;
}
interface Job {
  needs?: string[];
  permissions?: Record<string, string>;
  strategy?: { matrix: { include: Array<{ os: string; target: string }> } };
  steps: Step[];
}

describe.skipIf(!actionlint.bin)('the release workflow', () => {
  const lint = (input: string) => spawnSync(actionlint.bin!, ['-no-color', '-'], { input, encoding: 'utf8' });
  const source = readFileSync(file, 'utf8');

  it('is clean under actionlint, which finds a broken copy', () => {
    const clean = lint(source);
    expect(clean.stdout + clean.stderr).toBe('');
    expect(clean.status).toBe(0);
    const broken = lint(source.replace('needs: [linux, other]', 'needs: [linux, others]'));
    expect(broken.status).toBe(1);
    expect(broken.stdout).toContain('job "publish" needs job "others" which does not exist');
  });

  it('builds and tests every target of napi.targets, and publishes with provenance', () => {
    const { jobs } = parse(source) as { jobs: Record<string, Job> };
    expect(jobs.linux!.steps.map((s) => s.run)).toContain('bash .ci/run');
    const others = jobs.other!.strategy!.matrix.include.map((m) => m.target);
    expect(others.sort()).toEqual(pkg.napi.targets.filter((t) => !t.includes('-linux-')).sort());
    expect(jobs.other!.steps.map((s) => s.run)).toContain('npm test');
    expect(jobs.publish!.needs).toEqual(['linux', 'other']);
    expect(jobs.publish!.permissions).toMatchObject({ 'id-token': 'write' });
    const publishes = jobs.publish!.steps.flatMap((s) => (s.run ?? '').split('\n')).filter((line) => line.includes('npm publish'));
    expect(publishes).toHaveLength(2);
    for (const line of publishes) expect(line).toContain('--provenance');
  });
});
