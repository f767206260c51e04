# Shared by the A/B scripts (knob-ab.sh, tracing-overhead.sh): CPU ticks of a
# process, one wrk run against a pinned server, the median of a list.
# Needs SECS and URLPATH set by the caller.

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
