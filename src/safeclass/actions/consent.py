"""Parental consent: personal consent links, a parent's yes and their withdrawal, new versions of
the consent text, and the record of each email that carries a link.

A consent link belongs to one parent or carer at one school. It opens a page showing only the
children that parent is linked to at that school, now: a parent unlinked by the school (a change
of carer, a court order) reaches nobody through it any more. Like a join link, it carries 192
random bits, and only its SHA-256 is stored (`actions.join_links.hash_token`); the plain token
exists only in the answer to the member of staff who made it, and in the letter or email made
from that answer.

Consent is recorded per pupil, per scope (live lessons; recording) and with the version of the
text the parent read. The rule for what counts is `domain.consent.consent_status`: the latest word
from any linked parent counts, a withdrawal wins a tie, and a yes to an older version of the text
no longer lets the pupil in once a new version is published.

A withdrawal counts whoever gave the yes: a parent may withdraw permission another parent or
carer of the child gave. Every yes that stands is then marked withdrawn, with who withdrew it
(`Consent.withdrawn_by_parent_id`), so no yes outlives the withdrawal (not even once retention
deletes withdrawn records).

Every change writes an audit entry in the same transaction; a change that changes nothing writes
none. No audit entry holds a token. The actor of a parent's change is the parent (`parent_id` and
the link's id in the entry); staff are the actor of everything else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from safeclass.access import NotFoundError, may_see_parent_contacts
from safeclass.actions.audit import record_audit
from safeclass.actions.join_links import hash_token, looks_like_token, new_token
from safeclass.domain.consent import ConsentRecord, ConsentScope, ConsentStatus, consent_status
from safeclass.store.models import (
    ClassGroup,
    Consent,
    ConsentLink,
    ConsentMessage,
    ConsentMessageState,
    ConsentText,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    Trust,
)
from safeclass.store.queries import current_consent_versions

CONSENT_LINK_DAYS = 365
MAX_VERSION_LENGTH = 40
MAX_TEXT_LENGTH = 20_000
MAX_ERROR_LENGTH = 500

LINK_ISSUED = "consent_link_issued"
LINK_REVOKED = "consent_link_revoked"
GIVEN = "consent_given"
WITHDRAWN = "consent_withdrawn"
TEXT_PUBLISHED = "consent_text_published"
MESSAGE_RECORDED = "consent_message_recorded"
MESSAGE_SENT = "consent_message_sent"
MESSAGE_FAILED = "consent_message_failed"

TEXT_CHANGED = (
    "The words you were agreeing to have just changed. Please read them again on this page, "
    "then choose again."
)
NO_TEXT_YET = (
    "Your school has not published the words to agree to yet, so permission cannot be given "
    "here. Please contact the school."
)


class ConsentRefusedError(ValueError):
    """A change that cannot be made. The message is for the person who asked, in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class IssuedConsentLink:
    """A new consent link with its token: the only moment the token is known."""

    link: ConsentLink
    token: str
    parent: Parent
    children: tuple[Pupil, ...]


@dataclass(frozen=True)
class ParentOfClass:
    """A parent or carer of pupils in a class, with those pupils."""

    parent: Parent
    children: tuple[Pupil, ...]


# --- Who gets a link -----------------------------------------------------------------------------


def parents_of_class(class_group: ClassGroup) -> list[ParentOfClass]:
    """Every parent or carer linked to a pupil of the class, by name, each with their children in
    the class."""
    children: dict[int, list[Pupil]] = {}
    parents: dict[int, Parent] = {}
    for pupil in class_group.pupils:
        for parent_link in pupil.parent_links:
            parents[parent_link.parent_id] = parent_link.parent
            children.setdefault(parent_link.parent_id, []).append(pupil)
    return [
        ParentOfClass(
            parent,
            tuple(sorted(children[parent.id], key=lambda p: (p.last_name, p.first_name, p.id))),
        )
        for parent in sorted(parents.values(), key=lambda p: (p.display_name, p.id))
    ]


def children_at_school(session: Session, parent: Parent, school: School) -> list[Pupil]:
    """The pupils of this school linked to this parent now, by name."""
    return list(
        session.scalars(
            select(Pupil)
            .join(ParentLink, ParentLink.pupil_id == Pupil.id)
            .where(ParentLink.parent_id == parent.id, Pupil.school_id == school.id)
            .order_by(Pupil.last_name, Pupil.first_name, Pupil.id)
        )
    )


