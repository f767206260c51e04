#!/usr/bin/env bash
# Scan throughput: generate N small WAV files (0.5 s, 22.05 kHz mono, python3's wave
# module), run `auralis-server scan` on them three times in fresh data dirs, print
# files/s for each run and the median. Then a rescan of the unchanged folder (the
# incremental path: size + mtime only, nothing probed).
# Usage: tuning/scan-throughput.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
command -v python3 >/dev/null || { echo "needs python3 to generate the files" >&2; exit 1; }
cargo build --release -q
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK/music" "$N" <<'PY'
import math, os, struct, sys, wave
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"artist-{i % 20}", f"album-{i % 100}")
    os.makedirs(d, exist_ok=True)
    with wave.open(os.path.join(d, f"track-{i:05}.wav"), "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(k * 0.05 + i))) for k in range(11025)))
PY
BIN=target/release/auralis-server
RATES=()
for run in 1 2 3; do
  rm -rf "$WORK/data"
  out=$(RUST_LOG=error "$BIN" scan "$WORK/music" --data-dir "$WORK/data")
  ms=$(echo "$out" | awk -F'[:,]' '/"elapsed_ms"/ {gsub(/ /,"",$2); print $2}')
  added=$(echo "$out" | awk -F'[:,]' '/"added"/ {gsub(/ /,"",$2); print $2}')
  rate=$(awk -v n="$added" -v ms="$ms" 'BEGIN {printf "%.0f", n * 1000 / (ms > 0 ? ms : 1)}')
  echo "run $run: $added files in ${ms} ms = $rate files/s"
  RATES+=("$rate")
done
echo "median: $(printf '%s\n' "${RATES[@]}" | sort -n | sed -n 2p) files/s (full scan: probe + insert)"
out=$(RUST_LOG=error "$BIN" scan "$WORK/music" --data-dir "$WORK/data")
ms=$(echo "$out" | awk -F'[:,]' '/"elapsed_ms"/ {gsub(/ /,"",$2); print $2}')
unchanged=$(echo "$out" | awk -F'[:,]' '/"unchanged"/ {gsub(/ /,"",$2); print $2}')
echo "rescan, nothing changed: $unchanged files skipped in ${ms} ms"
