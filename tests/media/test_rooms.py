"""One Janus room per live lesson, kept by SafeClass, against a real Janus
(safeclass.media.rooms and safeclass.media.server)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from safeclass.actions.live import LiveLesson
from safeclass.domain.lesson.commands import EndLesson
from safeclass.domain.lesson.model import Phase
from safeclass.media.janus_client import (
    JanusClient,
    JanusConnectionError,
    JanusHandle,
    JanusPluginError,
    VideoRoomCode,
)
from safeclass.media.janus_process import JanusProcess
from safeclass.media.rooms import LessonRooms, new_token
from safeclass.media.server import MediaReady, MediaServer
from tests.domain.test_lesson_engine import class_in_session
from tests.media.helpers import janus_options


@asynccontextmanager
async def media_server(tmp_path: Path) -> AsyncIterator[MediaServer]:
    media = MediaServer(JanusProcess(janus_options(tmp_path / "janus"), restart_delays=(0.05,)))
    await media.start()
    try:
        yield media
    finally:
        await media.stop()


@asynccontextmanager
async def participant(media: MediaServer) -> AsyncIterator[JanusHandle]:
    """A handle of its own, as the signalling relay would hold for one participant."""
    endpoint = media.process.endpoint
    assert endpoint is not None
    client = await JanusClient.connect(endpoint.api_url, api_secret=endpoint.secrets.api_secret)
    try:
        session = await client.create_session()
        yield await session.attach()
    finally:
        await client.close()


def run(tmp_path: Path, scenario: Callable[[MediaServer], Awaitable[None]]) -> None:
    async def main() -> None:
        async with media_server(tmp_path) as media:
            await scenario(media)

    asyncio.run(main())


async def janus_rooms(media: MediaServer) -> dict[int, dict[str, Any]]:
    """The rooms Janus has, as its admin-key `list` shows them."""
    endpoint = media.process.endpoint
    assert endpoint is not None
    async with participant(media) as handle:
        reply = await handle.send({"request": "list", "admin_key": endpoint.secrets.admin_key})
    return {entry["room"]: entry for entry in reply.data["list"]}


async def join_as_publisher(handle: JanusHandle, room: int, **credentials: str) -> dict[str, Any]:
    reply = await handle.send(
        {"request": "join", "ptype": "publisher", "room": room, "display": "p", **credentials}
    )
    return dict(reply.data)


async def refusal(call: Awaitable[object]) -> int:
    with pytest.raises(JanusPluginError) as refused:
        await call
    return refused.value.code


@pytest.mark.media
def test_a_lesson_room_is_private_with_pin_tokens_and_codecs(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        room = await media.rooms.open(12)
        assert await media.rooms.open(12) is room  # idempotent

        listed = (await janus_rooms(media))[room.room_id]
        assert listed["is_private"] is True
        assert listed["pin_required"] is True
        assert listed["require_pvtid"] is True
        assert listed["audiocodec"] == "opus"
        assert listed["videocodec"] == "vp8"
        assert listed["max_publishers"] == 48
        # Private: without the admin key, Janus lists nothing.
        async with participant(media) as handle:
            assert (await handle.send({"request": "list"})).data["list"] == []
        assert "pin" not in repr(room)
        assert room.pin not in repr(room)

    run(tmp_path, scenario)


@pytest.mark.media
def test_rooms_cannot_be_created_without_the_admin_key(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        async with participant(media) as handle:
            create = {"request": "create", "room": 99, "secret": "s", "pin": "p"}
            assert await refusal(handle.send(create)) == VideoRoomCode.MISSING_ELEMENT
            assert (
                await refusal(handle.send({**create, "admin_key": "a guess"}))
                == VideoRoomCode.UNAUTHORIZED
            )
        assert 99 not in await janus_rooms(media)

    run(tmp_path, scenario)


@pytest.mark.media
def test_only_a_let_in_token_with_the_pin_joins_as_publisher(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        room = await media.rooms.open(3)
        pupil, stranger = new_token(), new_token()
        await media.rooms.allow(3, pupil)

        async with participant(media) as handle:
            rid = room.room_id
            assert await refusal(join_as_publisher(handle, rid, token=pupil)) == 429  # no pin
            wrong_pin = join_as_publisher(handle, rid, pin="0000", token=pupil)
            assert await refusal(wrong_pin) == VideoRoomCode.UNAUTHORIZED
            no_token = join_as_publisher(handle, rid, pin=room.pin)
            assert await refusal(no_token) in {
                VideoRoomCode.MISSING_ELEMENT,
                VideoRoomCode.UNAUTHORIZED,
            }
            strangers = join_as_publisher(handle, rid, pin=room.pin, token=stranger)
            assert await refusal(strangers) == VideoRoomCode.UNAUTHORIZED

            joined = await join_as_publisher(handle, rid, pin=room.pin, token=pupil)
            assert joined["videoroom"] == "joined"
            assert joined["private_id"] > 0
            listed = await media.rooms.participants(3)
            assert [p.feed_id for p in listed] == [joined["id"]]
            assert listed[0].publisher is False  # joined, not publishing yet

        # A token taken back no longer gets in.
        await media.rooms.disallow(3, pupil)
        async with participant(media) as handle:
            again = join_as_publisher(handle, room.room_id, pin=room.pin, token=pupil)
            assert await refusal(again) == VideoRoomCode.UNAUTHORIZED

    run(tmp_path, scenario)


@pytest.mark.media
def test_kick_puts_a_participant_out_and_moderate_names_unknown_feeds(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        room = await media.rooms.open(5)
        token = new_token()
        await media.rooms.allow(5, token)
        async with participant(media) as handle:
            joined = await join_as_publisher(handle, room.room_id, pin=room.pin, token=token)
            told = asyncio.ensure_future(
                handle.wait_for_event(lambda event: event.data.get("reason") == "kicked", timeout=5)
            )
            await asyncio.sleep(0)
            await media.rooms.kick(5, joined["id"])
            assert (await told).data["leaving"] == "ok"
            assert await media.rooms.participants(5) == []
            assert (
                await refusal(media.rooms.moderate(5, joined["id"], "0", muted=True))
                == VideoRoomCode.NO_SUCH_FEED
            )

    run(tmp_path, scenario)


@pytest.mark.media
def test_closing_a_lesson_destroys_its_room_and_tells_those_in_it(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        room = await media.rooms.open(6)
        token = new_token()
        await media.rooms.allow(6, token)
        async with participant(media) as handle:
            await join_as_publisher(handle, room.room_id, pin=room.pin, token=token)
            told = asyncio.ensure_future(
                handle.wait_for_event(lambda event: event.videoroom == "destroyed", timeout=5)
            )
            await asyncio.sleep(0)
            await media.rooms.close(6)
            await told
        await media.rooms.close(6)  # idempotent

        assert media.rooms.room(6) is None
        assert room.room_id not in await janus_rooms(media)
        with pytest.raises(KeyError):
            await media.rooms.allow(6, new_token())

    run(tmp_path, scenario)


@pytest.mark.media
def test_reconcile_destroys_rooms_nobody_wants_and_makes_missing_ones(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        endpoint = media.process.endpoint
        assert endpoint is not None
        await media.rooms.open(1)
        await media.rooms.open(2)
        token = new_token()
        await media.rooms.allow(2, token)
        async with participant(media) as handle:
            # A room SafeClass no longer wants (its lesson forgotten), made in this Janus.
            await handle.send(
                {
                    "request": "create",
                    "room": 77,
                    "admin_key": endpoint.secrets.admin_key,
                    "secret": endpoint.secrets.room_secret(77),
                }
            )
            # Room 1 lost behind SafeClass's back; room 2 given a token SafeClass never gave.
            await handle.send(
                {"request": "destroy", "room": 1, "secret": endpoint.secrets.room_secret(1)}
            )
            await handle.send(
                {
                    "request": "allowed",
                    "room": 2,
                    "secret": endpoint.secrets.room_secret(2),
                    "action": "add",
                    "allowed": ["smuggled"],
                }
            )

        report = await media.rooms.reconcile()

        assert report.destroyed == (77,)
        assert report.created == (1,)
        assert report.kept == (2,)
        assert sorted(await janus_rooms(media)) == [1, 2]
        room = media.rooms.room(2)
        assert room is not None
        async with participant(media) as handle:
            smuggled = join_as_publisher(handle, 2, pin=room.pin, token="smuggled")
            assert await refusal(smuggled) == VideoRoomCode.UNAUTHORIZED
            assert (await join_as_publisher(handle, 2, pin=room.pin, token=token))["id"] > 0

    run(tmp_path, scenario)


@pytest.mark.media
def test_after_janus_dies_its_rooms_are_made_again_and_listeners_told(tmp_path: Path) -> None:
    async def scenario(media: MediaServer) -> None:
        first = media.process.endpoint
        assert first is not None
        ready: asyncio.Queue[MediaReady] = asyncio.Queue()

        async def on_ready(event: MediaReady) -> None:
            await ready.put(event)

        media.add_ready_listener(on_ready)
        await media.rooms.open(10)
        await media.rooms.open(11)
        token = new_token()
        await media.rooms.allow(11, token)

        os.kill(first.pid, signal.SIGKILL)
        await asyncio.sleep(0.01)
        # While Janus is away: a lesson ends, another begins; only the register changes.
        await media.rooms.close(10)
        await media.rooms.open(12)
        back = await asyncio.wait_for(ready.get(), 30)

        assert back.janus_restarted
        assert back.endpoint.pid != first.pid
        assert media.available
        assert back.rooms.created == (11, 12)
        assert sorted(await janus_rooms(media)) == [11, 12]
        room = media.rooms.room(11)
        assert room is not None
        async with participant(media) as handle:
            joined = await join_as_publisher(handle, 11, pin=room.pin, token=token)
            assert joined["videoroom"] == "joined"

    run(tmp_path, scenario)


def test_without_janus_moderation_fails_and_the_register_still_follows_lessons() -> None:
    async def scenario() -> None:
        rooms = LessonRooms()
        room = await rooms.open(8)
        await rooms.allow(8, "token")
        assert room.allowed == {"token"}
        with pytest.raises(JanusConnectionError):
            await rooms.kick(8, 1)
        with pytest.raises(JanusConnectionError):
            await rooms.reconcile()
        await rooms.close(8)
        assert rooms.lesson_ids() == frozenset()

    asyncio.run(scenario())


@pytest.mark.media
def test_a_live_lesson_has_a_room_until_it_ends(tmp_path: Path) -> None:
    lesson = class_in_session()

    async def scenario(media: MediaServer) -> None:
        live = LiveLesson(lesson_id=21, state=lesson.state)
        await media.on_lesson_events(live, [])
        assert media.rooms.lesson_ids() == {21}
        assert 21 in await janus_rooms(media)

        ended = lesson.do(EndLesson(actor="host"))
        live.state = lesson.state
        assert live.state.phase is Phase.ENDED
        await media.on_lesson_events(live, ended)

        assert media.rooms.lesson_ids() == frozenset()
        assert 21 not in await janus_rooms(media)

    run(tmp_path, scenario)
