#!/usr/bin/env python3
"""The comparison table of tuning/bench.sh (issue 14), every ratio measured side by side
in one run: alternating rounds (A B A B ...), median ratio, on loopback only.

Layout: every server under test on CPU 1 with one core (auralis `--cores 1`, nginx one
worker, Node single-threaded); every load generator on CPU 0 with one thread. VMs vary
+-15 %, so every comparison is a ratio of runs taken back to back.

Rows:
  json       GET /api/version, auralis vs nginx `return 200` (same body and headers), wrk
  chunk      a cached 10 s WAV chunk (1.76 MB), auralis vs nginx static file + sendfile, wrk
  broadcast  N WebSocket listeners, p99 publish -> receipt, auralis vs Node `ws`
             (tuning/peers/ws-peer.js) and vs Bun's `Bun.serve` + `server.publish`
             (tuning/peers/bun-peer.js, uWebSockets), auralis-loadtest ws-broadcast,
             the three in turn each round; plus the servers' CPU µs per delivered
             message, user and kernel apart (/proc/PID/stat)
  ws-rss     fresh auralis, 5 000 subscribed WebSocket connections: RSS growth per
             connection, and RSS after they all closed
  harness    auralis-loadtest vs wrk, closed model, 64 connections, against nginx
  monitor    cargo bench --bench monitor (per-second work at 200 changed series)
  tier2      160 chunk variants (8 demo tracks x wav|f32 x 10 normalization
             intensities, ~423 MB) cycled twice through a 512 MiB tier 2 with prefetch
             on and tier 1 off: tier-2 hits in the second pass
  open-p99   open model at 50 % of the closed-model maximum, p99 (JSON and chunk)

Usage: tuning/bench.sh [--quick] [--rounds N] [--broadcast-only]
       tuning/bench.sh --ws-rss N     (only the ws-rss row, at N connections)
"""
import argparse
import asyncio
import datetime
import json
import os
import pathlib
import re
import shutil
import signal
import statistics
import string
import subprocess
import sys
import socket
import tempfile
import time
import http.client

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER = ROOT / "target/release/auralis-server"
HARNESS = ROOT / "target/release/auralis-loadtest"
PEERS = ROOT / "tuning/peers"
BUN = PEERS / "node_modules/.bin/bun"
CHUNK = "/api/stream/1/chunk/0?format=wav"
PROCS = []


