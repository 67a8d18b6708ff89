"""`python -m iotemu ...`: the same as the `iotemu` command."""

import sys

from iotemu.commands import main

sys.exit(main())
