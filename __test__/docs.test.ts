/** The README is the user's reference: its tables must list what the code has. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../src/errors.js';
import { OPTIONS } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README', () => {
  it('documents every error code, and no other', () => {
    const documented = [...readme.matchAll(/^\| `(TSGI_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(ErrorCodes).sort());
  });

  it('documents every command-line option, and no other', () => {
    const documented = [...readme.matchAll(/^\| `--([a-z0-9-]+)[ `]/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(OPTIONS.map((o) => o.name).sort());
  });
});