def free_port():
    """A free loopback port (bound and released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def spawn(cmd, log, env=None):
    p = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                         env={**os.environ, **(env or {})}, start_new_session=True)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def wait_for(log, word, what, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if word in pathlib.Path(log).read_text(errors="replace"):
            return
        time.sleep(0.1)
    sys.exit(f"{what} did not start:\n{pathlib.Path(log).read_text(errors='replace')[-2000:]}")


def auralis(work, port, name, env=None, binary=None):
    """A release server on CPU 1, one core, demo library (shared data dir: generated once);
    `binary`: another build of it (tuning/rev-ab.sh)."""
    log = work / f"{name}.log"
    base = {"RUST_LOG": "warn", "AURALIS_RATE_LIMIT__REQUESTS_PER_MINUTE": "4000000000",
            "AURALIS_RATE_LIMIT__STREAM_REQUESTS_PER_MINUTE": "4000000000",
            "AURALIS_HTTP__MAX_CONNECTIONS_PER_CORE": "20000",
            "AURALIS_WS__RATE_BASE_PER_MINUTE": "100000000",
            "AURALIS_CLUSTER__NODE": "node"}  # X-Served-By node/0, as the nginx peer sends
    if binary is None:
        # Every load here comes from one address; builds before this key would refuse it.
        base["AURALIS_HTTP__MAX_CONNECTIONS_PER_IP"] = "1000000"
    p = spawn(["taskset", "-c", "1", str(binary or SERVER), "serve", "--cores", "1", "--listen",
               f"127.0.0.1:{port}", "--data-dir", str(work / f"data-{name}")],
              log, {**base, **(env or {})})
    wait_for(log, "listening on", f"auralis ({name})")
    return p


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def wrk(url, secs):
    out = sh(["taskset", "-c", "0", "wrk", "-t1", "-c64", f"-d{secs}s", url])
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def harness(args, secs=None):
    """auralis-loadtest on CPU 0; returns its JSON report."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = ["taskset", "-c", "0", str(HARNESS), *args, "--quiet", "--json", f.name]
        if secs is not None:
            cmd += ["--duration", f"{secs}s"]
        sh(cmd)
        return json.load(open(f.name))


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def record(stem, lines):
    """Prints a result and writes it to tuning/results/STEM-YYYYMMDD-HHMM.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "tuning/results" / f"{stem}-{datetime.datetime.now():%Y%m%d-%H%M}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"written to {out.relative_to(ROOT)}")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def nginx(work, port, body):
    static = work / "static"
    static.mkdir(exist_ok=True)
    template = string.Template((PEERS / "nginx.conf.template").read_text())
    conf = work / "nginx.conf"
    conf.write_text(template.substitute(WORK=work, PORT=port, BODY=body.replace("'", "\\'")))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run(["taskset", "-c", "1", binary, "-c", str(conf), "-p", str(work)], check=True)
    time.sleep(0.5)
    return int((work / "nginx.pid").read_text())


def alternate(rounds, a, b):
    """(a results, b results, ratios a/b), a and b called alternately."""
    ra, rb = [], []
    for _ in range(rounds):
        ra.append(a())
        rb.append(b())
    return ra, rb, [x / y for x, y in zip(ra, rb)]


def latency_table(rows):
    """Markdown rows: per side, the median p50 and p99 (ms) with each round's value;
    `rows` maps a side's name to its rounds' (p50, p99)."""
    def cell(vals, k):
        return f"{median([v[k] for v in vals]):.2f} ({', '.join(f'{v[k]:.2f}' for v in vals)})"
    return ["| side | p50 ms (rounds) | p99 ms (rounds) |", "|---|---|---|",
            *(f"| {name} | {cell(vals, 0)} | {cell(vals, 1)} |" for name, vals in rows.items())]


def fmt(xs, f="{:.0f}"):
    return ", ".join(f.format(x) for x in xs)


def row_wrk(rows, name, goal, rounds, secs, a_url, n_url):
    ra, rn, ratios = alternate(rounds, lambda: wrk(a_url, secs), lambda: wrk(n_url, secs))
    rows.append((name, f"auralis {fmt(ra)} req/s, nginx {fmt(rn)} req/s",
                 f"{median(ratios):.2f}× ({fmt(ratios, '{:.2f}')})", goal))


def broadcast(port, listeners, publishes, pid):
    before = cpu_ticks(pid)
    r = harness(["ws-broadcast", f"http://127.0.0.1:{port}", "--listeners", str(listeners),
                 "--publishes", str(publishes), "--rate", "10", "--warmup", "0.5s",
                 "--source-ips", "127.0.0.2-127.0.0.21"])
    after = cpu_ticks(pid)
    delivered = max(r["requests"], 1)
    hz = os.sysconf("SC_CLK_TCK")
    user = (after[0] - before[0]) / hz * 1e6 / delivered
    kern = (after[1] - before[1]) / hz * 1e6 / delivered
    errors = sum(v for v in r["errors"].values() if isinstance(v, int))
    return r["latency_us"]["p99"] / 1000.0, user, kern, errors, r["requests"]


def broadcast_vs_peers(work, rows, srv, port, peer_port, a):
    """auralis (already running on `port`), Node's ws and Bun in turn, `a.rounds` times."""
    listeners = 1000 if a.quick else 5000
    peer_log, bun_log = work / "peer.log", work / "bun.log"
    peer = spawn(["taskset", "-c", "1", "node", str(PEERS / "ws-peer.js"), str(peer_port)], peer_log)
    wait_for(peer_log, "listening", "the Node ws peer")
    bun_port = free_port()
    bun = spawn(["taskset", "-c", "1", str(BUN), str(PEERS / "bun-peer.js"), str(bun_port)], bun_log)
    wait_for(bun_log, "listening", "the Bun peer")
    publishes = 10 if a.quick else 20
    au, pe, bu = [], [], []
    for _ in range(a.rounds):
        au.append(broadcast(port, listeners, publishes, srv.pid))
        pe.append(broadcast(peer_port, listeners, publishes, peer.pid))
        bu.append(broadcast(bun_port, listeners, publishes, bun.pid))
    broadcast_rows(rows, listeners, au, pe, bu)
    stop(bun)
    stop(peer)


