"""`python -m iot_dashboard`: the service alone (what `iotemu dashboard` runs)."""

import sys

from iot_dashboard import service

sys.exit(service.main())
