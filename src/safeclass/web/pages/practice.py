"""Practice rooms through the web: open one with simulated pupils, see it, stop it.

The checks are `safeclass.actions.practice`'s; this module reads the forms, starts and stops the
simulated pupils (`media.practice_pupils`) after each change is committed, and sends staff to the
normal lesson console (`/admin/lessons/{id}/live`) to practise. Any member of staff with a role at
a school may open a practice room there and invite colleagues from the same school; a room's page
is for its host and the colleagues invited, as the console is.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import NotFoundError, access_lesson_to_run, access_school
from safeclass.actions.practice import (
    MAX_PUPILS,
    PRACTICE_DURATION,
    OpenedPracticeRoom,
    PracticeRefusedError,
    open_practice_room,
    practice_display_name,
    practice_lessons_for,
    practice_pupils,
    stop_practice_room,
)
from safeclass.config import Config
from safeclass.store.models import Lesson, PracticePupil, School, StaffMember, StaffRoleGrant
from safeclass.web.auth import SignedIn
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, check_session_token
from safeclass.web.forms import SubmittedForm, read_form
from safeclass.web.pages.common import (
    ObjectId,
    page_context,
    require_signed_in,
    required_id,
)

router = APIRouter(prefix="/admin")

PRACTICE_PATH = "/admin/practice"
DEFAULT_PUPILS = 4
DURATION_MINUTES = int(PRACTICE_DURATION.total_seconds() // 60)
NO_WAY_IN = (
    "The simulated pupils cannot reach this server's lesson door (it is not listening on a "
    "network address), so practice rooms do not work here."
)
STOPPED = "The practice room has stopped: its simulated pupils have left."


@dataclass(frozen=True)
class SchoolForm:
    """The "open a practice room" form for one school."""

    school: School
    colleagues: list[StaffMember]


@dataclass(frozen=True)
class PupilRow:
    name: str
    consent_ok: bool


def _colleagues(session: Session, school: School, staff: StaffMember) -> list[StaffMember]:
    """Active staff with a role at this school, other than the person asking."""
    members = session.scalars(
        select(StaffMember)
        .join(StaffRoleGrant, StaffRoleGrant.staff_id == StaffMember.id)
        .where(
            StaffRoleGrant.school_id == school.id,
            StaffMember.active.is_(True),
            StaffMember.id != staff.id,
        )
        .distinct()
        .order_by(StaffMember.display_name, StaffMember.id)
    )
    return list(members)


def _school_forms(session: Session, staff: StaffMember) -> list[SchoolForm]:
    """The schools where this member of staff works (a role there, not only trust-wide)."""
    forms = []
    for school_id in sorted(staff.school_ids()):
        try:
            school = access_school(session, staff, school_id)
        except NotFoundError:
            continue
        forms.append(SchoolForm(school, _colleagues(session, school, staff)))
    return forms


def _practice_page(
    context: WebContext,
    session: Session,
    signed_in: SignedIn,
    *,
    problem: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    staff = signed_in.staff
    return context.renderer.page(
        "practice.html",
        page_context(
            signed_in,
            "Practice rooms",
            rooms=practice_lessons_for(session, staff, context.now()),
            forms=_school_forms(session, staff),
            max_pupils=MAX_PUPILS,
            default_pupils=DEFAULT_PUPILS,
            minutes=DURATION_MINUTES,
            media=context.practice is not None and context.practice.media,
            problem=problem,
            done=done,
        ),
        status_code=status_code,
    )


@router.get("/practice")
def practice_home(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        done = STOPPED if request.query_params.get("stopped") == "1" else None
        return _practice_page(context, session, signed_in, done=done)


# --- Opening --------------------------------------------------------------------------------------


@router.post("/practice")
async def open_room(request: Request) -> Response:
    context = web_context(request)
    form = await read_form(request)
    try:
        url, origin = lesson_door(request, context.config)
    except LookupError:
        url = origin = ""
    response, opened = await run_in_threadpool(_open, context, request, form, bool(url))
    if opened is not None and context.practice is not None:
        await context.practice.start(
            opened, url=f"{url}/lessons/{opened.lesson_id}/live", origin=origin
        )
    return response


def _open(
    context: WebContext, request: Request, form: SubmittedForm, reachable: bool
) -> tuple[Response, OpenedPracticeRoom | None]:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        school = access_school(session, signed_in.staff, required_id(form, "school_id"))
        try:
            if not reachable or context.practice is None:
                raise PracticeRefusedError(NO_WAY_IN)
            pupils = _pupils(form.get("pupils"))
            colleagues = [
                colleague
                for colleague in _colleagues(session, school, signed_in.staff)
                if form.get(f"colleague_{colleague.id}") == "1"
            ]
            opened = open_practice_room(
                session,
                school=school,
                host=signed_in.staff,
                pupils=pupils,
                colleagues=colleagues,
                one_without_permission=form.get("one_without_permission") == "1",
                now=context.now(),
            )
        except PracticeRefusedError as refused:
            session.rollback()
            page = _practice_page(
                context, session, signed_in, problem=refused.message, status_code=400
            )
            return page, None
        session.commit()
    return RedirectResponse(f"{PRACTICE_PATH}/{opened.lesson_id}", status_code=303), opened


def _pupils(raw: str | None) -> int:
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 3:
        raise PracticeRefusedError(f"Choose between 1 and {MAX_PUPILS} simulated pupils.")
    return int(text)


def lesson_door(request: Request, config: Config) -> tuple[str, str]:
    """Where the simulated pupils reach this server, and the Origin they send: the address and
    port of the socket this request came in on (behind a reverse proxy too: the server's own
    socket, never the public address). LookupError when it is not a network socket."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        raise LookupError("not served on a network socket")
    host, port = str(server[0]), int(server[1])
    if ":" in host:
        host = f"[{host}]"
    # The Host header the client sends leaves out port 80, and the Origin must match it.
    netloc = host if port == 80 else f"{host}:{port}"
    scheme = "https" if config.secure_cookies else "http"
    return f"ws://{netloc}", f"{scheme}://{netloc}"


