"""Named guests in the actions layer: off unless the policy allows them, invited only by the staff
who run the lesson or lead the school, names checked, link tokens and passcodes kept only as a
hash and an HMAC, withdrawing final, the lesson's roster listing only working invitations, and a
withdrawn guest taken out of a lesson going on now."""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import NotFoundError
from safeclass.actions.guests import (
    GUEST_GRACE,
    INVITED,
    LESSON_FINISHED,
    MAX_GUESTS_PER_LESSON,
    NAME_MISSING,
    NAME_NOT_PRINTABLE,
    NAME_TOO_LONG,
    NOT_YOURS_TO_INVITE,
    TOO_MANY,
    TURNED_OFF_BY_SCHOOL,
    TURNED_OFF_FOR_LESSON,
    WITHDRAWN,
    GuestRefusedError,
    InvitedGuest,
    find_invitation,
    guest_name,
    invite_guest,
    lesson_invitations,
    tell_live_lesson,
    withdraw_invitation,
    working_invitation,
)
from safeclass.actions.join_links import TOKEN_ALPHABET
from safeclass.actions.live import LiveLessons, lesson_roster
from safeclass.codes import ALPHABET, PASSCODE_LENGTH, passcode_hmac, passcode_key
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.commands import Admit
from safeclass.domain.lesson.events import JoinRefused
from safeclass.domain.lesson.model import Person, Presence, Role, Via
from safeclass.store import event_log
from safeclass.store.models import AuditEntry, GuestInvitation, Lesson, School, StaffMember
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    FORMER_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
    build_world,
)

# The passcodes' HMAC key, as `codes.passcode_key` derives it from a server's secret.
KEY = passcode_key(b"k" * 32)
# A Persian word spelled with a zero-width non-joiner: invisible, and part of the spelling.
WITH_JOINER = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        world = build_world(session)
        allow_guests(session, world)
        session.commit()
        return world


@pytest.fixture
def session(session_factory: sessionmaker[Session], world: World) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def now(session: Session, world: World) -> datetime:
    """An hour before the Oak lesson starts."""
    return session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(hours=1)


def allow_guests(session: Session, world: World, allowed: bool = True) -> None:
    school = session.get_one(School, world.oak_id)
    school.policy_overrides = {"named_guests": True} if allowed else {}


def staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def oak_lesson(session: Session, world: World) -> Lesson:
    return session.get_one(Lesson, world.oak_lesson_id)


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def invite(
    session: Session, world: World, now: datetime, name: str = "Dr Priya Shah"
) -> InvitedGuest:
    return invite_guest(
        session,
        oak_lesson(session, world),
        name,
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )


# --- The policy -----------------------------------------------------------------------------------


def test_guests_are_refused_while_the_schools_policy_turns_them_off(
    session: Session, world: World, now: datetime
) -> None:
    allow_guests(session, world, allowed=False)
    with pytest.raises(GuestRefusedError) as refused:
        invite(session, world, now)
    assert refused.value.message == TURNED_OFF_BY_SCHOOL
    assert "turned off by the school's policy" in refused.value.message
    assert not refused.value.forbidden
    session.rollback()
    assert count(session, GuestInvitation) == 0
    assert count(session, AuditEntry) == 0


def test_a_lesson_may_turn_guests_off_for_itself(
    session: Session, world: World, now: datetime
) -> None:
    oak_lesson(session, world).options = {"named_guests": False}
    with pytest.raises(GuestRefusedError) as refused:
        invite(session, world, now)
    assert refused.value.message == TURNED_OFF_FOR_LESSON
    session.rollback()
    assert count(session, GuestInvitation) == 0


# --- Inviting -------------------------------------------------------------------------------------


def test_an_invitation_keeps_only_a_hash_of_its_token_and_an_hmac_of_its_passcode(
    session: Session, world: World, now: datetime, engine: Engine
) -> None:
    invited = invite(session, world, now)
    session.commit()
    invitation = invited.invitation
    lesson = oak_lesson(session, world)

    # At least 128 random bits: 32 URL-safe characters carry 192.
    assert len(invited.token) == 32
    assert set(invited.token) <= TOKEN_ALPHABET
    assert invitation.token_hash == hashlib.sha256(invited.token.encode()).hexdigest()
    assert len(invited.passcode) == PASSCODE_LENGTH
    assert set(invited.passcode) <= set(ALPHABET)
    assert invitation.passcode_hmac == passcode_hmac(KEY, invited.passcode)
    assert invitation.display_name == "Dr Priya Shah"
    assert invitation.lesson_id == lesson.id
    assert invitation.school_id == world.oak_id
    assert invitation.created_by_staff_id == staff(session, OAK_TEACHER).id
    assert invitation.expires_at == lesson.ends_at + GUEST_GRACE
    assert invitation.revoked_at is None

    # Not one row of any table holds the token or the passcode, whole or in part.
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        everything = "\n".join(
            str(value)
            for table in metadata.sorted_tables
            for row in connection.execute(table.select())
            for value in row
            if value is not None
        )
    assert "Dr Priya Shah" in everything
    for secret in (invited.token, invited.passcode):
        assert secret not in everything
        assert secret[:8] not in everything
        assert secret[-8:] not in everything


