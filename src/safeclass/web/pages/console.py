"""The staff lesson console: the page a teacher runs a live lesson from.

The page itself holds no lesson state: the browser joins the lesson's WebSocket as the signed-in
member of staff (docs/protocol.md) and draws the console from each view the engine sends. The page
gives the script only what it cannot learn from the socket: the lesson's id, the viewer's name for
the watermark, and where the incident form is.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from safeclass.access import access_lesson_to_run
from safeclass.domain.lesson.model import MAX_CHAT_LENGTH
from safeclass.domain.policy import AUTO_LOCK_WHEN_COMPLETE
from safeclass.store.queries import lesson_policy
from safeclass.web.context import web_context
from safeclass.web.pages.common import ObjectId, page_context, require_signed_in
from safeclass.web.security_headers import BLUR_PAGE_HEADERS

router = APIRouter(prefix="/admin")

MAX_REMOVE_REASON = 500  # as the protocol's `remove` message allows

# Each remark says what the lock does by itself for this lesson, in a teacher's words.
AUTO_LOCK_ON = (
    "The lesson locks itself when every pupil on the class list has been let in. You can unlock "
    "it again."
)
AUTO_LOCK_OFF = "The lesson does not lock itself: lock it when everyone is in."


@router.get("/lessons/{lesson_id}/live")
def console_page(request: Request, lesson_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = access_lesson_to_run(session, signed_in.staff, lesson_id)
        auto_lock = lesson_policy(lesson).get(AUTO_LOCK_WHEN_COMPLETE)
        return context.renderer.page(
            "console.html",
            page_context(
                signed_in,
                f"Live: {lesson.title}",
                lesson=lesson,
                school=lesson.school,
                auto_lock_words=AUTO_LOCK_ON if auto_lock else AUTO_LOCK_OFF,
                incident_url=f"/admin/lessons/{lesson.id}/incidents/new",
                max_chat_length=MAX_CHAT_LENGTH,
                max_reason_length=MAX_REMOVE_REASON,
            ),
            # The teacher's own camera is blurred here, in WebAssembly (blur.js).
            headers=BLUR_PAGE_HEADERS,
        )
