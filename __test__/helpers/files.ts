/**
 * What the file-serving tests share (serving/files-*.test.ts, static-files.test.ts): a
 * temporary folder removed after the file's tests, a GET with curl (the head and the body
 * as they came), the sha256 of bytes, and which reactor serves.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';
import { loadNative } from '../../src/native/load.js';
import { requirePeer } from './peers.js';

const run = promisify(execFile);

/** The native reactor serves (sendfile(2) counted); else the pure one (none). */
export const nativeReactor = loadNative().binding !== null;

export const curl = requirePeer('curl', 'curl', 'apt-get install curl');

/** A new folder under the system's temporary one, removed after the calling file's tests. */
export function tempFolder(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** curl's answer: the status, the head as text, its headers by lower-case name, the body. */
export interface CurlReply {
  status: number;
  head: string;
  headers: Map<string, string>;
  body: Buffer;
}

/** GET `url` with curl (`args` added: -H, -I...), the path sent as it is written. */
export async function curlGet(url: string, ...args: string[]): Promise<CurlReply> {
  const { stdout } = await run(curl.bin!, ['-sS', '--path-as-is', '-i', ...args, url], { encoding: 'buffer', maxBuffer: 64 << 20 });
  const end = stdout.indexOf('\r\n\r\n');
  const head = stdout.subarray(0, end < 0 ? stdout.length : end).toString('latin1');
  const lines = head.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) headers.set(line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim());
  return { status: Number(lines[0]!.split(' ')[1]), head, headers, body: end < 0 ? Buffer.alloc(0) : stdout.subarray(end + 4) };
}
