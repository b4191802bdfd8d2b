"""Setting up a new server: one trust, then its schools, each with an audit entry."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.trust import SetupError, add_school, create_trust, slug_for
from safeclass.store.db import transaction
from safeclass.store.models import AuditEntry, School, Trust


def _audit(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_trust_then_its_schools(any_session_factory: sessionmaker[Session]) -> None:
    with transaction(any_session_factory) as session:
        trust = create_trust(session, "  Riverside   Learning Trust ", actor=None)
        oak = add_school(session, "Oak Primary School", actor=None)
        marys = add_school(session, "St Mary's C of E", slug="St-Marys ", actor=None)

    with any_session_factory() as session:
        assert session.get_one(Trust, trust.id).name == "Riverside Learning Trust"
        schools = session.scalars(select(School).order_by(School.id)).all()
        assert [(s.name, s.slug) for s in schools] == [
            ("Oak Primary School", "oak-primary-school"),
            ("St Mary's C of E", "st-marys"),
        ]
        assert {s.trust_id for s in schools} == {trust.id}
        entries = _audit(session)
        assert [(e.action, e.actor_staff_id, e.school_id) for e in entries] == [
            ("trust_created", None, None),
            ("school_added", None, oak.id),
            ("school_added", None, marys.id),
        ]
        assert entries[0].data == {"trust_id": trust.id, "name": "Riverside Learning Trust"}
        assert entries[2].data == {"name": "St Mary's C of E", "slug": "st-marys"}


def test_one_server_holds_one_trust(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        create_trust(session, "First", actor=None)

    with pytest.raises(SetupError, match="already has its trust"), session_factory() as session:
        create_trust(session, "Second", actor=None)

    with session_factory() as session:
        assert list(session.scalars(select(Trust.name))) == ["First"]
        assert [e.action for e in _audit(session)] == ["trust_created"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "Give the trust a name"), ("   ", "Give the trust a name"), ("x" * 201, "at most 200")],
)
def test_bad_trust_names_are_refused_in_words(
    session_factory: sessionmaker[Session], name: str, problem: str
) -> None:
    with pytest.raises(SetupError, match=problem), session_factory() as session:
        create_trust(session, name, actor=None)


@pytest.mark.parametrize(
    ("name", "slug", "problem"),
    [
        ("", None, "Give the school a name"),
        ("x" * 201, None, "at most 200"),
        ("Oak", "Oak Primary!", "cannot be a short name"),
        ("Oak", "-oak", "cannot be a short name"),
        ("Oak", "oak-", "cannot be a short name"),
        ("Oak", "", "short name with --slug"),
        ("Oak", "o" * 81, "at most 80"),
        ("学校", None, "short name with --slug"),
        ("Oak", "oak", 'already a school with the short name "oak"'),
        ("OAK", None, 'already a school with the short name "oak"'),
    ],
)
def test_bad_school_details_are_refused_in_words(
    session_factory: sessionmaker[Session], name: str, slug: str | None, problem: str
) -> None:
    with transaction(session_factory) as session:
        create_trust(session, "Trust", actor=None)
        add_school(session, "Oak", slug="oak", actor=None)

    with pytest.raises(SetupError, match=problem), session_factory() as session:
        add_school(session, name, slug=slug, actor=None)

    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(School)) == 1


def test_a_school_needs_a_trust_first(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(SetupError, match="Create the trust first"), session_factory() as session:
        add_school(session, "Oak", actor=None)


def test_a_school_is_not_added_to_a_guessed_trust(session_factory: sessionmaker[Session]) -> None:
    """A database that somehow holds two trusts: the school is refused, not put in the first."""
    with transaction(session_factory) as session:
        session.add_all([Trust(name="One"), Trust(name="Two")])

    with pytest.raises(SetupError, match="more than one trust"), session_factory() as session:
        add_school(session, "Oak", actor=None)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("St Mary's C of E Primary", "st-marys-c-of-e-primary"),
        ("  Ash & Elm (Juniors) ", "ash-elm-juniors"),
        ("École Sainte-Anne", "ecole-sainte-anne"),
        ("Ysgol Gymraeg Bro Morgannwg", "ysgol-gymraeg-bro-morgannwg"),
        ("x" * 79 + " y", "x" * 79),
    ],
)
def test_short_names_are_made_from_names(name: str, slug: str) -> None:
    assert slug_for(name) == slug
