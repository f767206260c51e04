"""Real sockets, not listener-equivalents (issue 27 §3): as many concurrent real-time
(speed 1) listeners as this machine's open-file limit allows for harness and server,
on one server core (CPU 1), harness on CPU 0, for a long run. Reports underruns,
p99 chunk latency, the server's RSS growth per listener and its CPU share.

Each listener holds two connections (its control WebSocket and its HTTP connection
for chunks), so N listeners cost 2N descriptors in each process; the script raises its soft limit to the hard one (children inherit it) and
refuses an N the limit cannot hold.

Usage: tuning/real-listeners.sh [--listeners N] [--secs S] [--format opus|flac|wav]
"""
import argparse
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402
import importlib.util  # noqa: E402


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listeners", type=int, default=9000)
    ap.add_argument("--secs", type=int, default=600)
    ap.add_argument("--format", default="opus", choices=["opus", "flac", "wav"])
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 2 * a.listeners + 500 > hard:
        sys.exit(f"{a.listeners} listeners need about {2 * a.listeners + 500} descriptors per process; "
                 f"the hard limit is {hard} (raise it, e.g. tuning/limits.conf)")
    bench.sh(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"])
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-real-listeners-"))
    port = bench.free_port()
    srv = bench.auralis(work, port, "real",
                        {"AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE": str(2 * a.listeners + 1000)})
    try:
        spec = importlib.util.spec_from_file_location(
            "lbf", pathlib.Path(__file__).resolve().parent / "listeners-by-format.py")
        lbf = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lbf)
        lbf.warm(port, a.format)  # every chunk cached: the run measures serving, not decoding
        base = rss_kb(srv.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.wait(2):
                peak[0] = max(peak[0], rss_kb(srv.pid))
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        before = bench.cpu_ticks(srv.pid)
        started = time.time()
        r = bench.harness(["listeners", f"http://127.0.0.1:{port}", "--listeners", str(a.listeners),
                           "--speed", "1", "--format", a.format, "--ramp", "20s", "--warmup", "25s",
                           "--source-ips", "127.0.0.2-127.0.0.41"], a.secs)
        wall = time.time() - started
        after = bench.cpu_ticks(srv.pid)
        held = rss_kb(srv.pid)
        done.set()
        t.join()
        hz = os.sysconf("SC_CLK_TCK")
        user, kern = ((after[i] - before[i]) / hz for i in (0, 1))
        l = r["listeners"]
        errors = {k: v for k, v in r["errors"].items() if isinstance(v, int) and v}
        print(f"# tuning/real-listeners.sh --listeners {a.listeners} --secs {a.secs} --format {a.format}")
        print(f"{a.listeners} real-time {a.format} listeners (two sockets each), server on one core, "
              f"{wall:.0f} s wall")
        print(f"chunks {l['chunks']}, underruns {l['underruns']} (stalled {l['stalled_ms']} ms), "
              f"errors {errors or 0}")
        print(f"chunk latency p50 {r['latency_us']['p50'] / 1000:.2f} ms, "
              f"p99 {r['latency_us']['p99'] / 1000:.2f} ms, max {r['latency_us']['max'] / 1000:.1f} ms")
        print(f"server RSS {base / 1024:.1f} MB warm and idle -> {held / 1024:.1f} MB at the end "
              f"(peak {peak[0] / 1024:.1f} MB): {(peak[0] - base) / a.listeners:.1f} KiB per listener")
        print(f"server CPU over the run: user {user:.1f} s + kernel {kern:.1f} s = "
              f"{(user + kern) / wall * 100:.1f} % of one core")
    finally:
        bench.stop(srv)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
