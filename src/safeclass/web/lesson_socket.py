"""The lesson's WebSocket: one connection per participant's device.

A connection moves through explicit states: accepted (waiting for its `join`), joined (acting as its
own participant, and only that one), closing. Staff are recognised by their signed-in session,
pupils and guests by their personal link's token. Every message is checked against the protocol;
a bad one gets a typed error and changes nothing, and a flood is cut off. Close codes: 1000 normal
(left, removed, lesson ended), 1003 not text, 1008 refused (not recognised, not allowed, flooding),
1009 too big, 1011 a fault on our side.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from typing import Any

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from safeclass.actions.live import LessonUnavailableError
from safeclass.domain.lesson.commands import NoteMediaRefusal
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.media.sdp import SdpRefusedError
from safeclass.media.signalling import MediaRefusedError, Purpose, TrickleTarget
from safeclass.web.auth import find_signed_in, session_cookie_name
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import is_same_origin
from safeclass.web.join_tokens import Entrant
from safeclass.web.protocol import (
    VERSION,
    WIRE_NAMES,
    CommandMessage,
    JoinMessage,
    PingMessage,
    ProtocolError,
    PublishMessage,
    TrickleMessage,
    UnpublishMessage,
    WatchAnswerMessage,
    parse,
    to_command,
)

log = logging.getLogger(__name__)
router = APIRouter()

MEDIA_OFF = "Video and sound are not available on this server at the moment."
JOIN_WITHIN_SECONDS = 15.0
QUEUE_LIMIT = 256
# Per connection: a burst of 30 messages, then 10 a second. 50 refusals for flooding end it.
BURST = 30.0
PER_SECOND = 10.0
FLOOD_LIMIT = 50


class _Stage(enum.Enum):
    ACCEPTED = "accepted"
    JOINED = "joined"
    CLOSING = "closing"


class _ClosingError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TokenBucket:
    def __init__(self, burst: float, per_second: float, clock: Any = time.monotonic) -> None:
        self._burst = burst
        self._rate = per_second
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class LessonConnection:
    """One device's connection to one lesson. It is the `Channel` the live lesson delivers to."""

    def __init__(self, websocket: WebSocket, context: WebContext, lesson_id: int) -> None:
        self.websocket = websocket
        self.context = context
        self.lesson_id = lesson_id
        self.stage = _Stage.ACCEPTED
        self.pid: str | None = None
        self.person: Person | None = None
        self._outbox: asyncio.Queue[dict[str, Any] | tuple[int, str]] = asyncio.Queue(QUEUE_LIMIT)
        self._bucket = TokenBucket(BURST, PER_SECOND)
        self._floods = 0

    # --- Channel ----------------------------------------------------------------------------------

    def deliver(self, message: dict[str, Any]) -> None:
        if self.stage is _Stage.CLOSING:
            return
        if message.get("type") == "refused":
            message = {**message, "command": WIRE_NAMES.get(message["command"], message["command"])}
        try:
            self._outbox.put_nowait({"v": VERSION, **message})
        except asyncio.QueueFull:
            self._closing(1008, "Your connection is too slow to keep up with the lesson.")

    def close(self, code: int, reason: str) -> None:
        self._closing(code, reason)

    def _closing(self, code: int, reason: str) -> None:
        if self.stage is _Stage.CLOSING:
            return
        self.stage = _Stage.CLOSING
        while True:  # make room for the close itself
            try:
                self._outbox.put_nowait((code, reason))
                return
            except asyncio.QueueFull:
                self._outbox.get_nowait()

    # --- Running ----------------------------------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        except _ClosingError as closing:
            self._closing(closing.code, closing.reason)
        except WebSocketDisconnect:
            pass
        except Exception:
            log.exception("lesson connection failed (lesson %s)", self.lesson_id)
            self._closing(1011, "Something went wrong on our side. Please join again.")
        finally:
            self._closing(1000, "")
            if self.pid is not None:
                # Shielded: even if this handler is cancelled (a server shutting down, a client
                # vanishing), the lesson must learn that this participant has gone.
                gone = self.context.live.disconnected(self.lesson_id, self.pid, self)
                await asyncio.shield(asyncio.ensure_future(gone))
            try:
                await asyncio.wait_for(writer, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()

    async def _write(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, tuple):
                code, reason = item
                if self.websocket.application_state is WebSocketState.CONNECTED:
                    # The client may have gone first; then there is nothing left to close.
                    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                        await self.websocket.close(code=code, reason=reason[:120])
                return
            try:
                await self.websocket.send_text(json.dumps(item, separators=(",", ":")))
            except (WebSocketDisconnect, RuntimeError):
                return

    async def _read(self) -> None:
        while self.stage is _Stage.ACCEPTED:
            text = await self._receive(timeout=JOIN_WITHIN_SECONDS)
            if text is None:
                raise _ClosingError(1008, "Please join the lesson first.")
            self._limit_rate()
            message = self._parse(text)
            if isinstance(message, PingMessage):
                self.deliver({"type": "pong"})
                continue
            if not isinstance(message, JoinMessage):
                self._error("not_joined", "Please join the lesson first.")
                raise _ClosingError(1008, "Please join the lesson first.")
            await self._join(message)
        while self.stage is _Stage.JOINED:
            text = await self._receive(timeout=None)
            if text is None or self.stage is not _Stage.JOINED:
                return
            if not self._limit_rate():
                continue
            message = self._parse(text)
            if isinstance(message, PingMessage):
                self.deliver({"type": "pong"})
            elif isinstance(message, JoinMessage):
                self._error("already_joined", "This connection has already joined the lesson.")
            elif isinstance(
                message, PublishMessage | UnpublishMessage | WatchAnswerMessage | TrickleMessage
            ):
                await self._media(message)
            elif message is not None:
                await self._act(message)

    def _limit_rate(self) -> bool:
        """False (with an error sent) when this message is over the connection's allowance."""
        if self._bucket.take():
            return True
        self._floods += 1
        if self._floods >= FLOOD_LIMIT:
            raise _ClosingError(1008, "Too many messages.")
        self._error("slow_down", "Too many messages at once. Please slow down.")
        return False

    async def _receive(self, timeout: float | None) -> str | None:
        try:
            received = await asyncio.wait_for(self.websocket.receive(), timeout=timeout)
        except TimeoutError:
            return None
        if received["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(received.get("code", 1000))
        text = received.get("text")
        if text is None:
            self._error("not_text", "Messages must be JSON text.")
            raise _ClosingError(1003, "Messages must be JSON text.")
        assert isinstance(text, str)
        return text

    def _parse(self, text: str) -> Any:
        try:
            return parse(text)
        except ProtocolError as error:
            self._error(error.code, error.message)
            if error.code == "too_big":
                raise _ClosingError(1009, error.message) from None
            return None

    def _error(self, code: str, message: str) -> None:
        self.deliver({"type": "error", "code": code, "message": message})

    # --- Joining and acting -----------------------------------------------------------------------

    async def _join(self, message: JoinMessage) -> None:
        entrant = await asyncio.to_thread(self._recognise, message.token)
        if entrant is None:
            reason = (
                "This link does not work. Ask your school for a new one."
                if message.token
                else "Please sign in first."
            )
            self._error("not_recognised", reason)
            raise _ClosingError(1008, reason)
        self.person = entrant.person
        live = self.context.live
        if message.rejoin is not None:
            rejoined = await live.resume(
                self.lesson_id,
                pid=message.rejoin.pid,
                resume_token=message.rejoin.token,
                person=entrant.person,
                channel=self,
            )
            if rejoined:
                self.pid = message.rejoin.pid
                self.stage = _Stage.JOINED
                return
            self._error(
                "rejoin_failed",
                "We could not put you back where you were, so you are joining again.",
            )
        try:
            outcome = await live.join(
                self.lesson_id,
                person=entrant.person,
                via=entrant.via,
                device=entrant.device,
                channel=self,
                reminder_accepted=message.reminder_accepted,
                parent_present=message.parent_present,
            )
        except LessonUnavailableError as unavailable:
            self._error("lesson_unavailable", unavailable.message)
            raise _ClosingError(1008, unavailable.message) from None
        if not outcome.joined:
            assert outcome.reason is not None
            assert outcome.message is not None
            self.deliver(
                {
                    "type": "refused",
                    "command": "join",
                    "reason": outcome.reason.value,
                    "message": outcome.message,
                }
            )
            raise _ClosingError(1008, outcome.message)
        self.pid = outcome.pid
        if self.stage is _Stage.ACCEPTED:
            self.stage = _Stage.JOINED

    def _recognise(self, token: str | None) -> Entrant | None:
        context = self.context
        with context.session_factory() as session:
            if token:
                return context.join_tokens.read(session, self.lesson_id, token)
            cookie = self.websocket.cookies.get(session_cookie_name(context.config))
            signed_in = find_signed_in(session, cookie, context.now())
            if signed_in is None:
                return None
            return Entrant(
                Person(Role.STAFF, str(signed_in.staff.id)),
                Via.STAFF_SIGN_IN,
                f"session:{signed_in.staff_session.id}",
            )

    async def _act(self, message: CommandMessage) -> None:
        assert self.pid is not None
        await self.context.live.act(self.lesson_id, to_command(message, self.pid))

    async def _media(
        self, message: PublishMessage | UnpublishMessage | WatchAnswerMessage | TrickleMessage
    ) -> None:
        """Relay to the media layer. A refusal is answered on this connection only: it changes
        nothing, and the media layer has already logged it."""
        assert self.pid is not None
        media = self.context.media
        about: str = "watch"
        if isinstance(message, PublishMessage | UnpublishMessage):
            about = message.purpose
        elif isinstance(message, TrickleMessage):
            about = message.target
        if media is None:
            await self._media_refused(message.type, about, "media_off", MEDIA_OFF)
            return
        try:
            if isinstance(message, PublishMessage):
                purpose = Purpose(message.purpose)
                answer = await media.publish(self.lesson_id, self.pid, purpose, message.sdp)
                self.deliver({"type": "publish_answer", "purpose": purpose.value, "sdp": answer})
            elif isinstance(message, UnpublishMessage):
                await media.unpublish(self.lesson_id, self.pid, Purpose(message.purpose))
            elif isinstance(message, WatchAnswerMessage):
                await media.watch_answer(self.lesson_id, self.pid, message.sdp)
            else:
                target = TrickleTarget(message.target)
                await media.trickle(self.lesson_id, self.pid, target, dict(message.candidate))
        except SdpRefusedError as refused:
            await self._media_refused(message.type, about, refused.reason.value, str(refused))
        except MediaRefusedError as refused:
            await self._media_refused(message.type, about, refused.reason, refused.message)

    async def _media_refused(self, request: str, about: str, reason: str, message: str) -> None:
        log.warning(
            "lesson %d: refused %s (%s) for %s: %s",
            self.lesson_id,
            request,
            about,
            self.pid,
            reason,
        )
        if request == "publish" and reason not in ("media_off", "media_down"):
            # What a client tried to send and may not is part of the lesson's record.
            assert self.pid is not None
            note = NoteMediaRefusal(
                actor=self.pid, request=f"publish {about}", reason=reason, message=message
            )
            await self.context.live.act(self.lesson_id, note)
        self.deliver(
            {
                "type": "media_refused",
                "request": request,
                "about": about,
                "reason": reason,
                "message": message,
            }
        )


@router.websocket("/lessons/{lesson_id}/live")
async def lesson_socket(websocket: WebSocket, lesson_id: int) -> None:
    context = web_context(websocket)
    # A browser always says which site opened a WebSocket: another site's page must not be able
    # to use a teacher's signed-in session.
    if not is_same_origin(websocket.headers, require_https=context.config.secure_cookies):
        await websocket.close(code=1008, reason="Not from this site.")
        return
    await websocket.accept()
    await LessonConnection(websocket, context, lesson_id).run()
