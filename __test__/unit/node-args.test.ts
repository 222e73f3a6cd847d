/**
 * The Node flags a worker starts with: the master's own, but its inspector's (every worker
 * would listen on the same port), then --node-args split at spaces.
 */
import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../src/process/node-args.js';

describe('workerExecArgv', () => {
  it("keeps the master's flags, drops the inspector's (and a separate port value), appends --node-args", () => {
    const master = ['--import', 'tsx', '--inspect=9229', '--enable-source-maps', '--inspect-port', '9230', '--inspect-brk', '--debug-port=1'];
    expect(workerExecArgv(master, '  --max-old-space-size=512   --trace-warnings ')).toEqual([
      '--import',
      'tsx',
      '--enable-source-maps',
      '--max-old-space-size=512',
      '--trace-warnings',
    ]);
  });

  it('without --node-args, only what the master had', () => {
    expect(workerExecArgv([])).toEqual([]);
    expect(workerExecArgv(['--inspector-ish-but-not'], undefined)).toEqual(['--inspector-ish-but-not']);
  });
});
