#!/usr/bin/env python3
"""Subsonic apps one core holds at real-time pace with zero underruns (issue 28),
beside the chunk API's own listeners on the same server. Loopback only, bounded.

A release server on CPU 1 (`--cores 1`, demo library, every Opus chunk warmed into
the cache first) with a user made by `auralis-server user create`; auralis-loadtest on
CPU 0. `subsonic` runs N apps that log in with token auth, browse getArtists →
getArtist → getAlbum, stream a song and play it out at a speed-up S (N × S real-time
listeners): `--format raw` (the WAV/FLAC file as it is) and `--format opus
--max-bit-rate 128` (the whole song made from the chunk cache as chained Ogg Opus).
For comparison, the chunk API's `listeners` scenario in Opus at the same N × S. For
each speed in turn (doubling), the three run back to back; one drops out at its first
run with an underrun or an error.

Usage: tuning/subsonic-listeners.sh [--listeners N] [--secs S] [--max-speed X]
Writes tuning/results/subsonic-listeners-YYYYMMDD-HHMM.md.
"""
import argparse
import datetime
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402
from importlib import import_module  # noqa: E402

lbf = import_module("listeners-by-format")
PASSWORD = "bench-password"
CASES = ["subsonic raw", "subsonic opus 128", "chunk API opus 128"]


def run(port, case, listeners, speed, secs):
    common = [f"http://127.0.0.1:{port}", "--listeners", str(listeners), "--speed", str(speed),
              "--ramp", "2s", "--warmup", "3s", "--source-ips", "127.0.0.2-127.0.0.21"]
    if case.startswith("subsonic"):
        fmt = ["--format", "raw"] if case.endswith("raw") else ["--format", "opus", "--max-bit-rate", "128"]
        r = bench.harness(["subsonic", *common, "--user", "bench", "--password", PASSWORD, *fmt], secs)
        s = r["subsonic"]
        under, items, per_s = s["underruns"], s["songs"], s["bytes_per_listener_per_s"]
        p99 = s["whole_song_us"]["p99"] / 1000
    else:
        r = bench.harness(["listeners", *common, "--format", "opus", "--bitrate", "128"], secs)
        s = r["listeners"]
        under, items, per_s = s["underruns"], s["chunks"], s["bytes_per_listener_per_s"]
        p99 = r["latency_us"]["p99"] / 1000
    errors = sum(v for v in r["errors"].values() if isinstance(v, int))
    return under, errors, per_s / speed, items, p99


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--secs", type=int, default=12)
    ap.add_argument("--max-speed", type=int, default=256)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                   cwd=bench.ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-subsonic-"))
    started = time.time()
    port = 18611
    srv = bench.auralis(work, port, "sub", {"AURALIS_CACHE__TIER1_BYTES_PER_CORE": str(1 << 30),
                                            "AURALIS_CACHE__TIER2_BYTES": str(2 << 30)})
    held = {c: 0 for c in CASES}
    rate = {c: 0.0 for c in CASES}
    lines = []
    try:
        # Warmed while loopback may still change things: the first user, like the
        # first token, ends that for good.
        lbf.warm(port, "opus")
        subprocess.run([str(bench.SERVER), "user", "create", "--name", "bench", "--data-dir", str(work / "data-sub")],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        alive = list(CASES)
        speed = 4
        while alive and speed <= a.max_speed:
            for c in list(alive):
                under, errors, per_s, items, p99 = run(port, c, a.listeners, speed, a.secs)
                lines.append(f"| {c} | {a.listeners} × {speed} = {a.listeners * speed} | {items} | {under} | {errors} | {per_s / 1000:.1f} kB/s | {p99:.1f} ms |")
                print(lines[-1], flush=True)
                if under == 0 and errors == 0:
                    held[c] = a.listeners * speed
                    rate[c] = per_s
                else:
                    alive.remove(c)
            speed *= 2
    finally:
        for p in bench.PROCS:
            bench.stop(p)
    del srv
    stamp = datetime.datetime.now()
    out = [f"# `tuning/subsonic-listeners.sh --listeners {a.listeners} --secs {a.secs}` — {stamp:%Y-%m-%d %H:%M}, {time.time() - started:.0f} s",
           "", "Server on CPU 1 (`--cores 1`, demo library, Opus chunks cached), harness on CPU 0.",
           "N apps at speed S stand for N × S real-time listeners. Items: songs streamed (subsonic) or chunks (chunk API);",
           "p99: whole song (subsonic) or chunk (chunk API).", "",
           "| case | listeners × speed | items | underruns | errors | bytes per real-time listener | p99 |",
           "|---|---|---|---|---|---|---|", *lines, "",
           "| case | real-time listeners held with zero underruns (one core) | per listener |",
           "|---|---|---|"]
    out += [f"| {c} | {held[c]}{'+' if held[c] == a.listeners * a.max_speed else ''} | {rate[c] * 8 / 1000:.0f} kbit/s |" for c in CASES]
    bench.record("subsonic-listeners", out)


if __name__ == "__main__":
    main()
