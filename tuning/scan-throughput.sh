#!/usr/bin/env bash
# Scan throughput and memory for a large collection of real encoders' files.
#
# ffmpeg makes five 2-second files from real encoders (LAME MP3, AAC and ALAC .m4a,
# Vorbis, Opus, FLAC: six), untagged; they are copied N times under
# `Artist NNN/Album NNNN/NN Title NNNNNN.ext`, so every track has distinct tags (from
# its path) and the copies are real files (`cp`, not links). Then `auralis-server scan`
# runs three times in fresh data dirs (files/s each and the median, peak RSS from
# /usr/bin/time), and once more over the unchanged folder: the incremental path, which
# compares size + mtime and reads no file.
# Usage: tuning/scan-throughput.sh [N]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
command -v ffmpeg >/dev/null || { echo "needs ffmpeg (apt-get install ffmpeg)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release -q
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SRC='sine=frequency=440:duration=2:sample_rate=44100'
i=0
for spec in mp3:libmp3lame m4a:aac ogg:libvorbis opus:libopus flac:flac alac.m4a:alac; do
  ext=${spec%%:*}; codec=${spec##*:}
  ffmpeg -v error -f lavfi -i "$SRC" -ac 2 -map_metadata -1 -c:a "$codec" "$WORK/base$i.${ext##*.}"
  i=$((i + 1))
done
BASES=("$WORK"/base*)
python3 - "$WORK/music" "$N" "${BASES[@]}" <<'PY'
import os, shutil, sys
root, n, bases = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for i in range(n):
    src = bases[i % len(bases)]
    d = os.path.join(root, f"Artist {i % 1000:03}", f"Album {i % 10000:04}")
    os.makedirs(d, exist_ok=True)
    ext = os.path.splitext(src)[1]
    shutil.copyfile(src, os.path.join(d, f"{i % 20 + 1:02} Title {i:06}{ext}"))
PY
echo "$N files, $(du -sh "$WORK/music" | cut -f1), formats: $(ls "$WORK" | grep base | sed 's/base[0-9]*//' | tr '\n' ' ')"
BIN=target/release/auralis-server
field() { echo "$1" | awk -F'[:,]' -v k="\"$2\"" '$0 ~ k {gsub(/ /,"",$2); print $2; exit}'; }
scan() {
  /usr/bin/time -f 'maxrss_kb=%M' -o "$WORK/time" env RUST_LOG=error "$BIN" scan "$WORK/music" --data-dir "$WORK/data"
}
RATES=()
for run in $(seq 1 "${RUNS:-3}"); do
  rm -rf "$WORK/data"
  out=$(scan)
  ms=$(field "$out" elapsed_ms); added=$(field "$out" added); failed=$(field "$out" failed)
  rate=$(awk -v n="$added" -v ms="$ms" 'BEGIN {printf "%.0f", n * 1000 / (ms > 0 ? ms : 1)}')
  echo "run $run: $added files added ($failed failed) in ${ms} ms = $rate files/s, peak RSS $(cut -d= -f2 "$WORK/time") kB"
  RATES+=("$rate")
done
echo "median: $(printf '%s\n' "${RATES[@]}" | sort -n | sed -n "$(( (${#RATES[@]} + 1) / 2 ))p") files/s (first scan: probe + fingerprint + insert)"
out=$(scan)
ms=$(field "$out" elapsed_ms); unchanged=$(field "$out" unchanged)
echo "rescan, nothing changed: $unchanged files skipped in ${ms} ms, peak RSS $(cut -d= -f2 "$WORK/time") kB"
