"""Setting up a server from nothing: its trust, then the trust's schools.

One server holds one trust (a multi-academy trust, or a single school standing alone as its own
trust). A school's short name ("slug") is what commands and addresses use: lower-case letters,
digits and hyphens.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeclass.actions.audit import record_audit
from safeclass.store.models import School, Trust

MAX_NAME = 200
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")


class SetupError(ValueError):
    """Something the person setting up can put right; the message says how."""


def _clean_name(name: str, what: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise SetupError(f"Give the {what} a name.")
    if len(cleaned) > MAX_NAME:
        raise SetupError(f"The {what}'s name can be at most {MAX_NAME} characters long.")
    return cleaned


def slug_for(name: str) -> str:
    """A short name made from a school's name: "St Mary's C of E" -> "st-marys-c-of-e"."""
    words = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("'", "")).strip("-")
    return words[:80].strip("-")


def create_trust(session: Session, name: str) -> Trust:
    if session.scalar(select(func.count()).select_from(Trust)):
        raise SetupError(
            "This server already has its trust. One server holds one trust: add schools to it "
            "with `safeclass school add`."
        )
    trust = Trust(name=_clean_name(name, "trust"))
    session.add(trust)
    session.flush()
    record_audit(session, "trust.created", actor=None, data={"name": trust.name})
    return trust


def add_school(session: Session, name: str, slug: str | None = None) -> School:
    trust = session.scalar(select(Trust).order_by(Trust.id).limit(1))
    if trust is None:
        raise SetupError("Create the trust first, with `safeclass trust create`.")
    cleaned = _clean_name(name, "school")
    short = (slug or slug_for(cleaned)).strip().lower()
    if not _SLUG.match(short):
        raise SetupError(
            f'"{short}" cannot be a short name: use lower-case letters, digits and hyphens, '
            "for example oak-primary."
        )
    if session.scalar(select(School).where(School.slug == short)) is not None:
        raise SetupError(f'There is already a school with the short name "{short}".')
    school = School(trust_id=trust.id, name=cleaned, slug=short)
    session.add(school)
    session.flush()
    record_audit(
        session,
        "school.added",
        actor=None,
        school_id=school.id,
        data={"name": school.name, "slug": school.slug},
    )
    return school
