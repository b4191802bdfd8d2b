"""Staff accounts: adding a member of staff with their roles, and setting a password."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeclass.actions.audit import record_audit
from safeclass.passwords import PasswordTooWeakError, hash_password
from safeclass.store.models import (
    STAFF_ROLE_NAMES,
    School,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
    Trust,
)

MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")


class StaffError(ValueError):
    """A staff change was refused. The message is written for the admin who asked for it."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def add_staff(
    session: Session,
    *,
    trust: Trust,
    email: str,
    display_name: str,
    password: str | None,
    roles: Sequence[tuple[StaffRole, School | None]],
    actor: StaffMember | None,
) -> StaffMember:
    """Add a member of staff. A trust admin's role covers the whole trust (school None); every
    other role is held at one school of the trust. Without a password nobody can sign in as them
    until one is set. The caller commits."""
    email = _checked_email(email)
    display_name = " ".join(display_name.split())
    if not display_name:
        raise StaffError("A member of staff needs a name.")
    if len(display_name) > MAX_NAME:
        raise StaffError(f"A name can be at most {MAX_NAME} characters.")
    grants = _checked_roles(trust, roles)
    existing = session.scalar(
        select(StaffMember.id).where(func.lower(StaffMember.email) == email).limit(1)
    )
    if existing is not None:
        raise StaffError(f"There is already a staff account for {email}.")
    member = StaffMember(
        trust_id=trust.id,
        email=email,
        display_name=display_name,
        password_hash=_hashed(password) if password is not None else None,
        roles=[StaffRoleGrant(role=role, school_id=school_id) for role, school_id in grants],
    )
    session.add(member)
    session.flush()
    record_audit(
        session,
        "staff_added",
        actor=actor,
        data={
            "staff_id": member.id,
            "roles": [{"role": role.value, "school_id": school_id} for role, school_id in grants],
        },
    )
    return member


def set_password(
    session: Session, *, staff: StaffMember, password: str, actor: StaffMember | None
) -> None:
    """Replace a member of staff's password. The caller commits."""
    staff.password_hash = _hashed(password)
    record_audit(session, "password_set", actor=actor, data={"staff_id": staff.id})


def _checked_email(raw: str) -> str:
    email = normalise_email(raw)
    if not email:
        raise StaffError("A member of staff needs an email address.")
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise StaffError(f'"{raw.strip()}" is not an email address.')
    return email


def _checked_roles(
    trust: Trust, roles: Sequence[tuple[StaffRole, School | None]]
) -> list[tuple[StaffRole, int | None]]:
    if not roles:
        raise StaffError("A member of staff needs at least one role.")
    grants: list[tuple[StaffRole, int | None]] = []
    for role, school in roles:
        name = STAFF_ROLE_NAMES[role]
        if role is StaffRole.TRUST_ADMIN and school is not None:
            raise StaffError("A trust admin works across the whole trust: give no school.")
        if role is not StaffRole.TRUST_ADMIN and school is None:
            raise StaffError(f'The role "{name}" is held at a school: say which one.')
        if school is not None and school.trust_id != trust.id:
            raise StaffError(f"{school.name} is not one of {trust.name}'s schools.")
        grant = (role, school.id if school is not None else None)
        if grant not in grants:
            grants.append(grant)
    return grants


def _hashed(password: str) -> str:
    try:
        return hash_password(password)
    except PasswordTooWeakError as error:
        raise StaffError(str(error)) from None
