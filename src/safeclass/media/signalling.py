"""The media layer as the lesson's WebSocket sees it: a `Protocol`, so the socket does not care
whether a real SFU is behind it (the server's `safeclass.media.relay`) or nothing at all (media off:
every request is answered with a refusal).

Everything here is asked on behalf of one participant of one live lesson. What they may publish
and receive is decided by the lesson engine's state, never by what the client asks for: a request
the state does not allow is refused, logged, and changes nothing.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol


class Purpose(enum.StrEnum):
    CAMERA = "camera"
    SCREEN = "screen"


class TrickleTarget(enum.StrEnum):
    CAMERA = "camera"
    SCREEN = "screen"
    WATCH = "watch"


class MediaRefusedError(Exception):
    """A media request was refused; `reason` is for programs, the message for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class MediaSignalling(Protocol):
    async def publish(self, lesson_id: int, pid: str, purpose: Purpose, offer: str) -> str:
        """Relay an offer to send; returns the SFU's answer."""
        ...

    async def unpublish(self, lesson_id: int, pid: str, purpose: Purpose) -> None: ...

    async def watch_answer(self, lesson_id: int, pid: str, answer: str) -> None:
        """The participant's answer to the last `watch_offer` they were sent."""
        ...

    async def trickle(
        self, lesson_id: int, pid: str, target: TrickleTarget, candidate: dict[str, Any]
    ) -> None: ...
