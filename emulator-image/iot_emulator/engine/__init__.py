"""The engine: one asyncio loop and one raw socket for many devices.

`engine` is the facade; `routing` (which devices a frame is for), `scheduler` (device deadlines, the one
clock), `admission` (the DHCP window, the start rate), `stats` (what is reported), `multicast` (who hears a
group), `lease_cache` (the last leases on disk), `rawsock` (the AF_PACKET link)."""
