"""Media as the policy says, proved at the level of packets: a real SafeClass server (uvicorn, the
real database and lesson engine), a real Janus, and aiortc participants that join through the
lesson's WebSocket exactly as a browser does (safeclass.media.relay, safeclass.media.simulated)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from safeclass.actions.live import LiveLessons
from safeclass.media.janus_process import JanusProcess
from safeclass.media.server import MediaServer
from safeclass.media.simulated import MediaRefused, PatternTrack, SimulatedParticipant
from safeclass.web.app import create_app
from tests.media.helpers import janus_options
from tests.web.conftest import OAK_TEACHER, config, world  # noqa: F401 (fixtures)
from tests.web.helpers import PASSWORD, csrf_token
from tests.web.test_lesson_server import Classroom, classroom  # noqa: F401 (fixture)

pytestmark = pytest.mark.media

WAIT = 15.0
FLOWING = 3.0  # seconds of media to look at


class Lesson:
    """The classroom's lesson served for real, with a real Janus behind it."""

    def __init__(self, room: Classroom, media: MediaServer, server: uvicorn.Server) -> None:
        self.room = room
        self.media = media
        self.server = server
        self.cookie = ""

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def participant(self, name: str, *, staff: bool = False) -> SimulatedParticipant:
        return SimulatedParticipant(
            url=f"ws://127.0.0.1:{self.port}/lessons/{self.room.lesson_id}/live",
            origin=self.origin,
            name=name,
            cookie=self.cookie if staff else None,
        )

    async def sign_in(self) -> None:
        async with httpx.AsyncClient(base_url=self.origin) as http:
            page = await http.get("/signin")
            response = await http.post(
                "/signin",
                data={
                    "email": OAK_TEACHER,
                    "password": PASSWORD,
                    "csrf_token": csrf_token(page.text, "/signin"),
                },
                headers={"origin": self.origin},
            )
            assert response.status_code == 303
            self.cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())


@asynccontextmanager
async def served(
    room: Classroom, tmp_path: Path, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Lesson]:
    """The lesson served; its clock stands at `room.now` unless another `clock` is given."""
    media = MediaServer(JanusProcess(janus_options(tmp_path / "janus"), restart_delays=(0.05,)))
    live = LiveLessons(
        room.session_factory, resume_key=b"r" * 32, clock=clock or (lambda: room.now)
    )
    app = create_app(
        room.config,
        session_factory=room.session_factory,
        live=live,
        join_tokens=room.tokens,
        media_server=media,
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
        lesson = Lesson(room, media, server)
        await lesson.sign_in()
        yield lesson
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, WAIT)


def run(
    room: Classroom,
    tmp_path: Path,
    scenario: Callable[[Lesson, AsyncExitStack], Awaitable[None]],
    clock: Callable[[], datetime] | None = None,
) -> None:
    async def main() -> None:
        async with served(room, tmp_path, clock) as lesson, AsyncExitStack() as people:
            await scenario(lesson, people)

    asyncio.run(main())


def admitted(view: dict[str, Any]) -> bool:
    return bool(view) and view["you"]["presence"] == "admitted"


async def teacher_in(lesson: Lesson, people: AsyncExitStack) -> SimulatedParticipant:
    teacher = await people.enter_async_context(lesson.participant("Ms Teacher", staff=True))
    assert (await teacher.join())["type"] == "welcome"
    await teacher.send({"type": "set_mic", "on": True})
    await teacher.send({"type": "set_camera", "on": True})
    await teacher.publish_camera()
    return teacher


async def pupil_in(
    lesson: Lesson, people: AsyncExitStack, teacher: SimulatedParticipant, name: str
) -> SimulatedParticipant:
    pupil = await people.enter_async_context(lesson.participant(name))
    welcome = await pupil.join(token=f"link-{name}", reminder_accepted=True)
    assert welcome["type"] == "welcome", welcome
    await teacher.send({"type": "admit", "target": pupil.pid})
    await pupil.view_until(admitted)
    await pupil.send({"type": "set_camera", "on": True})
    await pupil.publish_camera()
    return pupil


