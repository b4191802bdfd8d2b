"""One Janus VideoRoom room per live lesson, kept by SafeClass.

A lesson's room is private (`is_private`), has a secret (needed to moderate, kick, change the
token list or destroy it), a random pin (needed to join), `require_pvtid` (a subscriber must show
the private id of a publisher who joined, since Janus checks tokens on publishers only), Opus and
VP8, a publishers limit, and an `allowed` list of tokens that SafeClass alone adds and removes:
one random token per participant it lets in. Only requests carrying the VideoRoom admin key may
create rooms.

`LessonRooms` is the register of the rooms SafeClass wants; Janus's rooms follow it. Rooms live in
Janus's memory and outlive the sessions that made them, so `reconcile()` (at start-up, and after
Janus restarts or the connection comes back) lists Janus's rooms, destroys those SafeClass does not
want, creates the missing ones and brings each token list back in line.

Room secrets are derived from the secrets of the running Janus (`JanusSecrets.room_secret`), so
any room in it can be destroyed, even one whose lesson is forgotten. Nothing in this module is
meant for browsers: pins, tokens and secrets stay on the server.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from safeclass.media.janus_client import (
    JanusConnectionError,
    JanusHandle,
    JanusPluginError,
    JanusProtocolError,
    VideoRoomCode,
)
from safeclass.media.janus_config import JanusSecrets

log = logging.getLogger(__name__)

# A class of thirty with its staff, each with a camera publication, and screen shares besides.
DEFAULT_PUBLISHERS = 48


@dataclass(slots=True)
class LessonRoom:
    """The room of one lesson: what a participant's handle needs to join it."""

    lesson_id: int
    room_id: int
    pin: str = field(repr=False)
    allowed: set[str] = field(default_factory=set, repr=False)


@dataclass(frozen=True, slots=True)
class RoomParticipant:
    feed_id: int
    display: str
    publisher: bool


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Room numbers: made again, found and kept, destroyed as unwanted."""

    created: tuple[int, ...]
    kept: tuple[int, ...]
    destroyed: tuple[int, ...]


def room_id_for(lesson_id: int) -> int:
    """A lesson's room number in Janus. Never shown to anyone: only the server talks to Janus."""
    return lesson_id


def new_token() -> str:
    """A random token for one participant's place in a room's `allowed` list."""
    return secrets.token_urlsafe(24)


