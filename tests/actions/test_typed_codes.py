"""Codes to type in the actions layer: a lesson's code made and replaced by its school's staff, with
an audit entry; a passcode for every pupil's link, kept only as an HMAC, never for a parent's link,
and never twice the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass import codes
from safeclass.access import NotFoundError
from safeclass.actions import typed_codes
from safeclass.actions.join_links import (
    ISSUED,
    Holder,
    LinkScope,
    issue_link,
    issue_missing_links,
    regenerate_link,
)
from safeclass.actions.typed_codes import (
    LESSON_CODE_ISSUED,
    LESSON_CODE_REPLACED,
    CodeSpaceExhaustedError,
    issue_lesson_code,
    lesson_by_code,
    unused_passcode,
)
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    GuestInvitation,
    Lesson,
    Pupil,
    School,
    StaffMember,
)
from tests.web.conftest import ELM_TEACHER, OAK_ASSISTANT, OAK_TEACHER, World, build_world

KEY = codes.passcode_key(b"k" * 32)


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        return build_world(session)


@pytest.fixture
def session(session_factory: sessionmaker[Session], world: World) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def now(session: Session, world: World) -> datetime:
    return session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(days=1)


def staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def pupil(session: Session, first_name: str) -> Pupil:
    return session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()


def kestrels(session: Session, world: World) -> LinkScope:
    return LinkScope.for_class(session.get_one(ClassGroup, world.kestrels_id))


def audit(session: Session, action: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def every_stored_value(engine: Engine) -> str:
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return "\n".join(
            str(value)
            for table in metadata.sorted_tables
            for row in connection.execute(table.select())
            for value in row
            if value is not None
        )


# --- A lesson's code -----------------------------------------------------------------------------


def test_staff_make_a_lesson_code_and_it_is_audited_without_the_code(
    session: Session, world: World
) -> None:
    lesson = session.get_one(Lesson, world.oak_lesson_id)
    assert lesson.typed_code is None
    assistant = staff(session, OAK_ASSISTANT)
    code = issue_lesson_code(session, lesson, actor=assistant)
    session.commit()

    assert len(code) == codes.LESSON_CODE_LENGTH
    assert set(code) <= set(codes.ALPHABET)
    assert codes.normalise(code) == code
    assert lesson_by_code(session, code) == lesson
    (entry,) = audit(session, LESSON_CODE_ISSUED)
    assert entry.actor_staff_id == assistant.id
    assert entry.school_id == world.oak_id
    assert entry.data == {"lesson_id": lesson.id}
    assert audit(session, LESSON_CODE_REPLACED) == []


def test_a_new_code_replaces_the_old_one_which_stops_working(
    session: Session, world: World
) -> None:
    lesson = session.get_one(Lesson, world.oak_lesson_id)
    teacher = staff(session, OAK_TEACHER)
    first = issue_lesson_code(session, lesson, actor=teacher)
    second = issue_lesson_code(session, lesson, actor=teacher)
    session.commit()
    assert first != second
    assert lesson_by_code(session, first) is None
    assert lesson_by_code(session, second) == lesson
    assert len(audit(session, LESSON_CODE_ISSUED)) == 1
    assert [e.data for e in audit(session, LESSON_CODE_REPLACED)] == [{"lesson_id": lesson.id}]


def test_only_staff_of_the_lessons_school_make_its_code(session: Session, world: World) -> None:
    lesson = session.get_one(Lesson, world.oak_lesson_id)
    with pytest.raises(NotFoundError):
        issue_lesson_code(session, lesson, actor=staff(session, ELM_TEACHER))
    assert lesson.typed_code is None
    assert audit(session, LESSON_CODE_ISSUED) == []


def test_a_code_in_use_is_never_drawn_again(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    lesson = session.get_one(Lesson, world.oak_lesson_id)
    other = session.get_one(Lesson, world.birch_lesson_id)
    teacher = staff(session, OAK_TEACHER)
    taken = issue_lesson_code(session, lesson, actor=teacher)
    draws = iter([taken, taken, "ABCDEFGHJK"])
    monkeypatch.setattr(typed_codes, "new_lesson_code", lambda: next(draws))
    birch_admin = session.get_one(StaffMember, other.host_id)
    assert issue_lesson_code(session, other, actor=birch_admin) == "ABCDEFGHJK"

    monkeypatch.setattr(typed_codes, "new_lesson_code", lambda: taken)
    with pytest.raises(CodeSpaceExhaustedError):
        issue_lesson_code(session, other, actor=birch_admin)
    assert other.typed_code == "ABCDEFGHJK"


# --- Passcodes on personal links ----------------------------------------------------------------


def test_every_pupils_link_gets_its_own_passcode(
    session: Session, world: World, now: datetime
) -> None:
    issued = issue_missing_links(
        session,
        kestrels(session, world),
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )
    session.commit()
    passcodes = [item.passcode for item in issued]
    assert all(p is not None and len(p) == codes.PASSCODE_LENGTH for p in passcodes)
    assert len(set(passcodes)) == 3
    for item in issued:
        assert item.passcode is not None
        assert item.link.passcode_hmac == codes.passcode_hmac(KEY, item.passcode)
    # Each audit entry says that a passcode was made, never what it is.
    for entry in audit(session, ISSUED):
        assert entry.data["with_passcode"] is True


def test_passcodes_are_kept_only_as_hmacs(
    session: Session, world: World, now: datetime, engine: Engine
) -> None:
    teacher = staff(session, OAK_TEACHER)
    issued = issue_missing_links(
        session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
    )
    issued.append(
        regenerate_link(session, issued[0].link, actor=teacher, now=now, passcode_key=KEY)
    )
    session.commit()
    everything = every_stored_value(engine)
    assert everything
    for item in issued:
        assert item.passcode is not None
        assert item.passcode not in everything
        assert codes.shown(item.passcode) not in everything
        assert item.passcode[:6] not in everything
        # The plain SHA-256 of a passcode is not stored either: without the server's secret, a
        # copy of the database cannot be used to test guesses.
        assert codes.passcode_hmac(b"", item.passcode) not in everything


def test_a_parents_link_has_no_passcode(session: Session, world: World, now: datetime) -> None:
    school = session.get_one(School, world.oak_id)
    school.policy_overrides = {"parent_mediated_below_year": 5}
    session.flush()
    issued = issue_missing_links(
        session,
        kestrels(session, world),
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )
    assert [i.holder.parent is not None for i in issued] == [True, True]
    assert [i.passcode for i in issued] == [None, None]
    assert [i.link.passcode_hmac for i in issued] == [None, None]
    assert [e.data["with_passcode"] for e in audit(session, ISSUED)] == [False, False]


def test_a_new_link_brings_a_new_passcode(session: Session, world: World, now: datetime) -> None:
    teacher = staff(session, OAK_TEACHER)
    scope = kestrels(session, world)
    amy = Holder(pupil(session, "Amy"))
    first = issue_link(session, scope, amy, actor=teacher, now=now, passcode_key=KEY)
    second = issue_link(session, scope, amy, actor=teacher, now=now, passcode_key=KEY)
    third = regenerate_link(session, second.link, actor=teacher, now=now, passcode_key=KEY)
    assert len({first.passcode, second.passcode, third.passcode}) == 3
    assert len({first.link.passcode_hmac, second.link.passcode_hmac, third.link.passcode_hmac}) == 3


def test_a_passcode_in_use_by_a_link_or_a_guest_is_never_drawn_again(
    session: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = issue_link(
        session,
        kestrels(session, world),
        Holder(pupil(session, "Amy")),
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )
    guest_passcode = "GUESTPASS234"
    session.add(
        GuestInvitation(
            school_id=world.oak_id,
            lesson_id=world.oak_lesson_id,
            display_name="Dr Visitor",
            token_hash="g" * 64,
            passcode_hmac=codes.passcode_hmac(KEY, guest_passcode),
            expires_at=now + timedelta(days=2),
        )
    )
    session.flush()
    assert made.passcode is not None
    draws = iter([made.passcode, guest_passcode, "FRESHPASS234"])
    monkeypatch.setattr(typed_codes, "new_passcode", lambda: next(draws))
    assert unused_passcode(session, KEY) == (
        "FRESHPASS234",
        codes.passcode_hmac(KEY, "FRESHPASS234"),
    )
    monkeypatch.setattr(typed_codes, "new_passcode", lambda: guest_passcode)
    with pytest.raises(CodeSpaceExhaustedError):
        unused_passcode(session, KEY)


def test_codes_and_passcodes_are_found_the_same_on_every_database(
    any_session_factory: sessionmaker[Session],
) -> None:
    # The door lives in the web layer; what it asks the database is checked here, on each one.
    from safeclass.web.typed_entries import find_match

    with any_session_factory() as session:
        world = build_world(session)
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        now = lesson.starts_at
        teacher = staff(session, OAK_TEACHER)
        issued = issue_missing_links(
            session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
        )
        code = issue_lesson_code(session, lesson, actor=teacher)
        session.commit()
        passcodes = [item.passcode for item in issued]
        link_ids = [item.link.id for item in issued]

    with any_session_factory() as session:
        coded = lesson_by_code(session, code)
        assert coded is not None
        assert coded.id == world.oak_lesson_id
        found = []
        for passcode in passcodes:
            assert passcode is not None
            match = find_match(session, coded, passcode, KEY, now)
            assert match is not None
            assert match.link is not None
            found.append(match.link.id)
        assert found == link_ids
        assert find_match(session, coded, codes.new_passcode(), KEY, now) is None
        assert passcodes[0] is not None
        assert find_match(session, None, passcodes[0], KEY, now) is None
        assert lesson_by_code(session, codes.new_lesson_code()) is None
