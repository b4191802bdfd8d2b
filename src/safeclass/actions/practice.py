"""Practice rooms: a member of staff rehearses every control of a live lesson with simulated pupils.

The policy asks staff to get to know every feature before they teach live. A practice room is a
lesson of its own, marked `practice`, in the school's practice class (which has no pupils). Its
pupils are made-up people (`PracticePupil`: a first name and a token hash), played by bots in the
server (`media.practice_pupils`) that come in through the lesson's WebSocket like a browser does.

What keeps practice apart from real teaching, each in one place:
- The lesson engine reads a practice lesson's roster from its simulated pupils only
  (`practice_roster`, called by `actions.live.lesson_roster`): never the class's pupils, never a
  guest, never anyone's consent. A real pupil's link cannot name a pupil on that roster.
- The door (`web.practice_reader`) lets simulated pupils into practice lessons only, and lets
  nobody but staff and simulated pupils into a practice lesson.
- Simulated pupils are pupils to the engine: they wait in the waiting room, are let in by staff,
  are muted at the media server, and a practice lesson with one of them and one adult is held
  (no 1:1), exactly as in a real lesson.
- Practice lessons are left out of the school's lessons, counts and registers (`web.pages.admin`).

A practice room lasts at most `PRACTICE_DURATION`; stopping it early ends its booking, so its
simulated pupils leave the lesson (the engine takes pupils no longer on the roster out).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.audit import record_audit
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.model import RosterPupil
from safeclass.store.models import (
    ClassGroup,
    Lesson,
    LessonStaff,
    LessonStaffRole,
    PracticePupil,
    School,
    StaffMember,
)
from safeclass.timeutil import utc_now

if TYPE_CHECKING:
    # Types only: `actions.live` reads practice rosters from this module.
    from safeclass.actions.live import LiveLessons

# Each simulated pupil is an aiortc client in the server's own process: it encodes a tone (Opus)
# and small moving pictures (VP8, 160x120 at 15 frames a second) and keeps its media connections
# with Janus. Measured on the development machine (aiortc 1.16, one sender to one receiver over
# loopback, the receiver not decoding): about 5% of one CPU core per simulated pupil. Eight in one
# room is a full enough class to rehearse admitting one at a time, "mute all" and screen sharing,
# at about 40% of a core; the whole server runs at most 16 at once (two rooms' worth, under one
# core), so practice never takes the CPU that real lessons' signalling needs.
MAX_PUPILS = 8
MAX_SIMULATED_ON_SERVER = 16
PRACTICE_DURATION = timedelta(minutes=60)
MAX_COLLEAGUES = 10
PRACTICE_CLASS_NAME = "Practice rooms (simulated pupils)"
PRACTICE_TITLE = "Practice room"
PRACTICE_MARK = "practice"

# Made-up first names, no surnames: nobody real is ever named in a practice room.
FIRST_NAMES = (
    "Amara",
    "Bilal",
    "Chloe",
    "Dario",
    "Efe",
    "Freya",
    "Gus",
    "Hana",
    "Iwan",
    "Jaya",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Oskar",
    "Priya",
)

NO_PERMISSION = (
    "We do not have a parent's or carer's permission for live lessons yet. (A practice pupil: "
    "this is how the door stops a pupil without permission.)"
)
SIMULATED = "A simulated pupil in a practice room: no real child."


class PracticeRefusedError(Exception):
    """The practice room was not opened; `message` says why, in words a teacher can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SimulatedPupil:
    """One simulated pupil as its bot needs it. `token` exists only in memory."""

    person_id: str
    number: int
    display_name: str
    token: str
    consent_ok: bool


@dataclass(frozen=True, slots=True)
class OpenedPracticeRoom:
    lesson_id: int
    ends_at: datetime
    pupils: tuple[SimulatedPupil, ...]


def hash_practice_token(token: str) -> str:
    # 256 random bits: a plain SHA-256 is enough, and lets the door look it up by a unique index.
    return hashlib.sha256(token.encode()).hexdigest()


def practice_person_id(pupil: PracticePupil) -> str:
    """The id a simulated pupil has in the lesson engine. Never all digits, so it can never be a
    real pupil's id (`Person(PUPIL, "12")`)."""
    return f"{PRACTICE_MARK}-{pupil.id}"


def practice_display_name(first_name: str) -> str:
    return f"{first_name} ({PRACTICE_MARK})"


# --- Opening and stopping ------------------------------------------------------------------------


