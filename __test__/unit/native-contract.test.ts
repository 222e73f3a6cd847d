/**
 * The TypeScript side and the native binding share two tables: the known CGI keys and the
 * batch layout. Each side has its own copy; these tests keep them equal.
 */
import { describe, expect, it } from 'vitest';
import { KNOWN_KEYS } from '../../src/codec/keys.js';
import { loadNative } from '../../src/native/load.js';
import { Layout } from '../../src/native/batch.js';

const native = loadNative();

describe('the native contract', () => {
  it('loads the binding the build placed in prebuilds/ (or TSGI_NATIVE_PATH)', () => {
    expect(native.kind).toBe(process.env.TSGI_NATIVE_PATH ? 'env' : 'prebuild');
    expect(native.file).toMatch(process.env.TSGI_NATIVE_PATH ? /\.node$/ : /prebuilds\/linux-x64\/tsgi\.napi\.glibc\.node$/);
  });

  it('has the same known keys, in the same order', () => {
    expect(native.binding!.knownKeys()).toEqual([...KNOWN_KEYS]);
  });

  it('has the same batch layout', () => {
    expect(native.binding!.batchLayout()).toEqual({ ...Layout });
  });
});
