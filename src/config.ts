/**
 * Configuration: the option table and everything derived from it (src/config/). This
 * module is what the rest of tsgi imports.
 */
export { OPTIONS, type Config, type OptionSpec, type TsgiOptions } from './config/options.js';
export { configFromCode, configFromCommandLine, type LoadedConfig } from './config/load.js';
export { helpText, renderConfig } from './config/print.js';
export { environmentOf } from './config/values.js';
export { subject, type Origin } from './config/origin.js';
export { UWSGI_ONLY_OPTIONS } from './config/uwsgi-only.js';
