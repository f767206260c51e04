#!/usr/bin/env python3
"""WebSocket scale measurement against a running auralis-server (loopback only).

1. Opens N idle WebSocket connections (source addresses 127.0.0.2..127.0.0.41, to get
   past the ephemeral port range) and reports the server's RSS growth per connection
   (VmRSS of --pid, before and after, heartbeats running).
2. Subscribes every connection to `notifications`, publishes K notifications through
   POST /api/notifications, and reports publish -> receipt latency percentiles, from the
   server's `published_at_us` stamp to the client's clock (same machine). The clients are
   Python asyncio in one process: their own queueing is included, so this over-states
   the server's share; the glommio load harness is the tool for the real figure.

Usage: tuning/ws-scale.py --port P --pid PID [--connections N] [--notifications K]
Bounded: it stops after the last notification (or a 120 s deadline) and closes all.
"""
import argparse
import asyncio
import json
import statistics
import time
import urllib.request

import websockets


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_conn(port: int, i: int):
    src = f"127.0.0.{2 + i % 40}"
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", local_addr=(src, 0), max_queue=None, ping_interval=None)
    await ws.recv()  # welcome
    return ws


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, int(round(p / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--notifications", type=int, default=20)
    a = ap.parse_args()

    await asyncio.sleep(1)
    base = rss_kib(a.pid)
    conns = []
    for start in range(0, a.connections, 500):
        conns += await asyncio.gather(*(open_conn(a.port, i) for i in range(start, min(start + 500, a.connections))))
    await asyncio.sleep(2)
    after = rss_kib(a.pid)
    per = (after - base) * 1024 / len(conns)
    print(f"idle connections: {len(conns)}; server RSS {base} KiB -> {after} KiB; {per:.0f} bytes per connection")

    for start in range(0, len(conns), 500):
        batch = conns[start:start + 500]
        await asyncio.gather(*(c.send(json.dumps({"type": "subscribe", "payload": {"topics": ["notifications"]}})) for c in batch))
        await asyncio.gather(*(c.recv() for c in batch))

    latencies = []
    deadline = time.time() + 120

    async def listen(c):
        got = 0
        while got < a.notifications and time.time() < deadline:
            m = await c.recv()
            now_us = time.time_ns() // 1000
            j = json.loads(m)
            if j["type"] == "notification":
                latencies.append((now_us - j["payload"]["published_at_us"]) / 1000.0)
                got += 1

    listeners = [asyncio.create_task(listen(c)) for c in conns]
    for k in range(a.notifications):
        body = json.dumps({"title": f"n{k}"}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{a.port}/api/notifications", data=body, method="POST")
        await asyncio.to_thread(urllib.request.urlopen, req)
        await asyncio.sleep(0.5)
    await asyncio.gather(*listeners)
    s = sorted(latencies)
    print(f"broadcast to {len(conns)} listeners x {a.notifications}: {len(s)} deliveries; "
          f"publish->receipt ms p50 {pct(s, 50):.1f} p90 {pct(s, 90):.1f} p99 {pct(s, 99):.1f} max {s[-1]:.1f} "
          f"(mean {statistics.mean(s):.1f})")
    await asyncio.gather(*(c.close() for c in conns))


if __name__ == "__main__":
    asyncio.run(main())
