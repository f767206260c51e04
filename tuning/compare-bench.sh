#!/usr/bin/env bash
# A criterion bench of this tree against the same bench at an older revision, as
# alternating pairs (base, new, base, new, …) so machine drift hits both alike; prints
# each round's new/base ratio per benchmark and the median ratio.
#
# Usage: tuning/compare-bench.sh BASE_REV [BENCH] [ROUNDS] [SECONDS] [NEW_REV]
#   BENCH defaults to request_path, ROUNDS to 5, SECONDS (measurement time) to 3,
#   NEW_REV to the working tree as it is.
# A revision is checked out as a git worktree under target/bench-trees/ with a target
# dir of its own, both kept so that a second run does not rebuild it.
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
  (cd "$1" && cargo bench --bench "$BENCH" --no-run --message-format=json 2>/dev/null) |
    python3 -c 'import sys, json
want = sys.argv[1]
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == want]
print(exe[-1])' "$BENCH"
}
# Each revision builds into a target dir of its own (target/bench-trees/target-REV;
# the working tree uses this repo's target/). Sharing one was wrong: cargo names a
# workspace member's artifacts the same whatever directory it sits in and judges them
# fresh against the source files of whichever tree built them last, so the second tree
# silently reused the first tree's binary (an earlier version of this script compared
# a binary with itself). The first build of a revision compiles its dependencies too.
BIN_DIR=$TARGET/bench-trees/bin
mkdir -p "$BIN_DIR"
keep() { # tree rev -> path of a private copy of its bench executable
  local exe dest target=$TARGET
  [ "$1" = "$PWD" ] || target=$TARGET/bench-trees/target-$2
  exe=$(CARGO_TARGET_DIR=$target bench_bin "$1")
  dest=$BIN_DIR/$BENCH-$2
  cp "$exe" "$dest"
  echo "$dest"
}
OLD=$(keep "$WT" "$(git rev-parse --short "$BASE")")
NEW=$(keep "$NEWTREE" "${NEWREV:-worktree}")
cmp -s "$OLD" "$NEW" && echo "note: base and new executables are identical (no code change in this bench's path)"
echo "base $BASE: $OLD"
echo "new  ${NEWREV:-working tree}: $NEW"

# One run: "benchmark-id ns" lines, from criterion's bencher output
# ("test ID ... bench: N ns/iter (+/- M)", N the point estimate).
measure() {
  "$1" --bench --noplot --discard-baseline --warm-up-time 1 --measurement-time "$SECS" \
    --output-format bencher 2>/dev/null |
    awk '/^test .* bench:/ { gsub(/,/, "", $5); printf "%s %s\n", $2, $5 }'
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
    if not ratios:
        print(f"| {bench} | (only in one revision) | | | |")
        continue
    print(f"| {bench} | {', '.join(f'{b:.1f}' for b, _ in pairs)} | {', '.join(f'{n:.1f}' for _, n in pairs)} "
          f"| {', '.join(f'{x:.3f}' for x in ratios)} | **{statistics.median(ratios):.3f}** |")
PY
rm -f "$RES"
