/**
 * uwsgi.ini files of the shapes real projects use (uWSGI's Django tutorial, DigitalOcean's
 * Flask guide, tiangolo's uwsgi-nginx image, OpenStack Helm's charts, Debian's defaults,
 * Bloomberg's production guide, emperor vassals...), each with the module line pointing
 * at a JavaScript file, in __test__/fixtures/uwsgi-ini/. Each has its expected outcome:
 * it runs, with these warnings; or it is refused, with these lines. Lines are
 * `LINE: KEY` of the file; the messages themselves are tested in config.test.ts.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromCommandLine, renderConfig } from '../../src/config/index.js';
import { TsgiError } from '../../src/errors.js';

const CORPUS = path.resolve('__test__/fixtures/uwsgi-ini');
/** The environment the files are read with (docker-env.ini, secrets.ini, config-logic.ini). */
const ENV = { HOME: '/home/app', PORT: '9000' };

type Outcome = { runs: string[] } | { refused: string[] };

const EXPECTED: Record<string, Outcome> = {
  'bloomberg-production.ini': {
    // Its comments after the values are part of them, in uWSGI's INI as in tsgi's.
    refused: [
      '5: vacuum',
      '10: disable-logging',
      '11: log-4xx',
      '12: log-5xx',
      '14: harakiri',
      '17: max-requests',
      '18: max-worker-lifetime',
      '19: reload-on-rss',
      '20: worker-reload-mercy',
      '23: processes',
      // uWSGI's INI has no comments after a value: these values are "8    ; Minimum...".
      '24: cheaper',
      '25: cheaper-initial',
      '26: cheaper-overload',
      '27: cheaper-step',
    ],
  },
  // tsgi's --cheaper takes cheaper, cheaper-initial, cheaper-step and cheaper-overload; its one algorithm is no spare.
  'cheaper.ini': { runs: ['6: cheaper-algo'] },
  'common.ini': { runs: [] },
  'config-logic.ini': { runs: [] },
  'debian-app.ini': { runs: ['2: plugins'] },
  'debian-default.ini': { refused: ['24: pidfile', '25: socket', '26: logto'] },
  'django-nginx-tutorial.ini': { runs: ['10: home'] },
  'django-production.ini': { refused: ['11: daemonize'] },
  'docker-env.ini': { runs: ['9: die-on-term'] },
  'emperor-vassal.ini': { runs: [] },
  'flask-digitalocean.ini': { runs: ['11: die-on-term'] },
  'flask-http-router.ini': { runs: ['7: threads'] },
  'include-common.ini': { runs: [] },
  'logging.ini': { runs: [] },
  'mistakes.ini': { refused: ['2: modul', '3: proceses', '6: socket', '4: harakiri', '5: chmod-socket'] },
  'openstack-helm-keystone.ini': { refused: ['12: route-user-agent'] },
  'openstack-helm-nova.ini': {
    refused: ['4: chunked-input-limit', '9: http-auto-chunked', '10: http-raw-body', '16: route-user-agent', '28: stats-push'],
  },
  'pyramid-paste.ini': { refused: ['5: paste', '6: paste-logger'] },
  'python-settings.ini': {
    runs: [
      '2: plugin',
      '3: virtualenv',
      '4: pythonpath',
      '5: python-path',
      '8: enable-threads',
      '9: single-interpreter',
      '10: py-autoreload',
      '11: wsgi-disable-file-wrapper',
    ],
  },
  'secrets.ini': { runs: [] },
  'staging-sections.ini': { runs: [] },
  'static-map.ini': { runs: ['6: offload-threads'] },
  'tiangolo-app.ini': { runs: [] },
  'tiangolo-uwsgi-nginx-base.ini': { runs: ['6: hook-master-start', '8: die-on-term', '10: show-config'] },
  'tsgi-native.ini': { runs: [] },
};

/** `LINE: KEY` of each message about a line of `file`. */
function linesOf(messages: readonly string[], file: string): string[] {
  return messages.map((message) => {
    const match = new RegExp(`${file.replace(/\./g, '\\.')}:(\\d+): ([a-z0-9-]+)`).exec(message);
    if (!match) throw new Error(`not about a line of ${file}: ${message}`);
    return `${match[1]}: ${match[2]}`;
  });
}

function outcome(file: string): Outcome {
  try {
    return { runs: linesOf(configFromCommandLine([path.join(CORPUS, file)], ENV).warnings, file) };
  } catch (error) {
    if (!(error instanceof TsgiError)) throw error;
    return { refused: linesOf(error.message.split('\n'), file) };
  }
}

describe('a corpus of real uwsgi.ini shapes', () => {
  it('has at least 20 files, each with its expected outcome', () => {
    const files = readdirSync(CORPUS).filter((name) => name.endsWith('.ini'));
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s', (file, expected) => {
    expect(outcome(file)).toEqual(expected);
  });

  it('the files that run print a configuration that reads back the same', () => {
    for (const [file, expected] of Object.entries(EXPECTED)) {
      if (!('runs' in expected)) continue;
      const loaded = configFromCommandLine([path.join(CORPUS, file)], ENV);
      const printed = path.join(CORPUS, '..', `printed-${file}`);
      expect(reread(renderConfig(loaded), printed), file).toEqual(loaded.config);
    }
  });

  it('values come out as uWSGI reads them', () => {
    const read = (file: string) => configFromCommandLine([path.join(CORPUS, file)], ENV).config;
    expect(read('secrets.ini').env).toEqual([
      'DATABASE_URL=postgres://app:pa#ss;word@db:5432/app?sslmode=require',
      'API_KEY=s3cr3t#;=%',
      'GREETING="hello; world"',
      'LOG_DATE=%Y-%m-%d',
      'HOME_DIR=/home/app',
    ]);
    expect(read('config-logic.ini')).toMatchObject({ socket: ['127.0.0.1:3031', '127.0.0.1:3032'], 'http-socket': [':9000'] });
    expect(read('include-common.ini')).toMatchObject({ master: true, harakiri: 30, 'max-requests': 1000, socket: ['/run/include-common.sock'], processes: 4 });
    expect(read('docker-env.ini')).toMatchObject({ module: 'app.mjs', 'http-socket': [':9000'], processes: 2, harakiri: 30 });
    expect(read('emperor-vassal.ini')).toMatchObject({ socket: ['/run/uwsgi/emperor-vassal.sock'], chdir: '/srv/emperor-vassal' });
    expect(configFromCommandLine(['--ini', `${path.join(CORPUS, 'staging-sections.ini')}:staging`], ENV).config).toMatchObject({
      'http-socket': ['127.0.0.1:8000'],
      processes: 1,
    });
  });
});

/** `text` written to `file` and read back as a config file. */
function reread(text: string, file: string): unknown {
  writeFileSync(file, text);
  try {
    return configFromCommandLine([file], {}).config;
  } finally {
    rmSync(file);
  }
}
