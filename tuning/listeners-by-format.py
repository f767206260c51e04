#!/usr/bin/env python3
"""Listeners one core holds at real-time pace with zero underruns, per format: WAV,
FLAC and Opus side by side in one run (issue 15). Loopback only, bounded.

A release server on CPU 1 (`--cores 1`, demo library, 10 s chunks, every chunk of
every format warmed into the cache first); auralis-loadtest `listeners` on CPU 0
with N listeners at a playback speed-up S: each listener then pulls chunks S times
faster than real time, so N × S is the number of real-time listeners it stands for.
For each speed in turn (doubling), the three formats run back to back; a format
drops out at its first run with an underrun. Reported per format: the largest
N × S with zero underruns, and the bytes per listener per second at real time.

Usage: tuning/listeners-by-format.sh [--listeners N] [--secs S] [--max-speed X]
Writes tuning/results/listeners-by-format-YYYYMMDD-HHMM.md.
"""
import argparse
import datetime
import http.client
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

FORMATS = ["wav", "flac", "opus"]


def warm(port, fmt):
    """Every chunk of every demo track in `fmt`, decoded and cached; waits until done."""
    _, body = bench.get(port, "/api/tracks?limit=100")
    ids = [t["id"] for t in json.loads(body)["data"]]
    for i in ids:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", f"/api/cache/track/{i}/warm?format={fmt}", body="", headers={"Content-Length": "0"})
        c.getresponse().read()
        c.close()
    deadline = time.time() + 300
    while time.time() < deadline:
        done = True
        for i in ids:
            _, body = bench.get(port, f"/api/cache/track/{i}/status")
            d = json.loads(body)["data"]
            cached = max((v["cached_chunks"] for v in d["variants"]
                          if v["variant"].split("/")[1].startswith(fmt)), default=0)
            if cached < d["total_chunks"]:
                done = False
                break
        if done:
            return
        time.sleep(0.5)
    sys.exit(f"warming {fmt} did not finish")


def run(port, fmt, listeners, speed, secs):
    r = bench.harness(["listeners", f"http://127.0.0.1:{port}", "--listeners", str(listeners),
                       "--speed", str(speed), "--format", fmt, "--ramp", "2s", "--warmup", "3s",
                       "--source-ips", "127.0.0.2-127.0.0.21"], secs)
    l = r["listeners"]
    errors = sum(v for v in r["errors"].values() if isinstance(v, int))
    return l["underruns"], errors, l["bytes_per_listener_per_s"] / speed, l["chunks"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--secs", type=int, default=12)
    ap.add_argument("--max-speed", type=int, default=512)
    a = ap.parse_args()
    bench.subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                         cwd=bench.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-lbf-"))
    started = time.time()
    port = 18601
    srv = bench.auralis(work, port, "lbf", {"AURALIS_CACHE__TIER1_BYTES_PER_CORE": str(1 << 30),
                                            "AURALIS_CACHE__TIER2_BYTES": str(2 << 30)})
    held = {f: 0 for f in FORMATS}
    rate = {f: 0.0 for f in FORMATS}
    lines = []
    try:
        for f in FORMATS:
            warm(port, f)
        alive = list(FORMATS)
        speed = 4
        while alive and speed <= a.max_speed:
            for f in list(alive):
                under, errors, per_s, chunks = run(port, f, a.listeners, speed, a.secs)
                lines.append(f"| {f} | {a.listeners} × {speed} = {a.listeners * speed} | {chunks} | {under} | {errors} | {per_s / 1000:.1f} kB/s |")
                print(lines[-1], flush=True)
                if under == 0 and errors == 0:
                    held[f] = a.listeners * speed
                    rate[f] = per_s
                else:
                    alive.remove(f)
            speed *= 2
    finally:
        for p in bench.PROCS:
            bench.stop(p)
    stamp = datetime.datetime.now()
    out = [f"# `tuning/listeners-by-format.sh --listeners {a.listeners} --secs {a.secs}` — {stamp:%Y-%m-%d %H:%M}, {time.time() - started:.0f} s",
           "", "Server on CPU 1 (`--cores 1`, demo library, 10 s chunks, every chunk cached), harness on CPU 0.",
           "N listeners at speed S stand for N × S real-time listeners.", "",
           "| format | listeners × speed | chunks | underruns | errors | bytes per real-time listener |",
           "|---|---|---|---|---|---|", *lines, "",
           "| format | real-time listeners held with zero underruns (one core) | per listener |",
           "|---|---|---|"]
    out += [f"| {f} | {held[f]}{'+' if held[f] == a.listeners * a.max_speed else ''} | {rate[f] * 8 / 1000:.0f} kbit/s |" for f in FORMATS]
    bench.record("listeners-by-format", out)


if __name__ == "__main__":
    main()
