/**
 * A private nginx in front of a test's server. The work is done by bench/lib/nginx.mjs
 * (shared with the benchmarks and the example); this adds what tests need: whether nginx
 * is there, and the visible reason when it is not.
 *
 *   const nginx = await startNginx({ locations: [{ path: '/tcp/', uwsgiPass: address }] });
 *   ...
 *   await nginx.stop();
 */
import { findNginx, nginxVersion } from '../../bench/lib/nginx.mjs';

export { fastcgiParams, findNginx, freePort, renderConfig, startNginx, stopProcess, testConfig, uwsgiParams, waitForPort } from '../../bench/lib/nginx.mjs';
export type { Nginx, NginxLocation, NginxOptions } from '../../bench/lib/nginx.mjs';

/** The nginx binary, or null. */
export const nginxBin: string | null = findNginx();

/** Whether a real nginx can be started. */
export const hasNginx: boolean = nginxBin !== null;

/** Why nginx tests skip, or null when they run. */
export const nginxSkipReason: string | null = hasNginx
  ? null
  : 'nginx is not installed (not on PATH nor in /usr/sbin): the nginx integration tests are SKIPPED. Install it (apt-get install nginx) or set NGINX=/path/to/nginx.';

/**
 * Call at the top of an nginx test file: prints the skip reason where the run shows it,
 * and fails instead when skipping is not allowed (CI=true or TSGI_REQUIRE_NGINX=1), so a CI
 * machine without nginx cannot pass by skipping.
 */
export function announceNginx(): void {
  if (hasNginx) return;
  const required = process.env.TSGI_REQUIRE_NGINX === '1' || /^(1|true)$/i.test(process.env.CI ?? '');
  if (required) throw new Error(`${nginxSkipReason} (not allowed here: CI or TSGI_REQUIRE_NGINX=1 is set)`);
  console.warn(`\n*** ${nginxSkipReason}\n`);
}

/** `nginx -v`, for test names and messages. */
export const nginxVersionText: string | null = nginxVersion(nginxBin);
