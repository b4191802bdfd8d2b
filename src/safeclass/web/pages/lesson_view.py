"""The lesson page for pupils, parents and named guests, opened from their personal link.

The page is served at the link's own address with the lesson after it (`/join/<token>/lessons/<id>`
for a pupil's or a parent's link, `/guest/<token>/lesson` for a guest's invitation), so the token
stays where the link already had it: in the address, which the browser never passes on
(`Referrer-Policy: no-referrer`), and nowhere in the page. The page's script reads it from the
address to join the lesson's WebSocket; whether the holder may come in is decided there, by the
lesson engine, at the door.

The page itself only says which steps come before the waiting room (the reminder, a parent
confirming they are there, the camera and microphone check) and the lesson's rules in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from safeclass.actions.guests import guests_allowed, working_invitation
from safeclass.actions.join_links import working_link
from safeclass.actions.live import PUPILS_EARLY
from safeclass.domain.lesson.model import Role, Via
from safeclass.domain.policy import (
    BLUR_PUPIL_DEFAULT,
    CLASS_CHAT,
    PERSONAL_INFO_REMINDER,
    PUPIL_TO_STAFF_CHAT,
    PUPIL_UNMUTE,
    PUPIL_VIDEO_VISIBILITY,
    VIEWER_WATERMARK,
    PupilUnmute,
    PupilVideoVisibility,
)
from safeclass.store.models import GuestInvitation, Lesson, Pupil
from safeclass.store.queries import lesson_policy
from safeclass.web.context import WebContext, web_context
from safeclass.web.join_tokens import Entrant
from safeclass.web.lesson_door import open_to_join
from safeclass.web.link_reader import opens_lesson
from safeclass.web.pages.common import ObjectId, page_context
from safeclass.web.pages.guests import INVITATION_DOES_NOT_WORK, INVITATION_DOES_NOT_WORK_TITLE
from safeclass.web.pages.join_links import (
    LANDING_HEADERS,
    LINK_DOES_NOT_WORK,
    LINK_DOES_NOT_WORK_TITLE,
)
from safeclass.web.pages.recording_terms import RecordingTerms, recording_terms
from safeclass.web.security_headers import BLUR_PAGE_HEADERS

router = APIRouter()

NOT_OPEN_TITLE = "This lesson is not open"
NOT_OPEN_YET = "This lesson has not opened yet. You can come in from {opens} (UTC)."
FINISHED = "This lesson has finished."


@dataclass(frozen=True)
class LessonRules:
    """What the page tells a pupil, parent or guest before they come in."""

    reminder_required: bool
    must_ask_to_speak: bool
    video_staff_only: bool
    class_chat: bool
    staff_chat: bool
    blur_default: bool
    watermark: bool
    recording: RecordingTerms | None  # None: staff may not record this lesson


def lesson_rules(lesson: Lesson) -> LessonRules:
    policy = lesson_policy(lesson)
    return LessonRules(
        reminder_required=policy.get(PERSONAL_INFO_REMINDER),
        must_ask_to_speak=policy.get(PUPIL_UNMUTE) is PupilUnmute.ASK_STAFF,
        video_staff_only=policy.get(PUPIL_VIDEO_VISIBILITY) is PupilVideoVisibility.STAFF_ONLY,
        class_chat=policy.get(CLASS_CHAT),
        staff_chat=policy.get(PUPIL_TO_STAFF_CHAT),
        blur_default=policy.get(BLUR_PUPIL_DEFAULT),
        watermark=policy.get(VIEWER_WATERMARK),
        recording=recording_terms(lesson),
    )


def _not_open(context: WebContext, lesson: Lesson, now: datetime) -> Response | None:
    """The page that says this lesson cannot be joined now, or None when it can."""
    if open_to_join(lesson, now, context.live):
        return None
    if now < lesson.starts_at:
        opens = (lesson.starts_at - PUPILS_EARLY).strftime("%H:%M")
        message = NOT_OPEN_YET.format(opens=opens)
    else:
        message = FINISHED
    return context.renderer.message(
        NOT_OPEN_TITLE, message, status_code=409, headers=LANDING_HEADERS
    )


@router.get("/join/{token}/lessons/{lesson_id}")
def pupil_lesson(request: Request, token: str, lesson_id: ObjectId) -> Response:
    """A pupil's own link, or a parent's link for their child, opening one lesson."""
    context = web_context(request)
    with context.session_factory() as session:
        now = context.now()
        link = working_link(session, token, now)
        lesson = session.get(Lesson, lesson_id)
        if link is None or lesson is None or not opens_lesson(link, lesson):
            # The same answer for a link that does not work and a lesson it does not open.
            return context.renderer.message(
                LINK_DOES_NOT_WORK_TITLE,
                LINK_DOES_NOT_WORK,
                status_code=404,
                headers=LANDING_HEADERS,
            )
        refusal = _not_open(context, lesson, now)
        if refusal is not None:
            return refusal
        first_name = link.pupil.first_name
        return _page(
            context,
            lesson,
            role="parent" if link.for_parent else "pupil",
            name=first_name,
            child=first_name if link.for_parent else None,
        )


@router.get("/guest/{token}/lesson")
def guest_lesson(request: Request, token: str) -> Response:
    """A named guest's invitation, opening the one lesson it is for."""
    context = web_context(request)
    with context.session_factory() as session:
        now = context.now()
        invitation = working_invitation(session, token, now)
        if invitation is None or not guests_allowed(invitation.lesson):
            return context.renderer.message(
                INVITATION_DOES_NOT_WORK_TITLE,
                INVITATION_DOES_NOT_WORK,
                status_code=404,
                headers=LANDING_HEADERS,
            )
        lesson = invitation.lesson
        refusal = _not_open(context, lesson, now)
        if refusal is not None:
            return refusal
        return _page(context, lesson, role="guest", name=invitation.display_name, child=None)


