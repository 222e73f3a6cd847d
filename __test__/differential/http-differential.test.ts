/**
 * The Rust differential test (crates/tsgi-wire/tests/http_differential.rs) compares our
 * HTTP framing with llhttp's decisions recorded in a JSON corpus. This test asks the
 * llhttp of the Node running the tests again, so the recorded decisions cannot go stale.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

describe('the llhttp framing corpus', () => {
  it("matches what this Node's llhttp decides today", async () => {
    const script = new URL('../../scripts/http-framing-corpus.mjs', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [script, '--check']);
    expect(stdout).toMatch(/up to date \(\d+ cases\)/);
  });
});
