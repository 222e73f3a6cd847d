/**
 * The CommonJS entry point (`require('tsgi')`): the ESM build itself, loaded through
 * require(esm), which Node has without a flag since 20.19 and 22.12. On an older Node 20,
 * `await import('tsgi')` loads the same API.
 */
import tsgi = require('./index.js');
export = tsgi;
