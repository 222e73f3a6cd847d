/** Log output that never blocks: batching, the bound with its drop count, whole lines; and
 * how a process's own lines read, in text and as JSON. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LineSplitter, LogWriter, pieceEnd } from '../../src/observe/log-writer.js';
import { jsonLines, textLines } from '../../src/log.js';

/** A destination that completes writes only when told. */

function slowBackend() {
  const writes: string[] = [];
  const pending: Array<() => void> = [];
  return { writes, pending, backend: (bytes: Buffer, done: () => void) => (writes.push(bytes.toString()), pending.push(done)) };
}

describe('LogWriter', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());
  /** The wait before a batch is written (10 ms) passes. */
  const later = () => vi.advanceTimersByTime(10);

  it('writes lines together 10 ms after the first, then one batch at a time: lines queued while one is written go out together', () => {
    const dest = slowBackend();
    const writer = new LogWriter(dest.backend);
    writer.line('a');
    vi.advanceTimersByTime(9);
    writer.line('b');
    expect(dest.writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(dest.writes).toEqual(['a\nb\n']);
    writer.line('c');
    writer.line('d');
    later();
    expect(dest.writes).toEqual(['a\nb\n']);
    dest.pending.shift()!();
    expect(dest.writes).toEqual(['a\nb\n', 'c\nd\n']);
  });

  it('writes at once when 64 KiB wait, and when asked to flush', async () => {
    const dest = slowBackend();
    const writer = new LogWriter(dest.backend);
    const big = 'x'.repeat(40 * 1024);
    writer.line(big);
    expect(dest.writes).toEqual([]);
    writer.line(big);
    expect(dest.writes).toEqual([`${big}\n${big}\n`]);
    dest.pending.shift()!();
    writer.line('last');
    const flushed = writer.flushed();
    expect(dest.writes[1]).toBe('last\n');
    dest.pending.shift()!();
    await flushed;
  });

  it('keeps the bytes of a write in flight intact while new lines come, in any script and size', () => {
    const held: Array<{ bytes: Buffer; text: string }> = [];
    const done: Array<() => void> = [];
    const writer = new LogWriter((bytes, finish) => (held.push({ bytes, text: bytes.toString() }), done.push(finish)));
    const long = 'é€'.repeat(100 * 1024);
    writer.line('première ligne');
    later();
    for (let i = 0; i < 50; i++) writer.line(`ligne ${i} ✓`);
    writer.line(long);
    // The first batch's bytes are what they were when written, though 300 KiB came since.
    expect(held[0]!.bytes.toString()).toBe('première ligne\n');
    done.shift()!();
    expect(held[1]!.text).toBe(`${Array.from({ length: 50 }, (_, i) => `ligne ${i} ✓\n`).join('')}${long}\n`);
    writer.line('after');
    expect(held[1]!.bytes.toString()).toBe(held[1]!.text);
    done.shift()!();
    later();
    expect(held[2]!.text).toBe('after\n');
  });

  it('past its bound drops lines instead of growing, and says how many once it can', async () => {
    const dest = slowBackend();
    const writer = new LogWriter(dest.backend, 10);
    writer.line('first');
    later(); // in flight
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
    later();
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

describe('pieceEnd: what one write to a pipe takes', () => {
  const bytes = Buffer.from('aaaa\nbbbb\ncccccccccc\ndd\n');
  it('takes everything that fits', () => expect(pieceEnd(bytes, 0, 100)).toBe(bytes.length));
  it('ends after the last whole line that fits', () => {
    expect(pieceEnd(bytes, 0, 12)).toBe(10);
    expect(pieceEnd(bytes, 5, 6)).toBe(10);
  });
  it('takes a line longer than a piece whole, and no more', () => expect(pieceEnd(bytes, 10, 4)).toBe(21));
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

describe("a process's own lines (log.ts)", () => {
  it('text: tsgi[pid], and the date before it when asked', () => {
    expect(textLines()('warn', 'a warning')).toBe(`tsgi[${process.pid}]: a warning`);
    expect(textLines(() => 'Mon Dec  7 10:16:17 2026')('info', 'hello')).toBe(`Mon Dec  7 10:16:17 2026 - tsgi[${process.pid}]: hello`);
  });

  it('--log-json: one object per line, time level msg pid name, the fields, a stack apart', () => {
    const json = jsonLines({ wid: 3 });
    const plain = JSON.parse(json('info', 'worker 3 ready')) as Record<string, unknown>;
    expect(plain).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: 'info',
      msg: 'worker 3 ready',
      pid: process.pid,
      name: 'tsgi',
      wid: 3,
    });
    const error = new Error('boom "quoted"');
    const text = json('error', `GET /x: app error: ${error.stack!}`);
    expect(text).not.toContain('\n');
    expect(JSON.parse(text)).toMatchObject({ level: 'error', msg: 'GET /x: app error: Error: boom "quoted"', stack: `GET /x: app error: ${error.stack!}` });
    const lines = json('error', 'two problems:\nfirst\nsecond');
    expect(lines).not.toContain('\n');
    expect(JSON.parse(lines)).toMatchObject({ msg: 'two problems:\nfirst\nsecond' });
    expect(JSON.parse(lines)).not.toHaveProperty('stack');
  });
});
