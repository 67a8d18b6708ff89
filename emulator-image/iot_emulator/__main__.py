"""`python -m iot_emulator ...`: the seed's command line (and the `iotemu` subcommands)."""

import sys

from iot_emulator.cli import main

sys.exit(main())
