"""Named guests through the web: the "Guests" part of a lesson's staff page, inviting and
withdrawing (forms with the session's CSRF token, as every staff form), the page that shows a new
guest's link and passcode once, and the page the guest's link opens.

The checks are `safeclass.actions.guests`'s; this module reads the forms and says the answers in
plain words. After each change is committed, a lesson going on now reads its roster again, so a
withdrawn guest is taken out of the lesson (or its waiting room) at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import NotFoundError, access_lesson
from safeclass.actions.guests import (
    GUEST_GRACE,
    MAX_NAME_LENGTH,
    GuestRefusedError,
    InvitedGuest,
    guests_allowed,
    invite_guest,
    lesson_invitations,
    may_invite_guests,
    tell_live_lesson,
    turned_off_message,
    withdraw_invitation,
    working_invitation,
)
from safeclass.actions.live import PUPILS_EARLY
from safeclass.codes import passcode_key, shown
from safeclass.store.models import GuestInvitation, Lesson, StaffMember
from safeclass.web.auth import SignedIn
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, check_session_token
from safeclass.web.forms import SubmittedForm
from safeclass.web.lesson_door import open_to_join
from safeclass.web.pages.common import handle_form, page_context, require_signed_in, required_id
from safeclass.web.pages.join_links import LANDING_HEADERS
from safeclass.web.pages.recording_terms import recording_terms
from safeclass.web.pages.typed_codes import code_page_url, server_url
from safeclass.web.wording import format_time, format_when

router = APIRouter()

INVITE_PATH = "/admin/guests/invite"
WITHDRAW_PATH = "/admin/guests/withdraw"
LANDING_PREFIX = "/guest/"

INVITATION_DOES_NOT_WORK_TITLE = "This invitation does not work"
INVITATION_DOES_NOT_WORK = (
    "This invitation does not work. It may have been withdrawn, or the lesson may be over. If "
    "you think it should work, ask the person at the school who invited you."
)
DONE_MESSAGES = {
    "withdrawn": "That invitation has been withdrawn. If the guest was in the lesson, they have "
    "been taken out.",
    "unchanged": "That invitation had already been withdrawn.",
}
# The page with a new guest's link and passcode: never cached, never passed on to another site.
SHOWN_ONCE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
# What staff type may be long or odd; what is shown back to them is bounded.
MAX_NAME_SHOWN_BACK = 4 * MAX_NAME_LENGTH


def _duration_words(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    if minutes % 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return "an hour" if hours == 1 else f"{hours} hours"


GRACE_WORDS = _duration_words(GUEST_GRACE)


# --- The "Guests" part of the lesson's page ------------------------------------------------------


@dataclass(frozen=True)
class GuestRow:
    invitation: GuestInvitation
    state: str  # active, withdrawn, expired
    invited_by: str


@dataclass(frozen=True)
class GuestSection:
    """What the lesson's page shows about guests."""

    allowed: bool  # the lesson's policy allows guests
    turned_off: str | None  # why not, when not
    may_invite: bool  # this member of staff may invite to this lesson
    finished: bool  # the lesson's booked end has passed
    rows: list[GuestRow]
    done: str | None  # after withdrawing
    grace: str
    max_name_length: int


def guest_section(
    request: Request, session: Session, staff: StaffMember, lesson: Lesson
) -> GuestSection:
    now = web_context(request).now()
    allowed = guests_allowed(lesson)
    return GuestSection(
        allowed=allowed,
        turned_off=None if allowed else turned_off_message(lesson),
        may_invite=may_invite_guests(staff, lesson),
        finished=now >= lesson.ends_at,
        rows=[_row(session, invitation, now) for invitation in lesson_invitations(session, lesson)],
        done=DONE_MESSAGES.get(request.query_params.get("guests", "")),
        grace=GRACE_WORDS,
        max_name_length=MAX_NAME_LENGTH,
    )


def _row(session: Session, invitation: GuestInvitation, now: datetime) -> GuestRow:
    if invitation.revoked_at is not None:
        state = "withdrawn"
    elif now >= invitation.expires_at:
        state = "expired"
    else:
        state = "active"
    return GuestRow(invitation, state, _inviter_name(session, invitation))


def _inviter_name(session: Session, invitation: GuestInvitation) -> str:
    inviter_id = invitation.created_by_staff_id
    inviter = session.get(StaffMember, inviter_id) if inviter_id is not None else None
    return inviter.display_name if inviter is not None else "a member of staff"


def _lesson_url(lesson_id: int, done: str | None = None) -> str:
    query = f"?guests={done}" if done else ""
    return f"/admin/lessons/{lesson_id}{query}#guests"


# --- Inviting -------------------------------------------------------------------------------------


@router.post(INVITE_PATH)
async def invite(request: Request) -> Response:
    response, lesson_id = await handle_form(request, _invite)
    if lesson_id is not None:
        await tell_live_lesson(web_context(request).live, lesson_id)
    return response


def _invite(
    context: WebContext, request: Request, form: SubmittedForm
) -> tuple[Response, int | None]:
    """The answer, and the lesson whose roster changed (None when nothing did)."""
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        lesson = access_lesson(session, signed_in.staff, required_id(form, "lesson_id"))
        typed_name = form.get("name") or ""
        try:
            invited = invite_guest(
                session,
                lesson,
                typed_name,
                actor=signed_in.staff,
                now=context.now(),
                passcode_key=passcode_key(context.config.secret_key()),
            )
        except GuestRefusedError as refused:
            session.rollback()
            return _refused_page(context, signed_in, lesson, typed_name, refused), None
        session.commit()
        return _invited_page(context, request, signed_in, lesson, invited), lesson.id


