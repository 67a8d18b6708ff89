"""The fork server's wire format (`iot_emulator.zygote`): what the dashboard asks, what it answers.

Data only, so the dashboard speaks it without loading the emulator's processes. A request is one
SOCK_SEQPACKET message of at most `MAX_REQUEST` bytes carrying the child's stdout and stderr as
two file descriptors; the reply is one message carrying the child's pidfd, then `{"exit": code}`
when the child ends.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_REQUEST = 64 * 1024
"""Bytes of one request; a longer one is truncated by the socket and refused."""


class SpawnRequest(BaseModel):
    """What a child runs: the arguments of `python -m iot_emulator` (e.g. `run --interface ...`)."""

    model_config = ConfigDict(extra="forbid")
    argv: list[Annotated[str, Field(max_length=4096)]] = Field(min_length=1, max_length=128)


class SpawnReply(BaseModel):
    """The zygote's answer: the child's pid (its pidfd rides along), or why it was refused."""

    model_config = ConfigDict(extra="forbid")
    pid: int | None = None
    error: str | None = None
