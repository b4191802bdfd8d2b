"""A practice room for real: a SafeClass server under uvicorn with a real Janus, a teacher opening
the room from its page, and the server's own simulated pupils (aiortc clients joining through the
lesson's WebSocket) knocking, being let in, sending pictures and sound, being muted at the media
server and removed. The teacher is an aiortc participant too, counting every packet it is sent
(safeclass.media.simulated), as in tests/media/test_relay.py."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiortc import RTCPeerConnection
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from safeclass.actions.live import LiveLessons
from safeclass.actions.practice import PRACTICE_DURATION, finish_practice_room
from safeclass.config import Config
from safeclass.domain.lesson.model import Presence, Role
from safeclass.media.janus_process import JanusProcess
from safeclass.media.practice_pupils import WATCH_EVERY, Behaviour, PracticePupilBot, PracticeRooms
from safeclass.media.server import MediaServer
from safeclass.media.simulated import SimulatedParticipant
from safeclass.store.models import AuditEntry, Lesson
from safeclass.timeutil import utc_now
from safeclass.web.app import create_app
from tests.media.helpers import janus_options
from tests.web.conftest import (  # noqa: F401 (fixtures)
    OAK_ASSISTANT,
    OAK_TEACHER,
    World,
    config,
    world,
)
from tests.web.helpers import PASSWORD, csrf_token, form_values

pytestmark = pytest.mark.media

WAIT = 20.0
FLOWING = 3.0
# Quick pupils that do nothing by themselves except the one flagged message, and, once allowed
# to speak, keep talking (so that only the mute can silence them).
QUICK = Behaviour(knock_gap=0.2, chatty=False, flagged_after=1.0, speak_for=600.0)


class MovableClock:
    """The time every part of the server reads: the real time, or later once moved on."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.ahead


class Practice:
    def __init__(
        self,
        server: uvicorn.Server,
        serving: asyncio.Task[None],
        live: LiveLessons,
        rooms: PracticeRooms,
        factory: Any,
    ) -> None:
        self.server = server
        self.serving = serving
        self.live = live
        self.rooms = rooms
        self.factory = factory
        self.cookie = ""
        self.lesson_id = 0

    @property
    def origin(self) -> str:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def open_room(
        self,
        world: World,  # noqa: F811
        pupils: int,
        email: str = OAK_TEACHER,
    ) -> None:
        async with httpx.AsyncClient(base_url=self.origin) as http:
            page = await http.get("/signin")
            signed_in = await http.post(
                "/signin",
                data={
                    "email": email,
                    "password": PASSWORD,
                    "csrf_token": csrf_token(page.text, "/signin"),
                },
                headers={"origin": self.origin},
            )
            assert signed_in.status_code == 303
            self.cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
            form = form_values((await http.get("/admin/practice")).text, "/admin/practice")
            assert form["school_id"] == str(world.oak_id)
            opened = await http.post(
                "/admin/practice",
                # The form's checkboxes left unticked: every pupil has "permission".
                data={
                    "csrf_token": form["csrf_token"],
                    "school_id": form["school_id"],
                    "pupils": str(pupils),
                },
                headers={"origin": self.origin},
            )
            assert opened.status_code == 303, opened.text
            self.lesson_id = int(opened.headers["location"].rsplit("/", 1)[1])

    def teacher(self) -> SimulatedParticipant:
        return SimulatedParticipant(
            url=self.origin.replace("http", "ws") + f"/lessons/{self.lesson_id}/live",
            origin=self.origin,
            name="Ms Teacher",
            cookie=self.cookie,
        )


