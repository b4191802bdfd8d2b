"""Named guests: a visitor (a visiting speaker, say) whom staff invite by name to one lesson.

Guests are off unless the lesson's policy allows them (`NAMED_GUESTS`: off by default; a school may
turn it on where the trust allows, and a lesson may turn it off again). Only the staff who run the
lesson (its host and co-teachers) and the school's admins and safeguarding leads may invite;
anyone who may see the lesson may withdraw an invitation, since stopping a visitor coming is never
the unsafe direction.

An invitation carries a link, with a random token of 192 bits made and kept exactly as a pupil's
join link's is (`actions.join_links`: the database keeps its SHA-256), and a passcode to type at
`/code` with the lesson's code when the link will not open (kept as an HMAC keyed from the
server's secret, like a pupil's: `codes.passcode_hmac`). Both exist in plain only in the answer
to the member of staff who made the invitation. The invitation works for that one lesson until
`GUEST_GRACE` after the lesson's booked end (so a lesson that overruns a little, or a guest whose
connection drops near the end, is not cut short), or until staff withdraw it, which is final.

Having an invitation gets a guest only as far as the waiting room: the lesson engine lets them in
only when staff admit them. The lesson's roster lists the active invitations (`lesson_guests`), so
withdrawing one while the guest is in the lesson or its waiting room takes them out as soon as the
live lesson reads its roster again: the caller does that after committing, with
`tell_live_lesson`.

Every invitation and withdrawal writes an audit entry in the same transaction. No entry holds a
token, a passcode, or the guest's name (the invitation it points to has the name).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.access import NotFoundError, may_see_school
from safeclass.actions.audit import record_audit
from safeclass.actions.join_links import hash_token, looks_like_token, new_token
from safeclass.actions.typed_codes import unused_passcode
from safeclass.domain.lesson.model import Phase
from safeclass.domain.policy import NAMED_GUESTS, Level
from safeclass.store.models import (
    GuestInvitation,
    Lesson,
    LessonStaffRole,
    StaffMember,
    StaffRole,
)
from safeclass.store.queries import lesson_policy

if TYPE_CHECKING:
    from safeclass.actions.live import LiveLessons

# An invitation stops working this long after the lesson's booked end: time for a short overrun
# or to come back after a dropped connection, and no longer (a pupil's link for one lesson has two
# hours; a visitor is not on the school's roll, so gets less).
GUEST_GRACE = timedelta(hours=1)
MAX_NAME_LENGTH = 80  # the column's length
# Enough for a panel of visitors; a lesson is not a public event.
MAX_GUESTS_PER_LESSON = 20
# Zero-width joiner and non-joiner: invisible, but part of the correct spelling of names in
# several scripts (Persian, the Indic scripts), so allowed where other invisible characters are not.
_JOINERS = frozenset("\u200c\u200d")

INVITED = "guest_invited"
WITHDRAWN = "guest_invitation_withdrawn"

NAME_MISSING = "Type the guest's name, as the class will see it."
NAME_TOO_LONG = f"A guest's name can be at most {MAX_NAME_LENGTH} characters."
NAME_NOT_PRINTABLE = (
    "A guest's name can only have letters, numbers, spaces and punctuation. Type it again "
    "rather than pasting it."
)
TURNED_OFF_BY_SCHOOL = (
    "Guests are turned off by the school's policy, so nobody can be invited to this lesson. A "
    "school admin can change this in the school's policy."
)
TURNED_OFF_FOR_LESSON = (
    "Guests are turned off in this lesson's own settings, so nobody can be invited to it."
)
NOT_YOURS_TO_INVITE = (
    "Only the lesson's teachers, and the school's admins and safeguarding leads, can invite "
    "guests to it."
)
LESSON_FINISHED = "This lesson has finished, so nobody can be invited to it."
TOO_MANY = (
    f"This lesson already has {MAX_GUESTS_PER_LESSON} guests invited, which is as many as one "
    "lesson can have. Withdraw an invitation that is not needed first."
)


class GuestRefusedError(ValueError):
    """Staff asked for something that cannot be done. The message is for the person who asked;
    `forbidden` when it is theirs to see but not to do."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.forbidden = forbidden


