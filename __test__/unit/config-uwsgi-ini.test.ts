/**
 * uWSGI's INI rules and config logic: values kept verbatim from every source, include,
 * inherit, for, if-..., `@(file)`, `$(NAME)`; every problem of a configuration reported at
 * once. Where Debian's uWSGI is installed, the same files go through `uwsgi
 * --show-config` and both must read the same values.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configFromCode, configFromCommandLine, type LoadedConfig } from '../../src/config/index.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { requirePeer } from '../helpers/peers.js';

const uwsgi = requirePeer('uWSGI', 'uwsgi-core', 'apt-get install uwsgi-core');

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

/** Writes `files` (name → text) into a new temporary directory; returns its path. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-ini-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function load(text: string, env: NodeJS.ProcessEnv = {}, extra: Record<string, string> = {}): LoadedConfig & { dir: string } {
  const dir = folder({ 'uwsgi.ini': text, ...extra });
  return { ...configFromCommandLine([path.join(dir, 'uwsgi.ini')], env), dir };
}

/** The message of the refusal `work` throws. */
function refusal(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TsgiError);
    expect((error as TsgiError).code).toBe(ErrorCodes.INVALID_OPTION);
    return (error as Error).message;
  }
  throw new Error('expected a refusal, got none');
}

/** The `env` values uWSGI reads from `file`: `--show-config` prints them, then a
 * `--chdir` that cannot be done stops it before it binds anything. */
function uwsgiEnv(file: string, env: NodeJS.ProcessEnv = {}): string[] {
  const run = spawnSync(uwsgi.bin!, ['--ini', file, '--show-config', '--chdir', '/nonexistent/tsgi-test'], {
    cwd: path.dirname(file),
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
    killSignal: 'SIGKILL', // uWSGI takes SIGTERM for a reload
  });
  const text = run.stdout + run.stderr;
  const shown = text.slice(text.indexOf(';uWSGI instance configuration'), text.indexOf(';end of configuration'));
  return [...shown.matchAll(/^env = (.*)$/gm)].map((match) => match[1]!);
}

/** Values that other INI readers change: comment characters, `=`, quotes, `%`. */
const TRICKY = [
  'DATABASE_URL=postgres://u:pa#ss@db/app',
  'GREETING=hi;there',
  'EQUALS=a=b==c',
  'QUOTED="double" and \'single\'',
  'PERCENT=100% of %Y-%m and %q',
  'SPACED=a ; b # c',
];

