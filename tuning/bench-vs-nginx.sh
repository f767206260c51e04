#!/usr/bin/env bash
# auralis-server vs nginx on one core, as alternating pairs (A B A B A B).
#   server under test pinned to CPU 1 (`--cores 1`), nginx with one worker on CPU 1,
#   wrk on CPU 0: -t1 -c64 -d10s --latency.
# Case "json": GET /api/version; nginx answers `return 200` with the same body and
# the same set of headers.
# Case "chunk": one cached 10 s WAV chunk of the demo library (tier-1 hits) vs nginx
# serving the identical bytes as a static file with sendfile on.
# Prints req/s and p99 per run and the median req/s ratio per case.
# Usage: tuning/bench-vs-nginx.sh [DURATION_S] [ROUNDS] [CASES]   (CASES: "json chunk")
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${2:-3}
CASES=${3:-json chunk}
for tool in wrk nginx taskset curl; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    echo "missing: $tool. Install with: apt-get install -y wrk nginx-light curl util-linux" >&2
    exit 1
  fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$(nproc)" -lt 2 ]; then echo "needs at least 2 CPUs (server on CPU 1, wrk on CPU 0)" >&2; exit 1; fi

cargo build --release -q
WORK=$(mktemp -d)
AURALIS_PORT=18091
NGINX_PORT=18090
cleanup() {
  [ -n "${APID:-}" ] && kill "$APID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The access log off on both sides (nginx: access_log off; auralis: RUST_LOG=warn); the
# rate limiter stays on auralis's path with a limit it never reaches.
RUST_LOG=warn AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE=4000000000 AURALIS_HTTP__MAX_CONNECTIONS_PER_IP=1000000 AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE=4000000000 \
  taskset -c 1 target/release/auralis-server serve --cores 1 --listen 127.0.0.1:$AURALIS_PORT ${AURALIS_ARGS:-} \
  --data-dir "$WORK/data" >"$WORK/auralis.out" 2>"$WORK/auralis.err" &
APID=$!
for _ in $(seq 1 300); do grep -q listening "$WORK/auralis.out" 2>/dev/null && break; sleep 0.1; done
CHUNK_PATH="/api/stream/1/chunk/0?format=wav"
mkdir -p "$WORK/static"
curl -s -o "$WORK/static/chunk.wav" "http://127.0.0.1:$AURALIS_PORT$CHUNK_PATH"   # decode once: later hits are tier 1

BODY=$(curl -s http://127.0.0.1:$AURALIS_PORT/api/version)
WORK=$WORK PORT=$NGINX_PORT BODY=${BODY//\'/\\\'} python3 -c 'import os, string, sys
print(string.Template(open(sys.argv[1]).read()).substitute(os.environ))' tuning/peers/nginx.conf.template >"$WORK/nginx.conf"
taskset -c 1 "$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.5

run_wrk() { # url -> "rps p99_ms"
  taskset -c 0 wrk -t1 -c64 -d"${DUR}s" --latency "$1" >"$WORK/wrk.out" 2>&1
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.out")
  echo "$rps $p99"
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

run_case() { # name auralis_url nginx_url
  local name=$1 a_url=$2 n_url=$3 ratios=()
  echo "case $name: ${DUR}s x ${ROUNDS} rounds, wrk -t1 -c64 on CPU 0, servers on CPU 1"
  printf '%-6s %-8s %12s %10s\n' round server req/s p99_ms
  for r in $(seq 1 "$ROUNDS"); do
    read -r a_rps a_p99 < <(run_wrk "$a_url")
    printf '%-6s %-8s %12s %10s\n' "$r" auralis "$a_rps" "$a_p99"
    read -r n_rps n_p99 < <(run_wrk "$n_url")
    printf '%-6s %-8s %12s %10s\n' "$r" nginx "$n_rps" "$n_p99"
    ratios+=("$(awk -v a="$a_rps" -v n="$n_rps" 'BEGIN {printf "%.3f", a/n}')")
  done
  echo "$name ratios auralis/nginx req/s: ${ratios[*]}"
  echo "$name median ratio: $(median "${ratios[@]}")"
}

for c in $CASES; do
  case $c in
    json) run_case json "http://127.0.0.1:$AURALIS_PORT/api/version" "http://127.0.0.1:$NGINX_PORT/api/version" ;;
    chunk) run_case chunk "http://127.0.0.1:$AURALIS_PORT$CHUNK_PATH" "http://127.0.0.1:$NGINX_PORT/chunk.wav" ;;
    *) echo "unknown case $c" >&2; exit 1 ;;
  esac
done
