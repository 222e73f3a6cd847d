/**
 * A private nginx in front of a test's server. The work is done by scripts/lib/nginx.mjs
 * (shared with the benchmarks and the example); this adds what tests need: whether nginx
 * is there, and the visible reason when it is not.
 *
 *   const nginx = await startNginx({ locations: [{ path: '/tcp/', uwsgiPass: address }] });
 *   ...
 *   await nginx.stop();
 */
import { findNginx, nginxVersion } from '../../scripts/lib/nginx.mjs';
import { announcePeer, findPeer } from './peers.js';

export { startNginx } from '../../scripts/lib/nginx.mjs';
export type { Nginx, NginxLocation, NginxOptions } from '../../scripts/lib/nginx.mjs';

const peer = findPeer('nginx', findNginx(), 'apt-get install nginx, or set NGINX=/path/to/nginx');

/** The nginx binary, or null. */
export const nginxBin: string | null = peer.bin;

/** Whether a real nginx can be started. */
export const hasNginx: boolean = nginxBin !== null;

/** Why nginx tests skip, or null when they run. */
export const nginxSkipReason: string | null = peer.skipReason;

/**
 * Call at the top of an nginx test file: prints the skip reason where the run shows it,
 * and fails instead when skipping is not allowed (CI=true, TSGI_REQUIRE_PEERS=1 or
 * TSGI_REQUIRE_NGINX=1), so a CI machine without nginx cannot pass by skipping.
 */
export function announceNginx(): void {
  announcePeer(peer);
}

/** `nginx -v`, for test names and messages. */
export const nginxVersionText: string | null = nginxVersion(nginxBin);
