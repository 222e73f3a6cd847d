import { defineConfig } from 'vitest/config';

/**
 * The test matrix: every file runs against the native reactor (the build's prebuild), and
 * every test that serves over a socket (raw protocol bytes, real nginx, HAProxy, cgi-fcgi,
 * HTTP clients, the command line) runs again with TSGI_NATIVE=0, against the
 * pure-TypeScript reactor, so the two cannot drift apart. What the pure path does
 * differently, its test says where it checks it (README "The pure-TypeScript path").
 */
const servingTests = [
  'uwsgi-raw',
  'fastcgi-raw',
  'http-raw',
  'http-timeouts',
  'http-upgrade',
  'http-clients',
  'nginx',
  'nginx-fastcgi',
  'nginx-http',
  'haproxy',
  'cgi-fcgi',
  'smoke',
  'tsgi',
  'cli',
  'master',
  'chaos',
  'adapters-frameworks',
  'adapters-node',
  'adapters-fetch',
  'adapters-load',
].map((name) => `__test__/${name}.test.ts`);

export default defineConfig({
  test: {
    // Each file gets its own process: tests load the native addon and open sockets.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', './__test__/helpers/closing-line-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'native', include: ['__test__/**/*.test.ts'] } },
      { extends: true, test: { name: 'pure', include: servingTests, env: { TSGI_NATIVE: '0' } } },
    ],
  },
});
