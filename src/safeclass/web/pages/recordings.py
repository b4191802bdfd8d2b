"""Recordings of a lesson: listed on the lesson's page for staff who may see the lesson, and
downloaded by those allowed (`access.may_download_recording`), each download audited
(`actions.recordings.download_recording`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from safeclass.access import may_download_recording
from safeclass.actions.recordings import (
    RecordingFileMissingError,
    RecordingKeeper,
    RecordingNotReadyError,
    download_recording,
    lesson_recordings,
)
from safeclass.domain.policy import RECORDING_ALLOWED
from safeclass.store.models import Lesson, Recording, RecordingState, StaffMember
from safeclass.store.queries import lesson_policy
from safeclass.web.context import web_context
from safeclass.web.pages.common import ObjectId, require_signed_in

router = APIRouter(prefix="/admin")

NOT_READY_TITLE = "This recording cannot be downloaded yet"
MISSING_TITLE = "This recording's file is missing"

# Why a recording stopped, for the lesson's page.
STOP_REASONS = {
    "stopped": "Stopped by staff",
    "lesson_ended": "The lesson ended",
    "no_staff": "No staff were left in the lesson",
    "consent_withdrawn": "A pupil's permission to be recorded was withdrawn",
    "server_restarted": "SafeClass restarted",
}


@dataclass(frozen=True)
class RecordingRow:
    recording: Recording
    started_by: str
    length: str | None  # None while still recording
    stop_reason: str | None
    may_download: bool

    @property
    def download_url(self) -> str:
        return download_path(self.recording.id)


@dataclass(frozen=True)
class RecordingSection:
    allowed: bool  # the lesson's rules allow recording
    rows: list[RecordingRow]


def download_path(recording_id: int) -> str:
    return f"/admin/recordings/{recording_id}/download"


def recording_section(session: Session, staff: StaffMember, lesson: Lesson) -> RecordingSection:
    return RecordingSection(
        allowed=lesson_policy(lesson).get(RECORDING_ALLOWED),
        rows=[_row(staff, recording) for recording in lesson_recordings(session, lesson.id)],
    )


def _row(staff: StaffMember, recording: Recording) -> RecordingRow:
    starter = recording.started_by
    if recording.duration_seconds is not None:
        length: str | None = length_words(recording.duration_seconds)
    elif recording.ended_at is not None:
        length = length_words((recording.ended_at - recording.started_at).total_seconds())
    else:
        length = None
    reason = recording.stop_reason
    return RecordingRow(
        recording=recording,
        started_by=starter.display_name if starter is not None else "A member of staff",
        length=length,
        stop_reason=STOP_REASONS.get(reason, reason) if reason is not None else None,
        may_download=recording.state is RecordingState.READY
        and may_download_recording(staff, recording),
    )


def length_words(seconds: float) -> str:
    """A length in words ("1 hour 5 minutes", "12 minutes", "40 seconds"): whole minutes from
    one minute up."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} second{'' if total == 1 else 's'}"
    minutes = round(total / 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'' if hours == 1 else 's'}")
    if minutes or not hours:
        parts.append(f"{minutes} minute{'' if minutes == 1 else 's'}")
    return " ".join(parts)


def recordings_folder(request: Request) -> Path:
    """Where this server keeps recordings: the keeper's folder (`web.app`), which is where Janus
    records into."""
    keeper = request.app.state.recordings
    assert isinstance(keeper, RecordingKeeper)
    return keeper.root


@router.get("/recordings/{recording_id}/download")
def download(request: Request, recording_id: ObjectId) -> Response:
    context = web_context(request)
    root = recordings_folder(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        try:
            found = download_recording(session, signed_in.staff, recording_id, root=root)
        except RecordingNotReadyError as error:
            return context.renderer.message(NOT_READY_TITLE, error.message, status_code=409)
        except RecordingFileMissingError as error:
            return context.renderer.message(MISSING_TITLE, error.message, status_code=404)
        session.commit()  # the audit entry: written before a byte is sent
    return FileResponse(
        found.path,
        media_type="video/webm",
        filename=found.download_name,
        headers={"Cache-Control": "no-store"},
    )
