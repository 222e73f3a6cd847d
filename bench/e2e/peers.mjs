/**
 * The programs bench/e2e.mjs measures tsgi against, and the load tools: where they are,
 * which version, and installing the missing ones (apt-get for nginx, wrk, uWSGI and its
 * python3 plugin, PHP-FPM; npm for node-fastcgi) when asked to and able to. Whatever is
 * still missing comes back with the reason, for the report's SKIPPED lines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { somaxconn } from '../lib/e2e.mjs';
import { findNginx, nginxVersion } from '../../scripts/lib/nginx.mjs';
import { findExecutable } from '../../scripts/lib/processes.mjs';

const PHP_FPM_NAMES = ['php-fpm', 'php-fpm8.4', 'php-fpm8.3', 'php-fpm8.2', 'php-fpm8.1', 'php-fpm8.0', 'php-fpm7.4'];
const UWSGI_PYTHON3_PLUGINS = ['/usr/lib/uwsgi/plugins/python3_plugin.so', '/usr/lib/uwsgi/python3_plugin.so'];
const isRoot = process.getuid?.() === 0;

/**
 * The peers' binaries, null where missing.
 * @typedef {{ nginx: string | null, wrk: string | null, uwsgi: string | null, phpFpm: string | null }} Bins
 */

/**
 * The versions the report names, null (or undefined) where unknown.
 * @typedef {{ nginx: string | null | undefined, wrk: string | null, uwsgi: string | null, python: string | null, phpFpm: string | null, nodeFastcgi: string | null, node: string }} Versions
 */

/**
 * A peer that is missing, by name (nginx, wrk, uwsgi, phpFpm, nodeFastcgi), and why.
 * @typedef {Partial<Record<'nginx' | 'wrk' | 'uwsgi' | 'phpFpm' | 'nodeFastcgi', string>>} Missing
 */

function findPhpFpm() {
  if (process.env.PHP_FPM) return existsSync(process.env.PHP_FPM) ? process.env.PHP_FPM : null;
  for (const name of PHP_FPM_NAMES) {
    const bin = findExecutable(name);
    if (bin) return bin;
  }
  return null;
}

/** @param {{ stdout?: string | null, stderr?: string | null }} result */
const firstLine = (result) => `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n')[0] || '?';

/**
 * @param {string} root
 * @returns {string | null}
 */
function nodeFastcgiVersion(root) {
  try {
    const require = createRequire(path.join(root, 'package.json'));
    return JSON.parse(readFileSync(require.resolve('node-fastcgi/package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * What is there now: { bins, versions, missing: { peer: why } }.
 * @param {string} root
 * @returns {{ bins: Bins, versions: Versions, missing: Missing }}
 */
function survey(root) {
  const bins = { nginx: findNginx(), wrk: findExecutable('wrk'), uwsgi: findExecutable('uwsgi'), phpFpm: findPhpFpm() };
  /** @type {Missing} */
  const missing = {};
  if (!bins.nginx) missing.nginx = 'nginx not installed (apt-get install nginx, or NGINX=/path)';
  if (!bins.wrk) missing.wrk = 'wrk not installed (apt-get install wrk)';
  if (!bins.uwsgi) missing.uwsgi = 'uwsgi not installed (apt-get install uwsgi uwsgi-plugin-python3)';
  else if (!UWSGI_PYTHON3_PLUGINS.some((file) => existsSync(file)))
    missing.uwsgi = 'the python3 plugin of uWSGI is not installed (apt-get install uwsgi-plugin-python3)';
  if (!bins.phpFpm)
    missing.phpFpm = process.env.PHP_FPM
      ? `PHP_FPM=${process.env.PHP_FPM} does not exist`
      : 'php-fpm not installed (apt-get install php-fpm, or PHP_FPM=/path)';
  const nodeFastcgi = nodeFastcgiVersion(root);
  if (!nodeFastcgi) missing.nodeFastcgi = 'the node-fastcgi package is not installed (a devDependency: npm install)';
  const versions = {
    nginx: bins.nginx ? nginxVersion(bins.nginx)?.replace(/^nginx version: nginx\//, '') : null,
    wrk: bins.wrk ? (/(\d+\.\d+\.\d+)/.exec(firstLine(spawnSync(bins.wrk, ['-v'], { encoding: 'utf8' })))?.[1] ?? '?') : null,
    uwsgi: bins.uwsgi ? firstLine(spawnSync(bins.uwsgi, ['--version'], { encoding: 'utf8' })) : null,
    python: findExecutable('python3') ? firstLine(spawnSync('python3', ['--version'], { encoding: 'utf8' })).replace(/^Python /, '') : null,
    phpFpm: bins.phpFpm ? (/^PHP (\S+)/.exec(spawnSync(bins.phpFpm, ['-n', '-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?') : null,
    nodeFastcgi,
    node: process.version,
  };
  return { bins, versions, missing };
}

/** @type {Partial<Record<keyof Missing, string[]>>} */
const APT_PACKAGES = { nginx: ['nginx'], wrk: ['wrk'], uwsgi: ['uwsgi', 'uwsgi-plugin-python3'], phpFpm: ['php-fpm'] };

/** @param {Missing} missing */
const missingPeers = (missing) => /** @type {Array<keyof Missing>} */ (Object.keys(missing));

/**
 * The peers, after installing what is missing when `install` is set: the Debian packages
 * with apt-get (as root, where there is apt-get), node-fastcgi with npm. Progress on stderr.
 * @param {string} root
 * @param {{ install: boolean }} options
 */
export function ensurePeers(root, { install }) {
  let found = survey(root);
  if (!install) return found;
  const apt = missingPeers(found.missing).flatMap((peer) => APT_PACKAGES[peer] ?? []);
  if (apt.length && isRoot && findExecutable('apt-get')) {
    process.stderr.write(`e2e: installing ${apt.join(' ')} (apt-get)\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...apt], { stdio: 'inherit', env });
  }
  if (found.missing.nodeFastcgi) {
    process.stderr.write('e2e: installing node-fastcgi (npm)\n');
    spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', 'node-fastcgi@^2'], { cwd: root, stdio: 'inherit' });
  }
  found = survey(root);
  for (const peer of missingPeers(found.missing)) {
    if (APT_PACKAGES[peer] && !(isRoot && findExecutable('apt-get')))
      found.missing[peer] += `; not installed by the script: ${isRoot ? 'no apt-get' : 'not root'}`;
  }
  return found;
}