async def flowing(seconds: float = FLOWING) -> float:
    """Let media flow for a while; returns when it started."""
    started = time.monotonic()
    await asyncio.sleep(seconds)
    return started


async def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def test_teacher_and_three_pupils_media_flows_as_the_policy_says(
    classroom: Classroom,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def scenario(lesson: Lesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        pupils = [await pupil_in(lesson, people, teacher, name) for name in ("Amy", "Ben", "Dev")]
        host = teacher.pid
        assert host is not None
        for pupil in pupils:
            await until(lambda pupil=pupil: pupil.packets_from(host, "video") > 10)
            await until(lambda pupil=pupil: pupil.packets_from(host, "audio") > 10)
        for pupil in pupils:
            assert pupil.pid is not None
            await until(lambda pupil=pupil: teacher.packets_from(pupil.pid, "video") > 10)

        since = await flowing()
        for pupil in pupils:
            # By default pupils' video is for staff only: no subscription to it at all.
            others = {p.pid for p in pupils} - {pupil.pid}
            assert not any(
                source in others and kind == "video" for source, kind in pupil.streams.values()
            )
            assert sum(pupil.packets_from(other, "video", since) for other in others) == 0
            # Pupils' microphones are off until a teacher lets them speak: nothing forwarded.
            assert sum(pupil.packets_from(other, "audio", since) for other in others) == 0
            assert teacher.packets_from(pupil.pid or "", "audio", since) == 0

    run(classroom, tmp_path, scenario)


def test_a_staff_mute_stops_the_stream_at_the_sfu_and_a_modified_client_gets_nothing_through(
    classroom: Classroom,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def scenario(lesson: Lesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        amy = await pupil_in(lesson, people, teacher, "Amy")
        ben = await pupil_in(lesson, people, teacher, "Ben")
        assert amy.pid is not None
        await teacher.send({"type": "allow_mic", "target": amy.pid})
        await amy.send({"type": "set_mic", "on": True})
        await until(lambda: teacher.packets_from(amy.pid or "", "audio") > 10)
        await until(lambda: ben.packets_from(amy.pid or "", "audio") > 10)

        await teacher.send({"type": "mute", "target": amy.pid})
        await teacher.view_until(
            lambda v: any(p["pid"] == amy.pid and not p["mic_on"] for p in v["in_room"])
        )
        muted_at = time.monotonic()
        # A modified client ignores the mute and publishes again: still nothing forwarded.
        await amy.send({"type": "set_mic", "on": True})
        await amy.publish_camera()
        await flowing()
        assert teacher.packets_from(amy.pid, "audio", muted_at) == 0
        assert ben.packets_from(amy.pid, "audio", muted_at) == 0

    run(classroom, tmp_path, scenario)


def test_a_pupil_cannot_publish_two_cameras_or_share_a_screen_without_a_grant(
    classroom: Classroom,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def scenario(lesson: Lesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        amy = await pupil_in(lesson, people, teacher, "Amy")
        await pupil_in(lesson, people, teacher, "Ben")  # one pupil alone with a teacher is held
        await until(lambda: teacher.packets_from(amy.pid or "", "video") > 10)

        with pytest.raises(MediaRefused) as two_cameras:
            await amy.publish_raw("camera", [PatternTrack("one"), PatternTrack("two")])
        assert two_cameras.value.reason == "second_video"
        with pytest.raises(MediaRefused) as screen:
            await amy.publish_screen()
        assert screen.value.reason == "no_grant"
        since = await flowing(1.5)
        assert teacher.packets_from(amy.pid or "", "screen", since) == 0
        # Her one camera still reaches the teacher: the refusals changed nothing.
        assert teacher.packets_from(amy.pid or "", "video", since) > 0

    run(classroom, tmp_path, scenario)


def test_when_the_last_teacher_leaves_pupils_media_stops_and_resumes_when_staff_return(
    classroom: Classroom,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def scenario(lesson: Lesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        amy = await pupil_in(lesson, people, teacher, "Amy")
        ben = await pupil_in(lesson, people, teacher, "Ben")
        await teacher.send({"type": "allow_mic", "target": amy.pid})
        await amy.send({"type": "set_mic", "on": True})
        await until(lambda: ben.packets_from(amy.pid or "", "audio") > 10)

        await teacher.close()
        gone = time.monotonic()
        await ben.view_until(lambda v: v["lesson"]["hold"] is not None)
        await flowing(2.5)
        late = [p for p in ben.packets if p.source == amy.pid and p.at > gone + 2.0]
        assert late == []

        back = await people.enter_async_context(lesson.participant("Ms Teacher", staff=True))
        assert (await back.join())["type"] == "welcome"
        await ben.view_until(lambda v: v["lesson"]["hold"] is None)
        await back.send({"type": "set_camera", "on": True})
        await back.publish_camera()
        await until(lambda: ben.packets_from(back.pid or "", "video") > 10)

    run(classroom, tmp_path, scenario)


def test_janus_killed_mid_lesson_is_restarted_and_everyone_reconnected_with_the_same_places(
    classroom: Classroom,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def scenario(lesson: Lesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        amy = await pupil_in(lesson, people, teacher, "Amy")
        ben = await pupil_in(lesson, people, teacher, "Ben")
        await until(lambda: ben.packets_from(teacher.pid or "", "video") > 10)
        await until(lambda: teacher.packets_from(amy.pid or "", "video") > 10)
        admissions = classroom.log().count("admitted")
        endpoint = lesson.media.process.endpoint
        assert endpoint is not None

        os.kill(endpoint.pid, signal.SIGKILL)
        killed = time.monotonic()
        await teacher.wait_for(lambda m: m["type"] == "media_reset")
        await until(lambda: ben.packets_from(teacher.pid or "", "video", killed) > 10)
        await until(lambda: teacher.packets_from(amy.pid or "", "video", killed) > 10)

        new_endpoint = lesson.media.process.endpoint
        assert new_endpoint is not None
        assert new_endpoint.pid != endpoint.pid
        # Nobody was put back in the waiting room or let in again: their places stood.
        assert classroom.log().count("admitted") == admissions
        for pupil in (amy, ben):
            assert pupil.view["you"]["presence"] == "admitted"
        # Pupils still receive no other pupil's camera.
        assert ben.packets_from(amy.pid or "", "video", killed) == 0

    run(classroom, tmp_path, scenario)


def test_a_granted_screen_share_reaches_the_class_and_stops_when_the_grant_is_revoked(
    classroom: Classroom,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def scenario(lesson: Lesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        amy = await pupil_in(lesson, people, teacher, "Amy")
        ben = await pupil_in(lesson, people, teacher, "Ben")
        await teacher.send({"type": "grant_share", "target": amy.pid})
        await amy.view_until(lambda v: v["media"]["publish"]["screen"] or v["you"]["share_granted"])
        await amy.send({"type": "start_share"})
        await amy.view_until(lambda v: v["media"]["publish"]["screen"])
        await amy.publish_screen()
        await until(lambda: teacher.packets_from(amy.pid or "", "screen") > 10)
        await until(lambda: ben.packets_from(amy.pid or "", "screen") > 10)

        await teacher.send({"type": "revoke_share", "target": amy.pid})
        await teacher.view_until(
            lambda v: any(p["pid"] == amy.pid and not p["sharing"] for p in v["in_room"])
        )
        revoked = time.monotonic()
        await flowing(2.0)
        assert teacher.packets_from(amy.pid or "", "screen", revoked) == 0
        assert ben.packets_from(amy.pid or "", "screen", revoked) == 0

    run(classroom, tmp_path, scenario)
