"""Lab tests: real network namespaces and real DHCP/DNS servers (root; `sudo make test`)."""
