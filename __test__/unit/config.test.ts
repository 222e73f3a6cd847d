/**
 * The configuration: the command line, config files (INI, JSON, TOML, YAML), TSGI_*
 * variables and code, their precedence, uWSGI's placeholders, and every refusal with its
 * exact message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configFromCode, configFromCommandLine, headerPairs, helpText, memoryReportLevel, renderConfig, type LoadedConfig } from '../../src/config/index.js';
import { OPTIONS } from '../../src/config/options.js';
import { HELP_SECTIONS } from '../../src/config/print.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { setLogSink } from '../../src/log.js';
import { defineConfig } from '../../src/serve.js';
import { warnIfExposed } from '../../src/net/sockets.js';

/** The command line alone, without the environment. */
const parseArgs = (argv: string[]) => configFromCommandLine(argv, {}).config;

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

/** Writes `files` (name → text) into a new temporary directory; returns its path. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsgi-config-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Loads a config file written from `text`, named `name`, alone on the command line. */
function loadFile(name: string, text: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const dir = folder({ [name]: text });
  return configFromCommandLine([path.join(dir, name), ...argv], env);
}

/** The TsgiError `load` throws: its code must be INVALID_OPTION; returns its message. */
function refusal(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(TsgiError);
    expect((error as TsgiError).code).toBe(ErrorCodes.INVALID_OPTION);
    return (error as Error).message;
  }
  throw new Error('expected a refusal, got none');
}

describe('switches (boolean options)', () => {
  it('bare, they are true, and the next option is parsed as usual', () => {
    const config = parseArgs(['--vacuum', '--chain-reload', '--socket', ':3031', '-L']);
    expect(config['chain-reload']).toBe(true);
    expect(config['disable-logging']).toBe(true);
    expect(config.socket).toEqual([':3031']);
  });

  it('take a following true/false word, or a value after =', () => {
    expect(parseArgs(['--vacuum', 'false']).vacuum).toBe(false);
    expect(parseArgs(['--master=no']).master).toBe(false);
    expect(parseArgs(['--need-app', 'off', '--socket', 'x/y'])['need-app']).toBe(false);
  });

  it('keep their defaults when absent', () => {
    const config = parseArgs([]);
    expect([config.master, config.vacuum, config['need-app'], config['chain-reload'], config['allow-root']]).toEqual([true, true, true, false, false]);
    expect(config.processes).toBe(1);
    expect(config.listen).toBeUndefined();
  });

  it('refuse anything else after =', () => {
    expect(() => parseArgs(['--vacuum=maybe'])).toThrow('--vacuum "maybe": expected true or false');
  });
});

describe('the master options', () => {
  it('take uWSGI short flags and aliases', () => {
    const config = parseArgs(['-p', '4', '-t', '30', '-R', '1000', '-M', '--workers', '3']);
    expect(config.processes).toBe(3);
    expect(config.harakiri).toBe(30);
    expect(config['max-requests']).toBe(1000);
    expect(config.master).toBe(true);
  });

  it('check ranges, naming the option', () => {
    expect(() => parseArgs(['--processes', '0'])).toThrow('--processes "0": must be at least 1');
    expect(() => parseArgs(['--harakiri', '-1'])).toThrow('--harakiri "-1": expected a number of seconds');
  });
});

describe('production defaults', () => {
  it("are uWSGI's tuned values, not its defaults", () => {
    const config = parseArgs([]);
    expect(config.master).toBe(true);
    expect(config['buffer-size']).toBe(65535);
    expect(config['need-app']).toBe(true);
    expect(config.vacuum).toBe(true);
    expect(config.listen).toBeUndefined(); // the kernel's somaxconn, read at start
    expect(config.socket).toEqual([]); // 127.0.0.1:3031 when no socket of any kind is named
  });

  it('a uwsgi or FastCGI socket other machines can reach is warned about; loopback, Unix sockets and HTTP are not', () => {
    const lines: string[] = [];
    const previous = setLogSink((_level, line) => lines.push(line));
    try {
      warnIfExposed({ protocol: 'uwsgi', name: ':3031', option: '--socket' }, '0.0.0.0:3031');
      warnIfExposed({ protocol: 'fastcgi', name: '[::]:9000', option: '--fastcgi-socket' }, '[::]:9000');
      warnIfExposed({ protocol: 'uwsgi', name: '10.1.2.3:3031', option: '--socket' }, '10.1.2.3:3031');
      warnIfExposed({ protocol: 'uwsgi', name: '127.0.0.1:3031', option: '--socket' }, '127.0.0.1:3031');
      warnIfExposed({ protocol: 'uwsgi', name: '127.0.0.2:0', option: '--socket' }, '127.0.0.2:41000');
      warnIfExposed({ protocol: 'fastcgi', name: '[::1]:9000', option: '--fastcgi-socket' }, '[::1]:9000');
      warnIfExposed({ protocol: 'uwsgi', name: '/run/app.sock', option: '--socket' }, '/run/app.sock');
      warnIfExposed({ protocol: 'http', name: ':8080', option: '--http-socket' }, '0.0.0.0:8080');
    } finally {
      setLogSink(previous);
    }
    expect(lines).toEqual([
      '--socket :3031: bound to 0.0.0.0:3031, which other machines can reach; the uwsgi protocol has no authentication and lets whoever connects set any request var (REMOTE_ADDR, HTTPS, SCRIPT_NAME...): bind it to 127.0.0.1 or a Unix socket behind your web server, or firewall the port',
      expect.stringMatching(/^--fastcgi-socket \[::\]:9000: bound to \[::\]:9000, which other machines can reach; the FastCGI protocol has no authentication/),
      expect.stringMatching(/^--socket 10\.1\.2\.3:3031: bound to 10\.1\.2\.3:3031, which other machines can reach/),
    ]);
  });
});

