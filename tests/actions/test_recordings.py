"""Recordings as records: a row from the moment a recording starts, one file once it stops (made
here by a fake: the real conversion is tested with real Janus in tests/media), downloads only for
the lesson's staff and the school's DSL, each one audited, and deletion on schedule."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import NotFoundError
from safeclass.actions.live import LiveLesson, LiveLessons
from safeclass.actions.recordings import (
    AUDIT_DOWNLOADED,
    FILE_MISSING,
    NOT_MADE,
    NOT_READY,
    SERVER_RESTARTED,
    UNEXPECTED_FAILURE,
    RecordingFileMissingError,
    RecordingKeeper,
    RecordingNotReadyError,
    download_recording,
    recording_titles,
)
from safeclass.actions.retention import AUDIT_ACTION, run_retention
from safeclass.domain.lesson.commands import StartRecording, StopRecording
from safeclass.domain.lesson.events import SYSTEM, RecordingChanged
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.domain.policy import RECORDING_ALLOWED, RETENTION_RECORDINGS
from safeclass.domain.retention import RecordType
from safeclass.media.recording_files import (
    MadeRecording,
    RecordingConversionError,
    output_path,
    raw_dir,
)
from safeclass.store.models import (
    AuditEntry,
    Incident,
    IncidentSource,
    IncidentState,
    Lesson,
    Recording,
    RecordingState,
    School,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
)
from tests.actions.test_live import Clock, Inbox
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
    build_world,
)

DAY = timedelta(days=1)


@dataclass
class FakeMaker:
    """Stands in for `make_recording`: writes a small file, or fails as told."""

    error: Exception | None = None
    calls: list[tuple[Path, Path, datetime, Mapping[Person, str]]] = field(default_factory=list)

    def __call__(
        self, folder: Path, out: Path, *, started_at: datetime, titles: Mapping[Person, str]
    ) -> MadeRecording:
        self.calls.append((folder, out, started_at, titles))
        if self.error is not None:
            raise self.error
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"webm" * 100)
        return MadeRecording(out, 400, 754.5, ("Tess Teacher: camera", "Tess Teacher: sound"))


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        made = build_world(session)
        oak = session.get_one(School, made.oak_id)
        oak.policy_overrides = {RECORDING_ALLOWED.key: True}
        session.commit()
        return made


@pytest.fixture
def clock(session_factory: sessionmaker[Session], world: World) -> Clock:
    with session_factory() as session:
        return Clock(session.get_one(Lesson, world.oak_lesson_id).starts_at)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


def _keeper(
    factory: sessionmaker[Session], root: Path, clock: Clock, maker: FakeMaker, settle: float = 0
) -> RecordingKeeper:
    return RecordingKeeper(factory, root, clock, make=maker, settle=settle)


def _raw_files(root: Path, lesson_id: int, number: int) -> Path:
    folder = raw_dir(root, lesson_id, number)
    folder.mkdir(parents=True)
    (folder / "staff-1-camera-1-video-v1.mjr").write_bytes(b"raw")
    return folder


def _recording(factory: sessionmaker[Session], lesson_id: int, number: int = 1) -> Recording:
    with factory() as session:
        return session.scalars(
            select(Recording).where(Recording.lesson_id == lesson_id, Recording.number == number)
        ).one()


def _staff_id(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        return session.scalars(select(StaffMember.id).where(StaffMember.email == email)).one()


def _changed(
    at: datetime, *, recording: bool, number: int = 1, host: str = "1"
) -> RecordingChanged:
    return RecordingChanged(
        at=at,
        recording=recording,
        number=number,
        by="p1" if recording else SYSTEM,
        person=Person(Role.STAFF, host) if recording else None,
        reason="started" if recording else "lesson_ended",
    )


def _hook(
    keeper: RecordingKeeper, factory: sessionmaker[Session], lesson_id: int, *events: object
) -> None:
    with factory() as session:
        keeper.store_hook(
            session, lesson_id, [e for e in events if isinstance(e, RecordingChanged)]
        )
        session.commit()


# --- Rows kept in step with the lesson, and the file made after each stop.


def test_a_recording_started_and_stopped_in_a_lesson_becomes_a_file(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    maker = FakeMaker()
    keeper = _keeper(session_factory, root, clock, maker)
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=clock)
    live.add_store_hook(keeper.store_hook)
    live.add_listener(keeper.on_lesson_events)
    lesson_id = world.oak_lesson_id
    teacher = _staff_id(session_factory, OAK_TEACHER)
    started = clock.now

    async def scenario() -> tuple[Recording, Path]:
        joined = await live.join(
            lesson_id,
            person=Person(Role.STAFF, str(teacher)),
            via=Via.STAFF_SIGN_IN,
            device="session:1",
            channel=Inbox(),
        )
        assert joined.pid is not None
        await live.act(lesson_id, StartRecording(actor=joined.pid))
        while_recording = _recording(session_factory, lesson_id)
        folder = _raw_files(root, lesson_id, 1)
        clock.now = started + timedelta(minutes=12)
        await live.act(lesson_id, StopRecording(actor=joined.pid))
        await keeper.close()  # waits for the conversion
        return while_recording, folder

    while_recording, folder = asyncio.run(scenario())

    assert while_recording.state is RecordingState.RECORDING
    assert while_recording.started_at == started
    assert while_recording.started_by_staff_id == teacher
    assert while_recording.ended_at is None
    made = _recording(session_factory, lesson_id)
    assert made.state is RecordingState.READY
    assert made.ended_at == started + timedelta(minutes=12)
    assert made.stop_reason == "stopped"
    assert made.file_name == f"lesson-{lesson_id}-recording-1.webm"
    assert (root / made.file_name).read_bytes() == b"webm" * 100
    assert (made.size_bytes, made.duration_seconds) == (400, 754.5)
    assert made.tracks == ["Tess Teacher: camera", "Tess Teacher: sound"]
    assert made.failure is None
    [(used_folder, out, started_at, titles)] = maker.calls
    assert (used_folder, out, started_at) == (folder, output_path(root, lesson_id, 1), started)
    assert titles[Person(Role.STAFF, str(teacher))] == "Tess Teacher"
    assert not folder.exists()  # the raw files go once the file is made


def test_the_titles_name_the_lessons_staff_and_its_class(
    session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        titles = recording_titles(session, lesson)
        pupils = {str(pupil.id): pupil.display_name for pupil in lesson.class_group.pupils}

    assert sorted(titles.values()) == sorted(
        ["Tess Teacher", "Tariq Assistant", "Amy Adams", "Ben Brown", "Cara Clark"]
    )
    assert {p.id: name for p, name in titles.items() if p.role is Role.PUPIL} == pupils


def test_a_recording_that_cannot_be_made_says_why_and_keeps_its_raw_files(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    maker = FakeMaker(error=RecordingConversionError("Nothing was recorded: no camera was on."))
    keeper = _keeper(session_factory, root, clock, maker)
    lesson_id = world.oak_lesson_id
    _hook(keeper, session_factory, lesson_id, _changed(clock.now, recording=True))
    _hook(keeper, session_factory, lesson_id, _changed(clock.now + DAY / 24, recording=False))
    folder = _raw_files(root, lesson_id, 1)

    assert keeper.convert(lesson_id, 1) is RecordingState.FAILED

    failed = _recording(session_factory, lesson_id)
    assert failed.state is RecordingState.FAILED
    assert failed.failure == "Nothing was recorded: no camera was on."
    assert failed.stop_reason == "lesson_ended"
    assert failed.file_name is None
    assert folder.exists()


def test_an_unexpected_error_is_logged_and_the_recording_marked_failed(
    session_factory: sessionmaker[Session],
    world: World,
    clock: Clock,
    root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keeper = _keeper(session_factory, root, clock, FakeMaker(error=OSError("disk full")))
    lesson_id = world.oak_lesson_id
    _hook(keeper, session_factory, lesson_id, _changed(clock.now, recording=True))
    _hook(keeper, session_factory, lesson_id, _changed(clock.now, recording=False))

    with caplog.at_level(logging.ERROR, logger="safeclass.actions.recordings"):
        assert keeper.convert(lesson_id, 1) is RecordingState.FAILED

    assert _recording(session_factory, lesson_id).failure == UNEXPECTED_FAILURE
    assert "disk full" in caplog.text


def test_a_stop_for_a_recording_already_finished_changes_nothing(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    keeper = _keeper(session_factory, root, clock, FakeMaker())
    lesson_id = world.oak_lesson_id
    _hook(keeper, session_factory, lesson_id, _changed(clock.now, recording=True))
    _hook(keeper, session_factory, lesson_id, _changed(clock.now + DAY / 24, recording=False))
    assert keeper.convert(lesson_id, 1) is RecordingState.READY

    _hook(keeper, session_factory, lesson_id, _changed(clock.now + DAY, recording=False))

    after = _recording(session_factory, lesson_id)
    assert after.state is RecordingState.READY
    assert after.ended_at == clock.now + DAY / 24
    assert keeper.convert(lesson_id, 1) is None  # nothing waits: nothing is made again


def test_a_second_recording_of_a_lesson_gets_its_own_row(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    keeper = _keeper(session_factory, root, clock, FakeMaker())
    lesson_id = world.oak_lesson_id
    for number in (1, 2):
        _hook(
            keeper, session_factory, lesson_id, _changed(clock.now, recording=True, number=number)
        )
        _hook(
            keeper, session_factory, lesson_id, _changed(clock.now, recording=False, number=number)
        )

    assert [keeper.convert(lesson_id, n) for n in (1, 2)] == [RecordingState.READY] * 2
    assert _recording(session_factory, lesson_id, 2).file_name == (
        f"lesson-{lesson_id}-recording-2.webm"
    )


# --- After a restart, and at shutdown.


def test_recordings_cut_short_by_a_restart_are_made_at_the_next_start(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    lesson_id = world.oak_lesson_id
    before = _keeper(session_factory, root, clock, FakeMaker())
    _hook(before, session_factory, lesson_id, _changed(clock.now, recording=True, number=1))
    _hook(before, session_factory, lesson_id, _changed(clock.now, recording=True, number=2))
    _hook(before, session_factory, lesson_id, _changed(clock.now, recording=False, number=2))
    clock.now += timedelta(hours=2)
    # What a conversion killed mid-way left: its work folder and its part-written file.
    work = root / f".lesson-{lesson_id}-recording-2-converting-x1y2"
    work.mkdir(parents=True)
    (work / "staff-1-camera-1-video-1.webm").write_bytes(b"copy of the media")
    partial = root / f".lesson-{lesson_id}-recording-2-abc.webm.partial"
    partial.write_bytes(b"half a file")
    unrelated = root / "notes.txt"
    unrelated.write_text("not ours to delete")
    maker = FakeMaker()
    after = _keeper(session_factory, root, clock, maker)

    async def restart() -> int:
        found = await after.recover()
        await after.close()
        return found

    assert asyncio.run(restart()) == 2

    cut_short, stopped = (
        _recording(session_factory, lesson_id, 1),
        _recording(session_factory, lesson_id, 2),
    )
    assert cut_short.state is stopped.state is RecordingState.READY
    assert (cut_short.stop_reason, cut_short.ended_at) == (SERVER_RESTARTED, clock.now)
    assert stopped.stop_reason == "lesson_ended"
    assert len(maker.calls) == 2
    assert not work.exists()
    assert not partial.exists()
    assert unrelated.exists()


def test_a_conversion_cancelled_at_shutdown_is_made_at_the_next_start(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    lesson_id = world.oak_lesson_id
    maker = FakeMaker()
    slow = _keeper(session_factory, root, clock, maker, settle=60)
    _hook(slow, session_factory, lesson_id, _changed(clock.now, recording=True))
    stop = _changed(clock.now, recording=False)
    _hook(slow, session_factory, lesson_id, stop)

    async def shut_down() -> None:
        # The listener reads only which lesson it is.
        live_lesson = cast(LiveLesson, SimpleNamespace(lesson_id=lesson_id))
        await slow.on_lesson_events(live_lesson, [stop])
        assert slow.busy
        await slow.close(wait=0.01)
        assert not slow.busy

    asyncio.run(shut_down())
    assert _recording(session_factory, lesson_id).state is RecordingState.PROCESSING
    assert maker.calls == []

    async def start_again() -> None:
        again = _keeper(session_factory, root, clock, maker)
        assert await again.recover() == 1
        await again.close()

    asyncio.run(start_again())
    assert _recording(session_factory, lesson_id).state is RecordingState.READY


# --- Who may download, and the audit.


def _ready_recording(
    factory: sessionmaker[Session], root: Path, lesson_id: int, *, ended_at: datetime
) -> int:
    with factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        recording = Recording(
            lesson_id=lesson_id,
            school_id=lesson.school_id,
            number=1,
            state=RecordingState.READY,
            started_at=ended_at - timedelta(minutes=30),
            ended_at=ended_at,
            started_by_staff_id=lesson.host_id,
            stop_reason="stopped",
            file_name=f"lesson-{lesson_id}-recording-1.webm",
            size_bytes=4,
            duration_seconds=1800.0,
            tracks=["Tess Teacher: camera"],
        )
        session.add(recording)
        session.commit()
        path = root / f"lesson-{lesson_id}-recording-1.webm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"webm")
        return recording.id


def _download(
    factory: sessionmaker[Session], root: Path, email: str, recording_id: int
) -> tuple[Path, str]:
    with factory() as session:
        staff = session.scalars(select(StaffMember).where(StaffMember.email == email)).one()
        found = download_recording(session, staff, recording_id, root=root)
        session.commit()
        return found.path, found.download_name


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_ASSISTANT, OAK_DSL])
def test_the_lessons_staff_and_the_schools_dsl_may_download(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path, email: str
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)

    path, name = _download(session_factory, root, email, recording_id)

    assert path.read_bytes() == b"webm"
    assert name.endswith("-recording-1.webm")
    assert name.startswith("fractions-together-")


def test_a_trust_wide_dsl_may_download(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)
    with session_factory() as session:
        session.add(
            StaffRoleGrant(
                staff_id=_staff_id(session_factory, TRUST_ADMIN),
                role=StaffRole.SAFEGUARDING_LEAD,
                school_id=None,
            )
        )
        session.commit()

    assert _download(session_factory, root, TRUST_ADMIN, recording_id)[0].exists()


def test_another_teacher_of_the_school_may_not_download(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)
    with session_factory() as session:
        other = StaffMember(
            trust_id=session.get_one(School, world.oak_id).trust_id,
            email="other@oak.example",
            display_name="Olly Other",
        )
        session.add(other)
        session.flush()
        session.add(
            StaffRoleGrant(staff_id=other.id, role=StaffRole.TEACHER, school_id=world.oak_id)
        )
        session.commit()

    with pytest.raises(NotFoundError):
        _download(session_factory, root, "other@oak.example", recording_id)


@pytest.mark.parametrize("email", [OAK_ADMIN, TRUST_ADMIN, ELM_TEACHER, BIRCH_ADMIN])
def test_admins_and_other_schools_get_not_found(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path, email: str
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)

    with pytest.raises(NotFoundError):
        _download(session_factory, root, email, recording_id)
    with pytest.raises(NotFoundError):  # the same for one that does not exist
        _download(session_factory, root, email, recording_id + 1)
    assert _downloads(session_factory) == []


def _downloads(
    factory: sessionmaker[Session],
) -> list[tuple[int | None, int | None, dict[str, object]]]:
    with factory() as session:
        return [
            (entry.actor_staff_id, entry.school_id, entry.data)
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action == AUDIT_DOWNLOADED)
            )
        ]


def test_each_download_is_audited_with_who_and_which(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)

    _download(session_factory, root, OAK_TEACHER, recording_id)
    _download(session_factory, root, OAK_DSL, recording_id)

    data = {"recording_id": recording_id, "lesson_id": world.oak_lesson_id, "number": 1}
    assert _downloads(session_factory) == [
        (_staff_id(session_factory, OAK_TEACHER), world.oak_id, data),
        (_staff_id(session_factory, OAK_DSL), world.oak_id, data),
    ]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (RecordingState.RECORDING, NOT_READY),
        (RecordingState.PROCESSING, NOT_READY),
        (RecordingState.FAILED, NOT_MADE),
    ],
)
def test_a_recording_without_a_file_yet_cannot_be_downloaded(
    session_factory: sessionmaker[Session],
    world: World,
    clock: Clock,
    root: Path,
    state: RecordingState,
    message: str,
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)
    with session_factory() as session:
        session.get_one(Recording, recording_id).state = state
        session.commit()

    with pytest.raises(RecordingNotReadyError) as refused:
        _download(session_factory, root, OAK_TEACHER, recording_id)
    assert refused.value.message == message
    assert _downloads(session_factory) == []


def test_a_file_missing_from_disk_is_a_clear_error_not_a_download(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    recording_id = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=clock.now)
    (root / f"lesson-{world.oak_lesson_id}-recording-1.webm").unlink()

    with pytest.raises(RecordingFileMissingError) as refused:
        _download(session_factory, root, OAK_TEACHER, recording_id)
    assert refused.value.message == FILE_MISSING
    assert _downloads(session_factory) == []


# --- Retention: counted from the end; the file, raw files and row go together.


def test_retention_deletes_an_expired_recording_and_keeps_a_fresh_one(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    now = clock.now
    old = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=now - 30 * DAY)
    old_raw = _raw_files(root, world.oak_lesson_id, 1)  # left over from a failed attempt, say
    keeper = _keeper(session_factory, root, clock, FakeMaker())
    _hook(
        keeper,
        session_factory,
        world.oak_lesson_id,
        _changed(now - 40 * DAY, recording=True, number=2),
    )
    _hook(
        keeper, session_factory, world.oak_lesson_id, _changed(now - DAY, recording=False, number=2)
    )
    assert keeper.convert(world.oak_lesson_id, 2) is RecordingState.READY
    _hook(
        keeper,
        session_factory,
        world.oak_lesson_id,
        _changed(now - 90 * DAY, recording=True, number=3),
    )

    report = run_retention(session_factory, now=now, recordings_root=root)

    assert report.ok
    assert report.total(RecordType.RECORDING) == 1
    with session_factory() as session:
        kept = session.scalars(select(Recording.number).order_by(Recording.number)).all()
        assert session.get(Recording, old) is None
        entries = [
            (entry.school_id, entry.data)
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION)
            )
        ]
    # The one that ended a day ago, and the one still recording (never due, however old).
    assert kept == [2, 3]
    assert not (root / f"lesson-{world.oak_lesson_id}-recording-1.webm").exists()
    assert not old_raw.exists()
    assert (root / f"lesson-{world.oak_lesson_id}-recording-2.webm").exists()
    assert [e for e in entries if e[1]["record_type"] == "recording"] == [
        (world.oak_id, {"record_type": "recording", "count": 1, "kept_for_days": 30})
    ]


def test_a_run_not_told_where_recordings_are_deletes_none_and_says_so(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    recording_id = _ready_recording(
        session_factory, root, world.oak_lesson_id, ended_at=clock.now - 31 * DAY
    )

    report = run_retention(session_factory, now=clock.now)
    dry_run = run_retention(session_factory, now=clock.now, dry_run=True)

    assert report.total(RecordType.RECORDING) == 0
    assert any("not told where recording files are kept" in p for p in report.problems)
    assert dry_run.ok
    assert dry_run.total(RecordType.RECORDING) == 1
    with session_factory() as session:
        assert session.get(Recording, recording_id) is not None
    assert (root / f"lesson-{world.oak_lesson_id}-recording-1.webm").exists()


def test_a_file_that_cannot_be_deleted_keeps_the_rows_and_is_reported(
    session_factory: sessionmaker[Session],
    world: World,
    clock: Clock,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recording_id = _ready_recording(
        session_factory, root, world.oak_lesson_id, ended_at=clock.now - 31 * DAY
    )

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    report = run_retention(session_factory, now=clock.now, recordings_root=root)

    assert report.total(RecordType.RECORDING) == 0
    assert any("could not be deleted" in p and "Permission denied" in p for p in report.problems)
    with session_factory() as session:
        assert session.get(Recording, recording_id) is not None


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ages=st.lists(
        st.one_of(
            st.none(),  # still recording
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)),
            st.builds(
                lambda nudge: 30 * DAY + nudge * timedelta(microseconds=1),
                st.integers(min_value=-1, max_value=1),
            ),
        ),
        max_size=6,
    )
)
def test_exactly_the_recordings_past_their_period_are_deleted(
    session_factory: sessionmaker[Session],
    world: World,
    root: Path,
    ages: list[timedelta | None],
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    shutil.rmtree(root, ignore_errors=True)  # files of the example before
    with session_factory() as session:
        session.execute(delete(Recording))
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        for number, age in enumerate(ages, start=1):
            session.add(
                Recording(
                    lesson_id=lesson.id,
                    school_id=lesson.school_id,
                    number=number,
                    state=RecordingState.RECORDING if age is None else RecordingState.READY,
                    started_at=now - 100 * DAY,
                    ended_at=None if age is None else now - age,
                    file_name=None
                    if age is None
                    else f"lesson-{lesson.id}-recording-{number}.webm",
                )
            )
            if age is not None:
                path = output_path(root, lesson.id, number)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"webm")
        session.commit()

    run_retention(session_factory, now=now, recordings_root=root)

    period = RETENTION_RECORDINGS.default * DAY
    expected = {n for n, age in enumerate(ages, start=1) if age is None or age < period}
    with session_factory() as session:
        assert set(session.scalars(select(Recording.number))) == expected
    files = {
        n for n in range(1, len(ages) + 1) if output_path(root, world.oak_lesson_id, n).exists()
    }
    assert files == {n for n in expected if ages[n - 1] is not None}


def test_retention_keeps_a_recording_that_holds_an_open_incident_or_is_still_being_made(
    session_factory: sessionmaker[Session], world: World, clock: Clock, root: Path
) -> None:
    now = clock.now
    kept = _ready_recording(session_factory, root, world.oak_lesson_id, ended_at=now - 60 * DAY)
    with session_factory() as session:
        recording = session.get_one(Recording, kept)
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        # An incident still open, at a moment the recording holds.
        during = recording.started_at + timedelta(minutes=10)
        incident = Incident(
            school_id=lesson.school_id,
            lesson_id=lesson.id,
            lesson_title=lesson.title,
            source=IncidentSource.STAFF_REPORT,
            state=IncidentState.IN_REVIEW,
            category="behaviour",
            description="Said something unkind.",
            reported_by_name="Tess Teacher",
            occurred_at=during,
            opened_at=during,
            updated_at=during,
        )
        session.add(incident)
        # And a second recording, as old, still being made (its file is not there yet).
        session.add(
            Recording(
                lesson_id=lesson.id,
                school_id=lesson.school_id,
                number=2,
                state=RecordingState.PROCESSING,
                started_at=now - 61 * DAY,
                ended_at=now - 60 * DAY,
                started_by_staff_id=lesson.host_id,
                stop_reason="stopped",
            )
        )
        session.commit()
        incident_id = incident.id

    report = run_retention(session_factory, now=now, recordings_root=root)

    assert report.ok
    assert report.total(RecordType.RECORDING) == 0
    with session_factory() as session:
        assert session.scalars(select(Recording.number).order_by(Recording.number)).all() == [1, 2]
        session.get_one(Incident, incident_id).state = IncidentState.CLOSED
        session.get_one(Incident, incident_id).closed_at = now
        session.commit()

    # Once the incident is closed, the recording goes; the one being made stays.
    report = run_retention(session_factory, now=now, recordings_root=root)

    assert report.total(RecordType.RECORDING) == 1
    with session_factory() as session:
        assert session.scalars(select(Recording.number)).all() == [2]
    assert not (root / f"lesson-{world.oak_lesson_id}-recording-1.webm").exists()
