/**
 * Configuration: the option table and everything derived from it (src/config/). This
 * module is what the rest of tsgi imports.
 */
export { OPTIONS, type Config, type OptionSpec, type TsgiOptions } from './options.js';
export { configFromCode, configFromCommandLine, type LoadedConfig } from './load.js';
export { helpText, renderConfig } from './print.js';
export { environmentOf } from './values.js';
export { headerPairs, memoryReportLevel, staticExpires, staticMaps, type StaticExpires, type StaticMap } from './derived.js';
export { subject, type Origin } from './origin.js';
export { UWSGI_ADVICE, UWSGI_ONLY_OPTIONS } from './uwsgi-only.js';