describe('the command line', () => {
  it('takes one config file on its own, anywhere, its format told by the extension', () => {
    const dir = folder({ 'app.toml': '[tsgi]\nprocesses = 3\n' });
    expect(configFromCommandLine(['--allow-root', path.join(dir, 'app.toml')], {}).config.processes).toBe(3);
    expect(refusal(() => configFromCommandLine([path.join(dir, 'app.toml'), 'two.ini'], {}))).toBe(
      'unexpected argument "two.ini"; options start with --, and the app module (tsgi app.mjs) or one config file (tsgi app.ini) may be named alone',
    );
  });

  it('refuses unknown options with the closest name', () => {
    expect(refusal(() => parseArgs(['--proceses', '3']))).toBe('unknown option --proceses; did you mean --processes?');
    expect(refusal(() => parseArgs(['--xyzzy']))).toBe('unknown option --xyzzy');
    expect(refusal(() => parseArgs(['-Q']))).toBe('unknown option -Q');
  });

  it('refuses a value for a flag, and a missing value', () => {
    expect(refusal(() => parseArgs(['--help=yes']))).toBe('--help takes no value');
    expect(refusal(() => parseArgs(['--module']))).toBe('--module needs a value');
  });

  it('checks every type', () => {
    expect(refusal(() => parseArgs(['--buffer-size', '4k']))).toBe('--buffer-size "4k": expected a whole number');
    expect(refusal(() => parseArgs(['--buffer-size', '2000000']))).toBe('--buffer-size "2000000": must be at most 1048576');
    expect(refusal(() => parseArgs(['--chmod-socket', '999']))).toBe('--chmod-socket "999": expected an octal file mode such as 660');
    expect(refusal(() => parseArgs(['--adapter', 'wsgi']))).toBe('--adapter "wsgi": expected one of auto, tsgi, fetch, node');
    expect(refusal(() => parseArgs(['--module=']))).toBe('--module "": must not be empty');
    expect(refusal(() => parseArgs(['--env', '1A=b']))).toBe('--env "1A=b": expected KEY=VALUE, KEY made of letters, digits and _');
    expect(parseArgs(['--chmod-socket', '600'])['chmod-socket']).toBe(0o600);
    expect(parseArgs(['--socket-timeout', '2.5'])['socket-timeout']).toBe(2.5);
  });

  it('--help shows every option once, in its section, after three example command lines', () => {
    const text = helpText();
    const names = (OPTIONS as readonly { name: string }[]).map((spec) => spec.name);
    expect(HELP_SECTIONS.flatMap(([, options]) => options).sort()).toEqual([...names].sort());
    for (const name of names) expect(text.match(new RegExp(`^  (?:-\\w, )?--${name}(?=[ ,]|$)`, 'gm')), name).toHaveLength(1);
    expect(
      text
        .split('\n\n')[1]!
        .split('\n')
        .filter((line) => line.startsWith('  tsgi ')),
    ).toHaveLength(3);
    expect(text.indexOf('\nsockets:\n')).toBeLessThan(text.indexOf('\nthe app:\n'));
    expect(text).not.toContain('\nother:\n');
  });

  it('with --help or --version reads nothing else', () => {
    const config = configFromCommandLine(['--help', '--ini', '/nonexistent.ini'], { TSGI_PROCESSES: 'x' }).config;
    expect(config.help).toBe(true);
    expect(helpText()).toContain('  -p, --processes, --workers N\n      worker processes serving the app (default: 1)');
  });
});

