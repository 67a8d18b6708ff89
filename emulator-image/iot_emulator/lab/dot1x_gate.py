"""The lab's port enforcement: frames from a device reach the gateway only once hostapd authorized it.

hostapd's wired driver has no port to open or close, so the lab closes it itself: an nftables
`netdev` ingress chain on the gateway's interface drops every frame but EAPOL from a MAC that is
neither authorized nor on the MAB list, and this process, attached to hostapd's control socket,
adds a MAC to the `authorized` set on `AP-STA-CONNECTED` (EAP-Success) and removes it on
`AP-STA-DISCONNECTED` (Failure, Logoff). MAB is the switch's decision for devices that never
speak EAPOL: the lab takes it up front from the MACs it is given (`mab` set).

    python -m iot_emulator.lab.dot1x_gate --ctrl DIR/gw0 --iface gw0 [--mab MAC ...]

Run inside the gateway namespace; it loads the table, attaches, prints "attached", then follows.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import socket

TABLE = "iotemu_dot1x"
_EVENT = re.compile(r"^<\d>(AP-STA-CONNECTED|AP-STA-DISCONNECTED) ([0-9a-f:]{17})")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def ruleset(iface: str, mab: list[str]) -> str:
    elements = f" elements = {{ {', '.join(mab)} }};" if mab else ""
    return f"""table netdev {TABLE} {{
    set authorized {{ type ether_addr; }}
    set mab {{ type ether_addr;{elements} }}
    chain ingress {{
        type filter hook ingress device "{iface}" priority 0; policy drop;
        ether type 0x888e accept
        ether saddr @authorized accept
        ether saddr @mab accept
    }}
}}
"""


class Nft:
    """libnftables in this process (what `nft` links): an element added in ~0.1 ms, not a process
    per event, so a port opens before the device's first DHCPDISCOVER as often as possible."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL("libnftables.so.1")
        self._lib.nft_ctx_new.restype = ctypes.c_void_p
        self._lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self._ctx = self._lib.nft_ctx_new(0)

    def run(self, command: str) -> bool:
        return int(self._lib.nft_run_cmd_from_buffer(self._ctx, command.encode())) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ctrl", required=True, help="hostapd's control socket (ctrl_interface/<iface>)")
    parser.add_argument("--iface", required=True)
    parser.add_argument("--mab", nargs="*", default=[], help="MACs let through without 802.1X")
    args = parser.parse_args()
    mab = [m.lower() for m in args.mab]
    if bad := [m for m in mab if not _MAC.match(m)]:
        parser.error(f"--mab: not MAC addresses: {bad}")
    nft = Nft()
    if not nft.run(ruleset(args.iface, mab)):
        raise SystemExit("nft refused the ruleset")
    local = f"{os.path.dirname(args.ctrl)}/gate-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(local)
        try:
            sock.connect(args.ctrl)
            sock.send(b"ATTACH")
            if sock.recv(64).strip() != b"OK":
                raise SystemExit("hostapd refused ATTACH")
            print("attached", flush=True)
            while True:
                match = _EVENT.match(sock.recv(4096).decode(errors="replace"))
                if match is None:
                    continue
                verb = "add" if match[1] == "AP-STA-CONNECTED" else "delete"
                done = nft.run(f"{verb} element netdev {TABLE} authorized {{ {match[2]} }}")  # delete may miss
                print(f"{verb} {match[2]}{'' if done else ' (nothing to do)'}", flush=True)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(local)


if __name__ == "__main__":
    main()
