"""A third-party WebSocket client (Python `websockets`) against auralis-server.

Run by tests/websocket.rs when python3 and websockets are installed:
    python3 tests/ws_client.py ws://127.0.0.1:PORT/ws
Exits non-zero (with a message) on any mismatch.
"""
import asyncio
import json
import sys

import websockets


async def main(url: str) -> None:
    async with websockets.connect(url, max_size=2**20) as ws:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "connect", welcome
        assert welcome["payload"]["max_message_bytes"] == 65536, welcome

        async def rpc(kind, payload=None):
            cid = f"py-{kind}"
            await ws.send(json.dumps({"type": kind, "correlation_id": cid, "payload": payload or {}}))
            while True:
                m = json.loads(await ws.recv())
                if m["correlation_id"] == cid:
                    return m

        assert (await rpc("ping"))["type"] == "pong"
        m = await rpc("queue_add", {"track_ids": [1, 2]})
        assert m["payload"]["queue"] == [1, 2], m
        m = await rpc("play")
        assert m["payload"]["state"] == "playing" and m["payload"]["track"]["id"] == 1, m
        assert (await rpc("nonsense"))["payload"]["error"] == "unknown_type"
        # A 100 KiB message is over the limit: the server closes with 1009.
        await ws.send(json.dumps({"type": "ping", "payload": {"x": "a" * 100_000}}))
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009, e
    print("python websockets client: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
