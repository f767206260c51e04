#!/usr/bin/env bash
# One configuration knob, A against B, on identical work: two release servers on CPU 1
# (`--cores 1`) differing only in the environment variable VAR, loaded alternately
# (A B A B …) by `wrk -t1 -c64` on CPU 0 against PATH. Prints req/s and the server's
# CPU seconds per run (utime+stime of all its threads, kernel helpers included) and
# the median B/A ratio of req/s.
# Usage: tuning/knob-ab.sh VAR VALUE_A VALUE_B [ROUNDS] [SECONDS] [PATH]
#   e.g. tuning/knob-ab.sh AURALIS_SERVER__SQPOLL_IDLE_MS 0 50
set -euo pipefail
cd "$(dirname "$0")/.."
VAR=${1:?usage: tuning/knob-ab.sh VAR VALUE_A VALUE_B [ROUNDS] [SECONDS] [PATH]}
A=${2:?value A}
B=${3:?value B}
ROUNDS=${4:-3}
SECS=${5:-5}
URLPATH=${6:-/api/version}
command -v wrk >/dev/null || { echo "missing: wrk (apt-get install -y wrk)" >&2; exit 1; }
cargo build --release -q -p auralis-server
WORK=$(mktemp -d)
trap 'kill ${PIDS:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
. tuning/ab-lib.sh
start_server a 18711 "$VAR=$A"
start_server b 18712 "$VAR=$B"
curl -s -o /dev/null "http://127.0.0.1:18711$URLPATH"; curl -s -o /dev/null "http://127.0.0.1:18712$URLPATH"
echo "$VAR: A=$A B=$B, $ROUNDS rounds of ${SECS}s, wrk -t1 -c64 on CPU 0, servers on CPU 1, $URLPATH"
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  read -r ra ca < <(run "$PID_a" 18711)
  read -r rb cb < <(run "$PID_b" 18712)
  echo "round $r: A $ra req/s ($ca CPU s), B $rb req/s ($cb CPU s)"
  ratios+=("$(awk -v a="$ra" -v b="$rb" 'BEGIN {printf "%.3f", b / a}')")
done
echo "B/A req/s: ${ratios[*]} -> median $(median "${ratios[@]}")"
