"""The naive fan-out, for `ws_latency.py --fake`: a minimal FastAPI WebSocket sending every device's
`stats` once a second as a frame of its own (`{"event": "device:stats", "data": ...}`) to each client.

    .venv/bin/python bench/ws_baseline.py --devices 10000   # prints `ws_baseline: http://HOST:PORT/`

No hub, no queue, no validation: a message made with its timestamp, `json.dumps` per client, one
`send_text` each, what a service that relays each message to each client does at the least.
Each device's message is sent at the same instant of its second, as the emulators' stats ticks do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from iot_emulator.reporting import messages


def make_app(devices: int, interval: float) -> FastAPI:
    app = FastAPI()
    ids = [f"dev-{i:05d}" for i in range(devices)]
    stats = {
        "packets_sent": 4,
        "bytes_sent": 1400,
        "packet_rate": 0.0,
        "current_ip": "10.99.0.2",
        "uptime_seconds": 1.0,
        "protocols": {"dhcp": 4},
        "state": "bound",
        "dhcp_state": "bound",
    }

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps({"event": "snapshot", "data": {"devices": [], "fleets": []}}))
        try:
            while True:
                now = time.time()
                for device_id in ids:
                    message = messages.make("stats", device_id, now, stats=stats)
                    await websocket.send_text(json.dumps({"event": "device:stats", "data": message}))
                await asyncio.sleep(max(0.0, interval - (time.time() - now)))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    config = uvicorn.Config(
        make_app(args.devices, args.interval), host="127.0.0.1", port=0, log_config=None, ws="websockets-sansio"
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        print(f"ws_baseline: http://{host}:{port}/", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
