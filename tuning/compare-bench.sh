#!/usr/bin/env bash
# A criterion bench of this tree against the same bench at an older revision, as
# alternating pairs (base, new, base, new, …) so machine drift hits both alike; prints
# each round's new/base ratio per benchmark and the median ratio.
#
# Usage: tuning/compare-bench.sh BASE_REV [BENCH] [ROUNDS] [SECONDS] [NEW_REV]
#   BENCH defaults to request_path, ROUNDS to 5, SECONDS (measurement time) to 3,
#   NEW_REV to the working tree as it is.
# Both trees build into this repo's target/ (dependencies are shared; only the two
# copies of the crate are compiled), a revision from a git worktree kept under
# target/bench-trees/ so that a second run does not rebuild it.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: tuning/compare-bench.sh BASE_REV [BENCH] [ROUNDS] [SECONDS]}
BENCH=${2:-request_path}
ROUNDS=${3:-5}
SECS=${4:-3}
NEWREV=${5:-}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
# A worktree per revision under target/, kept between runs: cargo fingerprints by
# path and mtime, so a kept tree is not rebuilt.
tree_for() {
  local rev dir
  rev=$(git rev-parse --short "$1")
  dir=$TARGET/bench-trees/$rev
  if [ "$(git -C "$dir" rev-parse --short HEAD 2>/dev/null)" != "$rev" ]; then
    git worktree remove --force "$dir" >/dev/null 2>&1 || rm -rf "$dir"
    git worktree prune
    mkdir -p "$TARGET/bench-trees"
    git worktree add -q --detach "$dir" "$rev"
  fi
  echo "$dir"
}
WT=$(tree_for "$BASE")
NEWTREE=$PWD
[ -z "$NEWREV" ] || NEWTREE=$(tree_for "$NEWREV")

# The bench executable cargo builds for a tree (the last artifact with an executable).
bench_bin() {
  (cd "$1" && CARGO_TARGET_DIR=$TARGET cargo bench --bench "$BENCH" --no-run --message-format=json 2>/dev/null) |
    python3 -c 'import sys, json
want = sys.argv[1]
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == want]
print(exe[-1])' "$BENCH"
}
OLD=$(bench_bin "$WT")
NEW=$(bench_bin "$NEWTREE")
echo "base $BASE: $OLD"
echo "new  ${NEWREV:-working tree}: $NEW"

# One run: "benchmark-id median-ns" lines from criterion's "time: [lo mid hi]".
measure() {
  "$1" --bench --noplot --discard-baseline --warm-up-time 1 --measurement-time "$SECS" 2>/dev/null |
    awk '/^[a-z_]+\/[a-z_]+/ {id=$1} /time:/ && !/%/ {
        for (i = 1; i <= NF; i++) if ($i == "time:") { v = $(i+3); u = $(i+4) }
        gsub(/\[/, "", v)
        f = (u == "ns") ? 1 : (u == "µs" || u == "us") ? 1000 : (u == "ms") ? 1e6 : (u == "ps") ? 0.001 : 1e9
        printf "%s %.3f\n", id, v * f }'
}
RES=$(mktemp)
for r in $(seq 1 "$ROUNDS"); do
  measure "$OLD" | sed "s/^/$r base /" >>"$RES"
  measure "$NEW" | sed "s/^/$r new /" >>"$RES"
done
python3 - "$RES" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
runs = {}
for rnd, side, bench, ns in rows:
    runs.setdefault(bench, {}).setdefault(rnd, {})[side] = float(ns)
print("| bench | base ns (per round) | new ns (per round) | new/base per round | median |")
print("|---|---|---|---|---|")
for bench, by in runs.items():
    pairs = [(v["base"], v["new"]) for _, v in sorted(by.items(), key=lambda kv: int(kv[0])) if "base" in v and "new" in v]
    ratios = [n / b for b, n in pairs]
    print(f"| {bench} | {', '.join(f'{b:.1f}' for b, _ in pairs)} | {', '.join(f'{n:.1f}' for _, n in pairs)} "
          f"| {', '.join(f'{x:.3f}' for x in ratios)} | **{statistics.median(ratios):.3f}** |")
PY
rm -f "$RES"
