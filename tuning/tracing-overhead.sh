#!/usr/bin/env bash
# What tracing costs a request: three release servers on CPU 1 (`--cores 1`) —
# tracing off (no endpoint), on at sample_ratio 0 (only callers' sampled traces would
# be recorded; wrk sends none), on at sample_ratio 1 (every request a SERVER span,
# exported), and at ratio 1 with the collector down (nothing listens on its port) —
# loaded in turn (off r0 r1 dead off r0 r1 dead …) by `wrk -t1 -c64` on CPU 0
# against GET /api/version. The collector is tests/otlp/receiver.py --discard (answers
# 200 without decoding, on CPU 0 beside wrk), so what is measured is the server's
# side: building spans, the queue, the exporter thread's encoding and POSTs, which
# share CPU 1 with the core. Prints req/s and CPU seconds per run, the median ratios
# against `off`, and the ratio-1 server's span counters.
# Usage: tuning/tracing-overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-5}
URLPATH=/api/version
command -v wrk >/dev/null || { echo "missing: wrk (apt-get install -y wrk)" >&2; exit 1; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || { echo "missing: pip install opentelemetry-proto" >&2; exit 1; }
cargo build --release -q -p auralis-server
WORK=$(mktemp -d)
trap 'kill ${PIDS:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
taskset -c 0 python3 tests/otlp/receiver.py --port 18720 --discard >"$WORK/collector.out" 2>&1 &
PIDS="$!"
. tuning/ab-lib.sh
EP=AURALIS_TRACING__OTLP_ENDPOINT=http://127.0.0.1:18720
start_server off 18721
start_server r0 18722 "$EP" AURALIS_TRACING__SAMPLE_RATIO=0
start_server r1 18723 "$EP" AURALIS_TRACING__SAMPLE_RATIO=1
# The collector down: ratio 1 against a port nothing listens on.
start_server dead 18724 AURALIS_TRACING__OTLP_ENDPOINT=http://127.0.0.1:18729 AURALIS_TRACING__SAMPLE_RATIO=1
for p in 18721 18722 18723 18724; do curl -s -o /dev/null -H 'Host: localhost' "http://127.0.0.1:$p$URLPATH"; done
echo "tracing off / ratio 0 / ratio 1: $ROUNDS rounds of ${SECS}s, wrk -t1 -c64 on CPU 0, servers on CPU 1, $URLPATH"
r0s=(); r1s=(); deads=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b / a}'; }
for r in $(seq 1 "$ROUNDS"); do
  read -r a ca < <(run "$PID_off" 18721)
  read -r b cb < <(run "$PID_r0" 18722)
  read -r c cc < <(run "$PID_r1" 18723)
  read -r d cd < <(run "$PID_dead" 18724)
  echo "round $r: off $a req/s ($ca CPU s), ratio 0 $b ($cb), ratio 1 $c ($cc), ratio 1 collector down $d ($cd)"
  r0s+=("$(ratio "$a" "$b")"); r1s+=("$(ratio "$a" "$c")"); deads+=("$(ratio "$a" "$d")")
done
echo "ratio 0 / off: ${r0s[*]} -> median $(median "${r0s[@]}")"
echo "ratio 1 / off: ${r1s[*]} -> median $(median "${r1s[@]}")"
echo "ratio 1, collector down / off: ${deads[*]} -> median $(median "${deads[@]}")"
sleep 2
for p in 18723 18724; do
  echo "spans of the ratio-1 server on $p:"
  curl -s -H 'Host: localhost' "http://127.0.0.1:$p/metrics" | grep -E '^auralis_trace_spans'
done
echo "collector: $(curl -s http://127.0.0.1:18720/spans)"
