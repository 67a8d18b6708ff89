"""How the operator marks the emulator pods it makes, and how the dashboard finds them and their
`/events`: one contract, read by both (the dashboard's settings default to these)."""

from __future__ import annotations

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "iot-operator"
"""`MANAGED_BY=MANAGER`: the label of every emulator pod (and the selector that lists them)."""
KIND_LABEL = {"IoTDevice": "iotemu.io/iotdevice", "IoTFleet": "iotemu.io/iotfleet"}
"""Kind -> the label whose value names the resource a pod emulates (a fleet's shards share it)."""
HTTP_PORT = "iotemu.io/http-port"
"""The pod's annotation naming the port of the emulator's HTTP endpoint (`/events`, `/stats`, `/capture`)."""
