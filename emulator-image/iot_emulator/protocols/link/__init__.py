"""The link layer every device runs: Ethernet/IPv4/UDP/ARP framing (`wire`), ARP, ICMP, and the DHCP client
(`dhcp`, its lease timers `dhcp_lease`, its frames `dhcp_wire`)."""
