/** The option table's command-line parsing: uWSGI's bare switches and their values. */
import { describe, expect, it } from 'vitest';
import { configFromCommandLine } from '../src/config.js';

/** The command line alone, without the environment. */
const parseArgs = (argv: string[]) => configFromCommandLine(argv, {}).config;

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