# --- One room -------------------------------------------------------------------------------------


def _access_practice_room(session: Session, staff: StaffMember, lesson_id: int) -> Lesson:
    """A practice lesson, for its host and the colleagues invited; "not found" for anyone else
    and for every lesson that is not a practice lesson."""
    lesson = access_lesson_to_run(session, staff, lesson_id)
    if not lesson.practice:
        raise NotFoundError(f"Practice room {lesson_id}")
    return lesson


def _pupil_row(pupil: PracticePupil) -> PupilRow:
    return PupilRow(practice_display_name(pupil.first_name), pupil.consent_ok)


@router.get("/practice/{lesson_id}")
def room_page(request: Request, lesson_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = _access_practice_room(session, signed_in.staff, lesson_id)
        practice = context.practice
        return context.renderer.page(
            "practice_room.html",
            page_context(
                signed_in,
                "Practice room",
                lesson=lesson,
                school=lesson.school,
                pupils=[_pupil_row(pupil) for pupil in practice_pupils(session, lesson)],
                colleagues=[member.staff for member in lesson.other_staff],
                open=lesson.ends_at > context.now(),
                running=practice is not None and practice.running(lesson.id),
                media=practice is not None and practice.media,
                console_url=f"/admin/lessons/{lesson.id}/live",
            ),
        )


@router.post("/practice/stop")
async def stop_room(request: Request) -> Response:
    context = web_context(request)
    form = await read_form(request)
    lesson_id, stopped = await run_in_threadpool(_stop, context, request, form)
    if context.practice is not None:
        await context.practice.stop(lesson_id, "stopped by staff")
    if stopped:
        await context.live.refresh_roster(lesson_id)
    return RedirectResponse(f"{PRACTICE_PATH}?stopped=1", status_code=303)


def _stop(context: WebContext, request: Request, form: SubmittedForm) -> tuple[int, bool]:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        lesson = _access_practice_room(session, signed_in.staff, required_id(form, "lesson_id"))
        stopped = stop_practice_room(session, lesson, actor=signed_in.staff, now=context.now())
        session.commit()
        return lesson.id, stopped
