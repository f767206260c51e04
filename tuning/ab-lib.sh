# Shared by the A/B scripts (knob-ab.sh, tracing-overhead.sh): starting a pinned
# release server, CPU ticks of a process, one wrk run against a pinned server, the
# median of a list. Needs WORK (a temp dir), SECS and URLPATH set by the caller.

HZ=$(getconf CLK_TCK)

# utime + stime of every thread of PID, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run PID PORT -> "req/s cpu_s": `wrk -t1 -c64` on CPU 0 for SECS against URLPATH.
run() {
  local t0 t1 rps
  t0=$(ticks "$1")
  rps=$(taskset -c 0 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$2$URLPATH" | awk '/Requests\/sec/ {print $2}')
  t1=$(ticks "$1")
  echo "$rps $(awk -v d=$((t1 - t0)) -v hz="$HZ" 'BEGIN {printf "%.2f", d / hz}')"
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# start_server NAME PORT [VAR=value ...]: a release server on CPU 1 (`--cores 1`, limits
# out of the way of the load), its pid in PID_<NAME> and PIDS; waits until it listens.
start_server() {
  local name=$1 port=$2; shift 2
  env RUST_LOG=warn AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE=4000000000 AURALIS_HTTP__MAX_CONNECTIONS_PER_IP=1000000 \
    AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE=4000000000 "$@" \
    taskset -c 1 target/release/auralis-server serve --cores 1 --listen "127.0.0.1:$port" \
    --data-dir "$WORK/data-$name" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS="${PIDS:-} $!"
  eval "PID_$name=$!"
  for _ in $(seq 1 300); do grep -q listening "$WORK/$name.out" 2>/dev/null && return; sleep 0.1; done
  echo "server $name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1
}
