"""How a device is found on its LAN: mDNS/DNS-SD, SSDP/UPnP, WS-Discovery, LLDP and CDP."""