CODES_RAN_OUT_TITLE = "Please type your codes again"
CODES_RAN_OUT = (
    "Your codes only work for a short time, and that time is up, or they are for another lesson. "
    "Go back to the page where you typed them, and type them again."
)


@router.get("/code/{token}/lessons/{lesson_id}")
def typed_code_lesson(request: Request, token: str, lesson_id: ObjectId) -> Response:
    """A pupil or guest who typed a lesson code and passcode (`pages.typed_codes`): the short-lived
    token from that page, opening the one lesson it is for."""
    context = web_context(request)
    with context.session_factory() as session:
        now = context.now()
        entrant = context.join_tokens.read(session, lesson_id, token)
        lesson = session.get(Lesson, lesson_id)
        name = _typed_entrant_name(session, entrant)
        if entrant is None or lesson is None or entrant.via is not Via.TYPED_CODE or name is None:
            return context.renderer.message(
                CODES_RAN_OUT_TITLE, CODES_RAN_OUT, status_code=404, headers=LANDING_HEADERS
            )
        refusal = _not_open(context, lesson, now)
        if refusal is not None:
            return refusal
        role = "guest" if entrant.person.role is Role.GUEST else "pupil"
        return _page(context, lesson, role=role, name=name, child=None)


def _typed_entrant_name(session: Session, entrant: Entrant | None) -> str | None:
    """The name a typed-code entrant is greeted by: a pupil's first name, a guest's name."""
    if entrant is None or not entrant.person.id.isdigit():
        return None
    if entrant.person.role is Role.GUEST:
        invitation = session.get(GuestInvitation, int(entrant.person.id))
        return invitation.display_name if invitation is not None else None
    pupil = session.get(Pupil, int(entrant.person.id))
    return pupil.first_name if pupil is not None else None


def _page(
    context: WebContext,
    lesson: Lesson,
    *,
    role: str,
    name: str,
    child: str | None,
) -> Response:
    return context.renderer.page(
        "lesson_view.html",
        page_context(
            None,
            lesson.title,
            lesson=lesson,
            school=lesson.school,
            role=role,
            name=name,
            child=child,
            rules=lesson_rules(lesson),
        ),
        # Background blur compiles WebAssembly; nothing else is loosened.
        headers={**LANDING_HEADERS, **BLUR_PAGE_HEADERS},
    )