def broadcast_rows(rows, listeners, au, pe, bu):
    """The broadcast rows: auralis's p99 against each peer's, and CPU per delivery."""
    errors = sum(x[3] for x in au + pe + bu)
    p99s = lambda runs: fmt([x[0] for x in runs], '{:.1f}')
    for peer, runs, goal in (("Node ws", pe, "≤ 0.9 / 0.67"), ("Bun", bu, "≤ 1.0")):
        ratios = [x[0] / y[0] for x, y in zip(au, runs)]
        rows.append((f"broadcast to {listeners} WS listeners, p99 publish → receipt (auralis ÷ {peer})",
                     f"auralis p99 {p99s(au)} ms, {peer} {p99s(runs)} ms; {errors} errors in all",
                     f"{median(ratios):.2f} ({fmt(ratios, '{:.2f}')})", goal))
    cpu = lambda runs, i: median([x[i] for x in runs])
    rows.append(("server CPU per delivered message, user + kernel µs (median)",
                 f"auralis {cpu(au, 1):.2f} + {cpu(au, 2):.2f}, Node {cpu(pe, 1):.2f} + {cpu(pe, 2):.2f}, "
                 f"Bun {cpu(bu, 1):.2f} + {cpu(bu, 2):.2f}",
                 f"user ÷ Bun's {median([x[1] / max(y[1], 1e-9) for x, y in zip(au, bu)]):.2f}",
                 "user ≤ Bun's"))


async def hold_ws(port, n):
    import websockets
    conns = []
    for start in range(0, n, 500):
        async def one(i):
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", local_addr=(f"127.0.0.{2 + i % 40}", 0),
                                          max_queue=None, ping_interval=None)
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "correlation_id": "s",
                                      "payload": {"topics": ["notifications"]}}))
            await ws.recv()
            return ws
        conns += await asyncio.gather(*(one(i) for i in range(start, min(start + 500, n))))
    return conns


def ws_rss(work, port, n):
    p = auralis(work, port, "rss")
    time.sleep(1.5)
    base = rss_kib(p.pid)

    async def run():
        conns = await hold_ws(port, n)
        await asyncio.sleep(2)
        held = rss_kib(p.pid)
        await asyncio.gather(*(c.close() for c in conns))
        return held
    held = asyncio.run(run())
    time.sleep(3.5)
    after = rss_kib(p.pid)
    stop(p)
    return base, held, after


def tier2_cycle(work, port):
    p = auralis(work, port, "tier2", {"AURALIS_CACHE__TIER1_BYTES_PER_CORE": "0",
                                      "AURALIS_CACHE__TIER2_BYTES": str(512 << 20),
                                      "AURALIS_CACHE__DECODE_THREADS": "1"})
    urls = [f"/api/stream/{t}/chunk/0?format={f}&preset=normalized&intensity={i / 10:.1f}"
            for t in range(1, 9) for f in ("wav", "f32") for i in range(1, 11)]
    passes = []
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    total = 0
    for _ in range(2):
        tiers = []
        for u in urls:
            c.request("GET", u)
            r = c.getresponse()
            total += len(r.read())
            tiers.append(r.getheader("X-Cache-Tier"))
            time.sleep(0.02)  # let the prefetch of chunk 1 land
        passes.append(tiers)
    c.close()
    r, body = get(port, "/api/cache/stats")
    stats = json.loads(body)["data"]
    stop(p)
    hits = passes[1].count("tier2")
    return hits, len(urls), total / 2 / 1e6, stats["prefetch"], stats["decodes"]


