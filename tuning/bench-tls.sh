#!/usr/bin/env bash
# What TLS costs per request: the same auralis-server twice on CPU 1 (`--cores 1`), one
# plain, one with [tls] (a self-signed P-256 end-entity certificate made here with
# openssl: CA:FALSE, as webpki refuses a CA certificate used as a server's), loaded
# in alternating pairs (plain, TLS, plain, TLS, …) by the harness on CPU 0:
#   auralis-loadtest http URL --connections 64 --duration D (closed model, keep-alive).
# Per run: req/s, p99, and the server's CPU time per request (utime+stime from
# /proc/PID/stat, µs) — the server-side cost, which holds even when the client limits.
# Cases: json (GET /api/version) and chunk (a tier-1 10 s WAV chunk, 1.76 MB).
# Prints the median TLS/plain ratios per case (req/s and CPU µs per request).
# Usage: tuning/bench-tls.sh [DURATION_S] [ROUNDS] [CASES]   (CASES: "json chunk")
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
ROUNDS=${2:-3}
CASES=${3:-json chunk}
command -v openssl >/dev/null || { echo "missing: openssl (apt-get install -y openssl)" >&2; exit 1; }
if [ "$(nproc)" -lt 2 ]; then echo "needs at least 2 CPUs (server on CPU 1, harness on CPU 0)" >&2; exit 1; fi
cargo build --release -q -p auralis-server -p auralis-loadtest
WORK=$(mktemp -d)
PLAIN_PORT=18093
TLS_PORT=18094
cleanup() {
  for p in ${PIDS:-}; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

start() { # name port [env...]
  local name=$1 port=$2; shift 2
  env RUST_LOG=warn AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE=4000000000 AURALIS_HTTP__MAX_CONNECTIONS_PER_IP=1000000 \
    AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE=4000000000 "$@" \
    taskset -c 1 target/release/auralis-server serve --cores 1 --listen 127.0.0.1:"$port" \
    --data-dir "$WORK/data-$name" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS="${PIDS:-} $!"
  eval "${name}_PID=$!"
  for _ in $(seq 1 300); do grep -q listening "$WORK/$name.out" 2>/dev/null && return; sleep 0.1; done
  echo "$name server did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1
}
start plain $PLAIN_PORT
start tls $TLS_PORT AURALIS_TLS__CERT_FILE="$WORK/cert.pem" AURALIS_TLS__KEY_FILE="$WORK/key.pem"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

run_one() { # pid url -> "rps p99_ms cpu_us_per_request"
  local pid=$1 url=$2 before after
  before=$(cpu_ticks "$pid")
  taskset -c 0 target/release/auralis-loadtest --tls-ca "$WORK/cert.pem" http "$url" \
    --connections 64 --duration "${DUR}s" --cores 1 --quiet --json "$WORK/r.json" >/dev/null
  after=$(cpu_ticks "$pid")
  python3 - "$WORK/r.json" "$before" "$after" "$TICK" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ticks = int(sys.argv[3]) - int(sys.argv[2])
cpu_us = ticks / int(sys.argv[4]) * 1e6 / max(r["requests"], 1)
errors = sum(v for v in r["errors"].values() if isinstance(v, int))
if errors:
    sys.exit(f"errors in run: {r['errors']}")
print(f'{r["achieved_rate"]:.0f} {r["latency_us"]["p99"] / 1000:.3f} {cpu_us:.2f}')
PY
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

run_case() { # name path
  local name=$1 path=$2 rps_ratios=() cpu_ratios=()
  # Warm both (first chunk request decodes; later ones are tier-1 hits).
  curl -s -o /dev/null "http://127.0.0.1:$PLAIN_PORT$path" || true
  curl -s -o /dev/null --cacert "$WORK/cert.pem" "https://127.0.0.1:$TLS_PORT$path" || true
  echo "case $name: ${DUR}s x ${ROUNDS} rounds, harness -c64 on CPU 0, servers on CPU 1"
  printf '%-6s %-6s %10s %9s %14s\n' round server req/s p99_ms server_cpu_us
  for r in $(seq 1 "$ROUNDS"); do
    read -r p_rps p_p99 p_cpu < <(run_one "$plain_PID" "http://127.0.0.1:$PLAIN_PORT$path")
    printf '%-6s %-6s %10s %9s %14s\n' "$r" plain "$p_rps" "$p_p99" "$p_cpu"
    read -r t_rps t_p99 t_cpu < <(run_one "$tls_PID" "https://127.0.0.1:$TLS_PORT$path")
    printf '%-6s %-6s %10s %9s %14s\n' "$r" tls "$t_rps" "$t_p99" "$t_cpu"
    rps_ratios+=("$(awk -v a="$t_rps" -v b="$p_rps" 'BEGIN {printf "%.3f", a/b}')")
    cpu_ratios+=("$(awk -v a="$t_cpu" -v b="$p_cpu" 'BEGIN {printf "%.3f", a/b}')")
  done
  echo "$name TLS/plain req/s: ${rps_ratios[*]} -> median $(median "${rps_ratios[@]}")"
  echo "$name TLS/plain server CPU per request: ${cpu_ratios[*]} -> median $(median "${cpu_ratios[@]}")"
}

for c in $CASES; do
  case $c in
    json) run_case json "/api/version" ;;
    chunk) run_case chunk "/api/stream/1/chunk/0?format=wav" ;;
    *) echo "unknown case $c" >&2; exit 1 ;;
  esac
done
