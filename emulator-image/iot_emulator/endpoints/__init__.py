"""The emulator process's HTTP endpoint (`http_api`) and what its routes drive: devices added and removed
at run time (`control`, `control_routes`), live captures (`capture`, `capture_routes`)."""