describe('config files', () => {
  it("INI: [tsgi] first, else [uwsgi]; repeated keys, bare switches, comments, aliases; quotes and ; kept, as uWSGI's", () => {
    const ini = [
      '; a comment',
      '# another',
      '[uwsgi]',
      'processes = 9',
      '[tsgi]',
      'socket = /tmp/a.sock',
      'uwsgi-socket = 127.0.0.1:3031',
      'master',
      'vacuum = false',
      'wsgi-file = ./app.mjs',
      'log-format = "%(method) %(uri); %(status)"',
      'pidfile = /tmp/app.pid ; comment after the value',
    ].join('\n');
    const { config, origins } = loadFile('app.ini', ini);
    expect(config.socket).toEqual(['/tmp/a.sock', '127.0.0.1:3031']);
    expect(config.master).toBe(true);
    expect(config.vacuum).toBe(false);
    expect(config.module).toBe('./app.mjs');
    expect(config['log-format']).toBe('"%(method) %(uri); %(status)"');
    expect(config.pidfile).toBe('/tmp/app.pid ; comment after the value');
    expect(config.processes).toBe(1); // the [uwsgi] section is not read when [tsgi] exists
    expect(origins.get('socket')).toEqual([
      { kind: 'file', file: expect.stringMatching(/app\.ini$/), section: 'tsgi', key: 'socket', line: 6 },
      { kind: 'file', file: expect.stringMatching(/app\.ini$/), section: 'tsgi', key: 'uwsgi-socket', line: 7 },
    ]);
  });

  it('INI: the [uwsgi] section of an existing uwsgi.ini, or a section named after a colon', () => {
    const dir = folder({ 'uwsgi.ini': '[uwsgi]\nprocesses = 4\n[staging]\nprocesses = 2\n' });
    expect(configFromCommandLine([path.join(dir, 'uwsgi.ini')], {}).config.processes).toBe(4);
    expect(configFromCommandLine(['--ini', `${path.join(dir, 'uwsgi.ini')}:staging`], {}).config.processes).toBe(2);
  });

  it('JSON, TOML and YAML: typed values, lists for options that take several, lines from the parser', () => {
    const json = loadFile(
      'app.json',
      '{\n  "tsgi": {\n    "socket": ["/tmp/a.sock", ":3031"],\n    "processes": 2,\n    "master": true,\n    "chmod-socket": 600\n  }\n}\n',
    );
    expect(json.config.socket).toEqual(['/tmp/a.sock', ':3031']);
    expect([json.config.processes, json.config.master, json.config['chmod-socket']]).toEqual([2, true, 0o600]);
    expect(json.origins.get('processes')).toEqual([expect.objectContaining({ kind: 'file', key: 'processes', line: 4 })]);
    const toml = loadFile('app.toml', '[tsgi]\nsocket = ["/tmp/a.sock"]\nprocesses = 3\nharakiri = 2.5\nenv = ["A=1", "B=2"]\n');
    expect([toml.config.socket, toml.config.processes, toml.config.harakiri, toml.config.env]).toEqual([['/tmp/a.sock'], 3, 2.5, ['A=1', 'B=2']]);
    expect(toml.origins.get('harakiri')).toEqual([expect.objectContaining({ line: 4 })]);
    const yaml = loadFile('app.yaml', 'tsgi:\n  socket:\n    - /tmp/a.sock\n    - :3031\n  processes: 5\n  vacuum: false\n');
    expect([yaml.config.socket, yaml.config.processes, yaml.config.vacuum]).toEqual([['/tmp/a.sock', ':3031'], 5, false]);
    expect(yaml.origins.get('socket')!.map((o) => (o as { line: number }).line)).toEqual([3, 4]);
  });

  it('are named by --ini, --json, --toml, --yaml, or TSGI_INI... when the command line names none', () => {
    const dir = folder({ 'a.ini': '[tsgi]\nprocesses = 2\n', 'b.yml': 'tsgi:\n  processes: 3\n' });
    const a = path.join(dir, 'a.ini');
    const b = path.join(dir, 'b.yml');
    expect(configFromCommandLine(['--yml', b], {}).config.processes).toBe(3);
    expect(configFromCommandLine([], { TSGI_INI: a }).config.processes).toBe(2);
    expect(configFromCommandLine(['--yaml', b], { TSGI_INI: a }).config.processes).toBe(3);
  });
});

