/**
 * INI as uWSGI reads it (core/ini.c), not as general INI readers do, so that a uwsgi.ini
 * gives tsgi the values it gives uWSGI:
 *
 * - a comment is a line whose first character (after spaces) is `;` or `#`; nothing else
 *   is: `env = DATABASE_URL=postgres://u:pa#ss@db` keeps its `#`, `GREETING=hi;there` its `;`;
 * - a value is everything after the first `=`, spaces and tabs trimmed at both ends, kept
 *   verbatim: quotes are part of it, and further `=` too;
 * - a key alone on its line is a switch turned on (`master`);
 * - `[name]` starts a section; a key given again is one more value, in order.
 *
 * Placeholders and the config logic (include, if-env... endif) are applied later, on the
 * entries of the section read (placeholders.ts, config-logic.ts).
 */

/** A `;` or `#` after a space inside a value: a comment in most INI readers, part of the
 * value in uWSGI's (and so in tsgi's). Said where it matters, since it surprises. */
export const INLINE_COMMENT = /\s[;#]/;

/** One line of a section that sets something: `key = value`, or a bare `key` (`true`). */
export interface IniEntry {
  readonly key: string;
  readonly value: string | true;
  /** 1-based. */
  readonly line: number;
}

export interface IniText {
  readonly sections: ReadonlyMap<string, readonly IniEntry[]>;
  /** Lines that are neither a comment, a section, nor a key: `line: why`. */
  readonly problems: ReadonlyArray<{ readonly line: number; readonly message: string }>;
}

/** uWSGI trims spaces, tabs and carriage returns (core/ini.c ini_lstrip, ini_rstrip). */
const EDGE = /^[ \t\r]+|[ \t\r]+$/g;

export function parseIni(text: string): IniText {
  const sections = new Map<string, IniEntry[]>();
  const problems: Array<{ line: number; message: string }> = [];
  // A byte-order mark is the editor's, not the first key's.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let section: IniEntry[] | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(EDGE, '');
    if (content === '' || content.startsWith(';') || content.startsWith('#')) return;
    if (content.startsWith('[')) {
      if (!content.endsWith(']')) return void problems.push({ line, message: `a section header must end with ]: ${content}` });
      const name = content.slice(1, -1).replace(EDGE, '');
      section = sections.get(name) ?? [];
      sections.set(name, section);
      return;
    }
    const equals = content.indexOf('=');
    const key = (equals === -1 ? content : content.slice(0, equals)).replace(EDGE, '');
    if (key === '') return void problems.push({ line, message: `a value with no key: ${content}` });
    // Keys above every section belong to none: uWSGI reads them for no section either.
    section?.push({ key, value: equals === -1 ? true : content.slice(equals + 1).replace(EDGE, ''), line });
  });
  return { sections, problems };
}
