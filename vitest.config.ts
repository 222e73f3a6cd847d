import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // Each file gets its own process: tests load the native addon and open sockets.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', './__test__/helpers/closing-line-reporter.ts'],
  },
});
