"""A raw-frame client on the device side of a lab, to check the lab's servers the way devices see them.

The device namespace has no IP address by design (the emulator owns addresses in user space), so
the kernel there cannot send a DHCP or DNS query. The probe does what an emulated device does: it
opens an AF_PACKET socket on `lab0` (created inside the device namespace from a short-lived
thread, no helper process), builds frames with Scapy, answers the gateway's ARP requests for its
own address, and waits for the reply with a deadline. Its frames cross the same veth, reach the
same server sockets and come back the same way as the emulator's; no interface or address is added
to the lab to test it.
"""

from __future__ import annotations

import ipaddress
import random
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet
from scapy.utils import mac2str

from iot_emulator import lab as iotlab
from iot_emulator.lab import netns

ETH_P_ALL = 0x0003
BROADCAST = "ff:ff:ff:ff:ff:ff"


class DevProbe:
    """One pretend device on a lab's device link: a MAC, optionally an address, one raw socket."""

    def __init__(self, lab: iotlab.Lab, mac: str, ip: str | None = None) -> None:
        self.lab = lab
        self.mac = mac
        self.ip = ip
        self.sock = netns.socket_in(lab.dev_netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((lab.dev_iface, 0))

    def close(self) -> None:
        self.sock.close()

    @staticmethod
    def options(reply: Packet) -> dict[str, Any]:
        """A DHCP reply's options by Scapy name ("message-type": 2 for an OFFER, 5 ACK, 6 NAK)."""
        return {o[0]: o[1] for o in reply[DHCP].options if isinstance(o, tuple)}

    @staticmethod
    def a_records(reply: Packet) -> list[str]:
        return [str(reply.an[i].rdata) for i in range(reply.ancount) if reply.an[i].type == 1]

    def send(self, frame: Packet) -> None:
        self.sock.send(bytes(frame))

    def receive(self, match: Callable[[Packet], bool], timeout: float = 5.0) -> Packet | None:
        """The first incoming frame that `match`es, answering ARP for our address meanwhile; None at the deadline."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                break
            data, address = self.sock.recvfrom(65535)
            if address[2] == socket.PACKET_OUTGOING:
                continue
            frame = Ether(data)
            if self.ip and ARP in frame and frame[ARP].op == 1 and frame[ARP].pdst == self.ip:
                asker = frame[ARP]
                self.send(
                    Ether(src=self.mac, dst=asker.hwsrc)
                    / ARP(op=2, hwsrc=self.mac, psrc=self.ip, hwdst=asker.hwsrc, pdst=asker.psrc)
                )
                continue
            if match(frame):
                return frame
        return None

    # DHCP -------------------------------------------------------------------------------------
    def dhcp(
        self, options: list[Any], *, xid: int | None = None, broadcast: bool = True, timeout: float = 5.0
    ) -> Packet | None:
        """Broadcast one DHCP message from 0.0.0.0 and return the server's reply (or None)."""
        xid = random.getrandbits(32) if xid is None else xid
        self.send(
            Ether(src=self.mac, dst=BROADCAST)
            / IP(src="0.0.0.0", dst="255.255.255.255")
            / UDP(sport=68, dport=67)
            / BOOTP(chaddr=mac2str(self.mac), xid=xid, flags=0x8000 if broadcast else 0)
            / DHCP(options=[*options, "end"])
        )
        return self.receive(lambda f: BOOTP in f and f[BOOTP].op == 2 and f[BOOTP].xid == xid, timeout)

    def discover(self, hostname: str = "probe", **kw: Any) -> Packet | None:
        return self.dhcp([("message-type", "discover"), ("hostname", hostname.encode())], **kw)

    def request(
        self, address: str, *, server_id: str | None = None, hostname: str = "probe", **kw: Any
    ) -> Packet | None:
        """A REQUEST: SELECTING with `server_id`, INIT-REBOOT without."""
        options: list[Any] = [("message-type", "request"), ("requested_addr", address)]
        if server_id:
            options.append(("server_id", server_id))
        return self.dhcp([*options, ("hostname", hostname.encode())], **kw)

    def dora(self, hostname: str = "probe") -> tuple[str, Packet]:
        """DISCOVER, OFFER, REQUEST, ACK; returns the address and the ACK. Keeps the address."""
        offer = self.discover(hostname)
        assert offer is not None, f"no OFFER from {self.lab.dhcp_server}"
        ack = self.request(offer[BOOTP].yiaddr, server_id=self.options(offer)["server_id"], hostname=hostname)
        assert ack is not None and self.options(ack)["message-type"] == 5, f"no ACK: {ack!r}"
        self.ip = ack[BOOTP].yiaddr
        return self.ip, ack

    def release(self) -> None:
        assert self.ip is not None
        gw = str(self.lab.gateway_ip)
        self.send(
            Ether(src=self.mac, dst=self.gateway_mac())
            / IP(src=self.ip, dst=gw)
            / UDP(sport=68, dport=67)
            / BOOTP(chaddr=mac2str(self.mac), ciaddr=self.ip, xid=random.getrandbits(32))
            / DHCP(options=[("message-type", "release"), ("server_id", gw), "end"])
        )

    # ARP and DNS --------------------------------------------------------------------------------
    def gateway_mac(self) -> str:
        assert self.ip is not None, "the probe needs an address to ARP"
        gw = str(self.lab.gateway_ip)
        self.send(Ether(src=self.mac, dst=BROADCAST) / ARP(op=1, hwsrc=self.mac, psrc=self.ip, pdst=gw))
        reply = self.receive(lambda f: ARP in f and f[ARP].op == 2 and f[ARP].psrc == gw)
        assert reply is not None, "the gateway does not answer ARP"
        mac: str = reply[ARP].hwsrc
        return mac

    def resolve(self, name: str, timeout: float = 5.0) -> Packet:
        """Ask the lab's DNS (the gateway) for `name`'s A record; returns the DNS reply."""
        query_id, sport = random.getrandbits(16), random.randint(20000, 60000)
        self.send(
            Ether(src=self.mac, dst=self.gateway_mac())
            / IP(src=self.ip, dst=str(self.lab.gateway_ip))
            / UDP(sport=sport, dport=53)
            / DNS(id=query_id, rd=1, qd=DNSQR(qname=name))
        )
        reply = self.receive(lambda f: DNS in f and f[UDP].dport == sport and f[DNS].id == query_id, timeout)
        assert reply is not None, f"no DNS answer for {name}"
        return reply[DNS]


@pytest.fixture
def dev_probe() -> Iterator[Callable[..., DevProbe]]:
    """`dev_probe(lab, mac=None, ip=None, reserved_ip=False)`: a pretend device on the lab's device link.

    `reserved_ip=True` gives it an address the DHCP pool never hands out (gateway + 8), for DNS
    checks that need no lease.
    """
    probes: list[DevProbe] = []

    def make(lab: iotlab.Lab, mac: str | None = None, ip: str | None = None, reserved_ip: bool = False) -> DevProbe:
        mac = mac or ":".join(["02:1a:b0", *(f"{random.getrandbits(8):02x}" for _ in range(3))])
        if reserved_ip:
            ip = str(ipaddress.IPv4Address(int(lab.gateway_ip) + 8))
        probe = DevProbe(lab, mac, ip)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()
