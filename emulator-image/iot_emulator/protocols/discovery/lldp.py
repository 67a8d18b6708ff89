"""The "lldp" service: IEEE 802.1AB LLDPDUs, as IP phones and access points send them to their switch port.

One LLDPDU every `interval` s to the nearest-bridge group 01:80:c2:00:00:0e (ethertype 0x88cc):
chassis ID and port ID (the MAC), TTL (4 x interval, 802.1AB's default msgTxHold), port
description, system name and description, system capabilities (supported = enabled), and the
management address once the device has one. A shutdown LLDPDU (TTL 0) on stop (802.1AB 9.2.7.1).

Phones are LLDP-MED endpoints (ANSI/TIA-1057): they add the 802.3 MAC/PHY TLV, LLDP-MED
capabilities (class III, communication device), a voice network policy (untagged, DSCP 46, the
default voice marking: no VLAN has been learnt from a MED switch) and the inventory TLVs for
manufacturer and model, and start fast: three LLDPDUs 1 s apart (TIA-1057 fast start).

LLDP needs no IP, and a phone sends it from boot: it is a link-layer service (`services.LINK`),
started by the device at link-up, so the first LLDPDU goes out before the DHCPDISCOVER and the
management address joins once the device has a lease.
"""

from __future__ import annotations

import struct

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import service_kit, services
from iot_emulator.protocols.link import wire

NEAREST_BRIDGE = bytes.fromhex("0180c200000e")
TLV_END, TLV_CHASSIS_ID, TLV_PORT_ID, TLV_TTL = 0, 1, 2, 3
TLV_PORT_DESCRIPTION, TLV_SYSTEM_NAME, TLV_SYSTEM_DESCRIPTION, TLV_CAPABILITIES, TLV_MANAGEMENT = 4, 5, 6, 7, 8
TLV_ORGANIZATIONAL = 127
CHASSIS_MAC, PORT_MAC = 4, 3
OUI_MED = bytes.fromhex("0012bb")
OUI_8023 = bytes.fromhex("00120f")
CAPABILITY_BITS: dict[catalog.LldpCapability, int] = {
    "other": 0x01,
    "repeater": 0x02,
    "bridge": 0x04,
    "wlan-ap": 0x08,
    "router": 0x10,
    "telephone": 0x20,
    "station": 0x80,
}
MED_FAST_START = 3
MED_CAPABILITIES = 0x0001 | 0x0002 | 0x0020  # LLDP-MED capabilities, network policy, inventory
MED_CLASS_III = 3
VOICE_APPLICATION = 1
VOICE_DSCP = 46
MAX_TTL = 0xFFFF


def tlv(kind: int, value: bytes) -> bytes:
    """Type in the top 7 bits, length in the low 9 (802.1AB 8.4)."""
    return struct.pack("!H", kind << 9 | len(value)) + value


def org_tlv(oui: bytes, subtype: int, value: bytes) -> bytes:
    return tlv(TLV_ORGANIZATIONAL, oui + bytes([subtype]) + value)


def _text(value: str, limit: int = 255) -> bytes:
    return value.encode()[:limit]


def lldpdu(src_mac: bytes, tlvs: list[bytes]) -> bytes:
    """The frame: the TLVs and End, padded to the Ethernet minimum as a NIC would."""
    body = b"".join(tlvs) + tlv(TLV_END, b"")
    return wire.ethernet(NEAREST_BRIDGE, src_mac, wire.ETH_P_LLDP, body).ljust(60, b"\x00")


class LldpAgent:
    name = "lldp"

    def __init__(self, context: services.Context, settings: catalog.Lldp) -> None:
        self.host = context.host
        self.config = context.config
        self.settings = settings
        self.med = context.config.profile.device_class == "phone" or "telephone" in settings.capabilities
        self.sent_count = 0
        self._due: float | None = None
        self._fast_left = 0

    @property
    def ttl(self) -> int:
        return min(int(4 * self.settings.interval), MAX_TTL)

    def _identity(self) -> list[bytes]:
        mac = self.host.mac
        return [tlv(TLV_CHASSIS_ID, bytes([CHASSIS_MAC]) + mac), tlv(TLV_PORT_ID, bytes([PORT_MAC]) + mac)]

    def frame(self) -> bytes:
        """The LLDPDU this device sends now (its management address may have changed)."""
        s = self.settings
        caps = 0
        for capability in s.capabilities:
            caps |= CAPABILITY_BITS[capability]
        tlvs = [
            *self._identity(),
            tlv(TLV_TTL, struct.pack("!H", self.ttl)),
            tlv(TLV_PORT_DESCRIPTION, _text(s.port_description)),
            tlv(TLV_SYSTEM_NAME, _text(service_kit.fill(s.system_name, self.config))),
            tlv(TLV_SYSTEM_DESCRIPTION, _text(service_kit.fill(s.system_description, self.config))),
            tlv(TLV_CAPABILITIES, struct.pack("!HH", caps, caps)),
        ]
        if self.host.address is not None:  # length 5: subtype IPv4 + 4 bytes; ifIndex numbering, interface 1
            tlvs.append(tlv(TLV_MANAGEMENT, bytes([5, 1]) + self.host.address + struct.pack("!BIB", 2, 1, 0)))
        if self.med:
            tlvs += self._med()
        return lldpdu(self.host.mac, tlvs)

    def _med(self) -> list[bytes]:
        prof = self.config.profile
        # 802.3 MAC/PHY: autonegotiation supported and enabled, 10/100 half and full advertised, 100BASE-TX FD.
        mac_phy = org_tlv(OUI_8023, 1, struct.pack("!BHH", 0x03, 0x6C00, 16))
        policy = VOICE_APPLICATION << 24 | VOICE_DSCP  # U=0, T=0 (untagged), VLAN 0, priority 0
        return [
            mac_phy,
            org_tlv(OUI_MED, 1, struct.pack("!HB", MED_CAPABILITIES, MED_CLASS_III)),
            org_tlv(OUI_MED, 2, struct.pack("!I", policy)),
            org_tlv(OUI_MED, 9, _text(prof.vendor, 32)),
            org_tlv(OUI_MED, 10, _text(prof.model, 32)),
        ]

    def shutdown_frame(self) -> bytes:
        return lldpdu(self.host.mac, [*self._identity(), tlv(TLV_TTL, struct.pack("!H", 0))])

    # -- host.Service -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._fast_left = MED_FAST_START if self.med else 1
        self._due = now

    def on_timer(self, now: float) -> None:
        if self._due is None or self._due > now:
            return
        self.host.send_frame("lldp", self.frame())
        self.sent_count += 1
        self._fast_left = max(0, self._fast_left - 1)
        self._due = now + (1.0 if self._fast_left else self.settings.interval)

    def next_deadline(self) -> float | None:
        return self._due

    def stop(self, now: float) -> None:
        if self._due is not None:
            self.host.send_frame("lldp", self.shutdown_frame())
        self._due = None


@services.register("lldp")
def _lldp(context: services.Context) -> host_mod.Service | None:
    settings = context.config.profile.lldp
    return LldpAgent(context, settings) if settings is not None else None