def pupils_of_school(session: Session, school: School) -> list[Pupil]:
    """Every pupil of this school, by name, with their classes, parents and carers and consent
    records read in a few queries (the whole school's register reads them all)."""
    return list(
        session.scalars(
            select(Pupil)
            .where(Pupil.school_id == school.id)
            .options(
                selectinload(Pupil.class_groups),
                selectinload(Pupil.parent_links).selectinload(ParentLink.parent),
                selectinload(Pupil.consents),
            )
            .order_by(Pupil.last_name, Pupil.first_name, Pupil.id)
        )
    )


def links_of_school(session: Session, school: School) -> list[ConsentLink]:
    """Every consent link made at this school, newest first."""
    return list(
        session.scalars(
            select(ConsentLink)
            .where(ConsentLink.school_id == school.id)
            .order_by(ConsentLink.created_at.desc(), ConsentLink.id.desc())
        )
    )


# --- Making and stopping links -------------------------------------------------------------------


def issue_consent_link(
    session: Session,
    school: School,
    parent: Parent,
    *,
    actor: StaffMember,
    now: datetime,
) -> IssuedConsentLink:
    """A new consent link for this parent at this school. Any link they had here stops working."""
    _check_actor(actor, school)
    if parent.trust_id != school.trust_id:
        raise NotFoundError(f"Parent {parent.id}")
    children = children_at_school(session, parent, school)
    if not children:
        raise ConsentRefusedError(
            f"{parent.display_name} is not recorded as the parent or carer of any pupil at "
            f"{school.name}, so a consent link for them would show nothing."
        )
    replaced = [
        link
        for link in session.scalars(
            select(ConsentLink).where(
                ConsentLink.school_id == school.id,
                ConsentLink.parent_id == parent.id,
                ConsentLink.revoked_at.is_(None),
            )
        )
        if link.is_active(now)
    ]
    token = new_token()
    link = ConsentLink(
        token_hash=hash_token(token),
        school_id=school.id,
        parent_id=parent.id,
        created_at=now,
        created_by_staff_id=actor.id,
        expires_at=now + timedelta(days=CONSENT_LINK_DAYS),
    )
    session.add(link)
    session.flush()
    record_audit(
        session,
        LINK_ISSUED,
        actor=actor,
        school_id=school.id,
        data={
            "consent_link_id": link.id,
            "parent_id": parent.id,
            "expires_at": link.expires_at.isoformat(),
            **({"replaces": [old.id for old in replaced]} if replaced else {}),
        },
    )
    for old in replaced:
        _revoke(session, old, actor=actor, now=now, replaced_by=link.id)
    return IssuedConsentLink(link, token, parent, tuple(children))


def issue_class_consent_links(
    session: Session,
    class_group: ClassGroup,
    *,
    actor: StaffMember,
    now: datetime,
    replace_working: bool,
) -> list[IssuedConsentLink]:
    """A link for each parent or carer of the class's pupils: only those without a working link
    at this school, or (`replace_working`) everyone, whose old links then stop working."""
    school = class_group.school
    _check_actor(actor, school)
    working = {link.parent_id for link in links_of_school(session, school) if link.is_active(now)}
    return [
        issue_consent_link(session, school, entry.parent, actor=actor, now=now)
        for entry in parents_of_class(class_group)
        if replace_working or entry.parent.id not in working
    ]


def revoke_consent_link(
    session: Session, link: ConsentLink, *, actor: StaffMember, now: datetime
) -> bool:
    """Stop a link working. False (and no audit entry) if it had already stopped."""
    _check_actor(actor, link.school)
    if link.revoked_at is not None:
        return False
    _revoke(session, link, actor=actor, now=now, replaced_by=None)
    return True


def _revoke(
    session: Session,
    link: ConsentLink,
    *,
    actor: StaffMember,
    now: datetime,
    replaced_by: int | None,
) -> None:
    link.revoked_at = now
    link.revoked_by_staff_id = actor.id
    record_audit(
        session,
        LINK_REVOKED,
        actor=actor,
        school_id=link.school_id,
        data={
            "consent_link_id": link.id,
            "parent_id": link.parent_id,
            **({"replaced_by": replaced_by} if replaced_by is not None else {}),
        },
    )


def _check_actor(actor: StaffMember, school: School) -> None:
    # Links go to parents' homes: only the staff who may see parents' contact details make them.
    if not may_see_parent_contacts(actor, school):
        raise NotFoundError(f"School {school.id}")


# --- Checking a link ------------------------------------------------------------------------------


