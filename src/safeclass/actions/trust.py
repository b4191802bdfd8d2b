"""Setting up a server from nothing: its trust, then the trust's schools.

One server holds one trust (a multi-academy trust, or a single school standing alone as its own
trust). A school's short name ("slug") is what commands and addresses use: lower-case letters,
digits and hyphens.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.actions.audit import record_audit
from safeclass.store.models import School, StaffMember, Trust

MAX_NAME = 200
MAX_SLUG = 80
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


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
    """A short name made from a school's name: "St Mary's C of E" -> "st-marys-c-of-e",
    "École Sainte-Anne" -> "ecole-sainte-anne"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", "-", plain.lower().replace("'", "")).strip("-")
    return words[:MAX_SLUG].strip("-")


def create_trust(session: Session, name: str, *, actor: StaffMember | None) -> Trust:
    """The server's trust. There is only ever one: a second is refused. The caller commits."""
    if session.scalar(select(Trust.id).limit(1)) is not None:
        raise SetupError(
            "This server already has its trust. One server holds one trust: add schools to it "
            "with `safeclass school add`."
        )
    trust = Trust(name=_clean_name(name, "trust"))
    session.add(trust)
    session.flush()
    record_audit(
        session, "trust_created", actor=actor, data={"trust_id": trust.id, "name": trust.name}
    )
    return trust


def add_school(
    session: Session, name: str, *, slug: str | None = None, actor: StaffMember | None
) -> School:
    """A school of the server's trust, with its short name (made from the name unless given).
    The caller commits."""
    trusts = session.scalars(select(Trust).order_by(Trust.id).limit(2)).all()
    if not trusts:
        raise SetupError('Create the trust first, with `safeclass trust create "Trust Name"`.')
    if len(trusts) > 1:
        raise SetupError(
            "This server holds more than one trust, so it cannot tell which one the school "
            "belongs to. One server holds one trust."
        )
    trust = trusts[0]
    cleaned = _clean_name(name, "school")
    short = slug.strip().lower() if slug is not None else slug_for(cleaned)
    if not short:
        raise SetupError(
            "Give the school a short name with --slug, using lower-case letters, digits and "
            "hyphens, for example oak-primary."
        )
    if len(short) > MAX_SLUG:
        raise SetupError(f"A short name can be at most {MAX_SLUG} characters long.")
    if not _SLUG.match(short):
        raise SetupError(
            f'"{short}" cannot be a short name: use lower-case letters, digits and hyphens '
            "(not at the start or end), for example oak-primary."
        )
    if session.scalar(select(School.id).where(School.slug == short)) is not None:
        raise SetupError(
            f'There is already a school with the short name "{short}": choose another with --slug.'
        )
    school = School(trust_id=trust.id, name=cleaned, slug=short)
    session.add(school)
    session.flush()
    record_audit(
        session,
        "school_added",
        actor=actor,
        school_id=school.id,
        data={"name": school.name, "slug": school.slug},
    )
    return school