describe('precedence', () => {
  it('defaults < config files (a later one wins) < environment < command line', () => {
    const dir = folder({
      'a.ini': '[tsgi]\nprocesses = 2\nharakiri = 5\nmax-requests = 7\nlog-slow = 9\n',
      'b.json': '{"tsgi": {"harakiri": 6, "max-requests": 8}}',
    });
    const { config, origins } = configFromCommandLine(['--ini', path.join(dir, 'a.ini'), '--json', path.join(dir, 'b.json'), '-R', '100'], {
      TSGI_MAX_REQUESTS: '50',
      TSGI_LOG_SLOW: '70',
    });
    expect([config.processes, config.harakiri, config['log-slow'], config['max-requests'], config['buffer-size']]).toEqual([2, 6, 70, 100, 65535]);
    expect(origins.get('processes')).toEqual([expect.objectContaining({ kind: 'file', file: path.join(dir, 'a.ini') })]);
    expect(origins.get('harakiri')).toEqual([expect.objectContaining({ kind: 'file', file: path.join(dir, 'b.json') })]);
    expect(origins.get('log-slow')).toEqual([{ kind: 'env', variable: 'TSGI_LOG_SLOW' }]);
    expect(origins.get('max-requests')).toEqual([{ kind: 'flag', flag: '-R' }]);
    expect(origins.get('buffer-size')).toEqual([{ kind: 'default' }]);
  });

  it('an option that takes several values is replaced whole by a higher source', () => {
    const dir = folder({ 'a.ini': '[tsgi]\nsocket = /tmp/a.sock\nsocket = /tmp/b.sock\nhttp-socket = :8080\n' });
    const file = path.join(dir, 'a.ini');
    expect(configFromCommandLine([file], {}).config.socket).toEqual(['/tmp/a.sock', '/tmp/b.sock']);
    expect(configFromCommandLine([file], { TSGI_SOCKET: '/tmp/c.sock\n/tmp/d.sock\n' }).config.socket).toEqual(['/tmp/c.sock', '/tmp/d.sock']);
    const config = configFromCommandLine([file, '--socket', ':1', '--socket', ':2'], { TSGI_SOCKET: '/tmp/c.sock' }).config;
    expect(config.socket).toEqual([':1', ':2']);
    expect(config['http-socket']).toEqual([':8080']);
  });

  it('env merges by KEY across sources, a higher source winning a KEY', () => {
    const dir = folder({ 'a.ini': '[tsgi]\nenv = A=file\nenv = B=file\nenv = C=file\n' });
    const { config, origins } = configFromCommandLine([path.join(dir, 'a.ini'), '--env', 'B=flag'], { TSGI_ENV: 'C=env\nD=env' });
    expect(config.env).toEqual(['A=file', 'B=flag', 'C=env', 'D=env']);
    expect(origins.get('env')!.map((o) => o.kind)).toEqual(['file', 'flag', 'env', 'env']);
  });

  it('every value is checked, even one a higher source overrides', () => {
    expect(refusal(() => loadFile('a.ini', '[tsgi]\nprocesses = lots\n', ['--processes', '2']))).toMatch(
      /a\.ini:2: processes "lots": expected a whole number$/,
    );
  });
});

describe('the environment', () => {
  it('TSGI_<OPTION>: upper case, - as _, aliases too', () => {
    const { config, warnings } = configFromCommandLine([], { TSGI_PROCESSES: '3', TSGI_CHAIN_RELOAD: 'yes', TSGI_WSGI_FILE: 'app.mjs', PATH: '/bin' });
    expect([config.processes, config['chain-reload'], config.module]).toEqual([3, true, 'app.mjs']);
    expect(warnings).toEqual([]);
  });

  it("warns about a TSGI_ variable that names no option, suggesting one; the loader's own are not options", () => {
    const { warnings } = configFromCommandLine([], {
      TSGI_PROCESES: '3',
      TSGI_NATIVE: '0',
      TSGI_NATIVE_PATH: '/x.node',
      TSGI_PRINT_CONFIG: '1',
      TSGI_ZZZZZZZZ: '1',
    });
    expect(warnings).toEqual([
      'environment variable TSGI_PROCESES ignored: no option is called that; did you mean TSGI_PROCESSES?',
      'environment variable TSGI_PRINT_CONFIG ignored: --print-config is for the command line only',
      'environment variable TSGI_ZZZZZZZZ ignored: no option is called that',
    ]);
  });

  it('refuses bad values, naming the variable', () => {
    expect(refusal(() => configFromCommandLine([], { TSGI_PROCESSES: 'four' }))).toBe('TSGI_PROCESSES "four": expected a whole number');
    expect(refusal(() => configFromCommandLine([], { TSGI_VACUUM: 'maybe' }))).toBe('TSGI_VACUUM "maybe": expected true or false');
  });
});

