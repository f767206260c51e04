#!/usr/bin/env python3
"""Profiles behind tuning/bench.sh's unmet floors, each side by side with its peer on the
same load (issue 14 §2): where the CPU goes, kernel against user space, and the top
symbols. Same layout as bench.py: servers on CPU 1, load on CPU 0, loopback only.

Cases:
  json       auralis vs nginx under wrk (GET /api/version, 64 connections)
  broadcast  auralis vs Node `ws` under auralis-loadtest ws-broadcast
  loadgen    auralis-loadtest vs wrk, each the profiled process, against nginx

For each process: CPU µs per request (or delivered message), user and kernel apart
(/proc/PID/stat over the run), and `perf record -F 999` summarized by `perf report`:
the kernel's share of samples and the hottest symbols.

Usage: tuning/profile.sh [--secs S] [--top N] [CASE...]   (needs perf: apt-get install linux-perf)
Writes tuning/results/profile-YYYYMMDD-HHMM.md.
"""
import argparse
import datetime
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402  (the helpers: servers, peers, load generators)

PERF = shutil.which("perf")


def perf_report(data, top):
    """(kernel share of samples, [(percent, where, symbol)]) from a perf.data file."""
    def report(sort):
        return subprocess.run([PERF, "report", "-i", str(data), "--no-children", "--sort", sort,
                               "--stdio", "--percent-limit", "0.5"],
                              text=True, capture_output=True).stdout
    kernel = 0.0
    for line in report("dso").splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)", line)
        if m and m.group(2).startswith("[kernel"):
            kernel += float(m.group(1))
    syms = []
    for line in report("sym").splitlines():
        m = re.match(r"\s+([\d.]+)%\s+\[(.)\]\s+(.+)", line)
        if m and len(syms) < top:
            syms.append((float(m.group(1)), "kernel" if m.group(2) == "k" else "user", m.group(3).strip()))
    return kernel, syms


def profiled(pid, secs, work, name, during):
    """Runs `during()` while perf samples `pid`; returns (during's result, ticks, perf summary)."""
    data = work / f"{name}.perf.data"
    before = bench.cpu_ticks(pid)
    rec = subprocess.Popen([PERF, "record", "-F", "999", "-o", str(data), "-p", str(pid), "--", "sleep", str(secs)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = during()
    rec.wait()
    after = bench.cpu_ticks(pid)
    return result, (after[0] - before[0], after[1] - before[1]), data


def nginx_worker(master):
    """The one worker process (the master only supervises)."""
    out = subprocess.run(["pgrep", "-P", str(master)], text=True, capture_output=True).stdout.split()
    return int(out[0])


def per_unit(ticks, units):
    hz = os.sysconf("SC_CLK_TCK")
    return tuple(t / hz * 1e6 / max(units, 1) for t in ticks)


def section(title, rows, top):
    out = [f"## {title}", "", "| process | work | CPU µs per unit, user + kernel | kernel share of samples |",
           "|---|---|---|---|"]
    for name, work, (u, k), data in rows:
        kernel, _ = perf_report(data, top)
        out.append(f"| {name} | {work} | {u:.2f} + {k:.2f} | {kernel:.0f} % |")
    for name, _, _, data in rows:
        _, syms = perf_report(data, top)
        out += ["", f"Top symbols, {name}:", "", "| % | where | symbol |", "|---|---|---|"]
        out += [f"| {p:.1f} | {w} | `{s}` |" for p, w, s in syms]
    return out + [""]


def case_json(work, secs, top):
    srv = bench.auralis(work, 18501, "json")
    _, body = bench.get(18501, "/api/version")
    ngx = bench.nginx(work, 18502, body.decode())
    rows = []
    for name, port, pid in (("auralis", 18501, srv.pid), ("nginx worker", 18502, nginx_worker(ngx))):
        rate, ticks, data = profiled(pid, secs, work, name,
                                     lambda: bench.wrk(f"http://127.0.0.1:{port}/api/version", secs + 1))
        rows.append((name, f"{rate:.0f} req/s", per_unit(ticks, rate * (secs + 1)), data))
    os.kill(ngx, 15)
    bench.stop(srv)
    return section("JSON: `GET /api/version`, wrk -t1 -c64", rows, top)


def case_broadcast(work, secs, top, listeners=5000):
    srv = bench.auralis(work, 18503, "bcast")
    log = work / "peer.log"
    peer = bench.spawn(["taskset", "-c", "1", "node", str(bench.PEERS / "ws-peer.js"), "18504"], log)
    bench.wait_for(log, "listening", "the Node ws peer")
    rows = []
    for name, port, pid in (("auralis", 18503, srv.pid), ("Node ws", 18504, peer.pid)):
        def run(port=port, pid=pid):
            return bench.broadcast(port, listeners, 20, pid)
        r, ticks, data = profiled(pid, secs, work, name, run)
        rows.append((name, f"{r[4]} deliveries to {listeners} listeners, p99 {r[0]:.1f} ms",
                     (r[1], r[2]), data))
    bench.stop(peer)
    bench.stop(srv)
    return section(f"Broadcast: {listeners} WebSocket listeners, 20 publishes (profile: the first {secs} s)",
                   rows, top)


def case_loadgen(work, secs, top):
    srv = bench.auralis(work, 18505, "lg")
    _, body = bench.get(18505, "/api/version")
    bench.stop(srv)
    ngx = bench.nginx(work, 18506, body.decode())
    url = "http://127.0.0.1:18506/api/version"
    rows = []
    report = work / "loadgen.json"
    gens = {
        "auralis-loadtest": [str(bench.HARNESS), "http", url, "--connections", "64", "--quiet",
                             "--duration", f"{secs + 2}s", "--json", str(report)],
        "wrk": ["wrk", "-t1", "-c64", f"-d{secs + 2}s", url],
    }
    for name, cmd in gens.items():
        p = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        _, ticks, data = profiled(p.pid, secs, work, name, lambda: None)
        out = p.communicate()[0]
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        rate = float(m.group(1)) if m else bench.json.loads(report.read_text())["achieved_rate"]
        rows.append((name, f"{rate:.0f} req/s", per_unit(ticks, rate * secs), data))
    os.kill(ngx, 15)
    return section("Load generators against nginx, closed model, 64 connections", rows, top)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=6)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("cases", nargs="*", default=["json", "broadcast", "loadgen"])
    a = ap.parse_args()
    if not PERF:
        sys.exit("missing: perf (apt-get install -y linux-perf)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                   cwd=bench.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-profile-"))
    cases = {"json": case_json, "broadcast": case_broadcast, "loadgen": case_loadgen}
    lines = [f"# `tuning/profile.sh {' '.join(a.cases)}` — {datetime.datetime.now():%Y-%m-%d %H:%M}", "",
             "Servers on CPU 1, load on CPU 0, loopback. `perf record -F 999 -p PID` over "
             f"{a.secs} s of load; CPU per unit from /proc/PID/stat over the same window.", ""]
    try:
        for c in a.cases:
            lines += cases[c](work, a.secs, a.top)
    finally:
        for p in bench.PROCS:
            bench.stop(p)
        shutil.rmtree(work, ignore_errors=True)
    bench.record("profile", lines)


if __name__ == "__main__":
    main()
