/**
 * The TypeScript HTTP codec (src/codec/http-*.ts, the pure path's) against the corpus the
 * Rust codec is held to (crates/tsgi-wire/tests/http_differential.rs): for every request
 * llhttp accepts, the same framing (head length, body, end, method, target, version,
 * header vars, keep-alive, upgrade); every request it refuses, refused; the listed
 * exceptions (`stricter` with the same error code, `looser`) as listed. Each request is
 * also read from every prefix: a prefix answers "more bytes" or the whole's answer, and a
 * chunked body gives the same bytes however it is cut.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../../src/codec/http/chunked.js';
import type { HttpLimits } from '../../src/codec/http/errors.js';
import { HeadVars, parseHead, type Head } from '../../src/codec/http/head.js';
import { KNOWN_KEYS } from '../../src/codec/keys.js';
import { VAR_WORDS, WireError } from '../../src/codec/wire.js';

interface Case {
  name: string;
  request: string;
  llhttp: {
    accepted: boolean;
    head_len?: number;
    method?: string;
    url?: string;
    version?: string;
    headers?: Array<[string, string]>;
    upgrade?: boolean;
    keep_alive?: boolean;
    body?: string;
    end?: number;
  };
  stricter?: string;
  looser?: boolean;
}

const corpus = JSON.parse(readFileSync(new URL('../../crates/tsgi-wire/tests/data/http-framing.json', import.meta.url), 'utf8')) as { cases: Case[] };
const limits: HttpLimits = { maxRequestLine: 8192, maxHeadBytes: 16384, maxHeaders: 100, maxBody: 0, maxChunkExtension: 4096 };

interface Read {
  head: Head;
  vars: Array<[string, string]>;
  body: string;
  end: number;
}

/** The vars of a parsed head as [name, value] pairs, checking each key id against its name. */
function pairs(out: HeadVars): Array<[string, string]> {
  const list: Array<[string, string]> = [];
  for (let v = 0; v < out.vars.count; v++) {
    const [id, keyOff, keyLen, valueOff, valueLen] = out.vars.words.subarray(v * VAR_WORDS, v * VAR_WORDS + 5);
    const name = out.block.toString('latin1', keyOff, keyOff! + keyLen!);
    expect(id, name).toBe(KNOWN_KEYS.indexOf(name) + 1);
    list.push([name, out.block.toString('latin1', valueOff, valueOff! + valueLen!)]);
  }
  return list;
}

/** Decodes a chunked body from `buf[start..]` fed in `pieces` cuts: the body and where it ended. */
function chunked(buf: Buffer, start: number, cuts: number[]): { body: string; end: number | null } | WireError {
  const decoder = new ChunkedDecoder(limits);
  let body = '';
  let pos = start;
  for (const cut of [...cuts, buf.length]) {
    while (pos < cut) {
      const d = decoder.decode(buf, pos, cut);
      if (d instanceof WireError) return d;
      body += buf.toString('latin1', d.dataStart, d.dataEnd);
      pos += d.consumed;
      if (d.done) return { body, end: pos };
      if (d.consumed === 0) break;
    }
  }
  return { body, end: null };
}

/** Reads one request off the front of `buf`, as the pure reactor does: head, then body. */
function read(buf: Buffer): Read | WireError | null {
  const out = new HeadVars();
  const head = parseHead(buf, buf.length, limits, out);
  if (head === null || head instanceof WireError) return head;
  const vars = pairs(out);
  if (head.body === 'chunked') {
    const whole = chunked(buf, head.length, []);
    if (whole instanceof WireError || whole.end === null) return whole instanceof WireError ? whole : null;
    return { head, vars, body: whole.body, end: whole.end };
  }
  const length = head.body === 'none' ? 0 : head.body;
  if (buf.length < head.length + length) return null;
  return { head, vars, body: buf.toString('latin1', head.length, head.length + length), end: head.length + length };
}

/** The var llhttp's header `name` becomes, or null when dropped. */
function varName(name: string): string | null {
  const lower = name.toLowerCase();
  if (name.includes('_') || lower === 'proxy') return null;
  if (lower === 'content-length') return 'CONTENT_LENGTH';
  if (lower === 'content-type') return 'CONTENT_TYPE';
  return `HTTP_${name.toUpperCase().replaceAll('-', '_')}`;
}

describe('the TypeScript HTTP codec against the llhttp framing corpus', () => {
  it.each(corpus.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const bytes = Buffer.from(c.request, 'latin1');
    const ours = read(bytes);
    const ll = c.llhttp;
    if (c.stricter) {
      expect(ours).toBeInstanceOf(WireError);
      expect((ours as WireError).code).toBe(c.stricter);
    } else if (c.looser) {
      expect(ll.accepted).toBe(false);
      expect(ours).not.toBeNull();
      expect(ours).not.toBeInstanceOf(WireError);
    } else if (ll.accepted) {
      expect(ours, JSON.stringify(ours)).not.toBeInstanceOf(WireError);
      const r = ours as Read;
      expect(r.head.length).toBe(ll.head_len);
      expect(r.end).toBe(ll.end);
      expect(r.body).toBe(ll.body);
      expect(r.vars[0]).toEqual(['REQUEST_METHOD', ll.method]);
      expect(r.vars[1]).toEqual(['REQUEST_URI', ll.url]);
      expect(`1.${r.head.minorVersion}`).toBe(ll.version);
      expect(r.head.upgrade).toBe(ll.upgrade);
      if (!r.head.upgrade) expect(r.head.keepAlive).toBe(ll.keep_alive);
      // llhttp gives the Host field as sent; for an absolute-form target HTTP_HOST is the
      // target's authority, which wins over Host (RFC 9112 §3.2.2).
      const authority = /^https?:\/\/([^/?]+)/i.exec(ll.url ?? '')?.[1];
      const want = ll.headers!.flatMap(([name, value]) => {
        const v = varName(name);
        return v ? [[v, v === 'HTTP_HOST' && authority ? authority : value]] : [];
      });
      expect(r.vars.slice(5)).toEqual(want);
    } else {
      expect(ours).toBeInstanceOf(WireError);
    }

    // Every prefix answers "more bytes" or what the whole answers; a chunked body cut at
    // every offset decodes to the same bytes.
    const whole = ours instanceof WireError ? ours.code : ours === null ? null : JSON.stringify(ours);
    for (let k = 0; k < bytes.length; k++) {
      const prefix = read(bytes.subarray(0, k));
      if (prefix === null) continue;
      expect(prefix instanceof WireError ? prefix.code : JSON.stringify(prefix), `prefix of ${k} bytes`).toBe(whole);
    }
    if (ours && !(ours instanceof WireError) && ours.head.body === 'chunked') {
      for (let cut = ours.head.length + 1; cut < ours.end; cut++) {
        expect(chunked(bytes, ours.head.length, [cut]), `cut at ${cut}`).toEqual({ body: ours.body, end: ours.end });
      }
    }
  });
});