describe('placeholders', () => {
  const load = (lines: string[], env: NodeJS.ProcessEnv = {}) => loadFile('site.ini', ['[uwsgi]', ...lines].join('\n'), [], env);

  it('%(name): another option, or a key of your own, in any order, through other placeholders', () => {
    const { config } = load(['socket = %(run)/%(name).sock', 'run = %(base)/run', 'base = /srv', 'name = app', 'pidfile = %(socket).pid']);
    expect(config.socket).toEqual(['/srv/run/app.sock']);
    expect(config.pidfile).toBe('/srv/run/app.sock.pid');
  });

  it('$(NAME): an environment variable', () => {
    expect(load(['module = $(APP_HOME)/app.mjs'], { APP_HOME: '/opt/x' }).config.module).toBe('/opt/x/app.mjs');
  });

  it("%d: the file's directory with a trailing /; %n: its name without extension", () => {
    const { config } = load(['module = %dapp.mjs', 'pidfile = /run/%n.pid']);
    expect(path.dirname(config.module!)).toBe(dirs.at(-1));
    expect(config.module!.endsWith('/app.mjs') && !config.module!.includes('//')).toBe(true);
    expect(config.pidfile).toBe('/run/site.pid');
  });

  it('%k: the CPU count; %h: the host name', () => {
    const { config } = load(['processes = %k', 'module = /apps/%h.mjs']);
    expect(config.processes).toBe(os.availableParallelism());
    expect(config.module).toBe(`/apps/${os.hostname()}.mjs`);
  });

  it("log-format keeps a %(name) that is no key: the request log's own", () => {
    expect(load(['who = me', 'log-format = %(who) %(method) %(uri) => %(status)']).config['log-format']).toBe('me %(method) %(uri) => %(status)');
  });

  it('in JSON, TOML and YAML too', () => {
    expect(loadFile('x.yaml', 'tsgi:\n  base: /srv\n  module: "%(base)/%n.mjs"\n').config.module).toBe('/srv/x.mjs');
    expect(loadFile('x.toml', '[tsgi]\nbase = "/srv"\nmodule = "%(base)/a.mjs"\n').config.module).toBe('/srv/a.mjs');
  });

  it('are refused when they name nothing, or loop', () => {
    expect(refusal(() => load(['base = /srv', 'module = %(base)/a.mjs', 'socket = %(bsae)/x.sock']))).toMatch(
      /site\.ini:4: socket: %\(bsae\) names no key of this section; did you mean %\(base\)\?$/,
    );
    expect(refusal(() => load(['module = $(TSGI_TEST_UNSET_VARIABLE)/a.mjs']))).toMatch(
      /site\.ini:2: module: \$\(TSGI_TEST_UNSET_VARIABLE\): no such environment variable \(write \$\(TSGI_TEST_UNSET_VARIABLE:-default\) for a default\)$/,
    );
    expect(refusal(() => load(['a = %(b)', 'b = %(a)', 'module = %(a)']))).toMatch(/site\.ini:4: module: %\(a\) refers to itself \(module → a → b → a\)$/);
  });

  it('never run anything nor reach the network: @(exec://...) and @(http://...) are refused', () => {
    for (const source of ['exec://touch /tmp/x', 'http://example.com/secret'])
      expect(refusal(() => load([`module = @(${source})`]))).toMatch(
        new RegExp(
          `site\\.ini:2: module: @\\(${source.replace(/[/.]/g, '\\$&')}\\): a config file never runs a command nor reads a URL; put the value in a file and write @\\(/path/to/it\\)$`,
        ),
      );
  });
});

