#!/usr/bin/env python3
"""What a shared library costs a write (issue 16): the same library write on a single
node (SQLite alone) and on a node whose library is shared through PostgreSQL (lock,
catch-up, ship, two commits), alternating rounds of N sequential requests each:
create a playlist, then mark a favorite. Also how soon a second shared node lists the
playlist (the change feed's lag). Reads are not measured: both serve them from the
same SQLite file.

Servers on CPU 1, PostgreSQL unpinned (initdb in a temp dir, as the postgres user when
run as root), this client on CPU 0; loopback only.
Usage: tuning/shared-library-writes.sh [--requests N] [--rounds R]
"""
import argparse
import glob
import http.client
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402


def pg_tool(name):
    found = shutil.which(name) or (sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [None])[-1]
    if not found:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
    return ["runuser", "-u", "postgres", "--", found] if os.geteuid() == 0 else [found]


def postgres(work):
    data = work / "pg"
    work.chmod(0o777)
    subprocess.run(pg_tool("initdb") + ["-U", "auralis", "-A", "trust", "-E", "UTF8", "--no-sync", "-D", str(data)],
                   check=True, capture_output=True)
    port = bench.free_port()
    bench.spawn(pg_tool("postgres") + ["-D", str(data), "-k", str(work), "-p", str(port),
                                       "-c", "listen_addresses=127.0.0.1"], work / "pg.log")
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            time.sleep(0.3)
            return f"postgres://auralis@127.0.0.1:{port}/postgres"
        except OSError:
            time.sleep(0.05)
    sys.exit("postgres did not start")


def node(work, name, library, env):
    port = bench.free_port()
    log = work / f"{name}.log"
    bench.spawn(["taskset", "-c", "1", str(bench.SERVER), "serve", "--cores", "1", "--listen", f"127.0.0.1:{port}",
                 "--data-dir", str(work / f"data-{name}"), *(["--library", str(library)] if library else [])],
                log, {"RUST_LOG": "warn", "AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE": "4000000000", "AURALIS_HTTP__MAX_CONNECTIONS_PER_IP": "1000000",
                      "AURALIS_CLUSTER__NODE": name, **env})
    bench.wait_for(log, "listening on", name)
    return port


def call(conn, method, path, body=None):
    t = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return r.status, (time.perf_counter() - t) * 1000, data


def round_of(port, tag, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for k in range(n):
        status, ms, _ = call(c, "POST", "/api/playlists", {"name": f"{tag}-{k}"})
        assert status == 201, status
        times.append(ms)
        status, ms, _ = call(c, "POST", f"/api/tracks/{1 + k % 8}/favorite", {})
        assert status == 200, status
        times.append(ms)
    c.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def lag(writer, reader, tag):
    c = http.client.HTTPConnection("127.0.0.1", writer, timeout=30)
    r = http.client.HTTPConnection("127.0.0.1", reader, timeout=30)
    _, _, data = call(c, "POST", "/api/playlists", {"name": tag})
    pid = json.loads(data)["data"]["id"]
    t = time.perf_counter()
    while call(r, "GET", f"/api/playlists/{pid}")[0] != 200:
        pass
    return (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    bench.subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server"], cwd=bench.ROOT, check=True)
    os.sched_setaffinity(0, {0})
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-shared-"))
    rows = {"single node (SQLite)": [], "shared (PostgreSQL)": []}
    lags = []
    try:
        url = postgres(work)
        single = node(work, "single", None, {})
        library = work / "data-single" / "demo-library"
        shared = node(work, "shared", library, {"AURALIS_LIBRARY__DATABASE_URL": url})
        other = node(work, "other", library, {"AURALIS_LIBRARY__DATABASE_URL": url})
        time.sleep(2)  # the shared nodes' scans of the same folder
        for r in range(a.rounds):
            for name, port in (("single node (SQLite)", single), ("shared (PostgreSQL)", shared)):
                p50, p99 = round_of(port, f"r{r}-{port}", a.requests)
                rows[name].append((p50, p99))
                print(f"round {r + 1} {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
            lags.append(lag(shared, other, f"lag-{r}"))
            print(f"round {r + 1} playlist listed on the other node after {lags[-1]:.2f} ms", flush=True)
    finally:
        for p in bench.PROCS:
            bench.stop(p)
    single_r, shared_r = rows.values()
    lines = [
        "# Library writes: single node vs shared through PostgreSQL",
        "",
        f"`tuning/shared-library-writes.sh --requests {a.requests} --rounds {a.rounds}`: per round, "
        f"{a.requests} playlist creations and {a.requests} favorites, sequential on one connection, "
        "alternating sides; servers on CPU 1 (one core each), client on CPU 0.",
        "",
        *bench.latency_table(rows),
    ]
    ratio = bench.median([s[0] / b[0] for b, s in zip(single_r, shared_r)])
    lines += ["", f"Median ratio shared ÷ single, p50: {ratio:.2f}×. A playlist made on one shared node "
              f"was listed on the other after {', '.join(f'{x:.2f}' for x in lags)} ms (from the writer's answer)."]
    bench.record("shared-library-writes", lines)


if __name__ == "__main__":
    main()
