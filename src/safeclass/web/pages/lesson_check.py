"""The staff pre-lesson check: before opening the console, a teacher sees their camera as pupils
will (background blur on by default), hears their microphone move a bar, and runs through a short
checklist. Its button opens the lesson console.

Blur runs in the browser (static/js/lesson/blur.js); this page sends the one Content-Security-
Policy that lets it compile MediaPipe's WebAssembly, and says so in words when this server has no
blur files installed.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from safeclass.access import access_lesson_to_run
from safeclass.web.context import web_context
from safeclass.web.pages.common import ObjectId, page_context, require_signed_in
from safeclass.web.security_headers import BLUR_PAGE_HEADERS
from safeclass.web.vendor import selfie_segmentation_installed

router = APIRouter(prefix="/admin")

BLUR_NOT_INSTALLED = (
    "Background blur is not set up on this SafeClass server, so pupils will see your background "
    "as it is. Ask whoever looks after SafeClass to run its install step again."
)

# What to look at before going live: plain words, each one thing to check.
CHECKLIST = (
    (
        "Background",
        "Nothing behind you shows where you live or anything personal: no family photos, post, "
        "names or addresses. Blur helps, but it can slip when you move, so check anyway.",
    ),
    ("Clothing", "You are dressed as you would be in school."),
    (
        "Surroundings",
        "You are somewhere quiet and suitable, not a bedroom, where nobody else can be seen or "
        "heard and nobody can walk in behind you.",
    ),
)


def check_url(lesson_id: int) -> str:
    return f"/admin/lessons/{lesson_id}/check"


@router.get("/lessons/{lesson_id}/check")
def check_page(request: Request, lesson_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = access_lesson_to_run(session, signed_in.staff, lesson_id)
        return context.renderer.page(
            "lesson_check.html",
            page_context(
                signed_in,
                f"Before the lesson: {lesson.title}",
                lesson=lesson,
                school=lesson.school,
                checklist=CHECKLIST,
                blur_installed=selfie_segmentation_installed(),
                blur_not_installed=BLUR_NOT_INSTALLED,
                console_url=f"/admin/lessons/{lesson.id}/live",
            ),
            headers=BLUR_PAGE_HEADERS,
        )
