"""What reading VLAN tags back costs on receive: `RawLink` with `vlans` (recvmsg + PACKET_AUXDATA) against without.

    sudo .venv/bin/python bench/vlan_recv.py [--frames 4000] [--repeat 20]

On a bare veth pair between two namespaces made here (and always removed): the peer sends
`--frames` tagged DHCP-sized frames, which wait in the receiving socket's buffer; then the link's
own receive callback (`RawLink._readable`, as the event loop calls it) drains them, timed. The two
modes alternate, `--repeat` times each; the ratio is of the medians, in this run. The kernel takes
the tag off in both modes: only the tagged mode puts it back (and pays for it).
"""

from __future__ import annotations

import argparse
import secrets
import socket
import time

import common

from iot_emulator.engine import rawsock
from iot_emulator.lab import netns
from iot_emulator.protocols.link import vlan_tag, wire


def frame() -> bytes:
    payload = bytes(300)  # a DHCP message's size
    plain = wire.udp_frame(
        bytes.fromhex("02aa00000001"),
        bytes.fromhex("02bb00000001"),
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
        67,
        68,
        payload,
    )
    return vlan_tag.push(plain, vlan_tag.header(10, 5))


def drain(link: rawsock.RawLink, sender: socket.socket, count: int) -> tuple[float, int]:
    """Fill the receive buffer with `count` frames, then time the link reading them all."""
    data = frame()
    for _ in range(count):
        sender.send(data)
    got: list[bytes] = []
    link._on_frame = got.append
    start = time.perf_counter()
    while True:
        before = len(got)
        link._readable()
        if len(got) == before:
            break
    elapsed = time.perf_counter() - start
    tagged = sum(1 for f in got if f[12:14] == b"\x81\x00")
    return len(got) / elapsed, tagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    tagged: dict[bool, int] = {False: 0, True: 0}
    with netns.veth_pair(f"iotbench-vlan-{secrets.token_hex(3)}", "vr0", "vr1") as (ns_a, ns_b):
        sender = netns.socket_in(ns_b, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(rawsock.ETH_P_ALL))
        sender.bind(("vr1", 0))
        links = {mode: rawsock.RawLink("vr0", netns=ns_a, vlans=mode) for mode in (False, True)}
        for link in links.values():
            link.open()
        for _ in range(args.repeat):
            for mode, link in links.items():
                other = links[not mode]
                drain(other, sender, 0)  # the other socket's copies of the last round are dropped
                rate, seen = drain(link, sender, args.frames)
                drain(other, sender, 0)
                rates[mode].append(rate)
                tagged[mode] += seen
        for link in links.values():
            link.close()
        sender.close()
    plain, with_tags = common.median(rates[False]), common.median(rates[True])
    print(
        common.table(
            ["receive path", "frames/s (median)", "spread", "frames read with their tag"],
            [
                ["recvfrom (vlans off)", f"{plain:,.0f}", common.spread(rates[False]), tagged[False]],
                ["recvmsg + PACKET_AUXDATA (vlans on)", f"{with_tags:,.0f}", common.spread(rates[True]), tagged[True]],
            ],
        )
    )
    print(f"ratio vlans on / off: {with_tags / plain:.2f}")


if __name__ == "__main__":
    main()
