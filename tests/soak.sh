#!/usr/bin/env bash
# Soak: MINUTES of mixed load on a release server over loopback — the harness's
# listeners (players pulling chunks), api-mix (REST reads and playlist writes) and
# ws-broadcast (notification fan-out) at once, one minute per round — then checks:
#   - no error growth: 5xx answers per round do not grow after the first round;
#   - memory flat after warm-up: RSS at the end within ±10 % of RSS after round 1;
#   - the connection table back to zero once the clients have left.
# Loopback only, bounded (every harness run has a duration), stops by itself.
# Usage: tests/soak.sh [MINUTES]     (default 5; the issue's recorded run is 30)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-5}
cargo build --release -q -p auralis-server -p auralis-loadtest
SERVER=target/release/auralis-server
LT=target/release/auralis-loadtest
WORK=$(mktemp -d)
PORT=${PORT:-18290}
URL="http://127.0.0.1:$PORT"
# The load comes from one loopback address: lift the per-IP API limit (the soak is
# about time, not about the limiter, which has its own tests).
AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE=100000000 \
  AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE=100000000 \
  "$SERVER" serve --listen "127.0.0.1:$PORT" --cores 1 --data-dir "$WORK/data" \
  >"$WORK/stdout" 2>"$WORK/server.log" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 600); do
  grep -q "listening" "$WORK/stdout" 2>/dev/null && break
  sleep 0.1
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
# 5xx answers since start, over all cores.
errors() {
  curl -s "$URL/metrics" | awk '/^auralis_responses_total\{.*class="5xx"/ {s += $2} END {print s + 0}'
}
# Open connections once clients left (the scrape itself is one).
open_conns() {
  curl -s "$URL/metrics" | awk '/^auralis_connections\{/ {s += $2} END {print s + 0}'
}

printf '| round | RSS MB | 5xx this round | connections after |\n|---|---|---|---|\n'
prev_err=$(errors)
declare -a RSS ERR
for r in $(seq 1 "$MINUTES"); do
  "$LT" listeners "$URL" --listeners 50 --speed 4 --ramp 5s --duration 50s --quiet --json "$WORK/l$r.json" >/dev/null &
  L=$!
  "$LT" api-mix "$URL" --connections 16 --rate 300 --duration 50s --quiet --json "$WORK/a$r.json" >/dev/null &
  A=$!
  "$LT" ws-broadcast "$URL" --listeners 200 --rate 5 --duration 50s --quiet --json "$WORK/w$r.json" >/dev/null &
  W=$!
  wait "$L" "$A" "$W"
  sleep 8   # clients gone, monitor ticked
  err=$(errors)
  ERR[$r]=$(( err - prev_err ))
  prev_err=$err
  RSS[$r]=$(rss_kb)
  conns=$(open_conns)
  printf '| %d | %.1f | %d | %d |\n' "$r" "$(echo "${RSS[$r]} / 1024" | bc -l)" "${ERR[$r]}" "$conns"
done

fail=0
if [ "$MINUTES" -ge 2 ]; then
  first=${RSS[1]}; last=${RSS[$MINUTES]}
  drift=$(echo "($last - $first) * 100 / $first" | bc -l)
  printf 'RSS after round 1 → end: %+.1f %%\n' "$drift"
  if [ "$(echo "$drift > 10 || $drift < -10" | bc -l)" = 1 ]; then echo "FAIL: RSS not flat"; fail=1; fi
  for r in $(seq 2 "$MINUTES"); do
    if [ "${ERR[$r]}" -gt "${ERR[1]}" ]; then echo "FAIL: 5xx grew in round $r"; fail=1; fi
  done
fi
if [ "$(open_conns)" -gt 1 ]; then echo "FAIL: connections left open"; fail=1; fi
[ "$fail" = 0 ] && echo "soak ok: $MINUTES rounds"
exit "$fail"
