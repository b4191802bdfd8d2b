"""Codes to type: the page at `/code` where a pupil (or a named guest) types the lesson's code and
their passcode, and the staff button that makes or replaces a lesson's code.

The checking is `safeclass.web.typed_entries.TypedCodeDoor`'s; this module reads the form, guards
it against other sites (a signed double-submit token, as the sign-in form has: nobody is signed in
here) and says the answer in plain words. Every wrong pair gets the same words.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import access_lesson
from safeclass.actions.live import LiveLessons
from safeclass.actions.typed_codes import issue_lesson_code
from safeclass.codes import LESSON_CODE_LENGTH, PASSCODE_LENGTH, shown
from safeclass.config import Config
from safeclass.domain.lesson.model import Phase
from safeclass.domain.year_groups import describe_year_group
from safeclass.store.models import Lesson
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, SIGN_IN_TOKEN_MAX_AGE_SECONDS, check_session_token
from safeclass.web.forms import SubmittedForm, read_form
from safeclass.web.pages.common import handle_form, page_context, require_signed_in, required_id
from safeclass.web.typed_entries import (
    ENTRY_TOKEN_MAX_AGE,
    MAX_TYPED_LENGTH,
    Answer,
    DoorAnswer,
    TypedCodeDoor,
)
from safeclass.web.wording import format_time

router = APIRouter()

CODE_PATH = "/code"
MAKE_CODE_PATH = "/admin/typed-codes/make"

NO_MATCH = "Those codes do not match a lesson we can let you into. Check them with your teacher."
MISSING = "Type the lesson code and your passcode."
MALFORMED = (
    f"A lesson code has {LESSON_CODE_LENGTH} letters and numbers, and a passcode has "
    f"{PASSCODE_LENGTH}. Check that you typed them just as they are written, and try again."
)
# The page may hold a lesson code, and the next one a token: never cached, never passed on to
# another site, never indexed.
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
_STATUS = {
    Answer.MISSING: 400,
    Answer.MALFORMED: 400,
    Answer.NO_MATCH: 400,
    Answer.ADDRESS_PAUSED: 429,
    Answer.LESSON_PAUSED: 429,
    Answer.NOT_OPEN_YET: 409,
    Answer.FINISHED: 409,
    Answer.PARENT_NEEDED: 409,
}


def code_cookie_name(config: Config) -> str:
    return "__Host-safeclass-code" if config.secure_cookies else "safeclass_code"


# --- The door, one per app ------------------------------------------------------------------------

_door_made = threading.Lock()


def door_for(app: Starlette) -> TypedCodeDoor:
    """This app's door, made on first use from its context. Tests may replace its `limiter`
    (a fake clock) or set `app.state.typed_code_door` before the first request."""
    state = app.state
    with _door_made:
        door = getattr(state, "typed_code_door", None)
        if door is None:
            context = state.safeclass
            assert isinstance(context, WebContext)
            door = TypedCodeDoor(
                context.session_factory,
                secret_key=context.config.secret_key(),
                # Through the context each time, so that a test's change of clock reaches here.
                now=lambda: context.now(),
                running=_running_in(context.live),
            )
            state.typed_code_door = door
    assert isinstance(door, TypedCodeDoor)
    return door


def _running_in(live: LiveLessons) -> Callable[[int], bool]:
    """Whether a lesson is live now (it may run past its booked end)."""

    def running(lesson_id: int) -> bool:
        return any(
            lesson.lesson_id == lesson_id and lesson.state.phase in (Phase.OPEN, Phase.HELD)
            for lesson in live.live()
        )

    return running


# --- The page where codes are typed ---------------------------------------------------------------


@router.get(CODE_PATH)
def code_form(request: Request) -> Response:
    context = web_context(request)
    token = context.sign_in_tokens.issue(request.cookies.get(code_cookie_name(context.config)))
    return _form_page(context, token, typed_code="", problem=None)


@router.post(CODE_PATH)
async def type_codes(request: Request) -> Response:
    context = web_context(request)
    form = await read_form(request)
    context.sign_in_tokens.check(
        request.cookies.get(code_cookie_name(context.config)), form.get(FORM_FIELD)
    )
    door = door_for(request.app)
    address = request.client.host if request.client is not None else "unknown"
    answer = await run_in_threadpool(
        door.attempt, address, form.get("lesson_code"), form.get("passcode")
    )
    token = form.get(FORM_FIELD) or ""
    if answer.answer is Answer.WAITING_ROOM:
        return _entry_page(context, answer)
    typed = (form.get("lesson_code") or "")[:MAX_TYPED_LENGTH]
    headers = dict(PRIVATE_HEADERS)
    if answer.retry_after_seconds:
        headers["Retry-After"] = str(answer.retry_after_seconds)
    return _form_page(
        context,
        token,
        # After a right pair, the lesson code is not needed again on this page.
        typed_code="" if answer.codes_matched else typed,
        problem=_words(answer),
        status_code=_STATUS[answer.answer],
        headers=headers,
    )


def _words(answer: DoorAnswer) -> str:
    """The plain words for every answer but the waiting room."""
    lesson = answer.lesson
    match answer.answer:
        case Answer.MISSING:
            return MISSING
        case Answer.MALFORMED:
            return MALFORMED
        case Answer.NO_MATCH:
            return NO_MATCH
        case Answer.ADDRESS_PAUSED:
            return (
                "There have been too many wrong codes from this internet connection. Please "
                f"wait {_wait(answer.retry_after_seconds)}, then try again. If you have your "
                "link, you can use it now."
            )
        case Answer.LESSON_PAUSED:
            return (
                "There have been too many wrong codes for this lesson, so typing codes for it "
                f"has stopped for a while. Please wait {_wait(answer.retry_after_seconds)}, then "
                "try again. If you have your link, you can use it now."
            )
        case Answer.NOT_OPEN_YET:
            assert lesson is not None
            return (
                f"Your codes are right, but {lesson.title} has not started yet. You can come "
                f"in from {format_time(lesson.opens_at)}. Come back then and type your codes "
                "again."
            )
        case Answer.FINISHED:
            assert lesson is not None
            return f"Your codes are right, but {lesson.title} has finished."
        case Answer.PARENT_NEEDED:
            assert lesson is not None
            assert lesson.year_group is not None
            return (
                f"Your codes are right, but children in {describe_year_group(lesson.year_group)} "
                "join this lesson with a parent or carer, who comes in from their own link and "
                "says they are there. Codes cannot be used for that. Please ask your parent or "
                "carer to open their link."
            )
    raise AssertionError(f"no words for {answer.answer}")


def _wait(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _form_page(
    context: WebContext,
    token: str,
    *,
    typed_code: str,
    problem: str | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    response = context.renderer.page(
        "typed_code.html",
        page_context(
            None,
            "Type your codes",
            csrf_token=token,
            typed_code=typed_code,
            problem=problem,
            code_length=LESSON_CODE_LENGTH,
            passcode_length=PASSCODE_LENGTH,
            max_length=MAX_TYPED_LENGTH,
        ),
        status_code=status_code,
        headers=headers or PRIVATE_HEADERS,
    )
    response.set_cookie(
        code_cookie_name(context.config),
        token,
        max_age=SIGN_IN_TOKEN_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=context.config.secure_cookies,
        path="/",
    )
    return response


def _entry_page(context: WebContext, answer: DoorAnswer) -> Response:
    assert answer.lesson is not None
    assert answer.token is not None
    return context.renderer.page(
        "typed_code_entry.html",
        page_context(
            None,
            f"Waiting room for {answer.lesson.title}",
            lesson=answer.lesson,
            name=answer.name,
            is_guest=answer.guest,
            entry_token=answer.token,
            valid_minutes=int(ENTRY_TOKEN_MAX_AGE.total_seconds() // 60),
        ),
        headers=PRIVATE_HEADERS,
    )


# --- Staff: a lesson's code -----------------------------------------------------------------------


@dataclass(frozen=True)
class TypedCodeSection:
    """The "Code to type" part of a lesson's page."""

    code: str | None  # as shown: ABCD-EFGH-JK
    paused_minutes: int  # typing codes for the lesson is paused for this long (0: not paused)
    code_page: str  # where pupils type it, as typed into a browser: host and path, no scheme