describe('uWSGI-only options', () => {
  it('are ignored in a [uwsgi] section, with one warning each', () => {
    const { config, warnings } = loadFile(
      'uwsgi.ini',
      '[uwsgi]\nenable-threads = true\nplugins = python3\nplugin = router\nplugins = logfile\ndie-on-term\nprocesses = 2\n',
    );
    expect(config.processes).toBe(2);
    expect(warnings).toEqual([
      expect.stringMatching(/uwsgi\.ini:2: enable-threads: a uWSGI option tsgi does not have, ignored: Python's GIL switch; a Node app needs none$/),
      expect.stringMatching(/uwsgi\.ini:3: plugins: a uWSGI option tsgi does not have, ignored: tsgi has no plugins; uwsgi, FastCGI and HTTP are built in$/),
      expect.stringMatching(/uwsgi\.ini:4: plugin: a uWSGI option tsgi does not have, ignored: /),
      expect.stringMatching(/uwsgi\.ini:6: die-on-term: a uWSGI option tsgi does not have, ignored: SIGTERM is a graceful shutdown already$/),
    ]);
  });

  it('are errors anywhere else', () => {
    expect(refusal(() => loadFile('a.ini', '[tsgi]\nenable-threads = true\n'))).toMatch(
      /a\.ini:2: enable-threads: a uWSGI option tsgi does not have \(Python's GIL switch; a Node app needs none\); it is ignored only in a \[uwsgi\] section, for uwsgi\.ini files$/,
    );
    expect(refusal(() => parseArgs(['--enable-threads']))).toBe(
      "--enable-threads: a uWSGI option tsgi does not have (Python's GIL switch; a Node app needs none); it is ignored only in a [uwsgi] section, for uwsgi.ini files",
    );
    expect(refusal(() => configFromCode({ lazyApps: true } as never, 'serve()', {}))).toBe(
      'serve(): lazyApps: a uWSGI option tsgi does not have (each worker loads the app itself, after it starts, always); it is ignored only in a [uwsgi] section, for uwsgi.ini files',
    );
  });

  it('any other unknown key in a [uwsgi] section is an error with the closest name, or the hint for a key of your own', () => {
    expect(refusal(() => loadFile('uwsgi.ini', '[uwsgi]\nproceses = 4\n'))).toMatch(/uwsgi\.ini:2: proceses: unknown option; did you mean processes\?$/);
    expect(refusal(() => loadFile('uwsgi.ini', '[uwsgi]\nmy-base = /srv\n'))).toMatch(
      /uwsgi\.ini:2: my-base: unknown option \(a key of your own must be used as %\(my-base\)\)$/,
    );
  });

  it("uWSGI's other options are refused as such, with what to do instead, never with another uWSGI option as a guess", () => {
    const message = refusal(() =>
      loadFile(
        'uwsgi.ini',
        [
          '[uwsgi]',
          'daemonize = /var/log/app.log',
          'stats-push = statsd:127.0.0.1:8125',
          'wsgi-env-behaviour = cheat',
          'touch-logreopen = x',
          'cpu-affinity = 1',
        ].join('\n'),
      ),
    );
    expect(message.split('\n').map((line) => line.replace(/^.*uwsgi\.ini:/, ''))).toEqual([
      '2: daemonize: a uWSGI option tsgi does not have: run tsgi in the foreground under systemd, a container or supervisord; --logto writes the log to a file',
      '3: stats-push: a uWSGI option tsgi does not have: tsgi pushes no stats: scrape them from --stats, as JSON (uwsgitop) or Prometheus text (--stats-http, /metrics)',
      "4: wsgi-env-behaviour: an option of uWSGI's python plugin, which tsgi does not have (tsgi serves JavaScript); remove it",
      '5: touch-logreopen: a uWSGI option tsgi does not have; remove it (tsgi --help lists what tsgi has)',
      '6: cpu-affinity: a uWSGI option tsgi does not have; remove it (tsgi --help lists what tsgi has)',
    ]);
    expect(refusal(() => parseArgs(['--static-map2', '/static=/srv/static']))).toBe(
      '--static-map2: a uWSGI option tsgi does not have: serve static files from the web server in front (nginx: location with alias), or from the app',
    );
    // A typo of tsgi's own option still gets its suggestion.
    expect(refusal(() => parseArgs(['--harakri', '3']))).toBe('unknown option --harakri; did you mean --harakiri?');
  });
});

describe('refusals from files name the file and line', () => {
  const cases: Array<[string, string, string]> = [
    ['a.ini', '[tsgi]\nprocesses = 2\nprocesses = 3\n', 'a.ini:3: processes: set again (first at {dir}/a.ini:2); processes takes one value'],
    ['a.ini', '[tsgi]\nmodule\n', 'a.ini:2: module: needs a value'],
    ['a.ini', '[tsgi]\nhelp = true\n', 'a.ini:2: help: --help is for the command line only'],
    ['a.ini', '[tsgi]\nini = other.ini\n', 'a.ini:2: ini other.ini: cannot read it: no such file'],
    ['a.yaml', 'tsgi:\n  ini: other.ini\n', 'a.yaml:2: ini: only an INI file reads another one (include = FILE); or name them all on the command line'],
    ['a.ini', '[other]\nprocesses = 2\n', 'a.ini: no [tsgi] or [uwsgi] section'],
    ['a.yaml', 'tsgi:\n  socket:\n    - :1\n    - x: 1\n', 'a.yaml:4: socket: expected a value, not a mapping'],
    ['a.yaml', 'tsgi:\n  processes: [1, 2]\n', 'a.yaml:2: processes: takes a single value, not a list'],
    ['a.yaml', 'tsgi:\n  module:\n', 'a.yaml:2: module null: needs a value'],
    ['a.yaml', 'tsgi:\n  a: [1\n  b: 2\n', 'a.yaml:3: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['a.yaml', 'uwsgi:\n  x: 1\n', 'a.yaml:2: x: unknown option (a key of your own must be used as %(x))'],
    ['a.toml', '[tsgi]\nprocesses = "x"\n', 'a.toml:2: processes "x": expected a whole number'],
    ['a.toml', '[tsgi\nx=1\n', 'a.toml:1: not valid TOML: illegal character in key'],
    ['a.toml', '[tsgi]\nstarted = 1979-05-27\n', 'a.toml:2: started: unknown option (a key of your own must be used as %(started))'],
    ['a.toml', '[tsgi]\nmodule = 1979-05-27\n', 'a.toml:2: module: expected a single value, not a date'],
    ['a.json', '{"tsgi": {"harakiri": -1}}', 'a.json:1: harakiri -1: expected a number of seconds'],
    ['a.json', '{\n"tsgi": {\n"processes": 2\n"x": 1}}', "a.json:4: not valid JSON: Expected ',' or '}' after property value"],
    ['a.json', '{"tsgi": 3}', 'a.json: no "tsgi" or "uwsgi" section'],
  ];
  it.each(cases)('%s: %j', (name, text, expected) => {
    const message = refusal(() => loadFile(name, text));
    const dir = dirs.at(-1)!;
    expect(message).toBe(`${dir}/${expected.replace('{dir}', dir)}`);
  });

  it('an unreadable file, an unknown extension, a missing section', () => {
    expect(refusal(() => configFromCommandLine(['nothere.ini'], {}))).toBe('config file nothere.ini: cannot read it: no such file');
    expect(refusal(() => configFromCommandLine(['--ini', 'nothere.ini'], {}))).toBe('--ini nothere.ini: cannot read it: no such file');
    expect(refusal(() => configFromCommandLine([], { TSGI_YAML: 'nothere.yaml' }))).toBe('TSGI_YAML nothere.yaml: cannot read it: no such file');
    expect(refusal(() => configFromCommandLine(['app.conf'], {}))).toBe(
      'app.conf: cannot tell its format from the extension (.ini, .json, .toml, .yaml or .yml); or name it with --ini, --json, --toml or --yaml',
    );
    const dir = folder({ 'a.ini': '[tsgi]\nprocesses = 2\n' });
    expect(refusal(() => configFromCommandLine([`${path.join(dir, 'a.ini')}:prod`], {}))).toBe(`${path.join(dir, 'a.ini')}: no [prod] section`);
  });
});

describe('from code', () => {
  it('camelCase names, typed values, a list or one value where several are taken', () => {
    const { config, origins } = configFromCode(
      { httpSocket: '127.0.0.1:0', socket: ['/tmp/a.sock', ':1'], maxRequests: 10, log4xx: true, chmodSocket: 0o600, wsgiFile: 'app.mjs' },
      'serve()',
      {},
    );
    expect(config['http-socket']).toEqual(['127.0.0.1:0']);
    expect(config.socket).toEqual(['/tmp/a.sock', ':1']);
    expect([config['max-requests'], config['log-4xx'], config['chmod-socket'], config.module]).toEqual([10, true, 0o600, 'app.mjs']);
    expect(origins.get('max-requests')).toEqual([{ kind: 'code', caller: 'serve()', key: 'maxRequests' }]);
  });

  it('refuses unknown names and bad values, naming the caller and the key', () => {
    expect(refusal(() => configFromCode({ maxRequest: 1 } as never, 'serve()', {}))).toBe('serve(): maxRequest: unknown option; did you mean maxRequests?');
    expect(refusal(() => configFromCode({ 'max-requests': 1 } as never, 'serve()', {}))).toBe(
      'serve(): max-requests: unknown option; did you mean maxRequests?',
    );
    expect(refusal(() => configFromCode({ processes: 0 }, 'serve()', {}))).toBe('serve(): processes 0: must be at least 1');
    expect(refusal(() => configFromCode({ processes: [1, 2] } as never, 'serve()', {}))).toBe('serve(): processes: takes a single value, not a list');
    expect(refusal(() => configFromCode({ module: { path: 'x' } } as never, 'serve()', {}))).toBe('serve(): module: expected a single value, not a mapping');
    expect(refusal(() => configFromCode({ help: true } as never, 'serve()', {}))).toBe('serve(): help: --help is for the command line only');
  });

  it('reads the files it names, under its own options', () => {
    const dir = folder({ 'a.toml': '[tsgi]\nprocesses = 3\nharakiri = 4\n' });
    const { config } = configFromCode({ toml: path.join(dir, 'a.toml'), harakiri: 9 }, 'serve()', {});
    expect([config.processes, config.harakiri]).toEqual([3, 9]);
  });

  it('does not read TSGI_* variables', () => {
    expect(configFromCode({}, 'serve()', { TSGI_PROCESSES: '7' }).config.processes).toBe(1);
  });

  it('defineConfig() checks and returns the options as they are', () => {
    const options = { processes: 2, httpSocket: [':8080'] };
    expect(defineConfig(options)).toBe(options);
    expect(refusal(() => defineConfig({ processes: -1 }))).toBe('defineConfig(): processes -1: expected a whole number');
  });
});

describe('--print-config', () => {
  it('shows each value with its origin, and is itself a config file giving the same values', () => {
    const dir = folder({
      'uwsgi.ini': '[uwsgi]\nsocket = /tmp/a.sock\nsocket = /tmp/b.sock\nlog-format = %(method) %(uri); "%(status)"\nchmod-socket = 600\nenv = A=1\n',
    });
    const loaded = configFromCommandLine([path.join(dir, 'uwsgi.ini'), '--harakiri', '30'], { TSGI_PROCESSES: '4' });
    const text = renderConfig(loaded);
    const lines = text.split('\n');
    expect(lines.slice(0, 2)).toEqual(['; the merged configuration; above each value, where it came from', '[tsgi]']);
    const after = (origin: string) => lines[lines.indexOf(`; ${origin}`) + 1];
    expect(after(`${dir}/uwsgi.ini:3 [uwsgi]`)).toBe('socket = /tmp/b.sock');
    expect(after('TSGI_PROCESSES')).toBe('processes = 4');
    expect(after('--harakiri')).toBe('harakiri = 30');
    expect(after(`${dir}/uwsgi.ini:5 [uwsgi]`)).toBe('chmod-socket = 600');
    expect(after(`${dir}/uwsgi.ini:4 [uwsgi]`)).toBe('log-format = %%(method) %%(uri); "%%(status)"');
    expect(lines).toContain('buffer-size = 65535');
    expect(text).not.toMatch(/^(ini|help|version|print-config|listen) =/m);
    const again = loadFile('printed.ini', text).config;
    expect(again).toEqual(loaded.config);
  });
});

describe("uWSGI's options that tsgi implements, read with uWSGI's meaning", () => {
  it('--add-header takes Name: value, repeatable; refuses what is not one header line, and the framing’s own headers', () => {
    expect(parseArgs(['--add-header', 'X-Frame-Options: DENY', '--add-header', 'Connection: close'])['add-header']).toEqual([
      'X-Frame-Options: DENY',
      'Connection: close',
    ]);
    expect(headerPairs(['X-A:  b c ', 'Connection: close'])).toEqual([
      ['X-A', 'b c'],
      ['Connection', 'close'],
    ]);
    expect(refusal(() => parseArgs(['--add-header', 'no colon']))).toBe(`--add-header "no colon": expected 'Name: value'`);
    expect(refusal(() => parseArgs(['--add-header', 'Bad Name: x']))).toMatch(/^--add-header "Bad Name: x": the header name "Bad Name" is not a token/);
    expect(refusal(() => parseArgs(['--add-header', 'Transfer-Encoding: chunked']))).toMatch(/Transfer-Encoding is hop-by-hop: tsgi's framing sets it/);
    expect(refusal(() => parseArgs(['--add-header', 'Connection: keep-alive']))).toMatch(/Connection is hop-by-hop/);
    expect(refusal(() => parseArgs(['--add-header', 'Content-Length: 5']))).toMatch(/Content-Length is set from the body/);
  });

  it('--memory-report: 0, 1, 2 and the switch words; uWSGI turns `true` into 0 with a warning, tsgi reads what it means', () => {
    expect(['0', '1', '2', 'true', 'false', 'on', 'off'].map((v) => memoryReportLevel(parseArgs(['--memory-report', v])['memory-report']))).toEqual([
      0, 1, 2, 1, 0, 1, 0,
    ]);
    expect(refusal(() => parseArgs(['--memory-report', '3']))).toMatch(/^--memory-report "3": expected one of 0, 1, 2/);
  });

  it("log-date in a file: %% is strftime's %, and a single % that uWSGI's placeholders replaced is said, not hidden", () => {
    const escaped = loadFile('uwsgi.ini', '[uwsgi]\nlog-date = %%Y-%%m-%%d %%H:%%M:%%S\n');
    expect([escaped.config['log-date'], escaped.warnings]).toEqual(['%Y-%m-%d %H:%M:%S', []]);
    const single = loadFile('uwsgi.ini', '[uwsgi]\nlog-date = %Y-%m-%d\n');
    // %d is the file's directory (with its slash), as in uWSGI.
    expect(single.config['log-date']).toMatch(/^%Y-%m-\/.+\/$/);
    expect(single.warnings).toEqual([
      expect.stringMatching(
        /uwsgi\.ini:2: log-date "%Y-%m-%d" reads as ".*": uWSGI's magic variables \(%d the file's directory, %s its name\.\.\.\) were replaced; for strftime's conversions write %%d/,
      ),
    ]);
  });

  it('--post-buffering is bytes; --log-x-forwarded-for, --log-format-strftime, --exit-on-reload, --harakiri-verbose are switches', () => {
    const config = parseArgs(['--post-buffering', '8192', '--log-x-forwarded-for', '--logformat-strftime', '--exit-on-reload', '--harakiri-verbose']);
    expect([
      config['post-buffering'],
      config['log-x-forwarded-for'],
      config['log-format-strftime'],
      config['exit-on-reload'],
      config['harakiri-verbose'],
    ]).toEqual([8192, true, true, true, true]);
    expect(refusal(() => parseArgs(['--post-buffering', '8k']))).toMatch(/^--post-buffering "8k": expected a whole number/);
  });
});
