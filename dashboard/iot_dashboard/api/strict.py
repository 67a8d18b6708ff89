"""JSON request bodies read as strictly as imports: no NaN/Infinity, no lone surrogates, bounded depth.

Python's `json` accepts `NaN` and `"\\ud800"`; both pass pydantic, and then fail far from the
request (a float that JSON cannot encode, a string that UTF-8 cannot) as a 500. Every route of
the API uses this route class, whose request parses with `iot_emulator.config.bounded`; a refusal is a
JSON decode error, which FastAPI answers 422 with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from iot_emulator.config import bounded

_NO_SIZE_CAP = bounded.Limits(max_bytes=1 << 62)  # the body's size is capped before (limits.BodyLimit)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = bounded.load_json(body, _NO_SIZE_CAP)
            except bounded.BadInput as exc:
                raise json.JSONDecodeError(str(exc), body.decode("utf-8", "replace"), 0) from exc
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
