"""Sans-IO protocol machines: they take frames and a clock and return frames to send.

No module here reads a clock, sleeps or touches a socket; the engine (`iot_emulator.engine.engine`)
owns the one raw socket and the timers. Tests drive these objects with a virtual clock.
"""
