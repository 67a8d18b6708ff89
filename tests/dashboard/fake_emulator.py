"""A stand-in for `iotemu run --control-socket` that speaks the control contract without a network.

It is what the supervisor tests run when no lab is needed: the same command line, the same
control API on a unix socket (`POST /devices`, `DELETE /devices/{id}`, `GET /healthz`, and the
real `GET /capture` around a link that goes nowhere: each device "sends" a frame when it is
added and at each stats tick, so a capture has frames of its MAC), the same
JSON lines on stdout, the same SIGTERM behaviour; devices "get" an address at once from a
counter (no frame is sent anywhere). The lab tests run the real emulator instead.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import time
from typing import Any

from aiohttp import web

from iot_emulator.devices import macs
from iot_emulator.endpoints import capture, capture_routes
from iot_emulator.reporting import message_models, messages


def emit(message: dict[str, Any]) -> None:
    """Print as the emulator does, after checking the message against its model (a drift fails here)."""
    message_models.parse(message)
    sys.stdout.write(messages.encode(message).decode())
    sys.stdout.flush()


class NoLink:
    """The fake's link: frames go through the capture tap and then nowhere."""

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Any) -> None: ...

    def send(self, frame: bytes) -> None: ...

    def flush(self, timeout: float = 1.0) -> None: ...

    def close(self) -> None: ...

    def read_vlan_tags(self) -> None: ...


class Fake:
    def __init__(self, stats_interval: float, interface: str) -> None:
        self.tap = capture.CaptureTap(NoLink())
        self.devices: dict[str, dict[str, Any]] = {}
        self.stats_interval = stats_interval
        self.interface = interface
        self.addresses = itertools.count(10)

    def stats(self, device_id: str) -> dict[str, Any]:
        dev = self.devices[device_id]
        return {
            "packets_sent": 4,
            "bytes_sent": 1400,
            "packet_rate": 0.0,
            "current_ip": dev["ip"],
            "uptime_seconds": round(time.time() - dev["since"], 1),
            "protocols": {"dhcp": 4},
            "state": "bound",
            "dhcp_state": "bound",
            "mac": dev["mac"],
        }

    def roster(self) -> list[tuple[str, str | None, bytes]]:
        return [(i, d["fleet"], macs.parse(d["mac"])) for i, d in self.devices.items()]

    def send_frame(self, device_id: str) -> None:
        """A broadcast from the device's MAC (an ARP-sized frame), for captures to see."""
        self.tap.send(b"\xff" * 6 + macs.parse(self.devices[device_id]["mac"]) + b"\x08\x06" + bytes(28))

    async def add(self, request: web.Request) -> web.Response:
        body = await request.json()
        docs = body.get("manifests", [])
        errors = []
        for i, doc in enumerate(docs, start=1):
            name = (doc.get("metadata") or {}).get("name")
            mac = (doc.get("spec") or {}).get("mac")
            if doc.get("kind") != "IoTDevice" or not name or not mac:
                errors.append(f"document {i}: expected an IoTDevice with a name and a MAC")
            elif name.startswith("refuse"):  # lets tests see a device the emulator turns down
                errors.append(f"document {i} (IoTDevice/{name}): spec: refused by the fake emulator")
        if errors:
            return web.json_response({"errors": errors}, status=422)
        macs = {d["mac"] for d in self.devices.values()}
        clashes = [d["metadata"]["name"] for d in docs if d["metadata"]["name"] in self.devices]
        clashes += [d["spec"]["mac"] for d in docs if d["spec"]["mac"] in macs]
        if clashes:
            return web.json_response({"errors": [f"already running: {c}" for c in clashes]}, status=409)
        added = []
        for doc in docs:
            device_id, mac = doc["metadata"]["name"], doc["spec"]["mac"]
            ip = f"10.99.{next(self.addresses) // 250}.{next(self.addresses) % 250 + 2}"
            self.devices[device_id] = {"mac": mac, "ip": ip, "since": time.time(), "fleet": None}
            self.send_frame(device_id)
            now = time.time()
            emit(messages.make("started", device_id, now, mac=mac, interface=self.interface))
            emit(messages.make("dhcp_discover", device_id, now, xid="0x1", mac=mac))
            emit(messages.make("dhcp_offer", device_id, now, offered_ip=ip, server_id="10.99.0.1", lease_time=3600))
            emit(messages.make("dhcp_ack", device_id, now, assigned_ip=ip, server_id="10.99.0.1", lease_time=3600))
            emit(messages.make("stats", device_id, now, stats=self.stats(device_id)))
            scenario = doc["spec"].get("scenario")
            for number, step in enumerate(scenario["steps"] if scenario else []):  # as if every step began now
                kind, label = step["behaviour"]["kind"], step.get("name") or str(number + 1)
                emit(messages.scenario(device_id, now, scenario["name"], label, kind, "started", "fake"))
            added.append(device_id)
        return web.json_response({"added": added})

    def stop_one(self, device_id: str) -> None:
        now = time.time()
        address = self.devices[device_id]["ip"]
        emit(messages.make("dhcp_release", device_id, now, address=address, server_id="10.99.0.1"))
        emit(messages.make("stats", device_id, now, stats=self.stats(device_id)))
        emit(messages.make("stopped", device_id, now, packets_sent=5))
        del self.devices[device_id]

    async def remove(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if device_id not in self.devices:
            return web.json_response({"error": "Not Found", "status": 404}, status=404)
        self.stop_one(device_id)
        return web.json_response({"removed": device_id})

    async def health(self, request: web.Request) -> web.Response:
        body = {"status": "ok", "devices": len(self.devices), "bound": len(self.devices)}
        return web.json_response({**body, "captures": len(self.tap.captures)})

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            for device_id in list(self.devices):
                emit(messages.make("stats", device_id, time.time(), stats=self.stats(device_id)))
                self.send_frame(device_id)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--control-socket", required=True)
    parser.add_argument("--stats-interval", type=float, default=5.0)
    parser.add_argument("--interface", default="eth0")
    args, _ = parser.parse_known_args()
    fake = Fake(args.stats_interval, args.interface)
    app = web.Application()
    app.router.add_post("/devices", fake.add)
    app.router.add_delete("/devices/{device_id}", fake.remove)
    app.router.add_get("/healthz", fake.health)
    capture_routes.register(app, fake.tap, fake.roster, None)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.UnixSite(runner, args.control_socket).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.create_task(fake.ticker())
    await stop.wait()
    ticker.cancel()
    for device_id in list(fake.devices):
        fake.stop_one(device_id)
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