@asynccontextmanager
async def served(
    config: Config,  # noqa: F811
    factory: sessionmaker[Session],
    tmp_path: Path,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[Practice]:
    media = MediaServer(JanusProcess(janus_options(tmp_path / "janus"), restart_delays=(0.05,)))
    live = LiveLessons(factory, resume_key=b"r" * 32, clock=clock)
    rooms = PracticeRooms(
        live,
        media=True,
        on_over=functools.partial(finish_practice_room, factory, live, clock=clock),
        behaviour=QUICK,
        clock=clock,
    )
    app = create_app(
        config, session_factory=factory, live=live, media_server=media, practice_rooms=rooms
    )
    app.state.safeclass.now = clock
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT):
            while not server.started:
                assert not serving.done(), "the server stopped while starting"
                await asyncio.sleep(0.02)
        yield Practice(server, serving, live, rooms, factory)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, WAIT)


async def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def in_room(view: dict[str, Any], pid: str) -> dict[str, Any] | None:
    return next((p for p in view.get("in_room", []) if p["pid"] == pid), None)


@dataclass(frozen=True)
class Opened:
    """What one simulated pupil has open, kept to see it closed later (closing forgets it)."""

    bot: PracticePupilBot
    socket: ClientConnection
    media: tuple[RTCPeerConnection, ...]

    @classmethod
    def of(cls, bot: PracticePupilBot) -> Opened:
        participant = bot.participant
        assert participant._socket is not None, f"{bot.name} has no connection"
        media = [publication.connection for publication in participant._publications.values()]
        if participant._watching is not None:
            media.append(participant._watching)
        return cls(bot, participant._socket, tuple(media))

    def all_closed(self) -> bool:
        return (
            self.bot.closed
            and self.socket.state is State.CLOSED
            and all(connection.connectionState == "closed" for connection in self.media)
        )