def typed_code_section(request: Request, lesson: Lesson) -> TypedCodeSection:
    pause = door_for(request.app).lesson_pause(lesson.typed_code)
    return TypedCodeSection(
        code=shown(lesson.typed_code) if lesson.typed_code is not None else None,
        paused_minutes=-(-pause // 60),
        code_page=request.url.netloc + CODE_PATH,
    )


def code_page_url(request: Request, config: Config) -> str:
    """The `/code` page on this server."""
    return server_url(request, config) + CODE_PATH


def server_url(request: Request, config: Config) -> str:
    """This server, as the member of staff reached it, without a trailing slash (over HTTPS
    whenever cookies are marked secure, since the server is then behind HTTPS)."""
    base = str(request.base_url)
    if config.secure_cookies and base.startswith("http://"):
        base = "https://" + base.removeprefix("http://")
    return base.rstrip("/")


@router.post(MAKE_CODE_PATH)
async def make_code(request: Request) -> Response:
    return await handle_form(request, _make_code)


def _make_code(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        lesson = access_lesson(session, signed_in.staff, required_id(form, "lesson_id"))
        issue_lesson_code(session, lesson, actor=signed_in.staff)
        session.commit()
        return RedirectResponse(f"/admin/lessons/{lesson.id}#code-to-type", status_code=303)
