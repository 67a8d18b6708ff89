"""The `iotemu` command: the emulator's commands plus those that compose it with the dashboard and the operator.

It sits above the three packages (`iot_emulator`, `iot_dashboard`, `iot_operator`), so that none of
them imports another sideways or upwards (docs/architecture.md). Where only the emulator is installed
(its container image), `iotemu dashboard`, `iotemu operator` and `iotemu demo` say which extra to install.
"""
