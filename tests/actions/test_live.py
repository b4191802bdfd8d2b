"""Live lessons in the actions layer: the log is written before anyone is told, each participant
gets their own view, a crashed server's lessons come back from the log, and consent read at the
door takes effect mid-lesson."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.live import LessonUnavailableError, LiveLesson, LiveLessons
from safeclass.domain.lesson.commands import Admit, Lock, SendChat
from safeclass.domain.lesson.events import AnyEvent
from safeclass.domain.lesson.model import ChatTo, Person, Phase, Presence, Role, Via
from safeclass.store import event_log
from safeclass.store.models import Consent, Lesson, Pupil
from tests.web.conftest import World, build_world

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Inbox:
    """A participant's connection, as the live lesson sees it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    def deliver(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def views(self) -> list[dict[str, Any]]:
        return [m["view"] for m in self.messages if m["type"] == "view"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        return build_world(session)


@pytest.fixture
def clock(session_factory: sessionmaker[Session], world: World) -> Clock:
    with session_factory() as session:
        return Clock(session.get_one(Lesson, world.oak_lesson_id).starts_at)


def live_lessons(factory: sessionmaker[Session], clock: Clock) -> LiveLessons:
    return LiveLessons(factory, resume_key=b"x" * 32, clock=clock)


def pupil_person(factory: sessionmaker[Session], first_name: str) -> Person:
    with factory() as session:
        pupil = session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()
        return Person(Role.PUPIL, str(pupil.id))


def teacher_person(factory: sessionmaker[Session], lesson_id: int) -> Person:
    with factory() as session:
        return Person(Role.STAFF, str(session.get_one(Lesson, lesson_id).host_id))


async def _staff_and_amy(
    live: LiveLessons, factory: sessionmaker[Session], lesson_id: int
) -> tuple[str, str, Inbox, Inbox]:
    staff_inbox, amy_inbox = Inbox(), Inbox()
    staff = await live.join(
        lesson_id,
        person=teacher_person(factory, lesson_id),
        via=Via.STAFF_SIGN_IN,
        device="session:1",
        channel=staff_inbox,
    )
    amy = await live.join(
        lesson_id,
        person=pupil_person(factory, "Amy"),
        via=Via.PUPIL_LINK,
        device="link:amy",
        channel=amy_inbox,
        reminder_accepted=True,
    )
    assert staff.pid is not None
    assert amy.pid is not None
    return staff.pid, amy.pid, staff_inbox, amy_inbox


def test_events_are_logged_before_views_are_sent(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = live_lessons(session_factory, clock)
    seen_by_listener: list[int] = []

    async def listener(lesson: LiveLesson, events: Sequence[AnyEvent]) -> None:
        with session_factory() as session:
            seen_by_listener.append(event_log.count_events(session, lesson.lesson_id))

    live.add_listener(listener)

    async def scenario() -> tuple[str, Inbox, Inbox]:
        staff_pid, amy_pid, staff_inbox, amy_inbox = await _staff_and_amy(
            live, session_factory, world.oak_lesson_id
        )
        await live.act(world.oak_lesson_id, Admit(actor=staff_pid, target=amy_pid))
        return amy_pid, staff_inbox, amy_inbox

    amy_pid, staff_inbox, amy_inbox = run(scenario())
    with session_factory() as session:
        logged = event_log.load(session, world.oak_lesson_id)
    assert [e.type for e in logged][:3] == ["lesson_prepared", "joined", "phase_changed"]
    assert seen_by_listener[-1] == len(logged)
    assert amy_inbox.messages[0]["type"] == "welcome"
    assert amy_inbox.views()[-1]["you"]["presence"] == "admitted"
    assert staff_inbox.views()[-1]["in_room"][1]["pid"] == amy_pid
    # A view is sent only when it changed: no two identical views in a row.
    views = amy_inbox.views()
    assert all(a != b for a, b in itertools.pairwise(views))


def test_a_failing_listener_does_not_undo_or_stop_the_lesson(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = live_lessons(session_factory, clock)

    async def broken(lesson: LiveLesson, events: Sequence[AnyEvent]) -> None:
        raise RuntimeError("media server unreachable")

    live.add_listener(broken)

    async def scenario() -> LiveLesson:
        staff_pid, _, _, _ = await _staff_and_amy(live, session_factory, world.oak_lesson_id)
        await live.act(world.oak_lesson_id, Lock(actor=staff_pid))
        return await live.lesson(world.oak_lesson_id)

    lesson = run(scenario())
    assert lesson.state.locked


def test_a_crashed_servers_lessons_come_back_with_everyone_disconnected(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    first = live_lessons(session_factory, clock)
    run(_staff_and_amy(first, session_factory, world.oak_lesson_id))
    # The first server vanishes without a word: nothing disconnected in its log.
    with session_factory() as session:
        assert "disconnected" not in [e.type for e in event_log.load(session, world.oak_lesson_id)]

    second = live_lessons(session_factory, clock)
    assert run(second.restore()) == 1
    lesson = run(second.lesson(world.oak_lesson_id))
    assert lesson.state.phase is Phase.HELD
    assert not any(p.connected for p in lesson.state.participants.values())
    with session_factory() as session:
        assert event_log.verify(session, world.oak_lesson_id).ok
    # Nothing left to restore the next time.
    assert run(live_lessons(session_factory, clock).restore()) == 0


def test_a_lesson_held_past_the_grace_period_ends_on_the_next_tick(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = live_lessons(session_factory, clock)

    async def scenario() -> LiveLesson:
        staff_pid, _, staff_inbox, amy_inbox = await _staff_and_amy(
            live, session_factory, world.oak_lesson_id
        )
        await live.disconnected(world.oak_lesson_id, staff_pid, staff_inbox)
        clock.now += timedelta(seconds=60)
        await live.tick()
        assert (await live.lesson(world.oak_lesson_id)).state.phase is Phase.HELD
        clock.now += timedelta(hours=1)
        await live.tick()
        assert amy_inbox.closed == (1000, "The lesson has ended.")
        return await live.lesson(world.oak_lesson_id)

    assert run(scenario()).state.phase is Phase.ENDED


def test_withdrawn_consent_takes_a_waiting_pupil_out_at_the_next_knock(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = live_lessons(session_factory, clock)

    async def scenario() -> Inbox:
        _, _, _, amy_inbox = await _staff_and_amy(live, session_factory, world.oak_lesson_id)
        with session_factory() as session:
            consent = session.scalars(
                select(Consent).join(Pupil).where(Pupil.first_name == "Amy")
            ).one()
            consent.withdrawn_at = clock.now
            session.commit()
        await live.join(
            world.oak_lesson_id,
            person=pupil_person(session_factory, "Ben"),
            via=Via.PUPIL_LINK,
            device="link:ben",
            channel=Inbox(),
            reminder_accepted=True,
        )
        return amy_inbox

    amy_inbox = run(scenario())
    lesson = run(live.lesson(world.oak_lesson_id))
    amy = next(p for p in lesson.state.participants.values() if p.person.role is Role.PUPIL)
    assert amy.presence is Presence.LEFT
    assert amy_inbox.closed is not None


def test_chat_goes_only_to_its_recipients(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = live_lessons(session_factory, clock)

    async def scenario() -> tuple[Inbox, Inbox]:
        staff_pid, _amy_pid, staff_inbox, amy_inbox = await _staff_and_amy(
            live, session_factory, world.oak_lesson_id
        )
        await live.act(
            world.oak_lesson_id, SendChat(actor=staff_pid, to=ChatTo.CLASS, text="Welcome!")
        )
        return staff_inbox, amy_inbox

    staff_inbox, amy_inbox = run(scenario())
    assert [m["message"]["text"] for m in staff_inbox.of_type("chat")] == ["Welcome!"]
    assert amy_inbox.of_type("chat") == []  # Amy is still in the waiting room


def test_no_lesson_and_closed_doors_are_refused_in_words(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = live_lessons(session_factory, clock)
    amy = pupil_person(session_factory, "Amy")

    async def knock(lesson_id: int) -> None:
        await live.join(lesson_id, person=amy, via=Via.PUPIL_LINK, device="d", channel=Inbox())

    with pytest.raises(LessonUnavailableError) as missing:
        run(knock(987654))
    assert "could not find" in missing.value.message
    clock.now -= timedelta(hours=1)
    with pytest.raises(LessonUnavailableError) as early:
        run(knock(world.oak_lesson_id))
    assert "not opened yet" in early.value.message
    clock.now += timedelta(hours=3)
    with pytest.raises(LessonUnavailableError) as late:
        run(knock(world.oak_lesson_id))
    assert "finished" in late.value.message