describe("uWSGI's INI rules", () => {
  it('a value is everything after the first =, trimmed: #, ;, =, quotes and % kept exactly', () => {
    const text = ['[uwsgi]', ...TRICKY.map((value) => `env = ${value}`), 'env   =\tTABS=kept inside\t', ''].join('\n');
    const { config, dir } = load(text);
    expect(config.env).toEqual([...TRICKY, 'TABS=kept inside']);
    if (uwsgi.bin) {
      // uWSGI drops a % and the character after it when they are no magic variable (here
      // "% ", %Y, %m, %q), silently: tsgi keeps what is written. The rest reads the same.
      expect(uwsgiEnv(path.join(dir, 'uwsgi.ini'))).toEqual([...TRICKY.map((value) => value.replace(/%./g, '').trim()), 'TABS=kept inside']);
    }
  });

  it('%% is one %, as in uWSGI, so a strftime format written for uWSGI reads the same', () => {
    const { config, dir } = load('[uwsgi]\nenv = DATE=%%Y-%%m-%%d\n');
    expect(config.env).toEqual(['DATE=%Y-%m-%d']);
    if (uwsgi.bin) expect(uwsgiEnv(path.join(dir, 'uwsgi.ini'))).toEqual(['DATE=%Y-%m-%d']);
  });

  it('a comment is a line that starts with ; or #, after spaces; CRLF, a BOM and keys above every section are fine', () => {
    const { config } = load('\uFEFFprocesses = 7\r\n[uwsgi]\r\n  ; indented comment\r\n\t# another\r\nprocesses = 3\r\nmaster =\r\nvacuum\r\n');
    expect([config.processes, config.master, config.vacuum]).toEqual([3, true, true]);
  });

  it('a ; or # after a value is part of it: said in the refusal it causes, warned about where it is taken', () => {
    expect(refusal(() => load('[uwsgi]\nharakiri = 60   ; seconds\n'))).toMatch(
      /uwsgi\.ini:2: harakiri "60   ; seconds": expected a number of seconds \(in a uwsgi\.ini a comment is a line of its own: a ; or # after a value is part of it\)$/,
    );
    const { config, warnings } = load('[uwsgi]\npidfile = /run/app.pid # the pid\n');
    expect(config.pidfile).toBe('/run/app.pid # the pid');
    expect(warnings).toEqual([
      expect.stringMatching(
        /uwsgi\.ini:2: pidfile "\/run\/app\.pid # the pid": the ; or # is part of the value, as in uWSGI \(a comment is a line of its own\)$/,
      ),
    ]);
  });

  it('a line that is no key, comment nor section is refused with its line', () => {
    const message = refusal(() => load('[uwsgi]\n= 4\n[broken\nprocesses = 2\n'));
    expect(message.split('\n')).toEqual([
      expect.stringMatching(/uwsgi\.ini:2: a value with no key: = 4$/),
      expect.stringMatching(/uwsgi\.ini:3: a section header must end with \]: \[broken$/),
    ]);
  });

  it('keeps the values exactly from every other source: environment, command line, TOML, YAML, JSON, code', () => {
    const dir = folder({
      'a.toml': `[tsgi]\nenv = ${JSON.stringify(TRICKY)}\n`,
      'a.yaml': `tsgi:\n  env:\n${TRICKY.map((value) => `    - ${JSON.stringify(value)}`).join('\n')}\n`,
      'a.json': JSON.stringify({ tsgi: { env: TRICKY } }),
    });
    expect(configFromCommandLine([], { TSGI_ENV: TRICKY.join('\n') }).config.env).toEqual(TRICKY);
    expect(
      configFromCommandLine(
        TRICKY.flatMap((value) => ['--env', value]),
        {},
      ).config.env,
    ).toEqual(TRICKY);
    expect(
      configFromCommandLine(
        TRICKY.map((value) => `--env=${value}`),
        {},
      ).config.env,
    ).toEqual(TRICKY);
    for (const name of ['a.toml', 'a.yaml', 'a.json']) {
      // %% in a file is one %: these formats take uWSGI's placeholders too.
      expect(configFromCommandLine([path.join(dir, name)], {}).config.env, name).toEqual(TRICKY);
    }
    expect(configFromCode({ env: TRICKY }, 'serve()', {}).config.env).toEqual(TRICKY);
  });
});

describe("uWSGI's placeholders", () => {
  it('@(file): its contents, one trailing newline dropped; $(NAME:-default) and $(NAME-default)', () => {
    const { config } = load(
      '[uwsgi]\nenv = SECRET=@(%dsecret.txt)\nenv = A=$(UNSET:-fallback)\nenv = B=$(EMPTY:-fallback)\nenv = C=$(EMPTY-fallback)\n',
      { EMPTY: '' },
      {
        'secret.txt': 's3cr#t;=%\n',
      },
    );
    expect(config.env).toEqual(['SECRET=s3cr#t;=%', 'A=fallback', 'B=fallback', 'C=']);
  });

  it("the magic variables of the file a value is in; upper case, the named file's", () => {
    const { config, dir } = load('[uwsgi]\ninclude = %dconf/extra.ini\nenv = TOP=%n.%e %c\n', {}, { 'conf/extra.ini': '[uwsgi]\nenv = INNER=%d|%n|%N|%s\n' });
    expect(config.env).toEqual([`INNER=${dir}/conf/|extra|uwsgi|extra.ini`, `TOP=uwsgi.ini ${path.basename(dir)}`]);
  });

  it("uWSGI's magic variables that mean nothing here are refused, naming the escape", () => {
    expect(refusal(() => load('[uwsgi]\nenv = V=%V\n'))).toMatch(
      /uwsgi\.ini:2: env: %V is uWSGI's magic variable for uWSGI's version, which tsgi does not have; write %%V for the text %V$/,
    );
  });
});

describe("uWSGI's config logic", () => {
  it('include: the file in place of its line, with its own section rules; inherit: after every line', () => {
    const { config, origins, dir } = load(
      '[uwsgi]\nsocket = /tmp/a.sock\ninherit = %dbase.ini\ninclude = %dmore.ini:prod\nsocket = /tmp/c.sock\n',
      {},
      { 'more.ini': '[uwsgi]\nsocket = /tmp/wrong.sock\n[prod]\nsocket = /tmp/b.sock\n', 'base.ini': '[uwsgi]\nsocket = /tmp/d.sock\nprocesses = 2\n' },
    );
    expect(config.socket).toEqual(['/tmp/a.sock', '/tmp/b.sock', '/tmp/c.sock', '/tmp/d.sock']);
    expect(config.processes).toBe(2);
    expect(origins.get('socket')![1]).toEqual(expect.objectContaining({ file: path.join(dir, 'more.ini'), line: 4 }));
  });

  it('include and inherit: an option set in both is set again, naming both places', () => {
    const message = refusal(() => load('[uwsgi]\ninherit = %dbase.ini\nprocesses = 4\n', {}, { 'base.ini': '[uwsgi]\nprocesses = 2\n' }));
    expect(message).toMatch(/base\.ini:2: processes: set again \(first at .*uwsgi\.ini:3\); processes takes one value$/);
  });

  it('include: a missing file, a file including itself', () => {
    expect(refusal(() => load('[uwsgi]\ninclude = nothere.ini\n'))).toMatch(/uwsgi\.ini:2: include nothere\.ini: cannot read it: no such file$/);
    expect(refusal(() => load('[uwsgi]\ninclude = %dloop.ini\n', {}, { 'loop.ini': '[uwsgi]\ninclude = %duwsgi.ini\n' }))).toMatch(
      /loop\.ini:2: include: .*uwsgi\.ini includes itself \(.*uwsgi\.ini → .*loop\.ini → .*uwsgi\.ini\)$/,
    );
  });

  it('for ... endfor: each line once per word, %(_) the word', () => {
    const { config, dir } = load('[uwsgi]\nfor = 3031 3032\nsocket = 127.0.0.1:%(_)\nenv = PORT_%(_)=yes\nendfor =\nprocesses = 2\n');
    expect(config.socket).toEqual(['127.0.0.1:3031', '127.0.0.1:3032']);
    expect(config.env).toEqual(['PORT_3031=yes', 'PORT_3032=yes']);
    if (uwsgi.bin) expect(uwsgiEnv(path.join(dir, 'uwsgi.ini'))).toEqual(config.env);
  });

  it('if-env, if-not-env, if-exists, if-not-exists, if-file, if-dir, if-opt ... endif', () => {
    const text = [
      '[uwsgi]',
      'if-env = STAGE',
      'env = A=%(_)',
      'endif =',
      'if-env = STAGE=staging',
      'env = B=staging',
      'endif =',
      'if-not-env = MISSING',
      'env = C=missing',
      'endif =',
      'if-exists = %dapp.mjs',
      'env = D=%(_)',
      'endif',
      'if-not-exists = %dnothere',
      'env = E=yes',
      'endif',
      'if-file = %d',
      'env = F=wrong',
      'endif',
      'if-dir = %d',
      'env = G=dir',
      'endif',
      'base = /srv',
      'if-opt = base=/srv',
      'env = H=%(_)',
      'end',
    ].join('\n');
    const { config, dir } = load(text, { STAGE: 'staging' }, { 'app.mjs': '' });
    const expected = ['A=staging', 'B=staging', 'C=missing', `D=${dir}/app.mjs`, 'E=yes', 'G=dir', 'H=/srv'];
    expect(config.env).toEqual(expected);
    if (uwsgi.bin) expect(uwsgiEnv(path.join(dir, 'uwsgi.ini'), { STAGE: 'staging' })).toEqual(expected);
  });

  it("else: uWSGI 2.1's (Debian's 2.0 has none)", () => {
    const text = '[uwsgi]\nif-env = STAGE=prod\nenv = B=prod\nelse =\nenv = B=not prod\nendif =\nif-dir = /\nenv = C=dir\nelse\nenv = C=none\nendif\n';
    expect(load(text, { STAGE: 'staging' }).config.env).toEqual(['B=not prod', 'C=dir']);
    expect(refusal(() => load('[uwsgi]\nelse\n'))).toMatch(/uwsgi\.ini:2: else: else outside an if-... block$/);
  });

  it('refuses what it does not do: nesting, logic tsgi lacks, %(_) outside a block', () => {
    const message = refusal(() =>
      load('[uwsgi]\nfor = a b\nif-env = X\nendif\nfor-glob = *.ini\nenv = X=%(_)\nendfor\nif-not-env = NOPE\nenv = Y=%(_)\nendif\n'),
    );
    expect(message.split('\n')).toEqual([
      expect.stringMatching(/uwsgi\.ini:3: if-env: inside the for block of line 2: uWSGI's config logic does not nest; close it first$/),
      expect.stringMatching(/uwsgi\.ini:5: for-glob: uWSGI config logic tsgi does not have; it reads include, inherit, for, if-env, /),
      expect.stringMatching(/uwsgi\.ini:9: env: %\(_\) has a value only inside a for or if-... block \(and if-not-env gives none\)$/),
    ]);
  });
});

describe('every problem in one pass', () => {
  it('a file with five refused keys reports all five, each with its line, and the bad values too', () => {
    const text = ['[tsgi]', 'processes = four', 'proceses = 4', 'harakiri = -1', 'enable-threads = true', 'socket = %(nothing)', 'module = app.mjs'].join('\n');
    const message = refusal(() => load(text, {}, {}));
    expect(message.split('\n')).toEqual([
      expect.stringMatching(/uwsgi\.ini:3: proceses: unknown option; did you mean processes\?/),
      expect.stringMatching(/uwsgi\.ini:5: enable-threads: a uWSGI option tsgi does not have/),
      expect.stringMatching(/uwsgi\.ini:6: socket: %\(nothing\) names no key of this section$/),
      expect.stringMatching(/uwsgi\.ini:2: processes "four": expected a whole number$/),
      expect.stringMatching(/uwsgi\.ini:4: harakiri "-1": expected a number of seconds$/),
    ]);
  });

  it('across sources: the command line, the environment and the files together', () => {
    const dir = folder({ 'a.ini': '[tsgi]\nprocesses = x\n' });
    const message = refusal(() => configFromCommandLine([path.join(dir, 'a.ini'), '--bogus', '--listen', 'many'], { TSGI_HARAKIRI: 'soon' }));
    expect(message.split('\n')).toEqual([
      'unknown option --bogus',
      expect.stringMatching(/a\.ini:2: processes "x": expected a whole number$/),
      'TSGI_HARAKIRI "soon": expected a number of seconds',
      '--listen "many": expected a whole number',
    ]);
  });
});
