/**
 * A batch as the reactor lays it out (crates/tsgi-reactor/src/batch.rs), for the
 * benchmarks that time the TypeScript dispatch without sockets: `count` uwsgi requests
 * with the same vars, each body already complete.
 */
import { KEY_IDS } from '../../dist/codec/keys.js';
import { Layout } from '../../dist/native/batch.js';

/**
 * @param {Record<string, string>} vars the request's vars, in order
 * @param {number} count how many requests (tokens 0 to count - 1)
 * @returns {{ arena: Buffer, index: Uint32Array, words: number }} the shared buffers, and the words the batch uses
 */
export function uwsgiBatch(vars, count) {
  const arena = Buffer.alloc(1 << 20);
  const index = new Uint32Array(1 << 16);
  let off = 0;
  let words = 0;
  for (let token = 0; token < count; token++) {
    const start = off;
    /** @type {number[][]} */
    const entries = [];
    for (const [key, value] of Object.entries(vars)) {
      const keyOff = off;
      off += arena.write(key, off, 'latin1');
      const valueOff = off;
      off += arena.write(value, off, 'latin1');
      entries.push([KEY_IDS.get(key) ?? 0, keyOff, key.length, valueOff, value.length]);
    }
    // kind, token, protocol, nvars, content length (lo, hi), flags, block offset, block length
    index.set([Layout.REQUEST, token, Layout.PROTOCOL_UWSGI, entries.length, 0, 0, Layout.FLAG_BODY_COMPLETE, start, off - start], words);
    words += Layout.REQUEST_HEADER_WORDS;
    for (const entry of entries) {
      index.set(entry, words);
      words += Layout.VAR_WORDS;
    }
  }
  return { arena, index, words };
}
