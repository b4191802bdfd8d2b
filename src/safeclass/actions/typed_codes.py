"""Codes to type, for someone who cannot open their personal link: the lesson's code (which lesson)
and their own passcode (who is coming). See `safeclass.codes` for the codes themselves.

Staff make a lesson's code, or replace it, on the lesson's page; the old code stops working at
once. Every personal link of a pupil gets a passcode when it is made (`actions.join_links`), and a
named guest's invitation may carry one; each is kept only as an HMAC keyed from the server's
secret. The door that checks what someone typed is `safeclass.web.typed_entries`; it writes its
audit entries through the functions here, so that every entry about typed codes is named in one
place. No audit entry holds a passcode or a lesson code.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.access import NotFoundError, may_see_school
from safeclass.actions.audit import record_audit
from safeclass.codes import new_lesson_code, new_passcode, passcode_hmac
from safeclass.store.models import GuestInvitation, JoinLink, Lesson, StaffMember

LESSON_CODE_ISSUED = "lesson_code_issued"
LESSON_CODE_REPLACED = "lesson_code_replaced"
TYPED_ENTRY = "typed_code_entry"
TYPED_CODE_LOCKED = "typed_code_locked"

# Drawing a code that is already in use is astronomically unlikely (about 49.5 bits for a lesson
# code, 59.5 for a passcode); a few draws make sure of it rather than trusting luck, and the
# database's unique constraints are the last word.
_DRAWS = 8


class CodeSpaceExhaustedError(RuntimeError):
    """Every draw was already in use: something is wrong with the random source."""


def issue_lesson_code(session: Session, lesson: Lesson, *, actor: StaffMember) -> str:
    """Give the lesson a new code to type, replacing any it had (which stops working at once).
    The caller commits."""
    # The pages reach here through `safeclass.access`; this is the second lock on the same door.
    if not may_see_school(actor, lesson.school):
        raise NotFoundError(f"Lesson {lesson.id}")
    code = _unused_lesson_code(session)
    replaced = lesson.typed_code is not None
    lesson.typed_code = code
    record_audit(
        session,
        LESSON_CODE_REPLACED if replaced else LESSON_CODE_ISSUED,
        actor=actor,
        school_id=lesson.school_id,
        data={"lesson_id": lesson.id},
    )
    session.flush()
    return code


def lesson_by_code(session: Session, code: str) -> Lesson | None:
    """The lesson with this code (as stored: see `codes.normalise`), or None."""
    return session.scalar(select(Lesson).where(Lesson.typed_code == code))


def unused_passcode(session: Session, key: bytes) -> tuple[str, str]:
    """A new passcode and its HMAC (with `key` from `codes.passcode_key`), used by no link and no
    guest's invitation, so that a passcode always names one person."""
    for _ in range(_DRAWS):
        passcode = new_passcode()
        digest = passcode_hmac(key, passcode)
        if not _passcode_in_use(session, digest):
            return passcode, digest
    raise CodeSpaceExhaustedError("no unused passcode in several draws")


def record_typed_entry(
    session: Session,
    lesson: Lesson,
    *,
    address: str,
    link: JoinLink | None = None,
    invitation: GuestInvitation | None = None,
) -> None:
    """Someone typed codes that matched and was sent on to the lesson's waiting room."""
    data: dict[str, object] = {"lesson_id": lesson.id, "address": address}
    if link is not None:
        data.update(link_id=link.id, pupil_id=link.pupil_id, parent_id=link.parent_id)
    if invitation is not None:
        data["guest_invitation_id"] = invitation.id
    record_audit(session, TYPED_ENTRY, actor=None, school_id=lesson.school_id, data=data)


def record_lockout(
    session: Session,
    *,
    by: str,
    address: str,
    minutes: int,
    lesson: Lesson | None = None,
) -> None:
    """Too many wrong codes: typing codes is paused for an address, or for a lesson. Written once
    when the pause starts, never for each try."""
    data: dict[str, object] = {"by": by, "address": address, "minutes": minutes}
    if lesson is not None:
        data["lesson_id"] = lesson.id
    record_audit(
        session,
        TYPED_CODE_LOCKED,
        actor=None,
        school_id=lesson.school_id if lesson is not None else None,
        data=data,
    )


def _unused_lesson_code(session: Session) -> str:
    for _ in range(_DRAWS):
        code = new_lesson_code()
        if lesson_by_code(session, code) is None:
            return code
    raise CodeSpaceExhaustedError("no unused lesson code in several draws")


def _passcode_in_use(session: Session, digest: str) -> bool:
    link = session.scalar(select(JoinLink.id).where(JoinLink.passcode_hmac == digest))
    if link is not None:
        return True
    guest = session.scalar(
        select(GuestInvitation.id).where(GuestInvitation.passcode_hmac == digest)
    )
    return guest is not None
