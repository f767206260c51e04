#!/usr/bin/env python3
"""Open-model p99 of auralis against nginx under the same load, alternating rounds:
what this host and harness allow at all, next to what auralis does (issue 14). With
--knob VAR A B, two auralis servers differing in one environment variable instead.

Servers on CPU 1 (one core / one worker), auralis-loadtest on CPU 0, loopback only.
Usage: tuning/open-p99.sh [--rate R] [--rounds N] [--secs S] [--knob VAR A B]
"""
import argparse
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402


def p99(port, rate, secs):
    r = bench.harness(["http", f"http://127.0.0.1:{port}/api/version", "--connections", "64",
                       "--rate", str(rate), "--warmup", "1s"], secs)
    return r["latency_us"]["p99"] / 1000.0, r["achieved_rate"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--knob", nargs=3, metavar=("VAR", "A", "B"))
    a = ap.parse_args()
    bench.subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                         cwd=bench.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-p99-"))
    try:
        if a.knob:
            var, va, vb = a.knob
            sides = []
            for name, val, port in (("A", va, 18701), ("B", vb, 18702)):
                bench.auralis(work, port, name, {var: val})
                sides.append((f"auralis {var}={val}", port))
        else:
            bench.auralis(work, 18701, "a")
            _, body = bench.get(18701, "/api/version")
            bench.nginx(work, 18702, body.decode())
            sides = [("auralis", 18701), ("nginx", 18702)]
        for r in range(a.rounds):
            for name, port in sides:
                v, achieved = p99(port, a.rate, a.secs)
                print(f"round {r + 1} {name}: open {a.rate} req/s (achieved {achieved:.0f}), p99 {v:.2f} ms",
                      flush=True)
    finally:
        for p in bench.PROCS:
            bench.stop(p)
        pid = work / "nginx.pid"
        if pid.exists():
            os.kill(int(pid.read_text()), 15)


if __name__ == "__main__":
    main()
