/**
 * The Node.js flags a worker starts with: the master's own (so `node --import tsx
 * $(which tsgi)` loads TypeScript in the workers too, and --enable-source-maps or
 * --max-old-space-size reach them), then --node-args. An inspector flag is the master's
 * alone: every worker would listen on its port.
 */

/** `--inspect`, `--inspect-brk`, `--inspect-port` (and `--debug-port`), with or without `=value`. */
const INSPECTOR = /^--(?:inspect(?:-brk|-port|-wait)?|debug-port)(?:=|$)/;

export function workerExecArgv(master: readonly string[], nodeArgs = ''): string[] {
  const inherited: string[] = [];
  for (let i = 0; i < master.length; i++) {
    const flag = master[i]!;
    if (!INSPECTOR.test(flag)) inherited.push(flag);
    // `--inspect-port 9230`: its value goes with it.
    else if (/^--(?:inspect-port|debug-port)$/.test(flag)) i++;
  }
  return [...inherited, ...nodeArgs.split(/\s+/).filter(Boolean)];
}