def practice_tasks() -> list[asyncio.Task[Any]]:
    """Simulated pupils, their rooms' watchers and stops (`media.practice_pupils` names them)."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("practice-") and not task.done()
    ]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]


def test_a_practice_room_responds_to_admit_mute_stop_camera_share_and_remove(
    config: Config,  # noqa: F811
    session_factory: sessionmaker[Session],
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with served(config, session_factory, tmp_path) as practice:
            await practice.open_room(world, pupils=3)
            with session_factory() as session:
                booked_end = session.get_one(Lesson, practice.lesson_id).ends_at
            async with practice.teacher() as teacher:
                assert (await teacher.join())["type"] == "welcome"
                await teacher.send({"type": "set_camera", "on": True})
                await teacher.publish_camera()

                # They knock and wait: nobody is in before staff let them in.
                view = await teacher.view_until(lambda v: len(v["waiting"]) == 3, WAIT)
                waiting = [p["pid"] for p in view["waiting"]]
                assert all(p["name"].endswith("(practice)") for p in view["waiting"])
                assert all(p["can_admit"] for p in view["waiting"])
                assert [p["role"] for p in view["in_room"]] == ["staff"]

                # Admit, one at a time.
                for pid in waiting:
                    await teacher.send({"type": "admit", "target": pid})
                    await teacher.view_until(lambda v, pid=pid: in_room(v, pid) is not None)
                first, second, third = waiting
                # Once in, each turns its camera on and its pictures reach the teacher.
                for pid in waiting:
                    await until(lambda pid=pid: teacher.packets_from(pid, "video") > 10)

                # Staff let the first speak; its sound arrives.
                await teacher.send({"type": "allow_mic", "target": first})
                await teacher.view_until(lambda v: (in_room(v, first) or {}).get("mic_on", False))
                await until(lambda: teacher.packets_from(first, "audio") > 10)

                # Mute: once the view says so, not one packet of its sound is forwarded.
                await teacher.send({"type": "mute", "target": first})
                await teacher.view_until(
                    lambda v: not (in_room(v, first) or {"mic_on": True})["mic_on"]
                )
                muted_at = time.monotonic()
                await asyncio.sleep(FLOWING)
                assert teacher.packets_from(first, "audio", muted_at) == 0
                # Its camera still goes on: only the microphone was muted.
                assert teacher.packets_from(first, "video", muted_at) > 0

                # Stop its camera: its pictures stop at the media server too.
                await teacher.send({"type": "stop_camera", "target": first})
                await teacher.view_until(
                    lambda v: not (in_room(v, first) or {"camera_on": True})["camera_on"]
                )
                stopped_at = time.monotonic()
                await asyncio.sleep(FLOWING)
                assert teacher.packets_from(first, "video", stopped_at) == 0

                # Grant a screen share: the pupil shares; take it back: nothing more of it.
                await teacher.send({"type": "grant_share", "target": third})
                await until(lambda: teacher.packets_from(third, "screen") > 10)
                await teacher.send({"type": "revoke_share", "target": third})
                await teacher.view_until(
                    lambda v: not (in_room(v, third) or {"sharing": True})["sharing"]
                )
                revoked_at = time.monotonic()
                await asyncio.sleep(FLOWING)
                assert teacher.packets_from(third, "screen", revoked_at) == 0

                # The chat check stops one pupil's message, once, and tells the teacher.
                alert = await teacher.wait_for(lambda m: m["type"] == "chat_alert", WAIT)
                assert alert["alert"]["blocked"] is True
                assert alert["alert"]["kinds"] == ["phone_number"]

                # Remove: out of the room and off the media server; its bot has gone.
                await teacher.send({"type": "remove", "target": second, "reason": "Practice"})
                await teacher.view_until(lambda v: in_room(v, second) is None)
                removed_at = time.monotonic()
                bots = {
                    bot.participant.pid: bot for bot in practice.rooms.pupils(practice.lesson_id)
                }
                await until(lambda: bots[second].closed)
                await asyncio.sleep(FLOWING)
                assert teacher.packets_from(second, None, removed_at + 0.5) == 0
                assert teacher.packets_from(third, "video", removed_at + 0.5) > 0

                # Ending the lesson stops the room's pupils and ends its booking.
                await teacher.send({"type": "end_lesson"})
                await until(lambda: not practice.rooms.running(practice.lesson_id))

                def booking_ended() -> bool:
                    with session_factory() as session:
                        return session.get_one(Lesson, practice.lesson_id).ends_at < booked_end

                await until(booking_ended)
                assert all(bot.closed for bot in bots.values())

    asyncio.run(main())


def test_when_a_practice_rooms_time_is_up_its_pupils_leave_and_no_more_come(
    config: Config,  # noqa: F811
    session_factory: sessionmaker[Session],
    world: World,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = MovableClock()

    async def main() -> None:
        async with served(config, session_factory, tmp_path, clock) as practice:
            await practice.open_room(world, pupils=3)
            lesson_id = practice.lesson_id
            async with practice.teacher() as teacher:
                assert (await teacher.join())["type"] == "welcome"
                view = await teacher.view_until(lambda v: len(v["waiting"]) == 3, WAIT)
                # Two let in, their pictures reaching the teacher; the third left knocking.
                let_in = [p["pid"] for p in view["waiting"][:2]]
                knocking = view["waiting"][2]["pid"]
                for pid in let_in:
                    await teacher.send({"type": "admit", "target": pid})
                await teacher.view_until(lambda v: all(in_room(v, pid) for pid in let_in))
                await until(lambda: all(teacher.packets_from(pid, "video") > 10 for pid in let_in))
                bots = practice.rooms.pupils(lesson_id)
                opened = [Opened.of(bot) for bot in bots]
                assert all(o.media for o in opened if o.bot.participant.pid in let_in)

                # The room's 60 minutes pass (and a minute more) for the whole server.
                clock.ahead = PRACTICE_DURATION + timedelta(minutes=1)
                await until(lambda: not practice.rooms.running(lesson_id))
                # The room's stop has finished (`on_over` included), its pupils' tasks with it.
                await until(lambda: practice_tasks() == [])
                # Every simulated pupil's connections close: the lesson's and the media ones.
                await until(lambda: all(o.all_closed() for o in opened))
                # The teacher sees nobody left, in the room or at the door.
                await teacher.view_until(
                    lambda v: v["waiting"] == [] and [p["role"] for p in v["in_room"]] == ["staff"]
                )
                gone_at = time.monotonic()
                # The lesson itself has them gone: out of it, and off its roster.
                live = await practice.live.lesson(lesson_id)
                pupils = [
                    p for p in live.state.participants.values() if p.person.role is Role.PUPIL
                ]
                assert sorted(p.pid for p in pupils) == sorted([*let_in, knocking])
                assert all(p.presence is Presence.LEFT for p in pupils), pupils
                assert not any(p.connected for p in pupils)
                assert dict(live.state.pupils) == {}
                assert not set(live.channels) & {p.pid for p in pupils}

                # No new ones: after a few of the supervisor's looks, nobody has knocked, nothing
                # of theirs arrives, and no simulated pupil's task is running.
                await asyncio.sleep(max(FLOWING, 2 * WATCH_EVERY))
                assert teacher.view["waiting"] == []
                assert [p["role"] for p in teacher.view["in_room"]] == ["staff"]
                for pid in let_in:
                    assert teacher.packets_from(pid, None, gone_at + 0.5) == 0
                assert practice.rooms.pupils(lesson_id) == []
                assert practice_tasks() == []

        stops = [
            r.getMessage() for r in caplog.records if "simulated pupils stop" in r.getMessage()
        ]
        assert stops == [
            f"practice room {lesson_id}: simulated pupils stop (the practice room's time is up)"
        ]
        assert errors_logged(caplog) == []

    asyncio.run(main())


def test_stopping_the_server_stops_every_practice_rooms_pupils(
    config: Config,  # noqa: F811
    session_factory: sessionmaker[Session],
    world: World,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    async def main() -> None:
        async with served(config, session_factory, tmp_path) as practice:
            # Two rooms: the assistant's, its pupils knocking with no one to let them in, and
            # the teacher's, two pupils let in and sending pictures (one alone with the teacher
            # would be held: no one-to-one), the third knocking.
            await practice.open_room(world, pupils=2, email=OAK_ASSISTANT)
            unattended = practice.lesson_id
            await practice.open_room(world, pupils=3)
            taught = practice.lesson_id
            async with practice.teacher() as teacher:
                assert (await teacher.join())["type"] == "welcome"
                view = await teacher.view_until(lambda v: len(v["waiting"]) == 3, WAIT)
                let_in = [p["pid"] for p in view["waiting"][:2]]
                for pid in let_in:
                    await teacher.send({"type": "admit", "target": pid})
                await until(lambda: all(teacher.packets_from(pid, "video") > 10 for pid in let_in))

                def everyone_knocked() -> bool:
                    bots = practice.rooms.pupils(unattended)
                    return all(bot.participant.view for bot in bots)

                await until(everyone_knocked)
                opened = [
                    Opened.of(bot)
                    for lesson_id in (unattended, taught)
                    for bot in practice.rooms.pupils(lesson_id)
                ]
                assert len(opened) == 5
                assert len(practice_tasks()) == 7  # five pupils, two rooms' watchers

                # The server stops (its lifespan ends) while both rooms run.
                practice.server.should_exit = True
                await asyncio.wait_for(practice.serving, WAIT)

                assert not practice.rooms.running(unattended)
                assert not practice.rooms.running(taught)
                for o in opened:
                    assert o.all_closed(), f"{o.bot.name} still has a connection open"
                assert practice_tasks() == []

        with session_factory() as session:
            for lesson_id in (unattended, taught):
                assert session.get_one(Lesson, lesson_id).ends_at <= utc_now()
            stopped = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "practice_room_stopped")
            ).all()
            assert sorted((e.data["lesson_id"], e.data["why"]) for e in stopped) == sorted(
                (lesson_id, "the server is shutting down") for lesson_id in (unattended, taught)
            )
        assert errors_logged(caplog) == []

    asyncio.run(main())
