#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another, with
# libFuzzer's own crash, timeout (10 s per input) and RSS (2 GiB) limits. A crash
# leaves its input under fuzz/artifacts/<target>/: commit it and add a regression
# test that feeds it to the same src/fuzz_api.rs entry point.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# libfuzzer-sys aborts on every panic, even one the server catches; the `audio` target
# silences that hook so only a panic escaping our guards (probe_guarded, the decode
# pool's catch_unwind) counts as a crash. `wav_tags` covers our WAV chunk parser alone.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-60}
shift || true
TARGETS=${*:-http_request http_framing ws_frames ws_message cursor config wav_tags audio}
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  echo "== $t: $SECS s"
  start=$(date +%s)
  # symphonia allocates (zeroed, untouched) buffers sized by untrusted 32-bit length
  # fields: up to 4 GiB of address space, no resident memory. `audio` gets a malloc limit
  # above that; the RSS limit (real memory) stays 2 GiB for every target.
  extra=()
  [ "$t" = audio ] && extra=(-malloc_limit_mb=8192)
  cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 "${extra[@]}" -print_final_stats=1 2>&1 |
    grep -E "^(Done|stat::|==|INFO: seed|#[0-9]+ +DONE)|ERROR|panicked|SUMMARY" || true
  echo "== $t: ran $(( $(date +%s) - start )) s, exit ${PIPESTATUS[0]}"
done
