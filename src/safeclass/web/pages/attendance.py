"""A lesson's register as a CSV, from the lesson's log (`safeclass.domain.attendance`): the same
register the lesson's page shows, for anyone who may see that page."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from safeclass.access import access_lesson
from safeclass.actions.retention import lesson_register
from safeclass.domain.attendance import AttendanceLine
from safeclass.domain.lesson.model import Role
from safeclass.store.models import Lesson, Pupil
from safeclass.web.context import web_context
from safeclass.web.link_letters import csv_cell
from safeclass.web.pages.common import ObjectId, require_signed_in
from safeclass.web.wording import format_time, format_when

router = APIRouter(prefix="/admin")

CSV_HEADER = (
    "Name",
    "Role",
    "Pupil number",
    "Came in",
    "Left",
    "Minutes in the lesson",
    "Times in the room",
    "Removed by staff",
)
ROLE_WORDS = {Role.PUPIL: "Pupil", Role.STAFF: "Staff", Role.GUEST: "Guest"}
STILL_IN = "Still in the lesson"


@router.get("/lessons/{lesson_id}/attendance.csv")
def attendance_csv(request: Request, lesson_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = access_lesson(session, signed_in.staff, lesson_id)
        register = lesson_register(session, lesson.id)
        content = register_csv(session, lesson, register, context.now())
        name = register_file_name(lesson)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def register_csv(
    session: Session, lesson: Lesson, register: list[AttendanceLine], now: datetime
) -> bytes:
    """UTF-8 with a byte-order mark, one line per person (all their devices together)."""
    numbers = _pupil_numbers(session, lesson, register)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for line in register:
        last_out = line.last_out
        writer.writerow(
            [
                csv_cell(line.display_name),
                ROLE_WORDS[line.person.role],
                csv_cell(numbers.get(line.person.id, "")) if line.person.role is Role.PUPIL else "",
                format_when(line.first_in) if line.first_in else "",
                format_time(last_out) if last_out else STILL_IN,
                str(int(line.time_in_room(now).total_seconds() // 60)),
                str(len(line.stretches)),
                "Yes" if line.removed else "No",
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _pupil_numbers(
    session: Session, lesson: Lesson, register: list[AttendanceLine]
) -> dict[str, str]:
    """The school's own pupil numbers (MIS ids), to match the register with the school's."""
    ids = [
        int(line.person.id)
        for line in register
        if line.person.role is Role.PUPIL and line.person.id.isdigit()
    ]
    if not ids:
        return {}
    rows = session.execute(
        select(Pupil.id, Pupil.mis_id).where(Pupil.id.in_(ids), Pupil.school_id == lesson.school_id)
    )
    return {str(pupil_id): mis_id for pupil_id, mis_id in rows}


def register_file_name(lesson: Lesson) -> str:
    """ASCII only, from the lesson's title and day, so every browser keeps it."""
    plain = unicodedata.normalize("NFKD", lesson.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "lesson"
    return f"register-{slug}-{lesson.starts_at:%Y-%m-%d}.csv"
