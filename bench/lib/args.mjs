/**
 * The benchmark scripts' command lines: `--name value` options, read one at a time.
 */

/**
 * The value after `--name` in `argv`, or `fallback` when the option is absent.
 * @template {string | null} F
 * @param {readonly string[]} argv
 * @param {string} name
 * @param {F} fallback
 * @returns {string | F}
 */
export function optionValue(argv, name, fallback) {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? (argv[at + 1] ?? fallback) : fallback;
}
