/**
 * The setup of every test file of the pure project: the pure-TypeScript reactor imported
 * ahead. `new Server()` requires it where no binding loads (src/server/server.ts), which
 * Node's require() cannot do for the TypeScript sources the tests run; the CLI's workers
 * (dist/) require it themselves.
 */
import { importPureReactor } from '../../src/server/server.js';

await importPureReactor();