@dataclass(frozen=True)
class InvitedGuest:
    """A new invitation with its link's token and its passcode: the only moment they are known."""

    invitation: GuestInvitation
    token: str
    passcode: str


# --- Who may, and what --------------------------------------------------------------------------


def guests_allowed(lesson: Lesson) -> bool:
    return lesson_policy(lesson).get(NAMED_GUESTS)


def turned_off_message(lesson: Lesson) -> str:
    """Why nobody can be invited, in words for staff (when `guests_allowed` is False)."""
    if lesson_policy(lesson).explain(NAMED_GUESTS).source is Level.LESSON:
        return TURNED_OFF_FOR_LESSON
    return TURNED_OFF_BY_SCHOOL


def may_invite_guests(staff: StaffMember, lesson: Lesson) -> bool:
    """The lesson's host and co-teachers, and the school's admins, safeguarding leads and trust
    admins. Each condition on its own line."""
    if not may_see_school(staff, lesson.school):
        return False
    if staff.id == lesson.host_id:
        return True
    if any(
        member.staff_id == staff.id and member.role is LessonStaffRole.CO_TEACHER
        for member in lesson.other_staff
    ):
        return True
    if staff.is_trust_admin:
        return True
    if staff.has_role(StaffRole.SCHOOL_ADMIN, lesson.school_id):
        return True
    return staff.has_role(StaffRole.SAFEGUARDING_LEAD, lesson.school_id)


def guest_name(typed: str) -> str:
    """The name as it will be kept and shown: trimmed, runs of spaces made one, and checked.
    Raises GuestRefusedError with words for staff."""
    # Control characters (a line break, a tab) and invisible formatting (such as the marks that
    # reverse text direction, which can make a name read as someone else's) are refused, not
    # quietly removed: what staff typed should be what the class sees.
    if not all(_allowed_in_name(character) for character in typed):
        raise GuestRefusedError(NAME_NOT_PRINTABLE)
    name = " ".join(unicodedata.normalize("NFC", typed).split())
    if not name:
        raise GuestRefusedError(NAME_MISSING)
    if len(name) > MAX_NAME_LENGTH:
        raise GuestRefusedError(NAME_TOO_LONG)
    return name


def _allowed_in_name(character: str) -> bool:
    if character.isprintable():
        return True
    if character in _JOINERS:
        return True
    # Spaces of other widths (a no-break space from a word processor, say) become plain spaces.
    return unicodedata.category(character) == "Zs"


# --- Inviting and withdrawing ---------------------------------------------------------------------


def invite_guest(
    session: Session,
    lesson: Lesson,
    name: str,
    *,
    actor: StaffMember,
    now: datetime,
    passcode_key: bytes,
) -> InvitedGuest:
    """Invite a guest by name to this lesson. Raises GuestRefusedError (nothing written) when the
    policy does not allow guests, the actor may not invite, the lesson has finished, the name will
    not do, or the lesson has as many guests as it may. The caller commits, then calls
    `tell_live_lesson`."""
    # The pages reach here through `safeclass.access`; this is the second lock on the same door.
    if not may_see_school(actor, lesson.school):
        raise NotFoundError(f"Lesson {lesson.id}")
    if not may_invite_guests(actor, lesson):
        raise GuestRefusedError(NOT_YOURS_TO_INVITE, forbidden=True)
    if not guests_allowed(lesson):
        raise GuestRefusedError(turned_off_message(lesson))
    if now >= lesson.ends_at:
        raise GuestRefusedError(LESSON_FINISHED)
    display_name = guest_name(name)
    active = active_invitations(session, lesson, now)
    if len(active) >= MAX_GUESTS_PER_LESSON:
        raise GuestRefusedError(TOO_MANY)
    same_name = next(
        (other for other in active if other.display_name.casefold() == display_name.casefold()),
        None,
    )
    if same_name is not None:
        raise GuestRefusedError(
            f"{same_name.display_name} is already invited to this lesson. If they need a new "
            "link, withdraw their invitation first, then invite them again."
        )
    token = new_token()
    passcode, digest = unused_passcode(session, passcode_key)
    expires_at = lesson.ends_at + GUEST_GRACE
    invitation = GuestInvitation(
        school_id=lesson.school_id,
        lesson_id=lesson.id,
        display_name=display_name,
        token_hash=hash_token(token),
        passcode_hmac=digest,
        created_at=now,
        created_by_staff_id=actor.id,
        expires_at=expires_at,
    )
    session.add(invitation)
    session.flush()
    record_audit(
        session,
        INVITED,
        actor=actor,
        school_id=lesson.school_id,
        data={
            "guest_invitation_id": invitation.id,
            "lesson_id": lesson.id,
            "expires_at": expires_at.isoformat(),
        },
    )
    return InvitedGuest(invitation, token, passcode)


