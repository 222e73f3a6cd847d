/**
 * The setup of every test file of the pure project: the pure-TypeScript reactor loaded
 * ahead, as the CLI's workers do. `new Server()` would otherwise require() it where no
 * binding loads (src/server/server.ts), and require() cannot load the TypeScript sources
 * the tests run.
 */
import { prepareReactor } from '../../src/server/server.js';

await prepareReactor();