def open_p99(port, path, secs):
    closed = harness(["http", f"http://127.0.0.1:{port}{path}", "--connections", "64"], secs)
    rate = closed["achieved_rate"] / 2
    opened = harness(["http", f"http://127.0.0.1:{port}{path}", "--connections", "64",
                      "--rate", f"{rate:.0f}", "--warmup", "1s"], secs)
    return closed["achieved_rate"], rate, opened["latency_us"]["p99"] / 1000.0


def monitor_bench(secs):
    out = subprocess.run(["cargo", "bench", "-q", "--bench", "monitor", "--", "--output-format", "bencher",
                          "--warm-up-time", "1", "--measurement-time", str(secs)],
                         cwd=ROOT, text=True, capture_output=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"test (\S+) \.\.\. bench:\s+([\d,]+) ns/iter", line)
        if m:
            found[m.group(1)] = int(m.group(2).replace(",", "")) / 1e6
    return found


def ws_rss_only(n):
    """The WebSocket memory row alone (a file limit of about 2 N + 500 is needed)."""
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server"], cwd=ROOT, check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-bench-"))
    try:
        base, held, after = ws_rss(work, 18404, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n} subscribed WebSocket connections: RSS {base / 1024:.1f} -> {held / 1024:.1f} MB, "
          f"{after / 1024:.1f} MB after all closed; {(held - base) / n:.2f} KiB per connection")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs (under 3 minutes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--broadcast-only", action="store_true",
                    help="only the broadcast rows (auralis, Node ws, Bun in turn)")
    ap.add_argument("--ws-rss", type=int, metavar="N",
                    help="only the WebSocket memory row, at N subscribed connections")
    a = ap.parse_args()
    if a.ws_rss:
        return ws_rss_only(a.ws_rss)
    secs = 2 if a.quick else 8
    rss_conns = 2000 if a.quick else 5000
    for tool in ("wrk", "taskset", "node", "npm"):
        if not shutil.which(tool):
            sys.exit(f"missing: {tool} (apt-get install -y wrk nginx-light util-linux nodejs npm)")
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        sys.exit("missing: nginx (apt-get install -y nginx-light)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs: servers on CPU 1, load on CPU 0")
    if not ((PEERS / "node_modules/ws").exists() and BUN.exists()):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=PEERS, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "auralis-server", "-p", "auralis-loadtest"],
                   cwd=ROOT, check=True)
    started = time.time()
    work = pathlib.Path(tempfile.mkdtemp(prefix="auralis-bench-"))
    rows = []
    try:
        ap_, np_, peer_port = 18401, 18402, 18403
        srv = auralis(work, ap_, "main")
        if a.broadcast_only:
            broadcast_vs_peers(work, rows, srv, ap_, peer_port, a)
            return finish(work, rows, started, a, secs)
        _, version = get(ap_, "/api/version")
        _, chunk = get(ap_, CHUNK)  # decoded once: later requests are tier-1 hits
        (work / "static").mkdir()
        (work / "static/chunk.wav").write_bytes(chunk)
        ngx = nginx(work, np_, version.decode())
        row_wrk(rows, "`GET /api/version` vs nginx `return 200`, req/s", "≥ 1.0 / 1.25", a.rounds, secs,
                f"http://127.0.0.1:{ap_}/api/version", f"http://127.0.0.1:{np_}/api/version")
        row_wrk(rows, "cached 10 s WAV chunk vs nginx static + sendfile, req/s", "≥ 1.0 / 1.25", a.rounds, secs,
                f"http://127.0.0.1:{ap_}{CHUNK}", f"http://127.0.0.1:{np_}/chunk.wav")
        lt, wk, ratios = alternate(a.rounds,
                                   lambda: harness(["http", f"http://127.0.0.1:{np_}/api/version",
                                                    "--connections", "64"], secs)["achieved_rate"],
                                   lambda: wrk(f"http://127.0.0.1:{np_}/api/version", secs))
        rows.append(("harness req/s vs wrk, closed, 64 connections (against nginx)",
                     f"auralis-loadtest {fmt(lt)}, wrk {fmt(wk)}", f"{median(ratios):.2f}× ({fmt(ratios, '{:.2f}')})",
                     "≥ 1.0"))
        for name, path, peer_path in (("JSON", "/api/version", "/api/version"), ("chunk", CHUNK, "/chunk.wav")):
            mx, rate, p99 = open_p99(ap_, path, secs)
            # nginx under the same open load: what this host and harness allow at all.
            peer = harness(["http", f"http://127.0.0.1:{np_}{peer_path}", "--connections", "64",
                            "--rate", f"{rate:.0f}", "--warmup", "1s"], secs)["latency_us"]["p99"] / 1000.0
            rows.append((f"open model at 50 % of the measured maximum, p99 ({name})",
                         f"max {mx:.0f} req/s (closed, 64 conns); open at {rate:.0f} req/s; "
                         f"nginx at the same rate p99 {peer:.2f} ms", f"p99 {p99:.2f} ms",
                         "≤ 1 ms" if name == "JSON" else "— (goal is for JSON)"))
        os.kill(ngx, signal.SIGTERM)

        broadcast_vs_peers(work, rows, srv, ap_, peer_port, a)
        stop(srv)

        base, held, after = ws_rss(work, 18404, rss_conns)
        per = (held - base) * 1024 / rss_conns
        rows.append((f"subscribed WS connection, fresh server, RSS growth per connection at {rss_conns}",
                     f"RSS {base / 1024:.1f} → {held / 1024:.1f} MB; {after / 1024:.1f} MB after all closed "
                     f"({'returned' if after <= base * 1.1 else 'not returned'})",
                     f"{per / 1024:.1f} KiB", "≤ 8 KiB / 4 KiB, returned after close"))
        mon = monitor_bench(1 if a.quick else 3)
        rows.append(("monitor per-second work, 200 changed series", "`cargo bench --bench monitor`",
                     f"{mon.get('per_second_work_200_histograms_one_core', float('nan')):.1f} ms "
                     f"({mon.get('per_second_work_200_histograms_all_refreshed', float('nan')):.1f} ms all refreshed)",
                     "≤ 5 ms"))
        hits, n, mb, pf, decodes = tier2_cycle(work, 18405)
        rows.append((f"tier-2 hits cycling {n} chunk variants (≈ {mb:.0f} MB) through a 512 MiB tier 2, second pass",
                     f"{decodes} decodes; prefetch admitted {pf['admitted']}, wasted {pf['wasted']}, refused {pf['refused']}",
                     f"{hits} of {n} ({hits / n:.0%})", "≥ 90 %"))
    finally:
        for p in PROCS:
            stop(p)
    finish(work, rows, started, a, secs)


def finish(work, rows, started, a, secs):
    """Writes the table to tuning/results/ (and stdout)."""
    for p in PROCS:
        stop(p)
    shutil.rmtree(work, ignore_errors=True)
    took = time.time() - started
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = ("tuning/bench.sh" + (" --quick" if a.quick else "") + (" --broadcast-only" if a.broadcast_only else "")
           + (f" --rounds {a.rounds}" if a.rounds != 3 else ""))
    lines = [f"# `{cmd}` — {stamp}, {took:.0f} s", "",
             f"Servers on CPU 1 (one core each), load on CPU 0; {a.rounds} alternating rounds of "
             f"{secs} s, median ratio. Host: {os.cpu_count()} CPUs.", "",
             "| case | measured | result | goal (floor / aim) |", "|---|---|---|---|"]
    lines += [f"| {c} | {m} | {r} | {g} |" for c, m, r, g in rows]
    record(f"bench{'-quick' if a.quick else ''}{'-broadcast' if a.broadcast_only else ''}", lines)


if __name__ == "__main__":
    main()