def withdraw_invitation(
    session: Session, invitation: GuestInvitation, *, actor: StaffMember, now: datetime
) -> bool:
    """Stop an invitation working, for good. False (and no audit entry) if it was already
    withdrawn. The caller commits, then calls `tell_live_lesson` so that a guest who is in the
    lesson, or waiting, is taken out."""
    if not may_see_school(actor, invitation.lesson.school):
        raise NotFoundError(f"Guest invitation {invitation.id}")
    if invitation.revoked_at is not None:
        return False
    invitation.revoked_at = now
    invitation.revoked_by_staff_id = actor.id
    record_audit(
        session,
        WITHDRAWN,
        actor=actor,
        school_id=invitation.school_id,
        data={"guest_invitation_id": invitation.id, "lesson_id": invitation.lesson_id},
    )
    return True


async def tell_live_lesson(live: LiveLessons, lesson_id: int) -> None:
    """After an invitation or withdrawal is committed: a lesson going on now reads its roster
    again, so a new guest is expected and a withdrawn one is taken out. A lesson that is not
    loaded reads its roster when the guest knocks; an ended one has nobody left to change."""
    going_on = any(
        lesson.lesson_id == lesson_id and lesson.state.phase is not Phase.ENDED
        for lesson in live.live()
    )
    if going_on:
        await live.refresh_roster(lesson_id)


# --- Reading invitations --------------------------------------------------------------------------


def lesson_invitations(session: Session, lesson: Lesson) -> list[GuestInvitation]:
    """Every invitation ever made to this lesson, newest first."""
    return list(
        session.scalars(
            select(GuestInvitation)
            .where(GuestInvitation.lesson_id == lesson.id)
            .order_by(GuestInvitation.created_at.desc(), GuestInvitation.id.desc())
        )
    )


def active_invitations(session: Session, lesson: Lesson, now: datetime) -> list[GuestInvitation]:
    """The invitations to this lesson that still work, oldest first."""
    return list(
        session.scalars(
            select(GuestInvitation)
            .where(
                GuestInvitation.lesson_id == lesson.id,
                GuestInvitation.school_id == lesson.school_id,
                GuestInvitation.revoked_at.is_(None),
                GuestInvitation.expires_at > now,
            )
            .order_by(GuestInvitation.id)
        )
    )


def lesson_guests(session: Session, lesson: Lesson, now: datetime) -> dict[str, str]:
    """The lesson's guests as its roster lists them: invitation id -> name."""
    return {
        str(invitation.id): invitation.display_name
        for invitation in active_invitations(session, lesson, now)
    }


def find_invitation(session: Session, token: str) -> GuestInvitation | None:
    """The invitation with this link token, whatever its state, or None."""
    if not looks_like_token(token):
        return None
    # By hash through a unique index, as for pupils' links: the lookup never compares the token.
    return session.scalar(
        select(GuestInvitation).where(GuestInvitation.token_hash == hash_token(token))
    )


def working_invitation(session: Session, token: str, now: datetime) -> GuestInvitation | None:
    """The invitation with this token if it still works (neither withdrawn nor expired)."""
    invitation = find_invitation(session, token)
    if invitation is None or not invitation.is_active(now):
        return None
    return invitation


def invitation_opens(invitation: GuestInvitation, lesson: Lesson) -> bool:
    """Whether this invitation is for this lesson. Each condition on its own line."""
    if invitation.school_id != lesson.school_id:
        return False
    return invitation.lesson_id == lesson.id
