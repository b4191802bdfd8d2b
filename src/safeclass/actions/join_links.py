"""Personal join links: how pupils, and the parents or carers of young pupils, come to a lesson.

Each link carries a random token of 192 bits and belongs to one holder: a pupil, or a parent or
carer who joins with a pupil of a year group that the school's policy says joins with a parent.
It opens every lesson of one class, or one lesson, until it expires or staff revoke it.
Regenerating revokes the old link and makes a new one. The plain token exists only in the answer
to the member of staff who made it (the page that shows the links once, and the letters printed
from it); the database keeps its SHA-256.

Who gets a link follows the policy: a pupil in a parent-mediated year group gets none of their
own, because the lesson's door would turn them away; each parent or carer linked to them gets one.

A pupil's link also comes with a passcode, for the days the link will not open: the pupil types
the lesson's code and the passcode instead (`actions.typed_codes`). Like the token, the passcode is
known only in the answer that made it; the database keeps an HMAC keyed from the server's secret
(`codes.passcode_hmac`), so callers pass `passcode_key`. It works exactly as long as its link: when
the link is revoked, replaced or expires, or its holder leaves the class, so does the passcode. A
parent's or carer's link has none: the year groups that join with a parent need the parent's own
link, which records that the parent is there, and a typed code cannot say that.

Every change writes an audit entry, in the same transaction, and no entry ever holds a token or a
passcode.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.access import NotFoundError, may_see_school
from safeclass.actions.audit import record_audit
from safeclass.actions.typed_codes import unused_passcode
from safeclass.domain.lesson.model import Via
from safeclass.domain.policy import EffectivePolicy, is_parent_mediated
from safeclass.store.models import (
    ClassGroup,
    JoinLink,
    Lesson,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    class_members,
)
from safeclass.store.queries import lesson_policy, school_policy

# 24 random bytes: 192 bits, 32 URL-safe characters. Far past the 128 bits that make guessing
# hopeless however fast someone tries, and short enough to type from a printed letter.
TOKEN_BYTES = 24
TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# Anything longer than our tokens is not one of ours; it is refused before it is hashed.
MAX_TOKEN_LENGTH = 64

DEFAULT_CLASS_LINK_DAYS = 90
MAX_LINK_DAYS = 366
# A link for one lesson keeps working a while after the booked end: a lesson may overrun, and a
# pupil whose connection drops near the end must be able to come back.
LESSON_LINK_GRACE = timedelta(hours=2)

ISSUED = "join_link_issued"
REVOKED = "join_link_revoked"


class JoinLinkRefusedError(ValueError):
    """Staff asked for a link that cannot be made. The message is for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    # A plain SHA-256 is enough here, unlike for passwords: the token is 192 random bits, so
    # there is no dictionary to try and no point in a slow hash; a copy of the database still
    # gives nobody a working link. Being unsalted, it can be looked up through a unique index.
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """Cheap shape check before any database work: the right length and alphabet."""
    return 0 < len(token) <= MAX_TOKEN_LENGTH and all(ch in TOKEN_ALPHABET for ch in token)


# --- What a link is for --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkScope:
    """Every lesson of a class, or one lesson (of that class)."""

    class_group: ClassGroup
    lesson: Lesson | None = None

    @classmethod
    def for_class(cls, class_group: ClassGroup) -> LinkScope:
        return cls(class_group)

    @classmethod
    def for_lesson(cls, lesson: Lesson) -> LinkScope:
        return cls(lesson.class_group, lesson)

    @classmethod
    def of(cls, link: JoinLink) -> LinkScope:
        if link.lesson is not None:
            return cls.for_lesson(link.lesson)
        assert link.class_group is not None  # the table's check constraint
        return cls.for_class(link.class_group)

    @property
    def school(self) -> School:
        return self.class_group.school

    def policy(self) -> EffectivePolicy:
        if self.lesson is not None:
            return lesson_policy(self.lesson)
        return school_policy(self.school)

    def audit_data(self) -> dict[str, Any]:
        if self.lesson is not None:
            return {"lesson_id": self.lesson.id}
        return {"class_group_id": self.class_group.id}


@dataclass(frozen=True)
class Holder:
    """Who a link is for: a pupil, or a parent or carer joining with that pupil."""

    pupil: Pupil
    parent: Parent | None = None
    relationship: str = ""

    @property
    def key(self) -> tuple[int, int | None]:
        return (self.pupil.id, self.parent.id if self.parent is not None else None)

    @property
    def via(self) -> Via:
        return Via.PUPIL_LINK if self.parent is None else Via.PARENT_LINK


@dataclass(frozen=True)
class Holders:
    """Everyone in a scope who should have a link, and the young pupils who cannot have one yet
    because no parent or carer is on record for them."""

    holders: tuple[Holder, ...]
    without_parent: tuple[Pupil, ...]


@dataclass(frozen=True)
class IssuedLink:
    """A new link with its token and passcode (None for a parent's link): the only moment they
    are known."""

    link: JoinLink
    token: str
    holder: Holder
    passcode: str | None


