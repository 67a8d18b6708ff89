"""`iot-operator` (and `iotemu operator`): run the operator in a cluster or against a kubeconfig.

Every setting is a flag (`--resync-interval 5`, `--namespaces '["lab"]'`) and an `IOT_OPERATOR_*`
variable; `--help` lists them with their documentation. Without `--peering` one replica runs
(kopf's standalone mode); with it, replicas share a KopfPeering object and only the one with the
highest priority acts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Sequence

import kopf
from pydantic import ValidationError

from iot_operator import handlers
from iot_operator import settings as settings_mod


async def run(
    settings: settings_mod.OperatorSettings,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """The operator in the running event loop, until `stop_flag` is set (or a signal, when run as main)."""
    registry = handlers.build(handlers.runtime(settings))
    priority = settings.priority if settings.priority is not None else secrets.randbelow(1_000_000) + 1
    await kopf.operator(
        registry=registry,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        priority=priority,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `iot-operator`; `iotemu operator ARGS` calls `main(ARGS)`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = settings_mod.OperatorSettings(_cli_parse_args=args)
    except ValidationError as exc:
        print(f"iot-operator: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