// ---- PHP-FPM ---------------------------------------------------------------------------------

/** The PHP app: the same responses as bench/apps/hello.mjs. */
const PHP_APP = `<?php
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $body = 'received ' . strlen(file_get_contents('php://input')) . " bytes\\n";
} elseif (substr($_SERVER['DOCUMENT_URI'], -4) === '/64k') {
    $body = str_repeat('x', 65536);
} else {
    $body = "Hello, World!\\n";
}
header('Content-Type: text/plain');
header('Content-Length: ' . strlen($body));
echo $body;
`;

/**
 * Writes the app, php.ini and a pool (pm = static, `children` children, listening on
 * `port`) into `dir`; returns how to start PHP-FPM: { args, env, script, opcache }. Only
 * our php.ini is read (PHP_INI_SCAN_DIR=""), with opcache if the binary can load it, as in
 * any production setup.
 * @param {string} bin
 * @param {number} port
 * @param {string} dir
 * @param {number} [children]
 */
export function preparePhpFpm(bin, port, dir, children = 1) {
  const script = path.join(dir, 'app.php');
  writeFileSync(script, PHP_APP);
  const ini = path.join(dir, 'php.ini');
  const env = { ...process.env, PHP_INI_SCAN_DIR: '' };
  // default_charset "": a bare text/plain (no "; charset=UTF-8"), as the others send it.
  const baseIni = 'expose_php = Off\ndefault_charset = ""\nlog_errors = On\ndisplay_errors = Off\npost_max_size = 0\n';
  writeFileSync(ini, `${baseIni}zend_extension = opcache\nopcache.enable = 1\n`);
  const modules = spawnSync(bin, ['-c', ini, '-m'], { encoding: 'utf8', env });
  const opcache = /Zend OPcache/.test(modules.stdout ?? '');
  if (!opcache) writeFileSync(ini, baseIni);
  const user = os.userInfo();
  const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout?.trim() || String(user.gid);
  const conf = path.join(dir, 'php-fpm.conf');
  writeFileSync(
    conf,
    `; generated by bench/e2e/peers.mjs
[global]
pid = ${path.join(dir, 'php-fpm.pid')}
error_log = ${path.join(dir, 'php-fpm.log')}
log_level = warning
daemonize = no

[bench]
${isRoot ? `user = ${user.username}\ngroup = ${group}\n` : ''}listen = 127.0.0.1:${port}
listen.backlog = ${Math.min(1024, somaxconn())}
pm = static
pm.max_children = ${children}
pm.max_requests = 0
catch_workers_output = yes
`,
  );
  // -F: foreground, -O: log to stderr (which we keep) although it is no tty, -R: allow root.
  return { args: ['-F', '-O', ...(isRoot ? ['-R'] : []), '-c', ini, '-y', conf], env, script, opcache };
}