def link_holders(session: Session, scope: LinkScope) -> Holders:
    policy = scope.policy()
    pupils = sorted(scope.class_group.pupils, key=lambda p: (p.last_name, p.first_name, p.id))
    holders: list[Holder] = []
    without_parent: list[Pupil] = []
    for pupil in pupils:
        if not is_parent_mediated(policy, pupil.year_group):
            holders.append(Holder(pupil))
            continue
        parents = sorted(pupil.parent_links, key=lambda pl: (pl.parent.display_name, pl.parent_id))
        if not parents:
            without_parent.append(pupil)
        holders.extend(Holder(pupil, pl.parent, pl.relationship_to_pupil) for pl in parents)
    return Holders(tuple(holders), tuple(without_parent))


def links_in_scope(session: Session, scope: LinkScope) -> list[JoinLink]:
    """Every link ever made for this scope, newest first."""
    query = select(JoinLink).order_by(JoinLink.created_at.desc(), JoinLink.id.desc())
    if scope.lesson is not None:
        query = query.where(JoinLink.lesson_id == scope.lesson.id)
    else:
        query = query.where(
            JoinLink.class_group_id == scope.class_group.id, JoinLink.lesson_id.is_(None)
        )
    return list(session.scalars(query))


def holder_of(link: JoinLink) -> Holder:
    relationship = ""
    if link.parent is not None:
        relationship = next(
            (
                pl.relationship_to_pupil
                for pl in link.pupil.parent_links
                if pl.parent_id == link.parent_id
            ),
            "",
        )
    return Holder(link.pupil, link.parent, relationship)


# --- Checking a link ------------------------------------------------------------------------------


def find_link(session: Session, token: str) -> JoinLink | None:
    """The link with this token, whatever its state, or None."""
    if not looks_like_token(token):
        return None
    # Looked up by hash through a unique index: the comparison never sees the token itself, so
    # its timing tells an attacker nothing about how close a guess was.
    return session.scalar(select(JoinLink).where(JoinLink.token_hash == hash_token(token)))


def link_works(session: Session, link: JoinLink, now: datetime) -> bool:
    """Not revoked or expired, and its holder still belongs: the pupil is still in the class, and
    a parent or carer is still linked to the pupil. Each condition on its own line."""
    if link.revoked_at is not None:
        return False
    if now >= link.expires_at:
        return False
    class_group_id = link.lesson.class_group_id if link.lesson is not None else link.class_group_id
    if not _in_class(session, link.pupil_id, class_group_id):
        return False
    if link.parent_id is None:
        return True
    return session.get(ParentLink, (link.pupil_id, link.parent_id)) is not None


def working_link(session: Session, token: str, now: datetime) -> JoinLink | None:
    link = find_link(session, token)
    if link is None or not link_works(session, link, now):
        return None
    return link


def _in_class(session: Session, pupil_id: int, class_group_id: int | None) -> bool:
    if class_group_id is None:
        return False
    found = session.execute(
        select(class_members.c.pupil_id).where(
            class_members.c.pupil_id == pupil_id,
            class_members.c.class_group_id == class_group_id,
        )
    ).first()
    return found is not None


# --- Making and revoking links -------------------------------------------------------------------


def issue_missing_links(
    session: Session,
    scope: LinkScope,
    *,
    actor: StaffMember,
    now: datetime,
    passcode_key: bytes,
    expires_at: datetime | None = None,
) -> list[IssuedLink]:
    """A link for everyone in the scope who has no working one. Nobody's link changes."""
    _check_actor(actor, scope.school)
    expiry = _expiry(scope, now, expires_at)
    working = {
        (link.pupil_id, link.parent_id)
        for link in links_in_scope(session, scope)
        if link.is_active(now)
    }
    return [
        _issue(
            session,
            scope,
            holder,
            actor=actor,
            now=now,
            passcode_key=passcode_key,
            expires_at=expiry,
        )
        for holder in link_holders(session, scope).holders
        if holder.key not in working
    ]


def issue_link(
    session: Session,
    scope: LinkScope,
    holder: Holder,
    *,
    actor: StaffMember,
    now: datetime,
    passcode_key: bytes,
    expires_at: datetime | None = None,
) -> IssuedLink:
    """A new link for one holder. Any link they have for this scope (and its passcode) stops
    working."""
    _check_actor(actor, scope.school)
    expiry = _expiry(scope, now, expires_at)
    _check_holder(session, scope, holder)
    replaced = [
        link
        for link in links_in_scope(session, scope)
        if (link.pupil_id, link.parent_id) == holder.key and link.is_active(now)
    ]
    issued = _issue(
        session,
        scope,
        holder,
        actor=actor,
        now=now,
        passcode_key=passcode_key,
        expires_at=expiry,
        replaces=[old.id for old in replaced],
    )
    for old in replaced:
        _revoke(session, old, actor=actor, now=now, replaced_by=issued.link.id)
    return issued


