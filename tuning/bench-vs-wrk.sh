#!/usr/bin/env bash
# auralis-loadtest against other load generators, on the same server: nginx
# `return 200`, one worker on CPU 1; every generator on CPU 0 with one core/thread.
#
# 1. Closed model, 64 connections: loadtest vs wrk (and oha when installed), alternating,
#    ROUNDS rounds; req/s, p50, mean, and Little's law (mean = connections / rate) as
#    the check on what each tool's latency covers.
# 2. Open model at RATE req/s, 64 connections (only with oha: wrk2, the reference the
#    issue names, is not packaged by Debian and cannot be fetched here): loadtest p50
#    and its own send lag vs oha --latency-correction p50 (and oha uncorrected).
#
# Usage: tuning/bench-vs-wrk.sh [DURATION_S] [ROUNDS] [RATE]
# oha: `cargo install oha --locked` (or OHA=/path/to/oha).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${2:-3}
RATE=${3:-20000}
for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || { echo "missing: $tool (apt-get install -y wrk nginx-light)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
OHA=${OHA:-$(command -v oha || true)}
cargo build --release -q -p auralis-loadtest
LT=target/release/auralis-loadtest
WORK=$(mktemp -d)
PORT=18190
URL="http://127.0.0.1:$PORT/"
trap '[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 127.0.0.1:$PORT; location / { return 200 'hello'; } }
}
CONF
taskset -c 1 "$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.5
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000000}}'; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# oha runs on one tokio worker thread, like the others on one core.
oha() { TOKIO_WORKER_THREADS=1 taskset -c 0 "$OHA" --no-tui --output-format json -c 64 -z "${DUR}s" "$@" "$URL"; }

echo "== closed model, 64 connections, ${DUR}s x $ROUNDS rounds"
RATIOS=()
printf '%-6s %-9s %11s %8s %8s %10s\n' round tool req/s p50_us mean_us 64/rate_us
for r in $(seq 1 "$ROUNDS"); do
  taskset -c 0 "$LT" http "$URL" --connections 64 --duration "${DUR}s" --cores 1 --quiet --json "$WORK/a.json" >/dev/null
  a_rps=$(json "$WORK/a.json" "d['achieved_rate']")
  printf '%-6s %-9s %11s %8s %8s %10.0f\n' "$r" loadtest "$a_rps" "$(json "$WORK/a.json" "d['latency_us']['p50']")" \
    "$(json "$WORK/a.json" "round(d['latency_us']['mean'])")" "$(echo "64 1000000 $a_rps" | awk '{print $1*$2/$3}')"
  taskset -c 0 wrk -t1 -c64 -d"${DUR}s" --latency "$URL" >"$WORK/wrk.out"
  w_rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
  printf '%-6s %-9s %11s %8s %8s %10.0f\n' "$r" wrk "$w_rps" "$(awk '$1=="50%" {print $2}' "$WORK/wrk.out" | to_us)" \
    "$(awk '$1=="Latency" {print $2; exit}' "$WORK/wrk.out" | to_us)" "$(echo "64 1000000 $w_rps" | awk '{print $1*$2/$3}')"
  if [ -n "$OHA" ]; then
    oha >"$WORK/oha.json"
    o_rps=$(json "$WORK/oha.json" "round(d['summary']['requestsPerSec'],1)")
    printf '%-6s %-9s %11s %8s %8s %10.0f\n' "$r" oha "$o_rps" "$(json "$WORK/oha.json" "round(d['latencyPercentiles']['p50']*1e6)")" \
      "$(json "$WORK/oha.json" "round(d['summary']['average']*1e6)")" "$(echo "64 1000000 $o_rps" | awk '{print $1*$2/$3}')"
  fi
  RATIOS+=("$(awk -v a="$a_rps" -v w="$w_rps" 'BEGIN {printf "%.3f", a/w}')")
done
echo "ratios loadtest/wrk req/s: ${RATIOS[*]}"
echo "median: $(printf '%s\n' "${RATIOS[@]}" | median)"

[ -n "$OHA" ] || { echo "(oha not installed: open-model comparison skipped; cargo install oha --locked)"; exit 0; }
echo "== open model, $RATE req/s, 64 connections, ${DUR}s x $ROUNDS rounds"
P50S=()
printf '%-6s %-24s %9s %8s %8s\n' round tool achieved p50_us p99_us
for r in $(seq 1 "$ROUNDS"); do
  taskset -c 0 "$LT" http "$URL" --connections 64 --rate "$RATE" --duration "${DUR}s" --cores 1 --quiet --json "$WORK/a.json" >/dev/null
  a_p50=$(json "$WORK/a.json" "d['latency_us']['p50']")
  printf '%-6s %-24s %9s %8s %8s   send lag p50 %s\n' "$r" loadtest "$(json "$WORK/a.json" "d['achieved_rate']")" "$a_p50" \
    "$(json "$WORK/a.json" "d['latency_us']['p99']")" "$(json "$WORK/a.json" "d['send_lag_us']['p50']")"
  oha -q "$RATE" --latency-correction >"$WORK/oha.json"
  o_p50=$(json "$WORK/oha.json" "round(d['latencyPercentiles']['p50']*1e6)")
  printf '%-6s %-24s %9s %8s %8s\n' "$r" "oha --latency-correction" "$(json "$WORK/oha.json" "round(d['summary']['requestsPerSec'])")" "$o_p50" \
    "$(json "$WORK/oha.json" "round(d['latencyPercentiles']['p99']*1e6)")"
  oha -q "$RATE" >"$WORK/oha.json"
  printf '%-6s %-24s %9s %8s %8s\n' "$r" "oha (uncorrected)" "$(json "$WORK/oha.json" "round(d['summary']['requestsPerSec'])")" \
    "$(json "$WORK/oha.json" "round(d['latencyPercentiles']['p50']*1e6)")" "$(json "$WORK/oha.json" "round(d['latencyPercentiles']['p99']*1e6)")"
  P50S+=("$(awk -v a="$a_p50" -v o="$o_p50" 'BEGIN {printf "%.3f", a/o}')")
done
echo "ratios loadtest/oha-corrected p50: ${P50S[*]}"
echo "median: $(printf '%s\n' "${P50S[@]}" | median)"
