"""The lab's VLAN-aware switch: a trunk port and one access port per VLAN, in user space.

Run in the gateway namespace by `lab.vlans` (`python -m iot_emulator.lab.vlan_switch --trunk gw0
--port 10=sw10 --port 100.30=sw100-30`). A frame from the trunk tagged with a port's VLAN leaves
that port untagged; a frame from a port leaves the trunk with the port's tag(s) (802.1Q, or the
802.1ad S-tag outside it for QinQ). Frames of other VLANs, and untagged ones, are not forwarded:
untagged traffic on the trunk is the gateway's own LAN, which its kernel handles.

Why user space: the kernels the lab runs on may lack 802.1Q devices (CONFIG_VLAN_8021Q, and with
it the VLAN-filtering bridge); AF_PACKET sockets and veth work everywhere, and the receive side
already reads tags back from PACKET_AUXDATA (`engine.rawsock`). A lab VLAN carries a few thousand
frames per second through it, which its dnsmasq servers are far from needing.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from iot_emulator.engine import rawsock
from iot_emulator.protocols.link import vlan_tag

READY = "vlan switch ready"
"""The line the switch prints once every port is open (the lab waits for it)."""


class Switch:
    """Forwards between the trunk and the access ports; see the module docstring."""

    def __init__(self, trunk: rawsock.RawLink, ports: dict[vlan_tag.Key, rawsock.RawLink]) -> None:
        self.trunk = trunk
        self.ports = ports
        self.headers = {key: vlan_tag.header(key[1], 0, key[0] or None) for key in ports}

    def from_trunk(self, frame: bytes) -> None:
        key, untagged = vlan_tag.pop(frame)
        port = self.ports.get(key) if key is not None else None
        if port is not None:
            port.send(untagged)

    def from_port(self, key: vlan_tag.Key, frame: bytes) -> None:
        if ((frame[12] << 8) | frame[13]) in vlan_tag.TPIDS:  # an access port carries untagged frames only
            return
        self.trunk.send(vlan_tag.push(frame, self.headers[key]))


def _key(text: str) -> vlan_tag.Key:
    outer, _, vid = text.rpartition(".")
    return (int(outer) if outer else 0, int(vid))


async def _serve(trunk_name: str, port_names: dict[vlan_tag.Key, str]) -> None:
    trunk = rawsock.RawLink(trunk_name, vlans=True)
    ports = {key: rawsock.RawLink(name) for key, name in port_names.items()}
    for link in (trunk, *ports.values()):
        link.open()
    switch = Switch(trunk, ports)
    loop = asyncio.get_running_loop()
    trunk.start(loop, switch.from_trunk)
    for key, port in ports.items():
        port.start(loop, lambda frame, key=key: switch.from_port(key, frame))  # type: ignore[misc]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(READY, flush=True)
    await stop.wait()
    for link in (trunk, *ports.values()):
        link.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iot_emulator.lab.vlan_switch", description=__doc__)
    parser.add_argument("--trunk", required=True, help="the interface carrying tagged frames")
    parser.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="VLAN=IFACE",
        help="an access port: VLAN is an id or S-tag.C-tag (repeatable)",
    )
    args = parser.parse_args(argv)
    ports = {}
    for item in args.port:
        vlan, _, iface = item.partition("=")
        ports[_key(vlan)] = iface
    try:
        asyncio.run(_serve(args.trunk, ports))
    except rawsock.LinkError as exc:
        print(f"vlan switch: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