def regenerate_link(
    session: Session, link: JoinLink, *, actor: StaffMember, now: datetime, passcode_key: bytes
) -> IssuedLink:
    """Revoke this link and make its holder a new one, for the same class or lesson and, for a
    class, as long a life as the old one had."""
    scope = LinkScope.of(link)
    expires_at = None
    if scope.lesson is None:
        expires_at = now + min(link.expires_at - link.created_at, timedelta(days=MAX_LINK_DAYS))
    return issue_link(
        session,
        scope,
        holder_of(link),
        actor=actor,
        now=now,
        passcode_key=passcode_key,
        expires_at=expires_at,
    )


def revoke_link(session: Session, link: JoinLink, *, actor: StaffMember, now: datetime) -> bool:
    """Stop a link working. False (and no audit entry) if it was already revoked."""
    _check_actor(actor, link.school)
    if link.revoked_at is not None:
        return False
    _revoke(session, link, actor=actor, now=now, replaced_by=None)
    return True


def _issue(
    session: Session,
    scope: LinkScope,
    holder: Holder,
    *,
    actor: StaffMember,
    now: datetime,
    passcode_key: bytes,
    expires_at: datetime,
    replaces: Sequence[int] = (),
) -> IssuedLink:
    token = new_token()
    passcode: str | None = None
    digest: str | None = None
    if holder.parent is None:
        passcode, digest = unused_passcode(session, passcode_key)
    link = JoinLink(
        token_hash=hash_token(token),
        school_id=scope.school.id,
        pupil_id=holder.pupil.id,
        parent_id=holder.parent.id if holder.parent is not None else None,
        class_group_id=scope.class_group.id if scope.lesson is None else None,
        lesson_id=scope.lesson.id if scope.lesson is not None else None,
        created_at=now,
        created_by_staff_id=actor.id,
        expires_at=expires_at,
        passcode_hmac=digest,
    )
    session.add(link)
    session.flush()
    record_audit(
        session,
        ISSUED,
        actor=actor,
        school_id=scope.school.id,
        data={
            "link_id": link.id,
            "pupil_id": holder.pupil.id,
            "parent_id": link.parent_id,
            **scope.audit_data(),
            "expires_at": expires_at.isoformat(),
            "with_passcode": passcode is not None,
            **({"replaces": list(replaces)} if replaces else {}),
        },
    )
    return IssuedLink(link, token, holder, passcode)


def _revoke(
    session: Session,
    link: JoinLink,
    *,
    actor: StaffMember,
    now: datetime,
    replaced_by: int | None,
) -> None:
    link.revoked_at = now
    link.revoked_by_staff_id = actor.id
    data: dict[str, Any] = {
        "link_id": link.id,
        "pupil_id": link.pupil_id,
        "parent_id": link.parent_id,
        **LinkScope.of(link).audit_data(),
    }
    if replaced_by is not None:
        data["replaced_by"] = replaced_by
    record_audit(session, REVOKED, actor=actor, school_id=link.school_id, data=data)


def _check_actor(actor: StaffMember, school: School) -> None:
    # The pages reach here through `safeclass.access`; this is the second lock on the same door.
    if not may_see_school(actor, school):
        raise NotFoundError(f"School {school.id}")


def _check_holder(session: Session, scope: LinkScope, holder: Holder) -> None:
    pupil = holder.pupil
    if pupil not in scope.class_group.pupils:
        raise JoinLinkRefusedError(
            f"{pupil.display_name} is not in {scope.class_group.name}, so a link for its "
            "lessons would not work."
        )
    expected = {h.key for h in link_holders(session, scope).holders}
    if holder.key in expected:
        return
    if holder.parent is None:
        raise JoinLinkRefusedError(
            f"{pupil.first_name} is in a year group that joins lessons with a parent or carer. "
            "Make a link for a parent or carer instead."
        )
    if holder.parent.id not in {pl.parent_id for pl in pupil.parent_links}:
        raise JoinLinkRefusedError(
            f"{holder.parent.display_name} is not recorded as a parent or carer of "
            f"{pupil.display_name}."
        )
    raise JoinLinkRefusedError(
        f"{pupil.first_name} joins lessons from their own link, not a parent's or carer's."
    )


def _expiry(scope: LinkScope, now: datetime, requested: datetime | None) -> datetime:
    if scope.lesson is not None:
        expiry = scope.lesson.ends_at + LESSON_LINK_GRACE
        if expiry <= now:
            raise JoinLinkRefusedError(
                "This lesson has finished, so a link to it would never work."
            )
        return expiry
    expiry = requested if requested is not None else now + timedelta(days=DEFAULT_CLASS_LINK_DAYS)
    if expiry <= now:
        raise JoinLinkRefusedError("Choose a date in the future for the links to stop working.")
    if expiry > now + timedelta(days=MAX_LINK_DAYS):
        raise JoinLinkRefusedError(
            f"Links can work for at most {MAX_LINK_DAYS} days. Choose an earlier date."
        )
    return expiry


def latest_by_holder(links: Sequence[JoinLink]) -> dict[tuple[int, int | None], JoinLink]:
    """The newest link of each holder, from links listed newest first."""
    latest: dict[tuple[int, int | None], JoinLink] = {}
    for link in links:
        latest.setdefault((link.pupil_id, link.parent_id), link)
    return latest
