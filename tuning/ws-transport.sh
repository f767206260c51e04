#!/usr/bin/env bash
# WebSocket transports compared as alternating pairs: poll_io vs compat.
# Server on CPU 1 (--cores 1), examples/ws_rtt on CPU 0 (16 connections x 15000 pings),
# A B A B A B; prints messages/s per run and the median ratio poll_io/compat.
# Usage: tuning/ws-transport.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
cargo build --release -q --example ws_rtt
cargo build --release -q
WORK=$(mktemp -d)
trap 'pkill -f "auralis-server serve --listen 127.0.0.1:1810" 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lib"
run() { # transport port -> msgs/s
  RUST_LOG=warn AURALIS_WS__TRANSPORT=$1 AURALIS_WS__RATE_BASE_PER_MINUTE=100000000 \
    taskset -c 1 target/release/auralis-server serve --cores 1 --listen 127.0.0.1:$2 \
    --data-dir "$WORK/data-$2" --library "$WORK/lib" >"$WORK/out-$2" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do grep -q listening "$WORK/out-$2" 2>/dev/null && break; sleep 0.1; done
  taskset -c 0 target/release/examples/ws_rtt 127.0.0.1:$2 16 15000 | tee -a "$WORK/log" | awk '{print $6}' | tr -d '/s;'
  kill $pid; wait $pid 2>/dev/null || true
}
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  a=$(run poll_io 18101); echo "round $r poll_io: $a msg/s"
  b=$(run compat 18102); echo "round $r compat:  $b msg/s"
  RATIOS+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a/b}')")
done
echo "ratios poll_io/compat: ${RATIOS[*]}"
echo "median: $(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')"
cat "$WORK/log"
