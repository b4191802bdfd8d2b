"""Setting up a new server: one trust, then its schools, each with an audit entry."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.trust import SetupError, add_school, create_trust, slug_for
from safeclass.store.db import transaction
from safeclass.store.models import AuditEntry, School


def test_a_trust_then_its_schools(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        trust = create_trust(session, "  Riverside   Learning Trust ")
        oak = add_school(session, "Oak Primary School")
        elm = add_school(session, "St Mary's C of E", slug="st-marys")
    with session_factory() as session:
        assert trust.name == "Riverside Learning Trust"
        assert [s.slug for s in session.scalars(select(School).order_by(School.id))] == [
            "oak-primary-school",
            "st-marys",
        ]
        assert oak.trust_id == elm.trust_id == trust.id
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["trust.created", "school.added", "school.added"]


def test_one_server_holds_one_trust(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        create_trust(session, "First")
    with pytest.raises(SetupError, match="already has its trust"), session_factory() as session:
        create_trust(session, "Second")


@pytest.mark.parametrize(
    ("name", "slug", "problem"),
    [
        ("", None, "Give the school a name"),
        ("x" * 201, None, "at most 200"),
        ("Oak", "Oak Primary!", "cannot be a short name"),
        ("Oak", "-oak", "cannot be a short name"),
        ("Oak", "oak", "already a school"),
    ],
)
def test_bad_school_details_are_refused_in_words(
    session_factory: sessionmaker[Session], name: str, slug: str | None, problem: str
) -> None:
    with transaction(session_factory) as session:
        create_trust(session, "Trust")
        add_school(session, "Oak", slug="oak")
    with pytest.raises(SetupError, match=problem), session_factory() as session:
        add_school(session, name, slug)


def test_a_school_needs_a_trust_first(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(SetupError, match="Create the trust first"), session_factory() as session:
        add_school(session, "Oak")


def test_short_names_are_made_from_names() -> None:
    assert slug_for("St Mary's C of E Primary") == "st-marys-c-of-e-primary"
    assert slug_for("  Ash & Elm (Juniors) ") == "ash-elm-juniors"