def test_inviting_writes_an_audit_entry_without_secrets_or_the_name(
    session: Session, world: World, now: datetime
) -> None:
    invited = invite(session, world, now)
    session.commit()
    entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == INVITED
    assert entry.actor_staff_id == staff(session, OAK_TEACHER).id
    assert entry.school_id == world.oak_id
    assert entry.data == {
        "guest_invitation_id": invited.invitation.id,
        "lesson_id": world.oak_lesson_id,
        "expires_at": invited.invitation.expires_at.isoformat(),
    }


def test_each_invitation_has_its_own_token_and_passcode(
    session: Session, world: World, now: datetime
) -> None:
    first = invite(session, world, now, "Dr Priya Shah")
    second = invite(session, world, now, "Captain Tom")
    assert first.token != second.token
    assert first.passcode != second.passcode
    assert find_invitation(session, first.token) is first.invitation
    assert find_invitation(session, second.token) is second.invitation


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Dr   Priya  Shah ", "Dr Priya Shah"),
        ("Zoe\u0308 Martin", "Zoë Martin"),  # composed, as every other name is stored
        ("Anna\u00a0Nowak", "Anna Nowak"),  # a no-break space from a word processor
        (WITH_JOINER, WITH_JOINER),
        ("O'Brien-Smith, PhD (visiting)", "O'Brien-Smith, PhD (visiting)"),
        ("A" * 80, "A" * 80),
    ],
)
def test_names_are_trimmed_and_kept_as_typed(typed: str, kept: str) -> None:
    assert guest_name(typed) == kept
    assert unicodedata.is_normalized("NFC", guest_name(typed))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", NAME_MISSING),
        ("   ", NAME_MISSING),
        ("A" * 81, NAME_TOO_LONG),
        ("   " + "B" * 81 + "   ", NAME_TOO_LONG),
        ("Ann\nSmith", NAME_NOT_PRINTABLE),
        ("Ann\tSmith", NAME_NOT_PRINTABLE),
        ("Ann\x00", NAME_NOT_PRINTABLE),
        ("\x1b[31mAnn", NAME_NOT_PRINTABLE),
        ("Ann\u2028Smith", NAME_NOT_PRINTABLE),
        # Right-to-left override: would show "Mr Smith" typed backwards as something else.
        ("Mr \u202ehtimS", NAME_NOT_PRINTABLE),
        ("Ann\u200bSmith", NAME_NOT_PRINTABLE),  # zero-width space
        ("\ud800", NAME_NOT_PRINTABLE),  # half of a surrogate pair
    ],
)
def test_bad_names_are_refused_with_words_and_nothing_is_written(
    session: Session, world: World, now: datetime, typed: str, message: str
) -> None:
    with pytest.raises(GuestRefusedError) as refused:
        invite(session, world, now, typed)
    assert refused.value.message == message
    session.rollback()
    assert count(session, GuestInvitation) == 0
    assert count(session, AuditEntry) == 0


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_DSL, OAK_ADMIN, TRUST_ADMIN])
def test_the_lessons_teacher_and_the_schools_leaders_may_invite(
    session: Session, world: World, now: datetime, email: str
) -> None:
    invited = invite_guest(
        session,
        oak_lesson(session, world),
        "Dr Priya Shah",
        actor=staff(session, email),
        now=now,
        passcode_key=KEY,
    )
    assert invited.invitation.created_by_staff_id == staff(session, email).id


def test_other_staff_of_the_school_may_not_invite(
    session: Session, world: World, now: datetime
) -> None:
    # The teaching assistant works on this lesson, but does not run it.
    with pytest.raises(GuestRefusedError) as refused:
        invite_guest(
            session,
            oak_lesson(session, world),
            "Dr Priya Shah",
            actor=staff(session, OAK_ASSISTANT),
            now=now,
            passcode_key=KEY,
        )
    assert refused.value.forbidden
    assert refused.value.message == NOT_YOURS_TO_INVITE
    session.rollback()
    assert count(session, GuestInvitation) == 0


