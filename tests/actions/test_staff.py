"""Staff accounts: one account per email, roles held where they make sense, passwords hashed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.actions.staff import StaffError, add_staff, set_password
from safeclass.passwords import verify_password
from safeclass.store.db import transaction
from safeclass.store.models import AuditEntry, School, StaffMember, StaffRole, Trust

PASSWORD = "correct horse battery"


def make_school(session: Session, slug: str = "oakfield", trust: Trust | None = None) -> School:
    school = School(trust=trust or Trust(name="Test Trust"), name=f"School {slug}", slug=slug)
    session.add(school)
    session.flush()
    return school


def add(session: Session, school: School, **changes: Any) -> StaffMember:
    arguments: dict[str, Any] = {
        "trust": school.trust,
        "email": "  Ms.Teacher@Example.ORG ",
        "display_name": " Jane   Teacher ",
        "password": PASSWORD,
        "roles": [(StaffRole.TEACHER, school), (StaffRole.SAFEGUARDING_LEAD, school)],
        "actor": None,
    }
    arguments.update(changes)
    return add_staff(session, **arguments)


def test_add_staff_normalises_and_hashes(any_session_factory: Any) -> None:
    with transaction(any_session_factory) as session:
        school = make_school(session)

        member = add(session, school)

        assert member.email == "ms.teacher@example.org"
        assert member.display_name == "Jane Teacher"
        assert member.password_hash is not None
        assert PASSWORD not in member.password_hash
        assert verify_password(member.password_hash, PASSWORD)
        assert member.has_role(StaffRole.TEACHER, school.id)
        assert member.has_role(StaffRole.SAFEGUARDING_LEAD, school.id)
        audit = session.scalars(select(AuditEntry)).one()
        assert audit.action == "staff_added"
        assert PASSWORD not in repr(audit.data)


def test_a_trust_admin_holds_the_role_across_the_trust(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)

        member = add(session, school, roles=[(StaffRole.TRUST_ADMIN, None)])

        assert member.is_trust_admin
        assert member.school_ids() == set()


def test_an_email_can_have_only_one_account(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        add(session, school)

        with pytest.raises(StaffError, match="already a staff account"):
            add(session, school, email="MS.TEACHER@example.org")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not an email"}, "is not an email address"),
        ({"email": " "}, "needs an email address"),
        ({"display_name": "  "}, "needs a name"),
        ({"roles": []}, "at least one role"),
        ({"password": "short"}, "at least 10 characters"),
    ],
)
def test_bad_details_are_refused(
    session_factory: Any, changes: dict[str, Any], message: str
) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)

        with pytest.raises(StaffError, match=message):
            add(session, school, **changes)


def test_roles_must_match_their_scope(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        other_trust_school = make_school(session, "elsewhere")

        with pytest.raises(StaffError, match="give no school"):
            add(session, school, roles=[(StaffRole.TRUST_ADMIN, school)])
        with pytest.raises(StaffError, match="say which one"):
            add(session, school, roles=[(StaffRole.TEACHER, None)])
        with pytest.raises(StaffError, match="is not one of"):
            add(session, school, roles=[(StaffRole.TEACHER, other_trust_school)])


def test_set_password_replaces_the_hash(session_factory: Any) -> None:
    with transaction(session_factory) as session:
        school = make_school(session)
        member = add(session, school)

        set_password(session, staff=member, password="a brand new password", actor=member)

        assert verify_password(member.password_hash, "a brand new password")
        assert not verify_password(member.password_hash, PASSWORD)
        actions = [entry.action for entry in session.scalars(select(AuditEntry))]
        assert actions == ["staff_added", "password_set"]
        with pytest.raises(StaffError):
            set_password(session, staff=member, password="short", actor=member)