def working_consent_link(session: Session, token: str, now: datetime) -> ConsentLink | None:
    """The link with this token while it works (not revoked, not expired), else None. The same
    None for a token that was never ours, so a guess learns nothing."""
    if not looks_like_token(token):
        return None
    link = session.scalar(select(ConsentLink).where(ConsentLink.token_hash == hash_token(token)))
    if link is None or not link.is_active(now):
        return None
    return link


def child_of_link(session: Session, link: ConsentLink, pupil_id: int) -> Pupil:
    """One of the link's children (linked to its parent now, at its school), or NotFoundError:
    the same for another family's child, another school's pupil and an id that does not exist."""
    for pupil in children_at_school(session, link.parent, link.school):
        if pupil.id == pupil_id:
            return pupil
    raise NotFoundError(f"Pupil {pupil_id} through consent link {link.id}")


def pupil_records(pupil: Pupil) -> list[ConsentRecord]:
    """The pupil's consent records from the parents and carers linked to them now (as
    `store.queries.pupil_consent_facts` reads them)."""
    linked = {parent_link.parent_id for parent_link in pupil.parent_links}
    return [
        ConsentRecord(c.scope, c.text_version, c.given_at, c.withdrawn_at)
        for c in pupil.consents
        if c.parent_id in linked
    ]


# --- A parent's word ------------------------------------------------------------------------------


def give_consent(
    session: Session,
    link: ConsentLink,
    pupil_id: int,
    scope: ConsentScope,
    text_version: str,
    *,
    now: datetime,
) -> bool:
    """The parent agrees, for one child and scope, to the version of the text they were shown.
    Refused if that is no longer the current version. False (nothing written) if this parent's
    yes to this version already stands."""
    pupil = child_of_link(session, link, pupil_id)
    current = current_consent_versions(session, link.school.trust_id).get(scope)
    if current is None:
        raise ConsentRefusedError(NO_TEXT_YET)
    if text_version != current:
        raise ConsentRefusedError(TEXT_CHANGED)
    if consent_status(pupil_records(pupil), scope, current) is ConsentStatus.GIVEN and any(
        c.parent_id == link.parent_id
        and c.scope is scope
        and c.text_version == current
        and c.withdrawn_at is None
        for c in pupil.consents
    ):
        return False
    consent = Consent(
        pupil_id=pupil.id,
        parent_id=link.parent_id,
        scope=scope,
        text_version=current,
        given_at=now,
    )
    session.add(consent)
    session.flush()
    record_audit(
        session,
        GIVEN,
        actor=None,
        school_id=link.school_id,
        data={
            "consent_id": consent.id,
            "pupil_id": pupil.id,
            "parent_id": link.parent_id,
            "scope": scope.value,
            "text_version": current,
            "consent_link_id": link.id,
        },
    )
    session.expire(pupil, ["consents"])
    return True


def withdraw_consent(
    session: Session, link: ConsentLink, pupil_id: int, scope: ConsentScope, *, now: datetime
) -> bool:
    """The parent withdraws permission for one child and scope, whoever gave it: every yes that
    stands (from the parents and carers linked to the child) is withdrawn, and says by whom.
    False (nothing written) when no permission stands to withdraw."""
    pupil = child_of_link(session, link, pupil_id)
    linked = {parent_link.parent_id for parent_link in pupil.parent_links}
    standing = [
        c
        for c in pupil.consents
        if c.scope is scope and c.withdrawn_at is None and c.parent_id in linked
    ]
    if not standing:
        return False
    for consent in standing:
        consent.withdrawn_at = now
        consent.withdrawn_by_parent_id = link.parent_id
    session.flush()
    record_audit(
        session,
        WITHDRAWN,
        actor=None,
        school_id=link.school_id,
        data={
            "consent_ids": [c.id for c in standing],
            "pupil_id": pupil.id,
            "parent_id": link.parent_id,
            "scope": scope.value,
            "consent_link_id": link.id,
        },
    )
    session.expire(pupil, ["consents"])
    return True


# --- The words parents agree to -------------------------------------------------------------------


def may_publish_consent_text(staff: StaffMember, trust: Trust) -> bool:
    """The consent text is the trust's: one version for all its schools. Trust admins only."""
    if not staff.active:
        return False
    if staff.trust_id != trust.id:
        return False
    return staff.is_trust_admin


