"""Dependencies shared by the routes, as `Annotated` aliases (`BackendDep`, `HubDep`, `SettingsDep`).

The service's objects live on `app.state` (set by `app.create_app`), so tests build an app around
any backend and handlers never reach for globals.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from iot_dashboard import events
from iot_dashboard.backends import base
from iot_dashboard.settings import Settings


def get_backend(request: Request) -> base.Backend:
    backend: base.Backend = request.app.state.backend
    return backend


def get_hub(request: Request) -> events.EventHub:
    hub: events.EventHub = request.app.state.hub
    return hub


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


BackendDep = Annotated[base.Backend, Depends(get_backend)]
HubDep = Annotated[events.EventHub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