@pytest.mark.parametrize("email", [ELM_TEACHER, BIRCH_ADMIN, FORMER_TEACHER])
def test_staff_of_other_schools_and_former_staff_find_no_lesson(
    session: Session, world: World, now: datetime, email: str
) -> None:
    with pytest.raises(NotFoundError):
        invite_guest(
            session,
            oak_lesson(session, world),
            "Dr Priya Shah",
            actor=staff(session, email),
            now=now,
            passcode_key=KEY,
        )
    session.rollback()
    assert count(session, GuestInvitation) == 0
    assert count(session, AuditEntry) == 0


def test_nobody_can_be_invited_to_a_finished_lesson(
    session: Session, world: World, now: datetime
) -> None:
    ended = oak_lesson(session, world).ends_at
    with pytest.raises(GuestRefusedError) as refused:
        invite(session, world, ended)
    assert refused.value.message == LESSON_FINISHED
    assert invite(session, world, ended - timedelta(seconds=1)).invitation.id is not None


def test_the_same_name_is_invited_once_until_withdrawn(
    session: Session, world: World, now: datetime
) -> None:
    first = invite(session, world, now, "Dr Priya Shah")
    with pytest.raises(GuestRefusedError) as refused:
        invite(session, world, now, "  dr priya   SHAH ")
    assert "Dr Priya Shah is already invited" in refused.value.message
    withdraw_invitation(session, first.invitation, actor=staff(session, OAK_TEACHER), now=now)
    again = invite(session, world, now + timedelta(minutes=1), "Dr Priya Shah")
    assert again.invitation.id != first.invitation.id


def test_a_lesson_has_a_limited_number_of_guests(
    session: Session, world: World, now: datetime
) -> None:
    for number in range(MAX_GUESTS_PER_LESSON):
        invite(session, world, now, f"Guest {number}")
    with pytest.raises(GuestRefusedError) as refused:
        invite(session, world, now, "One too many")
    assert refused.value.message == TOO_MANY
    assert count(session, GuestInvitation) == MAX_GUESTS_PER_LESSON


# --- Withdrawing ----------------------------------------------------------------------------------


def test_withdrawing_is_final_and_audited_once(
    session: Session, world: World, now: datetime
) -> None:
    invited = invite(session, world, now)
    assistant = staff(session, OAK_ASSISTANT)  # anyone on the lesson may stop a visitor coming
    assert withdraw_invitation(session, invited.invitation, actor=assistant, now=now)
    assert not withdraw_invitation(session, invited.invitation, actor=assistant, now=now)
    session.commit()
    assert invited.invitation.revoked_at == now
    assert invited.invitation.revoked_by_staff_id == assistant.id
    assert working_invitation(session, invited.token, now) is None
    assert find_invitation(session, invited.token) is invited.invitation
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == WITHDRAWN)).all()
    assert [entry.data for entry in entries] == [
        {"guest_invitation_id": invited.invitation.id, "lesson_id": world.oak_lesson_id}
    ]
    assert entries[0].actor_staff_id == assistant.id


def test_staff_of_another_school_cannot_withdraw(
    session: Session, world: World, now: datetime
) -> None:
    invited = invite(session, world, now)
    with pytest.raises(NotFoundError):
        withdraw_invitation(session, invited.invitation, actor=staff(session, ELM_TEACHER), now=now)
    assert invited.invitation.revoked_at is None


def test_an_invitation_works_until_an_hour_after_the_lesson_is_booked_to_end(
    session: Session, world: World, now: datetime
) -> None:
    invited = invite(session, world, now)
    ends = oak_lesson(session, world).ends_at
    assert working_invitation(session, invited.token, ends + GUEST_GRACE - timedelta(seconds=1))
    assert working_invitation(session, invited.token, ends + GUEST_GRACE) is None
    for not_a_token in ("", "x", "A" * 65, "not a token!", invited.token + "A"):
        assert working_invitation(session, not_a_token, now) is None


# --- The lesson's roster --------------------------------------------------------------------------


def test_the_roster_lists_only_invitations_that_work(
    session: Session, world: World, now: datetime
) -> None:
    lesson = oak_lesson(session, world)
    coming = invite(session, world, now, "Dr Priya Shah").invitation
    withdrawn = invite(session, world, now, "Captain Tom").invitation
    withdraw_invitation(session, withdrawn, actor=staff(session, OAK_TEACHER), now=now)
    other_lesson = Lesson(
        school_id=lesson.school_id,
        class_group_id=lesson.class_group_id,
        host_id=lesson.host_id,
        title="Another lesson",
        starts_at=lesson.starts_at,
        ends_at=lesson.ends_at + timedelta(hours=5),
    )
    session.add(other_lesson)
    session.flush()
    invite_guest(
        session,
        other_lesson,
        "Someone Else",
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )
    session.commit()

    assert lesson_roster(session, lesson, now)[2] == {str(coming.id): "Dr Priya Shah"}
    assert lesson_roster(session, lesson, coming.expires_at)[2] == {}
    assert [i.display_name for i in lesson_invitations(session, lesson)] == [
        "Captain Tom",
        "Dr Priya Shah",
    ]