def open_practice_room(
    session: Session,
    *,
    school: School,
    host: StaffMember,
    pupils: int,
    colleagues: Sequence[StaffMember] = (),
    one_without_permission: bool = False,
    now: datetime,
) -> OpenedPracticeRoom:
    """Open a practice lesson starting now, with `pupils` simulated pupils, or raise
    PracticeRefusedError (nothing is written then). The caller commits, then starts the bots."""
    _check_pupils(pupils)
    _check_works_here(school, host)
    invited: dict[int, StaffMember] = {}
    for colleague in colleagues:
        if colleague.id == host.id:
            continue
        _check_works_here(school, colleague)
        invited[colleague.id] = colleague
    if len(invited) > MAX_COLLEAGUES:
        raise PracticeRefusedError(f"You can invite up to {MAX_COLLEAGUES} colleagues.")
    if open_practice_lesson_of(session, host, now) is not None:
        raise PracticeRefusedError(
            "You already have a practice room open. Use that one, or stop it first."
        )
    running = simulated_pupils_running(session, now)
    if running + pupils > MAX_SIMULATED_ON_SERVER:
        free = max(0, MAX_SIMULATED_ON_SERVER - running)
        raise PracticeRefusedError(
            "The server is running as many simulated pupils as it can for now "
            f"({free} more at the moment). Try fewer pupils, or try again later."
        )

    lesson = Lesson(
        school_id=school.id,
        class_group_id=_practice_class(session, school).id,
        host_id=host.id,
        title=PRACTICE_TITLE,
        starts_at=now,
        ends_at=now + PRACTICE_DURATION,
        options={},
        practice=True,
        other_staff=[
            LessonStaff(staff_id=member.id, role=LessonStaffRole.CO_TEACHER)
            for member in invited.values()
        ],
    )
    session.add(lesson)
    session.flush()
    names = secrets.SystemRandom().sample(FIRST_NAMES, pupils)
    made: list[tuple[PracticePupil, str]] = []
    for number, first_name in enumerate(names, start=1):
        token = secrets.token_urlsafe(32)
        row = PracticePupil(
            lesson_id=lesson.id,
            number=number,
            first_name=first_name,
            # The last to knock, when asked for: someone the door stops.
            consent_ok=not (one_without_permission and number == pupils),
            token_hash=hash_practice_token(token),
            created_at=now,
        )
        session.add(row)
        made.append((row, token))
    session.flush()
    record_audit(
        session,
        "practice_room_opened",
        actor=host,
        school_id=school.id,
        data={
            "lesson_id": lesson.id,
            "pupils": pupils,
            "one_without_permission": one_without_permission,
            "colleague_ids": sorted(invited),
        },
    )
    return OpenedPracticeRoom(
        lesson_id=lesson.id,
        ends_at=lesson.ends_at,
        pupils=tuple(
            SimulatedPupil(
                person_id=practice_person_id(row),
                number=row.number,
                display_name=practice_display_name(row.first_name),
                token=token,
                consent_ok=row.consent_ok,
            )
            for row, token in made
        ),
    )


def stop_practice_room(
    session: Session,
    lesson: Lesson,
    *,
    actor: StaffMember | None,
    now: datetime,
    why: str = "stopped by staff",
) -> bool:
    """End a practice room's booking now: its simulated pupils are no longer on its roster, so
    they leave the lesson, and nobody new can come in. False when it had already ended. The
    caller commits, then stops the bots and has the live lesson read its roster again."""
    if not lesson.practice:
        raise PracticeRefusedError("That is not a practice room.")
    if lesson.ends_at <= now:
        return False
    lesson.ends_at = now
    record_audit(
        session,
        "practice_room_stopped",
        actor=actor,
        school_id=lesson.school_id,
        data={"lesson_id": lesson.id, "why": why},
    )
    return True


