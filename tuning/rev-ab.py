#!/usr/bin/env python3
"""This tree's server against an older revision's, on identical work, alternating
rounds: JSON req/s (wrk, 64 connections) and broadcast p99 to N WebSocket listeners
with the server's CPU per delivery. For "did this change move single-node speed?"
questions that a run against peers (tuning/bench.sh) answers only through noise.

The base revision is built once into target/bench-trees/target-REV (a worktree under
target/bench-trees/REV, as tuning/compare-bench.sh keeps them). Servers on CPU 1,
load on CPU 0, loopback only.
Usage: tuning/rev-ab.sh BASE_REV [--rounds N] [--listeners N] [--secs S]
       tuning/rev-ab.sh LABEL --base-binary PATH ...   (a base already built, e.g. a
       copy of target/release/auralis-server taken before the change)
"""
import argparse
import pathlib
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402


def base_binary(rev):
    short = subprocess.run(["git", "rev-parse", "--short", rev], cwd=bench.ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    trees = bench.ROOT / "target/bench-trees"
    tree = trees / short
    if not (tree / "Cargo.toml").exists():
        subprocess.run(["git", "worktree", "prune"], cwd=bench.ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), short], cwd=bench.ROOT, check=True)
    target = trees / f"target-{short}"
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server"], cwd=tree, check=True,
                   env={**bench.os.environ, "CARGO_TARGET_DIR": str(target)})
    return short, target / "release/auralis-server"


def abba(rounds, base, new):
    """Alternating rounds, the order swapped every round (base new, new base, …), so a
    drift or a first-run effect does not favour one side."""
    ro, rn = [], []
    for r in range(rounds):
        if r % 2 == 0:
            ro.append(base())
            rn.append(new())
        else:
            rn.append(new())
            ro.append(base())
    return ro, rn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--listeners", type=int, default=5000)
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--json-only", action="store_true", help="skip the broadcast rows")
    ap.add_argument("--base-binary", help="the base server binary (BASE is then only its label)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    short, old = (a.base, pathlib.Path(a.base_binary)) if a.base_binary else base_binary(a.base)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                   cwd=bench.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-revab-"))
    try:
        po = bench.auralis(work, 18801, "base", binary=old)
        pn = bench.auralis(work, 18802, "new")
        json_old, json_new = abba(a.rounds, lambda: bench.wrk("http://127.0.0.1:18801/api/version", a.secs),
                                  lambda: bench.wrk("http://127.0.0.1:18802/api/version", a.secs))
        json_r = [o / n for o, n in zip(json_old, json_new)]
        b_old, b_new = ([], []) if a.json_only else abba(a.rounds, lambda: bench.broadcast(18801, a.listeners, 20, po.pid),
                            lambda: bench.broadcast(18802, a.listeners, 20, pn.pid))
    finally:
        for p in bench.PROCS:
            bench.stop(p)
    p99_r = [n[0] / o[0] for o, n in zip(b_old, b_new)]
    cpu = lambda r: r[1] + r[2]  # noqa: E731
    user = lambda r: r[1]  # noqa: E731
    lines = [
        f"# This tree against {short}: single-node speed",
        "",
        f"`tuning/rev-ab.sh {a.base}{' --base-binary ' + a.base_binary if a.base_binary else ''} --rounds {a.rounds} --listeners {a.listeners} --secs {a.secs}`: both "
        "servers on CPU 1 (one core each, demo library), load on CPU 0, alternating rounds.",
        "",
        "| case | base | this tree | median ratio new ÷ base (rounds) |",
        "|---|---|---|---|",
        f"| `GET /api/version`, req/s (wrk, 64 conns) | {bench.fmt(json_old)} | {bench.fmt(json_new)} | "
        f"{bench.median([1 / r for r in json_r]):.2f}× ({', '.join(f'{1 / r:.2f}' for r in json_r)}) |",
        f"| broadcast to {a.listeners} WS listeners, p99 ms | {bench.fmt([r[0] for r in b_old], '{:.1f}')} | "
        f"{bench.fmt([r[0] for r in b_new], '{:.1f}')} | {bench.median(p99_r):.2f}× "
        f"({', '.join(f'{r:.2f}' for r in p99_r)}) |",
        f"| server CPU per delivery, user + kernel µs | {bench.fmt([cpu(r) for r in b_old], '{:.1f}')} | "
        f"{bench.fmt([cpu(r) for r in b_new], '{:.1f}')} | "
        f"{bench.median([cpu(n) / cpu(o) for o, n in zip(b_old, b_new)]):.2f}× |",
        f"| of which user µs | {bench.fmt([user(r) for r in b_old], '{:.2f}')} | "
        f"{bench.fmt([user(r) for r in b_new], '{:.2f}')} | "
        f"{bench.median([user(n) / user(o) for o, n in zip(b_old, b_new)]):.2f}× |",
    ]
    bench.record(f"rev-ab-{short}", lines)


if __name__ == "__main__":
    main()
