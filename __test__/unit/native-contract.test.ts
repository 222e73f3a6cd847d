/**
 * The TypeScript side and the native binding share two tables: the known CGI keys and the
 * batch layout (with the end words of a write). Each side has its own copy; these tests keep
 * them equal, and the two reactors' answer to a word neither knows.
 */
import { describe, expect, it } from 'vitest';
import { KNOWN_KEYS } from '../../src/codec/keys.js';
import { loadNative } from '../../src/native/load.js';
import { Layout } from '../../src/native/batch.js';
import type { WriteEndWord } from '../../src/native/batch.js';
import type { NativeReactor } from '../../src/native/binding.js';
import { PureReactor } from '../../src/pure/reactor.js';
import { REACTOR_DEFAULTS } from '../../src/server/reactor-options.js';

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

  it('refuses, on both reactors, a write whose end word names nothing, before looking for the request', () => {
    const reactors: Array<[string, NativeReactor]> = [
      ['native', new native.binding!.Reactor(() => {}, new Uint8Array(1 << 20), new Uint32Array(1 << 14), REACTOR_DEFAULTS)],
      ['pure', new PureReactor(() => {}, new Uint8Array(1 << 20), new Uint32Array(1 << 14), REACTOR_DEFAULTS)],
    ];
    for (const [name, reactor] of reactors) {
      expect(() => reactor.write(1, null, null, 3 as WriteEndWord), name).toThrow('write: end must be 0, 1 or 2, got 3');
      // A valid word for a request that does not exist: gone, not an error.
      expect(reactor.write(1, null, null, Layout.WRITE_END_CLOSE), name).toBe(-1);
      reactor.close();
    }
  });
});
