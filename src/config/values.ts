/**
 * One value checked against its option's type and range. Values arrive as text (command
 * line, environment, INI) or typed (JSON, TOML, YAML, code); both take the same checks,
 * and a refusal names the option, the value and where it came from.
 */
import { INLINE_COMMENT } from './ini.js';
import type { OptionSpec } from './options.js';
import { invalidOption, subject, type Raw, type Setting } from './origin.js';

export type Value = string | number | boolean;

const TRUE_WORD = /^(true|yes|on|1)$/i;
const FALSE_WORD = /^(false|no|off|0)$/i;

/** Whether `word` can be a switch's value (`--vacuum false`). */
export function isBooleanWord(word: string): boolean {
  return TRUE_WORD.test(word) || FALSE_WORD.test(word);
}

/** The value `setting` gives `spec`, checked. */
export function convert(spec: OptionSpec, setting: Setting): Value {
  const { raw } = setting;
  const bad = (why: string) => invalidOption(`${subject(setting.origin, spec.name)} ${JSON.stringify(raw)}: ${why}${inlineCommentHint(setting)}`);
  if (raw === null) throw bad('needs a value');
  if (spec.type === 'boolean' || spec.type === 'flag') {
    if (typeof raw === 'boolean') return raw;
    const word = String(raw);
    // uWSGI's switch written with an empty value, `master =`, is on (its show-config
    // prints a bare switch that way).
    if (word === '' && setting.origin.kind === 'file') return true;
    if (TRUE_WORD.test(word)) return true;
    if (FALSE_WORD.test(word)) return false;
    throw bad('expected true or false');
  }
  // A bare key in an INI file (`module` alone on its line) reads as true: not a value.
  if (typeof raw === 'boolean') throw invalidOption(`${subject(setting.origin, spec.name)}: needs a value`);
  const text = String(raw);
  let value: number;
  switch (spec.type) {
    case 'string':
      if (text === '') throw bad('must not be empty');
      if (spec.choices && !spec.choices.includes(text)) throw bad(`expected one of ${spec.choices.join(', ')}`);
      return text;
    case 'assignment':
      if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(text)) throw bad('expected KEY=VALUE, KEY made of letters, digits and _');
      return text;
    case 'header': {
      const problem = headerProblem(text);
      if (problem) throw bad(problem);
      return text;
    }
    case 'integer':
      if (!/^[0-9]+$/.test(text)) throw bad('expected a whole number');
      value = Number(text);
      break;
    case 'seconds':
      if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) throw bad('expected a number of seconds');
      value = Number(text);
      break;
    case 'octal':
      if (typeof raw === 'number' && setting.origin.kind === 'code') {
        // Code writes modes as numbers: `chmodSocket: 0o660`.
        value = raw;
        break;
      }
      // A number from JSON, TOML or YAML is read by its digits, as uWSGI reads `660`.
      if (!/^[0-7]{1,4}$/.test(text)) throw bad('expected an octal file mode such as 660');
      value = parseInt(text, 8);
      break;
  }
  if (spec.min !== undefined && value < spec.min) throw bad(`must be at least ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) throw bad(`must be at most ${spec.max}`);
  return value;
}

/** Headers that describe the connection, not the response: the server's framing owns them. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** What is wrong with `Name: value` as a header every response gets, or null. */
function headerProblem(text: string): string | null {
  const colon = text.indexOf(':');
  if (colon < 1) return "expected 'Name: value'";
  const name = text.slice(0, colon);
  const value = text.slice(colon + 1).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return `the header name ${JSON.stringify(name)} is not a token (letters, digits, - and the like, no space)`;
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) return 'the value has a control character (a header is one line)';
  const lower = name.toLowerCase();
  if (lower === 'connection' && value.toLowerCase() === 'close') return null;
  if (HOP_BY_HOP.has(lower))
    return `${name} is hop-by-hop: tsgi's framing sets it (only 'Connection: close' is taken: each connection then closes after its response)`;
  if (lower === 'content-length') return 'Content-Length is set from the body';
  return null;
}

/** For a value from a file that a comment after it made wrong: how uWSGI's INI reads it. */
function inlineCommentHint({ raw, origin }: Setting): string {
  return origin.kind === 'file' && typeof raw === 'string' && INLINE_COMMENT.test(raw)
    ? ' (in a uwsgi.ini a comment is a line of its own: a ; or # after a value is part of it)'
    : '';
}

/** How `--print-config`, `--help` and docs/options.md write a value: modes in octal. */
export function formatValue(spec: OptionSpec, value: Value): string {
  return spec.type === 'octal' ? (value as number).toString(8) : String(value);
}

/** `--env` values (`KEY=VALUE`) as an environment: a later KEY replaces an earlier one. */
export function environmentOf(assignments: readonly string[]): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const assignment of assignments) environment[assignmentKey(assignment)] = assignment.slice(assignment.indexOf('=') + 1);
  return environment;
}

/** `KEY` of `KEY=VALUE`. */
export function assignmentKey(assignment: string): string {
  return assignment.slice(0, assignment.indexOf('='));
}

/** A file's or code's value for one option as a list of raw values: a list only where the
 * option takes several. `where(i)` starts the message about item i (-1: the value). */
export function rawValues(spec: OptionSpec, value: unknown, where: (item: number) => string): Raw[] {
  const one = (item: unknown, i: number): Raw => {
    if (item === null || ['string', 'number', 'boolean'].includes(typeof item)) return item as Raw;
    throw invalidOption(
      `${where(i)}: expected ${i >= 0 ? 'a value' : spec.repeatable ? 'a value or a list of values' : 'a single value'}, not ${describeShape(item)}`,
    );
  };
  if (Array.isArray(value)) {
    if (!spec.repeatable) throw invalidOption(`${where(-1)}: takes a single value, not a list`);
    return value.map(one);
  }
  return [one(value, -1)];
}

function describeShape(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}
