#!/usr/bin/env bash
# Core scaling: the JSON (GET /api/version) and chunk (a tier-1 10 s WAV chunk) cases
# at 1, 2, 4 … N server cores, the harness on the remaining CPUs, connections spread
# over 40 loopback source addresses (the client-IP socket filter pins each address to
# one core). Prints req/s per k and the efficiency req/s(k) ÷ (k × req/s(1)).
# When k leaves no CPU for the harness (k = N), the harness shares the server's CPUs:
# the row is marked `shared` and its efficiency is a floor, not a scaling figure.
# Usage: tuning/scale.sh [N] [DURATION_S]      (N defaults to every allowed CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-$(nproc)}
DUR=${2:-5}
cargo build --release -q -p auralis-server -p auralis-loadtest
WORK=$(mktemp -d)
trap '[ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
PORT=18500
run() { # server_cpus harness_cpus harness_cores path -> req/s
  taskset -c "$2" target/release/auralis-loadtest http "http://127.0.0.1:$PORT$4" \
    --connections $((64 * K)) --duration "${DUR}s" --warmup 1s --cores "$3" \
    --source-ips 127.0.0.2-127.0.0.41 --quiet --json "$WORK/r.json" >/dev/null
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); e=sum(v for v in r["errors"].values() if isinstance(v,int)); print("errors" if e else "%.0f" % r["achieved_rate"])' "$WORK/r.json"
}
printf '| k | server CPUs | harness CPUs | JSON req/s | JSON efficiency | chunk req/s | chunk efficiency |\n|---|---|---|---|---|---|---|\n'
k=1
while [ "$k" -le "$N" ]; do
  K=$k
  SCPUS="0-$((k - 1))"
  if [ "$k" -lt "$N" ]; then HCPUS="$k-$((N - 1))"; HC=$((N - k)); else HCPUS="0-$((N - 1))"; HC=$N; fi
  [ "$HC" -gt 8 ] && HC=8
  RUST_LOG=warn AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE=4000000000 AURALIS_HTTP__MAX_CONNECTIONS_PER_IP=1000000 AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE=4000000000 \
    taskset -c "$SCPUS" target/release/auralis-server serve --cores "$k" --listen 127.0.0.1:$PORT \
    --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
  PID=$!
  for _ in $(seq 1 300); do grep -q listening "$WORK/out" 2>/dev/null && break; sleep 0.1; done
  curl -s -o /dev/null "http://127.0.0.1:$PORT/api/stream/1/chunk/0?format=wav"
  J=$(run "$SCPUS" "$HCPUS" "$HC" /api/version)
  C=$(run "$SCPUS" "$HCPUS" "$HC" "/api/stream/1/chunk/0?format=wav")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  [ "$k" -eq 1 ] && { J1=$J; C1=$C; }
  shared=""; [ "$k" -ge "$N" ] && [ "$N" -gt 1 ] && shared=" (shared)"
  printf '| %s%s | %s | %s | %s | %s | %s | %s |\n' "$k" "$shared" "$SCPUS" "$HCPUS" "$J" \
    "$(awk -v a="$J" -v b="$J1" -v k="$k" 'BEGIN {printf "%.2f", a / (k * b)}')" "$C" \
    "$(awk -v a="$C" -v b="$C1" -v k="$k" 'BEGIN {printf "%.2f", a / (k * b)}')"
  k=$((k * 2))
  [ "$k" -gt "$N" ] && [ "$((k / 2))" -lt "$N" ] && k=$N
done
