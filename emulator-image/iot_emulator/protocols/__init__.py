"""Sans-IO protocol machines: they take frames and a clock and return frames to send.

No module here reads a clock, sleeps or touches a socket; the engine (`iot_emulator.engine`)
owns the one raw socket and the timers. Tests drive these objects with a virtual clock.

`link` (framing, ARP, ICMP, DHCP), `transport` (TCP, TLS), `clients` (what a device says on its own),
`discovery` (mDNS, SSDP, WS-Discovery, LLDP, CDP), `servers` (what a probe meets); at the top, the
registry of services by manifest name (`services`), what UDP services share (`service_kit`), when
periodic protocols speak (`schedule`) and the DNS message format the resolver and mDNS share (`dns_wire`).
"""
