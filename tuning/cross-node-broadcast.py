#!/usr/bin/env python3
"""Cross-node vs single-node broadcast latency (issue 16): two release nodes sharing a
Redis broker, N WebSocket listeners on node B; each round publishes M notifications on
B itself (single node: B's cores only) and then on A (the message crosses the broker
to reach B's listeners), alternating. Reports p50/p99 publish → receipt per side and
the median ratio cross ÷ single.

Servers on CPU 1, auralis-loadtest on CPU 0, redis-server unpinned; loopback only.
Usage: tuning/cross-node-broadcast.sh [--listeners N] [--publishes M] [--rounds R]
"""
import argparse
import pathlib
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402


def redis(work):
    port = bench.free_port()
    p = bench.spawn(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                     "--appendonly", "no", "--dir", str(work)], work / "redis.log")
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p, f"redis://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.02)
    sys.exit("redis-server did not start")


def run(listen_port, publish_port, a):
    r = bench.harness(["ws-broadcast", f"http://127.0.0.1:{listen_port}", "--listeners", str(a.listeners),
                       "--publishes", str(a.publishes), "--rate", "10", "--warmup", "0.5s",
                       "--publish-to", f"http://127.0.0.1:{publish_port}",
                       "--source-ips", "127.0.0.2-127.0.0.21"])
    errors = sum(v for v in r["errors"].values() if isinstance(v, int))
    lat = r["latency_us"]
    return lat["p50"] / 1000.0, lat["p99"] / 1000.0, errors, r["requests"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--publishes", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    bench.subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                         cwd=bench.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-xnode-"))
    rows = {"single node (publish on B)": [], "cross node (publish on A)": []}
    try:
        _, url = redis(work)
        pa, pb = bench.free_port(), bench.free_port()
        bench.auralis(work, pa, "a", {"AURALIS_CLUSTER__NODE": "a", "AURALIS_CLUSTER__BROKER_URL": url})
        bench.auralis(work, pb, "b", {"AURALIS_CLUSTER__NODE": "b", "AURALIS_CLUSTER__BROKER_URL": url})
        for r in range(a.rounds):
            for name, publish in (("single node (publish on B)", pb), ("cross node (publish on A)", pa)):
                p50, p99, errors, n = run(pb, publish, a)
                rows[name].append((p50, p99))
                print(f"round {r + 1} {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                      f"{n} deliveries, {errors} errors", flush=True)
    finally:
        for p in bench.PROCS:
            bench.stop(p)
    single, cross = rows.values()
    ratio50 = bench.median([c[0] / s[0] for s, c in zip(single, cross)])
    ratio99 = bench.median([c[1] / s[1] for s, c in zip(single, cross)])
    lines = [
        "# Cross-node vs single-node broadcast latency",
        "",
        f"`tuning/cross-node-broadcast.sh --listeners {a.listeners} --publishes {a.publishes} "
        f"--rounds {a.rounds}`: {a.listeners} WebSocket listeners on node B, notifications published on B "
        "or on A (through Redis pub/sub), alternating rounds; both nodes on CPU 1, the harness on CPU 0.",
        "",
        *bench.latency_table(rows),
    ]
    lines += ["", f"Median ratio cross ÷ single: p50 {ratio50:.2f}×, p99 {ratio99:.2f}×."]
    bench.record("cross-node-broadcast", lines)


if __name__ == "__main__":
    main()
