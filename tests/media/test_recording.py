"""Recording with a real Janus: a lesson recorded while a teacher and two pupils send video and
sound holds the teacher's camera, sound and shared screen, and nothing of the pupils'."""

from __future__ import annotations

import asyncio
import zlib
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.domain.consent import ConsentScope
from safeclass.store.models import (
    Consent,
    Lesson,
    ParentLink,
    Pupil,
    Recording,
    RecordingState,
    School,
)
from safeclass.timeutil import utc_now
from tests.media.test_relay import Lesson as ServedLesson
from tests.media.test_relay import pupil_in, run, teacher_in, until
from tests.web.conftest import config, world  # noqa: F401 (fixtures)
from tests.web.test_lesson_server import Classroom, classroom  # noqa: F401 (fixture)

pytestmark = pytest.mark.media

RECORDED_SECONDS = 3.0


@pytest.fixture
def recording_classroom(
    classroom: Classroom,  # noqa: F811
    session_factory: sessionmaker[Session],
) -> Classroom:
    """The Kestrels lesson at a school that allows recording, where Amy's and Ben's parents said
    yes to recording. It is on now, by the clock Janus writes its files by: the lesson is served
    with the real clock (`utc_now`), so that a recording's start and its files' times agree, as
    they do on a real server."""
    with session_factory() as session:
        lesson = session.get_one(Lesson, classroom.lesson_id)
        lesson.starts_at = utc_now() - timedelta(minutes=5)
        lesson.ends_at = lesson.starts_at + timedelta(hours=1)
        school = session.get_one(School, lesson.school_id)
        school.policy_overrides = {**school.policy_overrides, "recording_allowed": True}
        for pupil in session.scalars(select(Pupil).where(Pupil.first_name.in_(["Amy", "Ben"]))):
            link = session.scalars(
                select(ParentLink).where(ParentLink.pupil_id == pupil.id)
            ).first()
            assert link is not None, pupil.first_name
            session.add(
                Consent(
                    pupil_id=pupil.id,
                    parent_id=link.parent_id,
                    scope=ConsentScope.RECORDING,
                    text_version="v1",
                    given_at=datetime(2024, 9, 2, tzinfo=UTC),
                )
            )
        session.commit()
    return classroom


async def made_by_the_server(lesson: ServedLesson) -> Recording:
    """The lesson's first recording, once the server has made its file."""

    def read() -> Recording | None:
        with lesson.room.session_factory() as session:
            return session.scalars(
                select(Recording).where(
                    Recording.lesson_id == lesson.room.lesson_id, Recording.number == 1
                )
            ).one_or_none()

    async with asyncio.timeout(60):
        while True:
            recording = await asyncio.to_thread(read)
            assert recording is None or recording.state is not RecordingState.FAILED, (
                recording.failure
            )
            if recording is not None and recording.state is RecordingState.READY:
                return recording
            await asyncio.sleep(0.2)


def colour_of(name: str) -> tuple[int, int]:
    """The blue- and red-difference of the colour `PatternTrack(name)` paints (see simulated)."""
    crc = zlib.crc32(name.encode())
    return crc >> 8 & 0xFF, crc >> 16 & 0xFF


def colours_in(path: Path) -> list[tuple[int, int]]:
    """The colour of a picture from the middle of each video track of a recording."""
    with av.open(str(path)) as container:
        tracks = len(container.streams.video)
    found = []
    for index in range(tracks):
        with av.open(str(path)) as container:
            frames = pictures(container, container.streams.video[index])
        assert frames, f"video track {index} holds no pictures"
        frame = frames[len(frames) // 2].reformat(format="yuv420p")
        found.append((plane_mean(frame.planes[1]), plane_mean(frame.planes[2])))
    return found


def pictures(container: av.container.InputContainer, stream: av.VideoStream) -> list[av.VideoFrame]:
    """The pictures of a video track, decoded from its first keyframe on, as a player does."""
    frames: list[av.VideoFrame] = []
    started = False
    for packet in container.demux(stream):
        started = started or packet.is_keyframe
        if started and packet.size:
            frames += [frame for frame in packet.decode() if isinstance(frame, av.VideoFrame)]
    return frames


def plane_mean(plane: av.video.plane.VideoPlane) -> int:
    data = bytes(plane)
    rows = [
        data[row * plane.line_size : row * plane.line_size + plane.width]
        for row in range(plane.height)
    ]
    return sum(sum(row) for row in rows) // (plane.width * plane.height)


def test_a_recording_holds_the_teachers_camera_sound_and_screen_and_no_pupils_video(
    recording_classroom: Classroom,
    tmp_path: Path,
) -> None:
    async def scenario(lesson: ServedLesson, people: AsyncExitStack) -> None:
        teacher = await teacher_in(lesson, people)
        amy = await pupil_in(lesson, people, teacher, "Amy")
        ben = await pupil_in(lesson, people, teacher, "Ben")
        for pupil in (amy, ben):
            await pupil.send({"type": "set_mic", "on": True})
        await teacher.send({"type": "start_share"})
        await teacher.view_until(lambda view: view["you"]["sharing"])
        await teacher.publish_screen()
        assert amy.pid is not None
        await until(lambda: teacher.packets_from(amy.pid or "", "video") > 10)

        await teacher.send({"type": "start_recording"})
        view = await amy.view_until(lambda view: view["lesson"]["recording"])
        assert "being recorded" in view["lesson"]["recording_message"]
        await asyncio.sleep(RECORDED_SECONDS)
        await teacher.send({"type": "stop_recording"})
        await amy.view_until(lambda view: not view["lesson"]["recording"])

        made = await made_by_the_server(lesson)
        with lesson.room.session_factory() as session:
            teacher_name = session.get_one(Lesson, lesson.room.lesson_id).host.display_name
        # The file opens with the recording and lasts as long.
        assert RECORDED_SECONDS - 1.0 <= (made.duration_seconds or 0) <= RECORDED_SECONDS + 3.0
        # The teacher's camera, sound and screen: nothing else, nothing of a pupil's.
        assert made.tracks is not None
        titles = list(made.tracks)
        assert len(titles) == 3, titles
        assert all(title.startswith(teacher_name + ":") for title in titles), titles
        path = lesson.media.recordings / str(made.file_name)
        with av.open(str(path)) as container:
            assert len(container.streams.video) == 2
            assert len(container.streams.audio) == 1
            assert not (
                lesson.media.recordings / "raw" / f"lesson-{lesson.room.lesson_id}" / "recording-1"
            ).exists()
        colours = colours_in(path)
        # Each picture is the teacher's camera or screen (a colour of each their own), never a
        # pupil's, and both are there.
        expected = {colour_of("Ms Teacher"), colour_of("Ms Teacher screen")}
        pupils = {colour_of("Amy"), colour_of("Ben")}

        def nearest(colour: tuple[int, int]) -> tuple[int, int]:
            return min(
                expected | pupils, key=lambda c: abs(c[0] - colour[0]) + abs(c[1] - colour[1])
            )

        assert {nearest(colour) for colour in colours} == expected, (colours, expected, pupils)

    run(recording_classroom, tmp_path, scenario, clock=utc_now)
