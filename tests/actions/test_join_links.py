"""Personal join links in the actions layer: who gets one (per the policy), tokens that cannot be
guessed and are kept only as hashes, revoking and regenerating, and an audit trail that never
holds a token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import NotFoundError
from safeclass.actions.join_links import (
    ISSUED,
    MAX_LINK_DAYS,
    REVOKED,
    TOKEN_ALPHABET,
    Holder,
    JoinLinkRefusedError,
    LinkScope,
    find_link,
    issue_link,
    issue_missing_links,
    link_holders,
    link_works,
    new_token,
    regenerate_link,
    revoke_link,
    working_link,
)
from safeclass.codes import passcode_key
from safeclass.domain.lesson.model import Via
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    JoinLink,
    Lesson,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
)
from tests.web.conftest import ELM_TEACHER, OAK_ASSISTANT, OAK_TEACHER, World, build_world

# The passcodes' HMAC key, as `codes.passcode_key` derives it from a server's secret.
KEY = passcode_key(b"k" * 32)


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
    """A day before the Oak lesson, so links for that lesson can still be made."""
    return session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(days=1)


def staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def pupil(session: Session, first_name: str) -> Pupil:
    return session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()


def kestrels(session: Session, world: World) -> LinkScope:
    return LinkScope.for_class(session.get_one(ClassGroup, world.kestrels_id))


def oak_lesson(session: Session, world: World) -> LinkScope:
    return LinkScope.for_lesson(session.get_one(Lesson, world.oak_lesson_id))


def parents_join_below(session: Session, world: World, year: int) -> None:
    school = session.get_one(School, world.oak_id)
    school.policy_overrides = {"parent_mediated_below_year": year}
    session.flush()


def audit(session: Session, action: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


# --- Tokens -----------------------------------------------------------------------------------


def test_tokens_carry_at_least_128_random_bits_in_url_safe_characters() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in tokens:
        # 6 bits a character: 32 characters are 192 bits, well past 128.
        assert len(token) * 6 >= 192
        assert set(token) <= TOKEN_ALPHABET
    # Every character of the alphabet turns up: the tokens are not drawn from a narrower set.
    assert set("".join(tokens)) == TOKEN_ALPHABET


def test_only_the_hash_of_a_token_is_stored(
    session: Session, world: World, now: datetime, engine: Engine
) -> None:
    teacher = staff(session, OAK_TEACHER)
    issued = issue_missing_links(
        session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
    )
    issued.append(
        issue_link(
            session,
            oak_lesson(session, world),
            Holder(pupil(session, "Amy")),
            actor=teacher,
            now=now,
            passcode_key=KEY,
        )
    )
    session.commit()
    for item in issued:
        assert item.link.token_hash == hashlib.sha256(item.token.encode()).hexdigest()

    # Not one row of any table holds a token, whole or in part.
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        stored = [
            str(value)
            for table in metadata.sorted_tables
            for row in connection.execute(table.select())
            for value in row
            if value is not None
        ]
    everything = "\n".join(stored)
    assert everything
    for item in issued:
        assert item.token not in everything
        assert item.token[:16] not in everything
        assert item.token[-16:] not in everything


# --- Who gets a link ----------------------------------------------------------------------------


def test_pupils_of_older_year_groups_each_get_their_own_link(
    session: Session, world: World, now: datetime
) -> None:
    issued = issue_missing_links(
        session,
        kestrels(session, world),
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )
    assert [(i.holder.pupil.first_name, i.holder.parent) for i in issued] == [
        ("Amy", None),
        ("Ben", None),
        ("Cara", None),
    ]
    assert {i.holder.via for i in issued} == {Via.PUPIL_LINK}
    assert all(
        i.link.class_group_id == world.kestrels_id and i.link.lesson_id is None for i in issued
    )


def test_young_year_groups_get_links_for_each_parent_or_carer_instead(
    session: Session, world: World, now: datetime
) -> None:
    parents_join_below(session, world, 5)  # Year 4 now joins with a parent
    holders = link_holders(session, kestrels(session, world))
    assert [p.first_name for p in holders.without_parent] == ["Ben"]

    issued = issue_missing_links(
        session,
        kestrels(session, world),
        actor=staff(session, OAK_TEACHER),
        now=now,
        passcode_key=KEY,
    )
    assert [
        (i.holder.pupil.first_name, i.holder.parent and i.holder.parent.display_name)
        for i in issued
    ] == [
        ("Amy", "Alex Adams"),
        ("Cara", "Chris Clark"),
    ]
    assert {i.holder.via for i in issued} == {Via.PARENT_LINK}
    assert issued[0].holder.relationship == "Mother"


def test_making_links_again_leaves_working_links_alone(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    first = issue_missing_links(
        session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
    )
    assert (
        issue_missing_links(
            session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
        )
        == []
    )
    revoke_link(session, first[1].link, actor=teacher, now=now)
    again = issue_missing_links(
        session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
    )
    assert [i.holder.pupil.first_name for i in again] == ["Ben"]
    # An expired link counts as none.
    later = now + timedelta(days=91)
    assert (
        len(
            issue_missing_links(
                session, kestrels(session, world), actor=teacher, now=later, passcode_key=KEY
            )
        )
        == 3
    )


def test_links_for_one_lesson_end_two_hours_after_it(
    session: Session, world: World, now: datetime
) -> None:
    scope = oak_lesson(session, world)
    issued = issue_missing_links(
        session, scope, actor=staff(session, OAK_TEACHER), now=now, passcode_key=KEY
    )
    assert scope.lesson is not None
    assert {i.link.expires_at for i in issued} == {scope.lesson.ends_at + timedelta(hours=2)}
    assert {i.link.lesson_id for i in issued} == {world.oak_lesson_id}
    assert {i.link.class_group_id for i in issued} == {None}


def test_class_links_expire_when_asked_and_no_later_than_a_year(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    amy = Holder(pupil(session, "Amy"))
    scope = kestrels(session, world)
    made = issue_link(session, scope, amy, actor=teacher, now=now, passcode_key=KEY)
    assert made.link.expires_at == now + timedelta(days=90)
    chosen = issue_link(
        session,
        scope,
        amy,
        actor=teacher,
        now=now,
        expires_at=now + timedelta(days=7),
        passcode_key=KEY,
    )
    assert chosen.link.expires_at == now + timedelta(days=7)
    for bad in (now, now - timedelta(days=1), now + timedelta(days=MAX_LINK_DAYS + 1)):
        with pytest.raises(JoinLinkRefusedError):
            issue_link(
                session, scope, amy, actor=teacher, now=now, expires_at=bad, passcode_key=KEY
            )


# --- Refusals -------------------------------------------------------------------------------------


def test_no_link_for_a_lesson_that_has_finished(session: Session, world: World) -> None:
    scope = oak_lesson(session, world)
    assert scope.lesson is not None
    after = scope.lesson.ends_at + timedelta(hours=3)
    with pytest.raises(JoinLinkRefusedError, match="finished"):
        issue_missing_links(
            session, scope, actor=staff(session, OAK_TEACHER), now=after, passcode_key=KEY
        )
    assert session.scalars(select(JoinLink)).all() == []


def test_no_link_for_a_pupil_of_another_class(
    session: Session, world: World, now: datetime
) -> None:
    robin = pupil(session, "Rob")
    with pytest.raises(JoinLinkRefusedError, match="not in Year 4 Kestrels"):
        issue_link(
            session,
            kestrels(session, world),
            Holder(robin),
            actor=staff(session, OAK_TEACHER),
            now=now,
            passcode_key=KEY,
        )


def test_no_own_link_for_a_pupil_who_joins_with_a_parent(
    session: Session, world: World, now: datetime
) -> None:
    parents_join_below(session, world, 5)
    with pytest.raises(JoinLinkRefusedError, match="parent or carer instead"):
        issue_link(
            session,
            kestrels(session, world),
            Holder(pupil(session, "Amy")),
            actor=staff(session, OAK_TEACHER),
            now=now,
            passcode_key=KEY,
        )


def test_no_parent_link_for_someone_not_linked_to_the_pupil(
    session: Session, world: World, now: datetime
) -> None:
    parents_join_below(session, world, 5)
    chris = session.scalars(select(Parent).where(Parent.display_name == "Chris Clark")).one()
    with pytest.raises(JoinLinkRefusedError, match="not recorded as a parent or carer"):
        issue_link(
            session,
            kestrels(session, world),
            Holder(pupil(session, "Amy"), chris),
            actor=staff(session, OAK_TEACHER),
            now=now,
            passcode_key=KEY,
        )


def test_no_parent_link_for_a_pupil_who_joins_on_their_own(
    session: Session, world: World, now: datetime
) -> None:
    alex = session.scalars(select(Parent).where(Parent.display_name == "Alex Adams")).one()
    with pytest.raises(JoinLinkRefusedError, match="own link"):
        issue_link(
            session,
            kestrels(session, world),
            Holder(pupil(session, "Amy"), alex),
            actor=staff(session, OAK_TEACHER),
            now=now,
            passcode_key=KEY,
        )


def test_only_staff_of_the_school_make_or_stop_links(
    session: Session, world: World, now: datetime
) -> None:
    elm_teacher = staff(session, ELM_TEACHER)
    with pytest.raises(NotFoundError):
        issue_missing_links(
            session, kestrels(session, world), actor=elm_teacher, now=now, passcode_key=KEY
        )
    made = issue_link(
        session,
        kestrels(session, world),
        Holder(pupil(session, "Amy")),
        actor=staff(session, OAK_ASSISTANT),
        now=now,
        passcode_key=KEY,
    )
    with pytest.raises(NotFoundError):
        revoke_link(session, made.link, actor=elm_teacher, now=now)
    with pytest.raises(NotFoundError):
        regenerate_link(session, made.link, actor=elm_teacher, now=now, passcode_key=KEY)
    assert made.link.revoked_at is None


# --- Revoking and regenerating ----------------------------------------------------------------


def test_regenerating_stops_the_old_link_and_makes_a_new_one(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    old = issue_link(
        session,
        kestrels(session, world),
        Holder(pupil(session, "Amy")),
        actor=teacher,
        now=now,
        expires_at=now + timedelta(days=30),
        passcode_key=KEY,
    )
    later = now + timedelta(days=2)
    new = regenerate_link(session, old.link, actor=teacher, now=later, passcode_key=KEY)
    session.commit()

    assert old.link.revoked_at == later
    assert old.link.revoked_by_staff_id == teacher.id
    assert working_link(session, old.token, later) is None
    assert working_link(session, new.token, later) == new.link
    assert new.token != old.token
    assert new.link.expires_at == later + timedelta(days=30)  # as long a life as the old one
    assert (new.link.pupil_id, new.link.parent_id, new.link.class_group_id) == (
        old.link.pupil_id,
        None,
        world.kestrels_id,
    )
    revoked = audit(session, REVOKED)
    assert [entry.data["link_id"] for entry in revoked] == [old.link.id]
    assert revoked[0].data["replaced_by"] == new.link.id
    assert revoked[0].actor_staff_id == teacher.id
    assert audit(session, ISSUED)[-1].data["replaces"] == [old.link.id]


def test_a_new_link_for_someone_replaces_the_one_they_had(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    scope = kestrels(session, world)
    amy = Holder(pupil(session, "Amy"))
    first = issue_link(session, scope, amy, actor=teacher, now=now, passcode_key=KEY)
    second = issue_link(session, scope, amy, actor=teacher, now=now, passcode_key=KEY)
    assert first.link.revoked_at == now
    assert second.link.is_active(now)
    # A link for one lesson is another scope: the class link is untouched by it.
    lesson_link = issue_link(
        session, oak_lesson(session, world), amy, actor=teacher, now=now, passcode_key=KEY
    )
    assert second.link.is_active(now)
    assert lesson_link.link.is_active(now)


def test_revoking_twice_changes_nothing_the_second_time(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    made = issue_link(
        session,
        kestrels(session, world),
        Holder(pupil(session, "Ben")),
        actor=teacher,
        now=now,
        passcode_key=KEY,
    )
    assert revoke_link(session, made.link, actor=teacher, now=now) is True
    assert revoke_link(session, made.link, actor=teacher, now=now + timedelta(hours=1)) is False
    assert made.link.revoked_at == now
    assert len(audit(session, REVOKED)) == 1


def test_audit_entries_record_each_change_without_the_token(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    parents_join_below(session, world, 5)
    issued = issue_missing_links(
        session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
    )
    regenerated = regenerate_link(session, issued[0].link, actor=teacher, now=now, passcode_key=KEY)
    revoke_link(session, regenerated.link, actor=teacher, now=now)
    session.commit()

    entries = audit(session, ISSUED) + audit(session, REVOKED)
    assert len(entries) == 3 + 2
    first = audit(session, ISSUED)[0]
    assert first.actor_staff_id == teacher.id
    assert first.school_id == world.oak_id
    assert first.data["pupil_id"] == issued[0].link.pupil_id
    assert first.data["parent_id"] == issued[0].link.parent_id is not None
    assert first.data["class_group_id"] == world.kestrels_id
    text = repr([entry.data for entry in entries])
    for item in [*issued, regenerated]:
        assert item.token not in text
        assert item.link.token_hash not in text


# --- Whether a link still works ------------------------------------------------------------------


def test_a_link_stops_working_when_its_holder_no_longer_belongs(
    session: Session, world: World, now: datetime
) -> None:
    teacher = staff(session, OAK_TEACHER)
    parents_join_below(session, world, 5)
    issued = {
        i.holder.pupil.first_name: i
        for i in issue_missing_links(
            session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
        )
    }
    session.commit()
    assert link_works(session, issued["Amy"].link, now)
    assert link_works(session, issued["Cara"].link, now)

    # Cara's carer is unlinked; Amy leaves the class.
    cara = pupil(session, "Cara")
    session.delete(session.get_one(ParentLink, (cara.id, issued["Cara"].link.parent_id)))
    class_group = session.get_one(ClassGroup, world.kestrels_id)
    class_group.pupils.remove(pupil(session, "Amy"))
    session.commit()
    assert not link_works(session, issued["Cara"].link, now)
    assert not link_works(session, issued["Amy"].link, now)


def test_unknown_and_malformed_tokens_find_nothing(session: Session, world: World) -> None:
    for token in ["", "x", new_token(), "a" * 65, "../../etc/passwd", "ünïcode-token", "a b"]:
        assert find_link(session, token) is None


def test_links_are_stored_and_found_the_same_on_every_database(
    any_session_factory: sessionmaker[Session],
) -> None:
    with any_session_factory() as session:
        world = build_world(session)
        now = session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(days=1)
        teacher = staff(session, OAK_TEACHER)
        for_class = issue_missing_links(
            session, kestrels(session, world), actor=teacher, now=now, passcode_key=KEY
        )
        for_lesson = issue_missing_links(
            session, oak_lesson(session, world), actor=teacher, now=now, passcode_key=KEY
        )
        revoke_link(session, for_class[0].link, actor=teacher, now=now)
        session.commit()
        link_ids = [i.link.id for i in for_class + for_lesson]
        tokens = [i.token for i in for_class + for_lesson]

    with any_session_factory() as session:
        found = [working_link(session, token, now) for token in tokens]
        assert found[0] is None
        assert [link.id if link else None for link in found[1:]] == link_ids[1:]
        assert [link.expires_at if link else None for link in found[1:3]] == [
            now + timedelta(days=90)
        ] * 2

        # A link is for a class or for a lesson: never both, never neither.
        link = session.get_one(JoinLink, link_ids[1])
        link.lesson_id = world.oak_lesson_id
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        link = session.get_one(JoinLink, link_ids[1])
        link.class_group_id = None
        with pytest.raises(IntegrityError):
            session.commit()