async def finish_practice_room(
    session_factory: sessionmaker[Session],
    live: LiveLessons,
    lesson_id: int,
    why: str,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> bool:
    """The simulated pupils of a practice room have stopped (`media.practice_pupils`): its
    booking ends, and the live lesson reads its roster again, so a simulated pupil still in the
    lesson (or its waiting room) is taken out. False when there was nothing to end."""

    def end() -> bool | None:
        with session_factory() as session:
            lesson = session.get(Lesson, lesson_id)
            if lesson is None or not lesson.practice:
                return None
            changed = stop_practice_room(session, lesson, actor=None, now=clock(), why=why)
            session.commit()
            return changed

    changed = await asyncio.to_thread(end)
    if changed is not None:
        # Also when the booking had already ended (the room's time is up): the live lesson has
        # not read its roster since, so its simulated pupils are still on it until it does.
        await live.refresh_roster(lesson_id)
    return bool(changed)


def close_practice_rooms_left_open(session: Session, now: datetime) -> list[int]:
    """After a restart: the simulated pupils of every practice room were in the old process and
    are gone, so every practice room still open is stopped. Returns their lesson ids. The caller
    commits."""
    lessons = session.scalars(
        select(Lesson).where(Lesson.practice.is_(True), Lesson.ends_at > now)
    ).all()
    for lesson in lessons:
        stop_practice_room(session, lesson, actor=None, now=now, why="the server restarted")
    return [lesson.id for lesson in lessons]


async def close_practice_rooms_after_restart(
    session_factory: sessionmaker[Session],
    live: LiveLessons,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> list[int]:
    """`close_practice_rooms_left_open`, then each of those lessons still held in memory reads
    its roster again (no simulated pupil is expected any more)."""

    def close() -> list[int]:
        with session_factory() as session:
            closed = close_practice_rooms_left_open(session, clock())
            session.commit()
            return closed

    closed = await asyncio.to_thread(close)
    for lesson_id in closed:
        await live.refresh_roster(lesson_id)
    return closed


# --- Reading -------------------------------------------------------------------------------------


def open_practice_lesson_of(session: Session, host: StaffMember, now: datetime) -> Lesson | None:
    return session.scalar(
        select(Lesson)
        .where(Lesson.practice.is_(True), Lesson.host_id == host.id, Lesson.ends_at > now)
        .order_by(Lesson.id.desc())
        .limit(1)
    )


def practice_lessons_for(session: Session, staff: StaffMember, now: datetime) -> list[Lesson]:
    """The open practice rooms this member of staff hosts or is invited to."""
    invited = select(LessonStaff.lesson_id).where(LessonStaff.staff_id == staff.id)
    return list(
        session.scalars(
            select(Lesson)
            .where(
                Lesson.practice.is_(True),
                Lesson.ends_at > now,
                (Lesson.host_id == staff.id) | Lesson.id.in_(invited),
            )
            .order_by(Lesson.starts_at, Lesson.id)
        )
    )


def simulated_pupils_running(session: Session, now: datetime) -> int:
    """Simulated pupils of every practice room still open, on this server."""
    count = session.scalar(
        select(func.count())
        .select_from(PracticePupil)
        .join(Lesson, Lesson.id == PracticePupil.lesson_id)
        .where(Lesson.practice.is_(True), Lesson.ends_at > now)
    )
    return count or 0


def practice_pupils(session: Session, lesson: Lesson) -> list[PracticePupil]:
    return list(
        session.scalars(
            select(PracticePupil)
            .where(PracticePupil.lesson_id == lesson.id)
            .order_by(PracticePupil.number)
        )
    )


def practice_roster(session: Session, lesson: Lesson, now: datetime) -> dict[str, RosterPupil]:
    """The pupils the lesson engine expects in a practice lesson: its simulated pupils while the
    room is open, nobody once it has ended. Never a real pupil, never real consent."""
    if not lesson.practice:
        raise ValueError(f"lesson {lesson.id} is not a practice lesson")
    if now >= lesson.ends_at:
        return {}
    return {
        practice_person_id(pupil): RosterPupil(
            display_name=practice_display_name(pupil.first_name),
            consent_ok=pupil.consent_ok,
            consent_reason=(
                ReasonCode.CONSENT_GIVEN if pupil.consent_ok else ReasonCode.CONSENT_MISSING
            ),
            consent_message=SIMULATED if pupil.consent_ok else NO_PERMISSION,
            parent_mediated=False,
            # A teacher may practise recording with the simulated pupils who "have" consent.
            may_be_recorded=pupil.consent_ok,
        )
        for pupil in practice_pupils(session, lesson)
    }


# --- Checks --------------------------------------------------------------------------------------


def _check_pupils(pupils: int) -> None:
    if not 1 <= pupils <= MAX_PUPILS:
        raise PracticeRefusedError(f"Choose between 1 and {MAX_PUPILS} simulated pupils.")


def _check_works_here(school: School, member: StaffMember) -> None:
    """Only active staff with a role at this school practise in its rooms (as for its lessons)."""
    if not member.active:
        raise PracticeRefusedError(f"{member.display_name}'s account is switched off.")
    if member.trust_id != school.trust_id:
        raise PracticeRefusedError(f"{member.display_name} does not work at {school.name}.")
    if school.id not in member.school_ids():
        raise PracticeRefusedError(f"{member.display_name} does not work at {school.name}.")


def _practice_class(session: Session, school: School) -> ClassGroup:
    """The school's practice class, made the first time someone practises. It never has pupils
    put in it here, and practice lessons never read its pupils anyway."""
    existing = session.scalar(
        select(ClassGroup).where(ClassGroup.school_id == school.id, ClassGroup.practice.is_(True))
    )
    if existing is not None:
        return existing
    name = PRACTICE_CLASS_NAME
    taken = session.scalar(
        select(ClassGroup.id).where(ClassGroup.school_id == school.id, ClassGroup.name == name)
    )
    if taken is not None:  # a real class of that name: ours gets a name of its own
        name = f"{PRACTICE_CLASS_NAME}, SafeClass"
    practice_class = ClassGroup(school_id=school.id, name=name, year_group=None, practice=True)
    try:
        with session.begin_nested():
            session.add(practice_class)
    except IntegrityError:
        # Someone else made it at the same moment: theirs is the one.
        made = session.scalar(
            select(ClassGroup).where(
                ClassGroup.school_id == school.id, ClassGroup.practice.is_(True)
            )
        )
        if made is None:
            raise
        return made
    return practice_class
