#!/usr/bin/env bash
# Fuzzes the wire codecs (crates/tsgi-wire/fuzz) for a bounded time per target.
# Not run in CI: a local or scheduled check. A crash leaves its input under
# crates/tsgi-wire/fuzz/artifacts/<target>/ and makes this script exit non-zero.
#
# usage: bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 60
#   TARGET              default: every target `cargo fuzz list` shows
# env:   FUZZ_TOOLCHAIN=nightly|stable  force a toolchain (default: nightly if rustup has
#        one, else stable with RUSTC_BOOTSTRAP=1, which unlocks the -Z flags cargo-fuzz passes)
set -euo pipefail

secs="${1:-60}"
shift || true
case "$secs" in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

crate="$(cd "$(dirname "${BASH_SOURCE[0]}")/../crates/tsgi-wire" && pwd)"
cd "$crate"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz not found, installing it (cargo install cargo-fuzz)"
  cargo install --locked cargo-fuzz
fi

toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=nightly; else toolchain=stable; fi
fi
if [ "$toolchain" = nightly ]; then
  cargo=(cargo +nightly fuzz)
  how="nightly ($(rustup run nightly rustc --version))"
else
  export RUSTC_BOOTSTRAP=1
  if command -v rustup >/dev/null 2>&1; then cargo=(cargo +stable fuzz); else cargo=(cargo fuzz); fi
  how="stable with RUSTC_BOOTSTRAP=1 ($(rustc --version))"
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${cargo[@]}" list)
fi

# Seed each corpus with the protocol notes' worked example (GET with REQUEST_METHOD only),
# so the fuzzer starts from a valid packet instead of having to find the framing itself.
for t in "${targets[@]}"; do
  dir="fuzz/corpus/$t"
  mkdir -p "$dir"
  if [ -z "$(ls -A "$dir")" ]; then
    if [ "$t" = uwsgi_vars ]; then
      printf '\x0e\x00REQUEST_METHOD\x03\x00GET' >"$dir/seed-get"
    else
      printf '\x00\x15\x00\x00\x0e\x00REQUEST_METHOD\x03\x00GET' >"$dir/seed-get"
    fi
  fi
done

echo "fuzz.sh: toolchain: $how"
echo "fuzz.sh: targets: ${targets[*]}, ${secs}s each"
for t in "${targets[@]}"; do
  echo "fuzz.sh: running $t for ${secs}s"
  start=$(date +%s)
  "${cargo[@]}" run "$t" -- -max_total_time="$secs" -print_final_stats=1
  echo "fuzz.sh: $t done, no crash, $(( $(date +%s) - start ))s wall (including build)"
done