# --- In a lesson going on now ---------------------------------------------------------------------


class Inbox:
    """A participant's connection, as the live lesson sees it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    def deliver(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def last_view(self) -> dict[str, Any]:
        return next(m["view"] for m in reversed(self.messages) if m["type"] == "view")


def test_a_guest_invited_to_a_live_lesson_waits_is_admitted_and_is_taken_out_when_withdrawn(
    session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        lesson = oak_lesson(session, world)
        clock = [lesson.starts_at]
        teacher = Person(Role.STAFF, str(lesson.host_id))
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=lambda: clock[0])
    lesson_id = world.oak_lesson_id

    async def scenario() -> str:
        staff_inbox, guest_inbox = Inbox(), Inbox()
        joined = await live.join(
            lesson_id, person=teacher, via=Via.STAFF_SIGN_IN, device="s", channel=staff_inbox
        )
        assert joined.pid is not None
        # Invited while the lesson is going on: the lesson expects them at once.
        with session_factory() as session:
            invitation = invite(session, world, clock[0]).invitation
            session.commit()
            guest_id = str(invitation.id)
        await tell_live_lesson(live, lesson_id)
        assert dict((await live.lesson(lesson_id)).state.guests) == {guest_id: "Dr Priya Shah"}

        guest = await live.join(
            lesson_id,
            person=Person(Role.GUEST, guest_id),
            via=Via.GUEST_INVITE,
            device=f"guest:{guest_id}",
            channel=guest_inbox,
            reminder_accepted=True,
        )
        assert guest.pid is not None
        assert guest_inbox.last_view()["you"]["presence"] == "waiting"
        assert guest_inbox.last_view()["you"]["role"] == "guest"
        waiting = staff_inbox.last_view()["waiting"]
        assert [(w["name"], w["role"]) for w in waiting] == [("Dr Priya Shah", "guest")]

        await live.act(lesson_id, Admit(actor=joined.pid, target=guest.pid))
        assert guest_inbox.last_view()["you"]["presence"] == "admitted"

        with session_factory() as session:
            withdraw_invitation(
                session,
                session.get_one(GuestInvitation, invitation.id),
                actor=staff(session, OAK_TEACHER),
                now=clock[0],
            )
            session.commit()
        await tell_live_lesson(live, lesson_id)
        state = (await live.lesson(lesson_id)).state
        assert state.participants[guest.pid].presence is Presence.LEFT
        assert state.guests == {}
        assert guest_inbox.closed == (1000, "You are no longer in this lesson.")
        turned_away = staff_inbox.last_view()["turned_away"]
        assert [(t["name"], t["reason"]) for t in turned_away] == [("Dr Priya Shah", "not_invited")]
        return guest_id

    guest_id = asyncio.run(scenario())
    # The lesson's own log says who was taken out, and why.
    with session_factory() as session:
        refusals = [e for e in event_log.load(session, lesson_id) if isinstance(e, JoinRefused)]
    assert [(e.person, e.reason) for e in refusals] == [
        (Person(Role.GUEST, guest_id), ReasonCode.NOT_INVITED)
    ]


def test_a_guest_invited_after_the_lesson_was_loaded_is_expected_when_they_knock(
    session_factory: sessionmaker[Session], world: World
) -> None:
    """The lesson was read from its log before the invitation, and nobody told it since: the
    guest's knock reads the roster again."""
    with session_factory() as session:
        clock = [oak_lesson(session, world).starts_at]
    live = LiveLessons(session_factory, resume_key=b"x" * 32, clock=lambda: clock[0])
    lesson_id = world.oak_lesson_id

    async def scenario() -> str | None:
        await live.lesson(lesson_id)
        with session_factory() as session:
            invitation = invite(session, world, clock[0]).invitation
            session.commit()
            guest_id = str(invitation.id)
        outcome = await live.join(
            lesson_id,
            person=Person(Role.GUEST, guest_id),
            via=Via.GUEST_INVITE,
            device=f"guest:{guest_id}",
            channel=Inbox(),
            reminder_accepted=True,
        )
        return outcome.pid

    assert asyncio.run(scenario()) is not None


def test_telling_a_lesson_that_is_not_loaded_changes_nothing(
    session_factory: sessionmaker[Session], world: World
) -> None:
    live = LiveLessons(session_factory, resume_key=b"x" * 32)
    asyncio.run(tell_live_lesson(live, world.oak_lesson_id))
    assert live.live() == []
    with session_factory() as session:
        assert event_log.count_events(session, world.oak_lesson_id) == 0