def _refused_page(
    context: WebContext,
    signed_in: SignedIn,
    lesson: Lesson,
    typed_name: str,
    refused: GuestRefusedError,
) -> Response:
    now = context.now()
    return context.renderer.page(
        "guest_invite.html",
        page_context(
            signed_in,
            f"Invite a guest to {lesson.title}",
            lesson=lesson,
            school=lesson.school,
            problem=refused.message,
            # The form again only when trying again could work: the name was the trouble.
            show_form=(
                guests_allowed(lesson)
                and may_invite_guests(signed_in.staff, lesson)
                and now < lesson.ends_at
            ),
            typed_name=typed_name[:MAX_NAME_SHOWN_BACK],
            max_name_length=MAX_NAME_LENGTH,
        ),
        status_code=403 if refused.forbidden else 400,
    )


def _invited_page(
    context: WebContext,
    request: Request,
    signed_in: SignedIn,
    lesson: Lesson,
    invited: InvitedGuest,
) -> Response:
    invitation = invited.invitation
    url = f"{server_url(request, context.config)}{LANDING_PREFIX}{invited.token}"
    code_page = code_page_url(request, context.config)
    passcode = shown(invited.passcode)
    return context.renderer.page(
        "guest_new.html",
        page_context(
            signed_in,
            f"{invitation.display_name} is invited",
            lesson=lesson,
            school=lesson.school,
            invitation=invitation,
            url=url,
            passcode=passcode,
            code_page=code_page,
            email=invitation_email(
                lesson,
                guest=invitation.display_name,
                inviter=signed_in.staff.display_name,
                url=url,
                passcode=passcode,
                code_page=code_page,
            ),
            grace=GRACE_WORDS,
        ),
        headers=SHOWN_ONCE_HEADERS,
    )


def invitation_email(
    lesson: Lesson, *, guest: str, inviter: str, url: str, passcode: str, code_page: str
) -> str:
    """Plain words staff can paste into an email to the guest."""
    opens = format_time(lesson.starts_at - PUPILS_EARLY)
    return "\n".join(
        [
            f"Dear {guest},",
            "",
            f"You are invited to a live online lesson, {lesson.title}, at {lesson.school.name}, "
            f"on {format_when(lesson.starts_at)} to {format_time(lesson.ends_at)}.",
            "",
            f"To join, open this link: {url}",
            "",
            f"You can come in from {opens}. You will wait in a waiting room until a teacher "
            "lets you in.",
            "",
            "If the link will not open, ask us for the lesson's code, then go to "
            f"{code_page} and type the lesson's code and this passcode: {passcode}",
            "",
            "Please keep this link and passcode private: they are only for you. Do not share "
            "them or post them anywhere.",
            "",
            "In the lesson, please do not share personal information, such as an address, a "
            "phone number, an email address or social media names, and do not record the lesson "
            "or take pictures of it.",
            "",
            inviter,
            lesson.school.name,
        ]
    )


# --- Withdrawing ----------------------------------------------------------------------------------


@router.post(WITHDRAW_PATH)
async def withdraw(request: Request) -> Response:
    response, lesson_id = await handle_form(request, _withdraw)
    if lesson_id is not None:
        await tell_live_lesson(web_context(request).live, lesson_id)
    return response


def _withdraw(
    context: WebContext, request: Request, form: SubmittedForm
) -> tuple[Response, int | None]:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        invitation = _access_invitation(
            session, signed_in.staff, required_id(form, "invitation_id")
        )
        lesson_id = invitation.lesson_id
        changed = withdraw_invitation(session, invitation, actor=signed_in.staff, now=context.now())
        session.commit()
    redirect = RedirectResponse(
        _lesson_url(lesson_id, "withdrawn" if changed else "unchanged"), status_code=303
    )
    return redirect, lesson_id if changed else None


def _access_invitation(session: Session, staff: StaffMember, invitation_id: int) -> GuestInvitation:
    """An invitation, for staff who may see its lesson; "not found" for anyone else."""
    invitation = session.get(GuestInvitation, invitation_id)
    if invitation is None:
        raise NotFoundError(f"Guest invitation {invitation_id}")
    access_lesson(session, staff, invitation.lesson_id)
    return invitation


# --- The page a guest's link opens ----------------------------------------------------------------


@router.get(LANDING_PREFIX + "{token}")
def landing(request: Request, token: str) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        invitation = working_invitation(session, token, context.now())
        if invitation is None or not guests_allowed(invitation.lesson):
            return context.renderer.message(
                INVITATION_DOES_NOT_WORK_TITLE,
                INVITATION_DOES_NOT_WORK,
                status_code=404,
                headers=LANDING_HEADERS,
            )
        lesson = invitation.lesson
        return context.renderer.page(
            "guest_landing.html",
            page_context(
                None,
                f"Your invitation to {lesson.title}",
                guest=invitation.display_name,
                lesson=lesson,
                school=lesson.school,
                inviter=_inviter_name(session, invitation),
                opens_at=lesson.starts_at - PUPILS_EARLY,
                early_minutes=int(PUPILS_EARLY.total_seconds() // 60),
                recording=recording_terms(lesson),
                # The lesson page is at this link's own address, so the token goes nowhere new.
                join_now=(
                    f"{LANDING_PREFIX}{token}/lesson"
                    if open_to_join(lesson, context.now(), context.live)
                    else None
                ),
            ),
            headers=LANDING_HEADERS,
        )
