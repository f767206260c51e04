#!/usr/bin/env bash
# auralis-loadtest vs wrk against the same server: nginx `return 200`, one worker on
# CPU 1. Both generators on CPU 0 with one core/thread and 64 connections, closed model,
# alternating A B A B A B; prints req/s and p50 for both and the median req/s ratio.
# (wrk2, the open-model reference, is not packaged by Debian: the p50 comparison here is
# against wrk's closed-model p50 at the same concurrency.)
# Usage: tuning/bench-vs-wrk.sh [DURATION_S] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${2:-3}
for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || { echo "missing: $tool (apt-get install -y wrk nginx-light)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p auralis-loadtest
WORK=$(mktemp -d)
PORT=18190
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
RATIOS=()
printf '%-6s %-10s %12s %10s\n' round tool req/s p50_us
for r in $(seq 1 "$ROUNDS"); do
  taskset -c 0 target/release/auralis-loadtest http "http://127.0.0.1:$PORT/" --connections 64 --duration "${DUR}s" --cores 1 --quiet --json "$WORK/a.json" >/dev/null
  a_rps=$(python3 -c "import json; print(json.load(open('$WORK/a.json'))['achieved_rate'])")
  a_p50=$(python3 -c "import json; print(json.load(open('$WORK/a.json'))['latency_us']['p50'])")
  printf '%-6s %-10s %12s %10s\n' "$r" loadtest "$a_rps" "$a_p50"
  taskset -c 0 wrk -t1 -c64 -d"${DUR}s" --latency "http://127.0.0.1:$PORT/" >"$WORK/wrk.out"
  w_rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
  w_p50=$(awk '$1=="50%" {print $2}' "$WORK/wrk.out" | to_us)
  printf '%-6s %-10s %12s %10s\n' "$r" wrk "$w_rps" "$w_p50"
  RATIOS+=("$(awk -v a="$a_rps" -v w="$w_rps" 'BEGIN {printf "%.3f", a/w}')")
done
echo "ratios loadtest/wrk req/s: ${RATIOS[*]}"
echo "median: $(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')"
