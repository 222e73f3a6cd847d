#!/usr/bin/env bash
# Fuzzes the wire codecs (crates/tsgi-wire/fuzz) for a bounded time per target.
# Not run in CI: a local or scheduled check. A crash leaves its input under
# crates/tsgi-wire/fuzz/artifacts/<target>/ and makes this script exit non-zero.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
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

# Seed each corpus with a valid input (the protocol notes' worked example, GET with
# REQUEST_METHOD only), so the fuzzer starts from the framing instead of having to find it.
# The seeds are rewritten on every run; what the fuzzer adds next to them is kept.
seed() { printf '%b' "$2" >"fuzz/corpus/$1/$3"; }
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  case "$t" in
    uwsgi_vars) seed "$t" '\x0e\x00REQUEST_METHOD\x03\x00GET' seed-get ;;
    uwsgi_request) seed "$t" '\x00\x15\x00\x00\x0e\x00REQUEST_METHOD\x03\x00GET' seed-get ;;
    fastcgi_records)
      # A u16 LE cut point, then BEGIN_REQUEST (id 1, responder), the PARAMS stream in one
      # padded record, the empty PARAMS, STDIN (the body, padded) and the empty STDIN.
      begin='\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00'
      params_end='\x01\x04\x00\x01\x00\x00\x00\x00'
      stdin_end='\x01\x05\x00\x01\x00\x00\x00\x00'
      seed "$t" "\x1c\x00$begin"'\x01\x04\x00\x01\x00\x13\x05\x00\x0e\x03REQUEST_METHODGET\x00\x00\x00\x00\x00'"$params_end$stdin_end" seed-get
      seed "$t" "\x30\x00$begin"'\x01\x04\x00\x01\x00\x25\x03\x00\x0e\x04REQUEST_METHODPOST\x0e\x01CONTENT_LENGTH5\x00\x00\x00'"$params_end"'\x01\x05\x00\x01\x00\x05\x03\x00hello\x00\x00\x00'"$stdin_end" seed-post
      ;;
    fastcgi_params)
      # A limits byte (0: the defaults), three u16 LE cut points (5, 15, 17), then the stream.
      seed "$t" '\x00\x05\x00\x0f\x00\x11\x00\x0e\x03REQUEST_METHODGET' seed-get ;;
    http_request)
      # A limits byte (0: the defaults), a u16 LE cut point (70, inside the body), then a
      # chunked POST with an extension and a trailer; a GET with a Content-Length body.
      seed "$t" '\x00\x46\x00POST /a%20b?q HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x="y"\r\nhello\r\n0\r\nT: 1\r\n\r\n' seed-chunked
      seed "$t" '\x00\x10\x00GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi' seed-get ;;
  esac
done

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

echo "fuzz.sh: toolchain: $how"
echo "fuzz.sh: targets: ${targets[*]}, ${secs}s each"
for t in "${targets[@]}"; do
  echo "fuzz.sh: running $t for ${secs}s"
  start=$(date +%s)
  "${cargo[@]}" run "$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 | tee "$logs/$t"
  echo "fuzz.sh: $t done, no crash, $(( $(date +%s) - start ))s wall (including build)"
done

echo "fuzz.sh: summary (libFuzzer's final stats)"
for t in "${targets[@]}"; do
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t" | tail -n 1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logs/$t" | tail -n 1)
  echo "  $t: ${runs:-?} runs in ${took:-?}s, no crash"
done