class LessonRooms:
    """The rooms of the live lessons, through one control handle on the VideoRoom plugin.

    While no handle is bound (Janus down or restarting), opening, closing, allowing and
    disallowing change the register only, and the next `reconcile()` makes Janus follow it;
    moderation, kicks and participant lists need Janus and raise `JanusConnectionError`."""

    def __init__(self, *, publishers: int = DEFAULT_PUBLISHERS) -> None:
        self._publishers = publishers
        self._rooms: dict[int, LessonRoom] = {}
        self._handle: JanusHandle | None = None
        self._secrets: JanusSecrets | None = None
        self._lock = asyncio.Lock()

    # --- Binding to a running Janus -------------------------------------------------------------

    def bind(self, handle: JanusHandle, secrets: JanusSecrets) -> None:
        """Use `handle` (attached to the VideoRoom of the Janus started with `secrets`). Call
        `reconcile()` next."""
        self._handle = handle
        self._secrets = secrets

    def unbind(self) -> None:
        self._handle = None
        self._secrets = None

    @property
    def bound(self) -> bool:
        return self._handle is not None

    def _janus(self) -> tuple[JanusHandle, JanusSecrets]:
        if self._handle is None or self._secrets is None:
            raise JanusConnectionError("The media server is not available.")
        return self._handle, self._secrets

    # --- The register ---------------------------------------------------------------------------

    def room(self, lesson_id: int) -> LessonRoom | None:
        return self._rooms.get(lesson_id)

    def lesson_ids(self) -> frozenset[int]:
        return frozenset(self._rooms)

    async def open(self, lesson_id: int) -> LessonRoom:
        """The lesson's room, created if it has none. Idempotent."""
        async with self._lock:
            room = self._rooms.get(lesson_id)
            if room is not None:
                return room
            room = LessonRoom(lesson_id, room_id_for(lesson_id), pin=secrets.token_urlsafe(16))
            self._rooms[lesson_id] = room
            if self._handle is None:
                return room  # made in Janus by the next reconcile
            try:
                await self._create(room)
            except JanusPluginError:
                del self._rooms[lesson_id]
                raise
            log.info("opened the media room of lesson %d", lesson_id)
            return room

    async def close(self, lesson_id: int) -> None:
        """Destroy the lesson's room (Janus hangs up its publishers). Idempotent."""
        async with self._lock:
            room = self._rooms.pop(lesson_id, None)
            if room is None or self._handle is None:
                return  # a room left in Janus is destroyed by the next reconcile
            await self._destroy(room.room_id)
            log.info("closed the media room of lesson %d", lesson_id)

    async def allow(self, lesson_id: int, token: str) -> None:
        """Let the holder of `token` join the lesson's room as a publisher."""
        async with self._lock:
            room = self._existing(lesson_id)
            if self._handle is not None:
                await self._change_allowed(room, "add", [token])
            room.allowed.add(token)

    async def disallow(self, lesson_id: int, token: str) -> None:
        """Take `token` off the room's list: it can no longer join. (Someone already in is not
        removed by this: kick them.)"""
        async with self._lock:
            room = self._existing(lesson_id)
            room.allowed.discard(token)  # first: a reconcile must never put it back
            if self._handle is not None:
                await self._change_allowed(room, "remove", [token])

    def _existing(self, lesson_id: int) -> LessonRoom:
        room = self._rooms.get(lesson_id)
        if room is None:
            raise KeyError(f"Lesson {lesson_id} has no media room.")
        return room

    # --- Moderation -----------------------------------------------------------------------------

    async def moderate(self, lesson_id: int, feed_id: int, mid: str, *, muted: bool) -> None:
        """Stop (or resume) forwarding one stream of a publisher, at the SFU."""
        room = self._existing(lesson_id)
        handle, keys = self._janus()
        await handle.send(
            {
                "request": "moderate",
                "room": room.room_id,
                "secret": keys.room_secret(room.room_id),
                "id": feed_id,
                "mid": mid,
                "mute": muted,
            }
        )

    def secret(self, lesson_id: int) -> str:
        """The room's secret, for a request that must go on a participant's own handle (starting
        or stopping the recording of their publication: the room has `lock_record`)."""
        room = self._existing(lesson_id)
        _, keys = self._janus()
        return keys.room_secret(room.room_id)

    async def kick(self, lesson_id: int, feed_id: int) -> None:
        """Put a participant out of the room: Janus hangs up their publisher handle. (Their
        subscriber handles are left hanging by Janus: whoever holds them must hang them up.)"""
        room = self._existing(lesson_id)
        handle, keys = self._janus()
        await handle.send(
            {
                "request": "kick",
                "room": room.room_id,
                "secret": keys.room_secret(room.room_id),
                "id": feed_id,
            }
        )

    async def participants(self, lesson_id: int) -> list[RoomParticipant]:
        room = self._existing(lesson_id)
        handle, _ = self._janus()
        reply = await handle.send({"request": "listparticipants", "room": room.room_id})
        listed = reply.data.get("participants")
        if not isinstance(listed, list):
            raise JanusProtocolError("The VideoRoom answered 'listparticipants' without a list.")
        return [
            RoomParticipant(
                feed_id=int(entry["id"]),
                display=str(entry.get("display", "")),
                publisher=bool(entry.get("publisher", False)),
            )
            for entry in listed
            if isinstance(entry, dict)
        ]

    # --- Keeping Janus in line with the register ------------------------------------------------

    async def reconcile(self) -> ReconcileReport:
        """Make Janus's rooms those of the register: destroy the others, create the missing,
        and put each room's token list back as the register has it."""
        async with self._lock:
            handle, keys = self._janus()
            reply = await handle.send({"request": "list", "admin_key": keys.admin_key})
            listed = reply.data.get("list")
            if not isinstance(listed, list):
                raise JanusProtocolError("The VideoRoom answered 'list' without a list.")
            in_janus = {int(entry["room"]) for entry in listed if isinstance(entry, dict)}
            wanted = {room.room_id: room for room in self._rooms.values()}
            destroyed = []
            for room_id in sorted(in_janus - wanted.keys()):
                await self._destroy(room_id)
                destroyed.append(room_id)
            created, kept = [], []
            for room_id, room in sorted(wanted.items()):
                if room_id in in_janus:
                    await self._sync_allowed(room)
                    kept.append(room_id)
                else:
                    await self._create(room)
                    created.append(room_id)
        report = ReconcileReport(tuple(created), tuple(kept), tuple(destroyed))
        if created or destroyed:
            log.info(
                "media rooms reconciled: %d made again, %d kept, %d destroyed",
                len(created),
                len(kept),
                len(destroyed),
            )
        return report

    async def _create(self, room: LessonRoom) -> None:
        handle, keys = self._janus()
        body: dict[str, Any] = {
            "request": "create",
            "admin_key": keys.admin_key,
            "room": room.room_id,
            "description": f"lesson {room.lesson_id}",
            "secret": keys.room_secret(room.room_id),
            "pin": room.pin,
            "is_private": True,
            "permanent": False,
            "require_pvtid": True,
            # Present (even empty) turns the token check on: nobody joins unless let in.
            "allowed": sorted(room.allowed),
            "publishers": self._publishers,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": True,
            "record": False,
            "lock_record": True,
        }
        try:
            await handle.send(body)
        except JanusPluginError as error:
            if error.code != VideoRoomCode.ROOM_EXISTS:
                raise
            # Made meanwhile in this Janus, so with this Janus's admin key and derived secret:
            # bring it in line rather than fail.
            await self._sync_allowed(room)

    async def _destroy(self, room_id: int) -> None:
        handle, keys = self._janus()
        try:
            await handle.send(
                {
                    "request": "destroy",
                    "room": room_id,
                    "secret": keys.room_secret(room_id),
                    "permanent": False,
                }
            )
        except JanusPluginError as error:
            if error.code != VideoRoomCode.NO_SUCH_ROOM:
                raise

    async def _change_allowed(self, room: LessonRoom, action: str, tokens: list[str]) -> set[str]:
        """Janus's token list after the change."""
        handle, keys = self._janus()
        reply = await handle.send(
            {
                "request": "allowed",
                "room": room.room_id,
                "secret": keys.room_secret(room.room_id),
                "action": action,
                "allowed": tokens,
            }
        )
        listed = reply.data.get("allowed")
        if not isinstance(listed, list):
            raise JanusProtocolError("The VideoRoom answered 'allowed' without the list.")
        return {str(token) for token in listed}

    async def _sync_allowed(self, room: LessonRoom) -> None:
        handle, keys = self._janus()
        await handle.send(
            {
                "request": "allowed",
                "room": room.room_id,
                "secret": keys.room_secret(room.room_id),
                "action": "enable",
            }
        )
        in_janus = await self._change_allowed(room, "add", sorted(room.allowed))
        extra = sorted(in_janus - room.allowed)
        if extra:
            await self._change_allowed(room, "remove", extra)
