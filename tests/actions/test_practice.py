"""Practice rooms in the actions layer: what opening one writes and refuses, that its roster holds
simulated pupils only (never a real pupil, guest or consent), that they go through the same
engine as real pupils (waiting room, admission by staff, no 1:1, the consent check at the door),
that practice and real lessons never let each other's pupils in, and that removing a simulated
pupil is no safeguarding incident."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.incidents import incident_store_hook
from safeclass.actions.live import LiveLessons, lesson_roster
from safeclass.actions.practice import (
    MAX_PUPILS,
    MAX_SIMULATED_ON_SERVER,
    PRACTICE_DURATION,
    OpenedPracticeRoom,
    PracticeRefusedError,
    close_practice_rooms_left_open,
    finish_practice_room,
    hash_practice_token,
    open_practice_room,
    practice_lessons_for,
    practice_roster,
    simulated_pupils_running,
    stop_practice_room,
)
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.commands import Admit, Remove
from safeclass.domain.lesson.model import HoldReason, Person, Presence, Role, Via
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    Incident,
    Lesson,
    PracticePupil,
    Pupil,
    School,
    StaffMember,
)
from tests.actions.test_live import Clock, Inbox
from tests.web.conftest import (
    ELM_TEACHER,
    FORMER_TEACHER,
    OAK_ASSISTANT,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
    build_world,
)

T = TypeVar("T")
NOW = datetime.fromisoformat("2026-03-02T10:00:00+00:00")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        return build_world(session)


def staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def open_room(
    factory: sessionmaker[Session],
    world: World,
    *,
    pupils: int = 3,
    host: str = OAK_TEACHER,
    colleagues: tuple[str, ...] = (),
    one_without_permission: bool = False,
    now: datetime = NOW,
) -> OpenedPracticeRoom:
    with factory() as session:
        opened = open_practice_room(
            session,
            school=session.get_one(School, world.oak_id),
            host=staff(session, host),
            pupils=pupils,
            colleagues=[staff(session, email) for email in colleagues],
            one_without_permission=one_without_permission,
            now=now,
        )
        session.commit()
        return opened


def counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Lesson)) or 0,
        session.scalar(select(func.count()).select_from(PracticePupil)) or 0,
        session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )


# --- Opening -------------------------------------------------------------------------------------


def test_opening_a_practice_room_makes_a_practice_lesson_with_made_up_pupils(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world, pupils=3, colleagues=(OAK_ASSISTANT,))

    with session_factory() as session:
        lesson = session.get_one(Lesson, opened.lesson_id)
        assert lesson.practice
        assert lesson.class_group.practice
        assert lesson.class_group.pupils == []
        assert lesson.starts_at == NOW
        assert lesson.ends_at == NOW + PRACTICE_DURATION
        assert [member.staff.email for member in lesson.other_staff] == [OAK_ASSISTANT]
        rows = session.scalars(select(PracticePupil).order_by(PracticePupil.number)).all()
        # Only the hash of each bot's token is kept.
        assert [row.token_hash for row in rows] == [
            hash_practice_token(pupil.token) for pupil in opened.pupils
        ]
        assert all(
            pupil.token not in row.token_hash
            for pupil, row in zip(opened.pupils, rows, strict=True)
        )
        audit = session.scalars(select(AuditEntry)).one()
        assert audit.action == "practice_room_opened"
        assert audit.data["lesson_id"] == lesson.id
    assert len({pupil.display_name for pupil in opened.pupils}) == 3
    assert all(pupil.display_name.endswith("(practice)") for pupil in opened.pupils)
    assert all(pupil.consent_ok for pupil in opened.pupils)


def test_a_second_practice_room_uses_the_same_practice_class(
    session_factory: sessionmaker[Session], world: World
) -> None:
    first = open_room(session_factory, world)
    second = open_room(session_factory, world, host=OAK_ASSISTANT)

    with session_factory() as session:
        classes = session.scalars(select(ClassGroup).where(ClassGroup.practice.is_(True))).all()
        assert len(classes) == 1
        assert {
            session.get_one(Lesson, first.lesson_id).class_group_id,
            session.get_one(Lesson, second.lesson_id).class_group_id,
        } == {classes[0].id}


@pytest.mark.parametrize("pupils", [0, -1, MAX_PUPILS + 1])
def test_a_number_of_pupils_out_of_range_is_refused_and_nothing_is_written(
    session_factory: sessionmaker[Session], world: World, pupils: int
) -> None:
    with session_factory() as session:
        before = counts(session)
    with pytest.raises(PracticeRefusedError, match=f"between 1 and {MAX_PUPILS}"):
        open_room(session_factory, world, pupils=pupils)
    with session_factory() as session:
        assert counts(session) == before


@pytest.mark.parametrize(
    ("host", "colleagues", "words"),
    [
        (TRUST_ADMIN, (), "does not work at Oak Primary"),  # a trust-wide role is not enough
        (ELM_TEACHER, (), "does not work at Oak Primary"),
        (OAK_TEACHER, (ELM_TEACHER,), "Eli Elm does not work at Oak Primary"),
        (OAK_TEACHER, (FORMER_TEACHER,), "account is switched off"),
    ],
)
def test_only_active_staff_of_the_school_practise_there(
    session_factory: sessionmaker[Session],
    world: World,
    host: str,
    colleagues: tuple[str, ...],
    words: str,
) -> None:
    with session_factory() as session:
        before = counts(session)
    with pytest.raises(PracticeRefusedError, match=words):
        open_room(session_factory, world, host=host, colleagues=colleagues)
    with session_factory() as session:
        assert counts(session) == before


def test_one_open_practice_room_per_member_of_staff(
    session_factory: sessionmaker[Session], world: World
) -> None:
    open_room(session_factory, world)
    with pytest.raises(PracticeRefusedError, match="already have a practice room open"):
        open_room(session_factory, world, now=NOW + timedelta(minutes=5))
    # Once it is over, another can be opened.
    open_room(session_factory, world, now=NOW + PRACTICE_DURATION)


def test_the_server_runs_at_most_its_share_of_simulated_pupils(
    session_factory: sessionmaker[Session], world: World
) -> None:
    open_room(session_factory, world, pupils=MAX_PUPILS)
    open_room(
        session_factory, world, pupils=MAX_SIMULATED_ON_SERVER - MAX_PUPILS, host=OAK_ASSISTANT
    )
    with session_factory() as session:
        assert simulated_pupils_running(session, NOW) == MAX_SIMULATED_ON_SERVER
    with pytest.raises(PracticeRefusedError, match="as many simulated pupils as it can"):
        open_room(session_factory, world, pupils=1, host="dsl@oak.example")


# --- The roster the engine reads -----------------------------------------------------------------


def test_a_practice_lessons_roster_is_its_simulated_pupils_and_never_the_classs_pupils(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world, pupils=2, colleagues=(OAK_ASSISTANT,))
    with session_factory() as session:
        lesson = session.get_one(Lesson, opened.lesson_id)
        # Even a real pupil put in the practice class (by a roster import, say) is not expected.
        amy = session.scalars(select(Pupil).where(Pupil.first_name == "Amy")).one()
        practice_class = lesson.class_group
        practice_class.pupils.append(amy)
        session.commit()
        pupils, staff_roster, guests = lesson_roster(session, lesson, NOW)

    assert set(pupils) == {pupil.person_id for pupil in opened.pupils}
    assert not any(person_id.isdigit() for person_id in pupils)
    assert {roster.display_name for roster in pupils.values()} == {
        pupil.display_name for pupil in opened.pupils
    }
    assert guests == {}
    assert sorted(member.display_name for member in staff_roster.values()) == [
        "Tariq Assistant",
        "Tess Teacher",
    ]


def test_a_practice_room_that_is_over_expects_nobody(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world)
    with session_factory() as session:
        lesson = session.get_one(Lesson, opened.lesson_id)
        assert len(practice_roster(session, lesson, NOW + PRACTICE_DURATION / 2)) == 3
        assert practice_roster(session, lesson, NOW + PRACTICE_DURATION) == {}


def test_a_real_lesson_has_no_practice_roster(
    session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        with pytest.raises(ValueError, match="not a practice lesson"):
            practice_roster(session, lesson, NOW)
        pupils, _, _ = lesson_roster(session, lesson, NOW)
    assert pupils
    assert all(person_id.isdigit() for person_id in pupils)


# --- Stopping ------------------------------------------------------------------------------------


def test_stopping_a_practice_room_ends_its_booking_once(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world)
    later = NOW + timedelta(minutes=10)
    with session_factory() as session:
        lesson = session.get_one(Lesson, opened.lesson_id)
        teacher = staff(session, OAK_TEACHER)
        assert stop_practice_room(session, lesson, actor=teacher, now=later)
        assert not stop_practice_room(session, lesson, actor=teacher, now=later)
        session.commit()
        assert lesson.ends_at == later
        assert practice_roster(session, lesson, later) == {}
        assert practice_lessons_for(session, teacher, later) == []
        actions = [entry.action for entry in session.scalars(select(AuditEntry))]
        assert actions == ["practice_room_opened", "practice_room_stopped"]


def test_a_real_lesson_cannot_be_stopped_as_a_practice_room(
    session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        ends_at = lesson.ends_at
        with pytest.raises(PracticeRefusedError, match="not a practice room"):
            stop_practice_room(session, lesson, actor=staff(session, OAK_TEACHER), now=NOW)
        assert lesson.ends_at == ends_at


def test_after_a_restart_every_practice_room_left_open_is_stopped(
    session_factory: sessionmaker[Session], world: World
) -> None:
    first = open_room(session_factory, world)
    second = open_room(session_factory, world, host=OAK_ASSISTANT)
    later = NOW + timedelta(minutes=1)
    with session_factory() as session:
        closed = close_practice_rooms_left_open(session, later)
        session.commit()
        assert sorted(closed) == sorted([first.lesson_id, second.lesson_id])
        assert simulated_pupils_running(session, later) == 0
        # The real lesson is untouched.
        assert session.get_one(Lesson, world.oak_lesson_id).ends_at > later


# --- Through the lesson engine -------------------------------------------------------------------


def practice_entrant(opened: OpenedPracticeRoom, number: int) -> Person:
    return Person(Role.PUPIL, opened.pupils[number - 1].person_id)


async def knock(
    live: LiveLessons, lesson_id: int, person: Person, inbox: Inbox
) -> tuple[str | None, ReasonCode | None]:
    outcome = await live.join(
        lesson_id,
        person=person,
        via=Via.PUPIL_LINK,
        device=f"practice:{person.id}",
        channel=inbox,
        reminder_accepted=True,
    )
    return outcome.pid, outcome.reason


async def teacher_joins(
    live: LiveLessons, factory: sessionmaker[Session], lesson_id: int, inbox: Inbox
) -> str:
    with factory() as session:
        host_id = session.get_one(Lesson, lesson_id).host_id
    outcome = await live.join(
        lesson_id,
        person=Person(Role.STAFF, str(host_id)),
        via=Via.STAFF_SIGN_IN,
        device="session:1",
        channel=inbox,
    )
    assert outcome.pid is not None
    return outcome.pid


def test_simulated_pupils_wait_are_admitted_by_staff_and_the_no_one_to_one_rule_holds(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world, pupils=2)
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=Clock(NOW))

    async def scenario() -> None:
        teacher_inbox, first_inbox, second_inbox = Inbox(), Inbox(), Inbox()
        first, _ = await knock(live, opened.lesson_id, practice_entrant(opened, 1), first_inbox)
        assert first is not None
        assert first_inbox.views()[-1]["you"]["presence"] == "waiting"
        teacher = await teacher_joins(live, session_factory, opened.lesson_id, teacher_inbox)
        # A pupil does not let themselves in; staff do.
        await live.act(opened.lesson_id, Admit(actor=first, target=first))
        assert live.live()[0].state.participants[first].presence is Presence.WAITING
        await live.act(opened.lesson_id, Admit(actor=teacher, target=first))
        state = live.live()[0].state
        assert state.participants[first].presence is Presence.ADMITTED
        assert state.hold_reason() is HoldReason.ONE_TO_ONE  # one pupil, one adult: held
        second, _ = await knock(live, opened.lesson_id, practice_entrant(opened, 2), second_inbox)
        assert second is not None
        await live.act(opened.lesson_id, Admit(actor=teacher, target=second))
        assert live.live()[0].state.hold_reason() is None

    run(scenario())


def test_the_door_stops_a_simulated_pupil_without_permission(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world, pupils=2, one_without_permission=True)
    assert [pupil.consent_ok for pupil in opened.pupils] == [True, False]
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=Clock(NOW))

    pid, reason = run(knock(live, opened.lesson_id, practice_entrant(opened, 2), Inbox()))

    assert pid is None
    assert reason is ReasonCode.CONSENT_MISSING


def test_a_real_pupil_is_never_let_into_a_practice_lesson(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world)
    with session_factory() as session:
        amy = session.scalars(select(Pupil).where(Pupil.first_name == "Amy")).one()
        # Amy has permission and is in a class at Oak, and is even put in the practice class.
        practice_class = session.get_one(Lesson, opened.lesson_id).class_group
        practice_class.pupils.append(amy)
        session.commit()
        amy_id = amy.id
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=Clock(NOW))

    pid, reason = run(knock(live, opened.lesson_id, Person(Role.PUPIL, str(amy_id)), Inbox()))

    assert pid is None
    assert reason is ReasonCode.NOT_ON_ROSTER


def test_a_simulated_pupil_is_never_let_into_a_real_lesson(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world)
    with session_factory() as session:
        real = session.get_one(Lesson, world.oak_lesson_id)
        clock = Clock(real.starts_at)
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=clock)

    pid, reason = run(knock(live, world.oak_lesson_id, practice_entrant(opened, 1), Inbox()))

    assert pid is None
    assert reason is ReasonCode.NOT_ON_ROSTER


def test_removing_a_simulated_pupil_bars_them_and_opens_no_incident(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world, pupils=2)
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=Clock(NOW))
    live.add_store_hook(incident_store_hook(None))

    async def scenario() -> None:
        teacher = await teacher_joins(live, session_factory, opened.lesson_id, Inbox())
        pupil_inbox = Inbox()
        pupil, _ = await knock(live, opened.lesson_id, practice_entrant(opened, 1), pupil_inbox)
        assert pupil is not None
        await live.act(opened.lesson_id, Admit(actor=teacher, target=pupil))
        await live.act(
            opened.lesson_id, Remove(actor=teacher, target=pupil, reason="Practising removal")
        )
        assert pupil_inbox.closed is not None
        again, reason = await knock(live, opened.lesson_id, practice_entrant(opened, 1), Inbox())
        assert again is None
        assert reason is ReasonCode.REMOVED

    run(scenario())
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_finishing_a_practice_room_takes_its_simulated_pupils_out_of_the_lesson(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_room(session_factory, world, pupils=2)
    clock = Clock(NOW)
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=clock)

    async def scenario() -> None:
        teacher = await teacher_joins(live, session_factory, opened.lesson_id, Inbox())
        pupils = []
        for number in (1, 2):
            pid, _ = await knock(live, opened.lesson_id, practice_entrant(opened, number), Inbox())
            assert pid is not None
            pupils.append(pid)
        await live.act(opened.lesson_id, Admit(actor=teacher, target=pupils[0]))
        clock.now = NOW + timedelta(minutes=3)
        finished = await finish_practice_room(
            session_factory, live, opened.lesson_id, "stopped", clock=clock
        )
        assert finished
        state = live.live()[0].state
        assert [state.participants[pid].presence for pid in pupils] == [Presence.LEFT] * 2
        assert state.participants[teacher].presence is Presence.ADMITTED
        assert not await finish_practice_room(
            session_factory, live, opened.lesson_id, "again", clock=clock
        )

    run(scenario())
