"""The throw-away lab: network namespaces, a veth pair and real DHCP/DNS servers for the emulator.

`iotemu lab up`, the tests (`tests/conftest.py` fixtures), the demo and the benchmarks all build
their labs through this API:

    from iot_emulator import lab
    with lab.lab(lab.LabConfig(dhcp_server="kea", lease_time=8)) as handle:
        ...  # run the emulator on handle.dev_iface inside handle.dev_netns
        handle.leases()  # {mac: (ip, hostname)} from the server's own lease file

Modules: `config` (what to build, validated), `build` (up: namespaces, link, servers), `handle` (the
lab that is up: leases, commands in it, its DHCP server), `record` (the JSON record any process finds a
lab by), `teardown` (down), `netns` (namespace plumbing), `process` (servers that outlive their
parent), `dnsmasq` and `kea` (server configuration, lease files), `wan` (the gateway's side to the sink
or a real upstream), `internet` and `rtsp_sink` (the sink's servers), `commands` (CLI).
"""

from iot_emulator.lab.build import lab, up
from iot_emulator.lab.commands import cli_down, cli_up, register
from iot_emulator.lab.config import DEFAULT_STATE_DIR, DEFAULT_SUBNET, LabConfig, Upstream, pool_range
from iot_emulator.lab.errors import LabConfigError, LabError
from iot_emulator.lab.handle import Lab, attach
from iot_emulator.lab.record import running
from iot_emulator.lab.teardown import down, down_all

__all__ = [
    "DEFAULT_STATE_DIR",
    "DEFAULT_SUBNET",
    "Lab",
    "LabConfig",
    "LabConfigError",
    "LabError",
    "Upstream",
    "attach",
    "cli_down",
    "cli_up",
    "down",
    "down_all",
    "lab",
    "pool_range",
    "register",
    "running",
    "up",
]
