"""A practice room for real: a SafeClass server under uvicorn with a real Janus, a teacher opening
the room from its page, and the server's own simulated pupils (aiortc clients joining through the
lesson's WebSocket) knocking, being let in, sending pictures and sound, being muted at the media
server and removed. The teacher is an aiortc participant too, counting every packet it is sent
(safeclass.media.simulated), as in tests/media/test_relay.py."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.live import LiveLessons
from safeclass.actions.practice import finish_practice_room
from safeclass.config import Config
from safeclass.media.janus_process import JanusProcess
from safeclass.media.practice_pupils import Behaviour, PracticeRooms
from safeclass.media.server import MediaServer
from safeclass.media.simulated import SimulatedParticipant
from safeclass.store.models import Lesson
from safeclass.web.app import create_app
from tests.media.helpers import janus_options
from tests.web.conftest import OAK_TEACHER, World, config, world  # noqa: F401 (fixtures)
from tests.web.helpers import PASSWORD, csrf_token, form_values

pytestmark = pytest.mark.media

WAIT = 20.0
FLOWING = 3.0
# Quick pupils that do nothing by themselves except the one flagged message, and, once allowed
# to speak, keep talking (so that only the mute can silence them).
QUICK = Behaviour(knock_gap=0.2, chatty=False, flagged_after=1.0, speak_for=600.0)


class Practice:
    def __init__(self, server: uvicorn.Server, rooms: PracticeRooms, factory: Any) -> None:
        self.server = server
        self.rooms = rooms
        self.factory = factory
        self.cookie = ""
        self.lesson_id = 0

    @property
    def origin(self) -> str:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def open_room(self, world: World, pupils: int) -> None:  # noqa: F811
        async with httpx.AsyncClient(base_url=self.origin) as http:
            page = await http.get("/signin")
            signed_in = await http.post(
                "/signin",
                data={
                    "email": OAK_TEACHER,
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
) -> AsyncIterator[Practice]:
    media = MediaServer(JanusProcess(janus_options(tmp_path / "janus"), restart_delays=(0.05,)))
    live = LiveLessons(factory, resume_key=b"r" * 32)
    rooms = PracticeRooms(
        live,
        media=True,
        on_over=functools.partial(finish_practice_room, factory, live),
        behaviour=QUICK,
    )
    app = create_app(
        config, session_factory=factory, live=live, media_server=media, practice_rooms=rooms
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT):
            while not server.started:
                assert not serving.done(), "the server stopped while starting"
                await asyncio.sleep(0.02)
        yield Practice(server, rooms, factory)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, WAIT)


async def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def in_room(view: dict[str, Any], pid: str) -> dict[str, Any] | None:
    return next((p for p in view.get("in_room", []) if p["pid"] == pid), None)


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
