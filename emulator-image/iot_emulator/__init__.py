"""IoT fleet emulator: many emulated IoT devices on one interface, from one asyncio process."""

__version__ = "0.1.0"
