/**
 * Peers: the real programs some tests talk to (nginx, HAProxy, cgi-fcgi). A test file
 * that needs one calls `requirePeer` at its top: when the peer is there the tests run;
 * when it is missing they skip and the run says why, except where skipping is not allowed
 * (CI=true, TSGI_REQUIRE_PEERS=1 or TSGI_REQUIRE_<NAME>=1): there the file fails, so a CI
 * machine without a peer cannot pass by skipping.
 *
 *   const haproxy = requirePeer('HAProxy', 'haproxy', 'apt-get install haproxy');
 *   describe.skipIf(!haproxy.bin)('...', () => { ... spawn(haproxy.bin!, ...) ... });
 */
import { accessSync, constants } from 'node:fs';
import { findExecutable } from '../../scripts/lib/processes.mjs';

export interface Peer {
  /** The peer's name, for messages ("nginx", "HAProxy"). */
  readonly name: string;
  /** The full path of its binary, or null when it is not installed. */
  readonly bin: string | null;
  /** Why its tests skip, or null when they run. */
  readonly skipReason: string | null;
}

/** The env var that makes this peer mandatory: TSGI_REQUIRE_NGINX, TSGI_REQUIRE_CGI_FCGI... */
function requireVar(name: string): string {
  return `TSGI_REQUIRE_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** Whether a missing `name` must fail the run instead of skipping. */
export function peerRequired(name: string): boolean {
  const env = process.env;
  return /^(1|true)$/i.test(env.CI ?? '') || env.TSGI_REQUIRE_PEERS === '1' || env[requireVar(name)] === '1';
}

/** `bin` resolved: a path must be executable; a bare name is looked up on PATH and in the sbin dirs. */
function resolve(bin: string | null): string | null {
  if (!bin) return null;
  if (!bin.includes('/')) return findExecutable(bin);
  try {
    accessSync(bin, constants.X_OK);
    return bin;
  } catch {
    return null;
  }
}

/** Why `name` counts as missing, and how to install it, by peer (for the CI message). */
const missing = new Map<string, { why: string; installHint: string }>();

/** The peer, without announcing anything. */
export function findPeer(name: string, bin: string | null, installHint: string): Peer {
  const found = resolve(bin);
  if (found) return { name, bin: found, skipReason: null };
  const why = bin?.includes('/') ? `${bin} is not an executable file` : `${bin ?? name} is not on PATH nor in /usr/sbin`;
  missing.set(name, { why, installHint });
  return { name, bin: null, skipReason: `${name} is not installed (${why}): the ${name} integration tests are SKIPPED. Install it (${installHint}).` };
}

/**
 * Call at the top of a test file that needs `name` (binary `bin`, a name or a path; null
 * when a finder found none): prints the skip reason where the run shows it, and throws
 * instead when skipping is not allowed (see peerRequired).
 */
export function requirePeer(name: string, bin: string | null, installHint: string): Peer {
  const peer = findPeer(name, bin, installHint);
  announcePeer(peer);
  return peer;
}

/** The announcement of requirePeer, for a peer found another way. */
export function announcePeer(peer: Peer): void {
  if (!peer.skipReason) return;
  if (peerRequired(peer.name)) {
    const { why, installHint } = missing.get(peer.name) ?? { why: 'not found', installHint: 'see the test file' };
    throw new Error(
      `${peer.name} is required here (CI=true, TSGI_REQUIRE_PEERS=1 or ${requireVar(peer.name)}=1 is set) but not installed (${why}). Install it (${installHint}).`,
    );
  }
  console.warn(`\n*** ${peer.skipReason}\n`);
}
