import { defineConfig } from 'vitest/config';

/**
 * The test matrix. The tests are laid out by kind (__test__/):
 *   unit/          in process, no peers: config, validate, compose, codecs, logs, docs
 *                  tables, TSGI apps under node:http and fetch hosts...
 *   serving/       a server over sockets: raw protocol bytes, HTTP clients, the command
 *                  line, the master, chaos, adapters;
 *   peers/         real peers in front: nginx, HAProxy, cgi-fcgi (configuration files
 *                  and `npm run example` behind nginx among them);
 *   differential/  two implementations compared (native and pure reactor, our HTTP codec
 *                  and llhttp's corpus, Node's own parser);
 *   install/       the packed package and the loader's routes;
 *   release/       the release build's bindings: their ELF, and the arm64 and musl ones
 *                  loaded and serving under a Node of their platform (its own project,
 *                  `npm run test:release`, after `npm run build:release`: `npm test`'s
 *                  build would put the development binding back in its place).
 * Every file runs against the native reactor (the build's prebuild); every file of
 * serving/ and peers/ runs again with TSGI_NATIVE=0, against the pure-TypeScript reactor,
 * so the two cannot drift apart. What the pure path does differently, its test says where
 * it checks it (README "The pure-TypeScript path").
 */
export default defineConfig({
  test: {
    // Each file gets its own process: tests load the native addon and open sockets.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', './__test__/helpers/closing-line-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'native', include: ['__test__/**/*.test.ts'], exclude: ['__test__/release/**'] } },
      {
        extends: true,
        test: {
          name: 'pure',
          include: ['__test__/serving/**/*.test.ts', '__test__/peers/**/*.test.ts'],
          env: { TSGI_NATIVE: '0' },
          // The pure reactor loaded ahead, as the workers do: require() cannot load the sources.
          setupFiles: ['./__test__/helpers/pure-reactor.ts'],
        },
      },
      { extends: true, test: { name: 'release', include: ['__test__/release/**/*.test.ts', '__test__/install/packaging.test.ts'] } },
    ],
  },
});