def publish_consent_text(
    session: Session,
    trust: Trust,
    scope: ConsentScope,
    version: str,
    body: str,
    *,
    actor: StaffMember,
    now: datetime,
) -> ConsentText:
    """A new version of the words for one scope. From now on, parents who agreed to an earlier
    version are asked again, and their children cannot join (or be recorded) until they agree."""
    if not may_publish_consent_text(actor, trust):
        raise NotFoundError(f"Trust {trust.id}")
    version = version.strip()
    body = body.strip().replace("\r\n", "\n")
    if not version:
        raise ConsentRefusedError("Give the new version a name, such as 2026-09.")
    if len(version) > MAX_VERSION_LENGTH or not all(_plain_character(ch) for ch in version):
        raise ConsentRefusedError(
            f"A version name is up to {MAX_VERSION_LENGTH} letters, digits, spaces and "
            "punctuation, on one line."
        )
    if not body:
        raise ConsentRefusedError("Write the words parents and carers agree to.")
    if len(body) > MAX_TEXT_LENGTH:
        raise ConsentRefusedError(f"The words can be up to {MAX_TEXT_LENGTH} characters long.")
    existing = session.scalar(
        select(ConsentText).where(
            ConsentText.trust_id == trust.id,
            ConsentText.scope == scope,
            ConsentText.version == version,
        )
    )
    if existing is not None:
        raise ConsentRefusedError(
            f'There is already a version called "{version}". Each version needs a new name, so '
            "that every consent record says which words the parent read."
        )
    text = ConsentText(trust_id=trust.id, scope=scope, version=version, body=body, published_at=now)
    session.add(text)
    session.flush()
    record_audit(
        session,
        TEXT_PUBLISHED,
        actor=actor,
        data={"trust_id": trust.id, "scope": scope.value, "version": version},
    )
    return text


def current_texts(session: Session, trust_id: int) -> dict[ConsentScope, ConsentText]:
    """The newest published text per scope (the version parents must agree to)."""
    texts: dict[ConsentScope, ConsentText] = {}
    for text in session.scalars(
        select(ConsentText)
        .where(ConsentText.trust_id == trust_id)
        .order_by(ConsentText.published_at, ConsentText.id)
    ):
        texts[text.scope] = text
    return texts


def _plain_character(character: str) -> bool:
    return unicodedata.category(character)[0] in "LNPZS" and character not in "\n\r\t\x0b\x0c"


# --- Messages to parents --------------------------------------------------------------------------


def record_message(
    session: Session,
    issued: IssuedConsentLink,
    *,
    to_address: str,
    subject: str,
    body_without_token: str,
    state: ConsentMessageState,
    actor: StaffMember,
    now: datetime,
) -> ConsentMessage:
    """The email for a new link, as sent (or, with no mail server, as it would have been), with
    the link's token blanked out. `state` is OUTBOX with no mail server, else FAILED until sent."""
    _check_actor(actor, issued.link.school)
    if issued.token in body_without_token or issued.token in subject:
        raise ValueError("a consent message must never be stored with its link's token")
    message = ConsentMessage(
        school_id=issued.link.school_id,
        parent_id=issued.parent.id,
        consent_link_id=issued.link.id,
        to_address=to_address,
        subject=subject,
        body=body_without_token,
        state=state,
        created_at=now,
        created_by_staff_id=actor.id,
    )
    session.add(message)
    session.flush()
    record_audit(
        session,
        MESSAGE_RECORDED,
        actor=actor,
        school_id=message.school_id,
        data={
            "consent_message_id": message.id,
            "consent_link_id": issued.link.id,
            "parent_id": issued.parent.id,
            "state": state.value,
        },
    )
    return message


def mark_message_sent(
    session: Session, message: ConsentMessage, *, actor: StaffMember, now: datetime
) -> None:
    message.state = ConsentMessageState.SENT
    message.sent_at = now
    message.error = ""
    record_audit(
        session,
        MESSAGE_SENT,
        actor=actor,
        school_id=message.school_id,
        data={"consent_message_id": message.id},
    )


def mark_message_failed(
    session: Session, message: ConsentMessage, error: str, *, actor: StaffMember
) -> None:
    message.state = ConsentMessageState.FAILED
    message.error = error[:MAX_ERROR_LENGTH]
    record_audit(
        session,
        MESSAGE_FAILED,
        actor=actor,
        school_id=message.school_id,
        data={"consent_message_id": message.id, "error": message.error},
    )


def school_messages(session: Session, school: School, limit: int) -> Sequence[ConsentMessage]:
    return session.scalars(
        select(ConsentMessage)
        .where(ConsentMessage.school_id == school.id)
        .order_by(ConsentMessage.created_at.desc(), ConsentMessage.id.desc())
        .limit(limit)
    ).all()
