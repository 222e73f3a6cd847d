/**
 * Prints "vitest: N passed, N failed, N skipped" as the last line, the plain form CI
 * reads to count tests (vitest's own summary is not one it parses).
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class ClosingLineReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'skipped') counts.skipped++;
        // 'failed', and 'pending': a test that never finished because its worker died.
        else counts.failed++;
      }
      // A file that failed outside any test (an import error, a crashed worker).
      if (module.errors().length > 0) counts.failed++;
    }
    process.stdout.write(`\nvitest: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
