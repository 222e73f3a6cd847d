/**
 * Several machines on one: each host a network namespace (`ip netns`, as root) with a
 * veth link to this one, so each tsgi binds its own address and a proxy here reaches them
 * over a real link. Where namespaces cannot be made (not root, no `ip`), the hosts are
 * loopback addresses (127.0.0.11, .12, ...) instead, and `fallback` says why.
 *
 *   const net = createHosts(3);
 *   startTsgi(['--socket', `${net.hosts[0].address}:3031`], undefined, { launcher: net.hosts[0].launcher });
 *   net.remove();
 */
import { spawnSync } from 'node:child_process';

export interface HostNet {
  /** The address its tsgi binds, and the proxy connects to. */
  readonly address: string;
  /** What runs a command on the host (`ip netns exec NS`), or nothing. */
  readonly launcher: string[];
}

export interface Hosts {
  readonly hosts: readonly HostNet[];
  /** Why the hosts are loopback addresses instead of namespaces; null for namespaces. */
  readonly fallback: string | null;
  /** Removes the namespaces (and their links). */
  remove(): void;
}

function ip(args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(result.stderr || result.error?.message || '').trim()}`);
}

const made = new Set<string>();
let hooked = false;
function removeNamespace(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
  made.delete(name);
}

/** `count` hosts: namespaces when they can be made, else loopback addresses. */
export function createHosts(count: number): Hosts {
  // Unique per test process: two projects (native, pure) may run this file at once.
  const tag = `${process.pid % 100000}`;
  const subnet = 100 + (process.pid % 150);
  const names = Array.from({ length: count }, (_, i) => `tsgi${tag}h${i + 1}`);
  try {
    if (process.getuid?.() !== 0) throw new Error('not root');
    if (!hooked) {
      hooked = true;
      process.on('exit', () => [...made].forEach(removeNamespace));
    }
    const hosts = names.map((name, i) => {
      const link = `tg${tag}h${i + 1}`;
      ip(['netns', 'add', name]);
      made.add(name);
      ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
      ip(['addr', 'add', `10.${subnet}.${i + 1}.1/24`, 'dev', link]);
      ip(['link', 'set', link, 'up']);
      for (const args of [
        ['addr', 'add', `10.${subnet}.${i + 1}.2/24`, 'dev', 'eth0'],
        ['link', 'set', 'eth0', 'up'],
        ['link', 'set', 'lo', 'up'],
      ])
        ip(['netns', 'exec', name, 'ip', ...args]);
      return { address: `10.${subnet}.${i + 1}.2`, launcher: ['ip', 'netns', 'exec', name] };
    });
    return { hosts, fallback: null, remove: () => names.forEach(removeNamespace) };
  } catch (error) {
    names.forEach(removeNamespace);
    const why = `network namespaces unavailable (${(error as Error).message})`;
    console.warn(`\n*** ${why}: the hosts are loopback addresses 127.0.0.11..${10 + count} instead\n`);
    return { hosts: names.map((_, i) => ({ address: `127.0.0.${11 + i}`, launcher: [] })), fallback: why, remove() {} };
  }
}
