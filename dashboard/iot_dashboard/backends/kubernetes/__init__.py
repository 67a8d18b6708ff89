"""Cluster mode: IoTDevice/IoTFleet resources through the API (`backend`), the API client (`client`), live events
from the emulator pods' `/events` streams (`pods`)."""
