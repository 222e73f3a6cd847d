/**
 * --static-map and --static-expires as the master reads them before anything starts
 * (checkStartable): their forms, a regular expression that does not compile, and a mapped
 * folder that is not one, each refused with a line naming the option and the value.
 */
import { describe, expect, it } from 'vitest';
import { configFromCode } from '../../src/config/index.js';
import { staticExpires, staticMaps } from '../../src/config/derived.js';
import { checkStartable } from '../../src/process/container.js';

function refusal(options: Record<string, unknown>): string {
  try {
    checkStartable(configFromCode({ allowRoot: true, ...options }, 'test', {}).config);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no refusal';
}

describe('the static file options', () => {
  it('read PREFIX=DIR and REGEXP SECONDS as uWSGI writes them', () => {
    expect(staticMaps(['/static=/srv/app/static', '/media/=/srv/media', '/=/srv/www'])).toEqual([
      { prefix: '/static', dir: '/srv/app/static' },
      { prefix: '/media', dir: '/srv/media' },
      { prefix: '', dir: '/srv/www' },
    ]);
    const [expires] = staticExpires(['/* 7776000']);
    expect(expires!.seconds).toBe(7776000);
    expect(expires!.pattern.test('/srv/app/x.css')).toBe(true);
    const [spaced] = staticExpires(['\\.(css|js) file$   60']);
    expect(spaced!.pattern.source).toBe('\\.(css|js) file$');
    expect(spaced!.seconds).toBe(60);
  });

  it('are refused before anything starts, naming the option and the value', () => {
    expect(refusal({ staticMap: ['static=/tmp'] })).toBe('--static-map static=/tmp: expected /PREFIX=DIR, e.g. /static=/srv/app/static');
    expect(refusal({ staticMap: ['/static='] })).toBe('--static-map /static=: expected /PREFIX=DIR, e.g. /static=/srv/app/static');
    expect(refusal({ staticMap: ['/s=/nonexistent-tsgi'] })).toBe('--static-map /s=/nonexistent-tsgi: no such directory');
    const file = import.meta.filename;
    expect(refusal({ staticMap: [`/s=${file}`] })).toBe(`--static-map /s=${file}: not a directory`);
    expect(refusal({ staticMap: ['/s=/tmp'], staticExpires: ['3600'] })).toBe('--static-expires 3600: expected REGEXP SECONDS, e.g. \\.(css|js|png)$ 86400');
    expect(refusal({ staticMap: ['/s=/tmp'], staticExpires: ['(css 60'] })).toMatch(/^--static-expires \(css 60: Invalid regular expression/);
    expect(refusal({ staticMap: ['/s=/tmp'], staticExpires: ['\\.css$ 60'], staticIndex: ['index.html'] })).toBe('no refusal');
  });
});
