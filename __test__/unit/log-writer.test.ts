/** Log output that never blocks: batching, the bound with its drop count, whole lines. */
import { describe, expect, it } from 'vitest';
import { LineSplitter, LogWriter } from '../../src/observe/log-writer.js';

/** A destination that completes writes only when told. */
function slowBackend() {
  const writes: string[] = [];
  const pending: Array<() => void> = [];
  return { writes, pending, backend: (text: string, done: () => void) => (writes.push(text), pending.push(done)) };
}

describe('LogWriter', () => {
  it('writes one batch at a time: lines queued while one is written go out together', () => {
    const dest = slowBackend();
    const writer = new LogWriter(dest.backend);
    writer.line('a');
    writer.line('b');
    writer.line('c');
    expect(dest.writes).toEqual(['a\n']);
    dest.pending.shift()!();
    expect(dest.writes).toEqual(['a\n', 'b\nc\n']);
  });

  it('past its bound drops lines instead of growing, and says how many once it can', async () => {
    const dest = slowBackend();
    const writer = new LogWriter(dest.backend, 10);
    writer.line('first'); // in flight
    writer.line('12345'); // queued: 6 bytes
    writer.line('67890'); // would make 12: dropped
    writer.line('x'); // 8: queued
    dest.pending.shift()!();
    expect(dest.writes[1]).toBe('12345\nx\ntsgi: 1 log line(s) dropped: the log destination did not keep up\n');
    const flushed = writer.flushed();
    dest.pending.shift()!();
    await flushed;
  });

  it('flushed() resolves once everything queued is written', async () => {
    const dest = slowBackend();
    const writer = new LogWriter(dest.backend);
    writer.line('one');
    writer.line('two');
    let done = false;
    const flushed = writer.flushed().then(() => (done = true));
    dest.pending.shift()!();
    await Promise.resolve();
    expect(done).toBe(false);
    dest.pending.shift()!();
    await flushed;
    expect(done).toBe(true);
  });
});

describe('LineSplitter', () => {
  it('hands over whole lines only, keeping a cut one for the next chunk', () => {
    const lines = new LineSplitter();
    expect(lines.push('one\ntw')).toBe('one\n');
    expect(lines.push('o\nthr')).toBe('two\n');
    expect(lines.push('ee')).toBe('');
    expect(lines.end()).toBe('three\n');
    expect(lines.end()).toBe('');
  });
});
