"""Recordings of a lesson: listed on the lesson's page for staff who may see the lesson, and
watched on the server or downloaded by those allowed (`access.may_download_recording`), each
viewing and download audited (`actions.recordings`).

The page that plays a recording gives its player a viewing pass (`ViewingPasses`) in the video's
address: the file is sent only to the member of staff whose opening of that page was audited, so
it cannot be fetched, whole, around the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from safeclass.access import NotFoundError, may_download_recording
from safeclass.actions.recordings import (
    RecordingFileMissingError,
    RecordingKeeper,
    RecordingNotReadyError,
    download_recording,
    lesson_recordings,
    recording_file,
    watch_recording,
)
from safeclass.domain.policy import RECORDING_ALLOWED
from safeclass.store.models import Lesson, Recording, RecordingState, StaffMember
from safeclass.store.queries import lesson_policy
from safeclass.timeutil import utc_now
from safeclass.web.context import web_context
from safeclass.web.pages.common import ObjectId, page_context, require_signed_in

router = APIRouter(prefix="/admin")

NOT_READY_TITLE = "This recording cannot be downloaded yet"
NOT_READY_TO_WATCH_TITLE = "This recording cannot be watched yet"
MISSING_TITLE = "This recording's file is missing"

VIEWING_SALT = "safeclass.recording-viewing"
# Long enough to watch the longest lesson with pauses; after it the player stops loading, and
# opening the page again (audited again) gives a new pass.
VIEWING_MAX_AGE = timedelta(hours=8)
MAX_VIEWING_PASS_LENGTH = 200

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

    @property
    def watch_url(self) -> str:
        return watch_path(self.recording.id)


@dataclass(frozen=True)
class RecordingSection:
    allowed: bool  # the lesson's rules allow recording
    rows: list[RecordingRow]


def download_path(recording_id: int) -> str:
    return f"/admin/recordings/{recording_id}/download"


def watch_path(recording_id: int) -> str:
    return f"/admin/recordings/{recording_id}"


def video_path(recording_id: int) -> str:
    return f"/admin/recordings/{recording_id}/video"


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


class ViewingPasses:
    """Passes for the player of one recording's page: signed with the server's secret (their own
    salt, so no other signed value of ours passes for one), for one member of staff and one
    recording, valid for `VIEWING_MAX_AGE` by `clock`."""

    def __init__(self, secret_key: bytes, clock: Callable[[], datetime] = utc_now) -> None:
        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(secret_key, salt=VIEWING_SALT, signer=_Signer)

    def issue(self, recording_id: int, staff_id: int) -> str:
        return self._serializer.dumps({"r": recording_id, "s": staff_id})

    def admits(self, viewing: str, recording_id: int, staff_id: int) -> bool:
        """Whether `viewing` is a pass of ours, not expired, for this recording and this staff."""
        if not 0 < len(viewing) <= MAX_VIEWING_PASS_LENGTH:
            return False
        try:
            payload = self._serializer.loads(viewing, max_age=int(VIEWING_MAX_AGE.total_seconds()))
        except BadData:
            return False
        if not isinstance(payload, dict):
            return False
        if payload.get("r") != recording_id:
            return False
        return payload.get("s") == staff_id


def _viewing_passes(request: Request) -> ViewingPasses:
    context = web_context(request)
    return ViewingPasses(context.config.secret_key(), context.now)


@router.get("/recordings/{recording_id}")
def watch(request: Request, recording_id: ObjectId) -> Response:
    context = web_context(request)
    root = recordings_folder(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        staff = signed_in.staff
        try:
            recording = watch_recording(session, staff, recording_id, root=root)
        except RecordingNotReadyError as error:
            return context.renderer.message(
                NOT_READY_TO_WATCH_TITLE, error.message, status_code=409
            )
        except RecordingFileMissingError as error:
            return context.renderer.message(MISSING_TITLE, error.message, status_code=404)
        session.commit()  # the audit entry: written before the page that plays it is sent
        viewing = _viewing_passes(request).issue(recording.id, staff.id)
        lesson = recording.lesson
        return context.renderer.page(
            "recording_watch.html",
            page_context(
                signed_in,
                f"Recording {recording.number} of {lesson.title}",
                recording=recording,
                row=_row(staff, recording),
                lesson=lesson,
                school=lesson.school,
                video_url=f"{video_path(recording.id)}?{urlencode({'viewing': viewing})}",
            ),
        )


@router.get("/recordings/{recording_id}/video")
def video(request: Request, recording_id: ObjectId, viewing: str = "") -> Response:
    """The file, for the player of the recording's page: inline, never cached, in the pieces the
    player asks for (HTTP Range). Not audited: opening the page that gave `viewing` was."""
    context = web_context(request)
    root = recordings_folder(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        staff = signed_in.staff
        if not _viewing_passes(request).admits(viewing, recording_id, staff.id):
            raise NotFoundError(f"Recording {recording_id}: no viewing pass")
        try:
            path = recording_file(session, staff, recording_id, root=root)
        except RecordingNotReadyError as error:
            return context.renderer.message(
                NOT_READY_TO_WATCH_TITLE, error.message, status_code=409
            )
        except RecordingFileMissingError as error:
            return context.renderer.message(MISSING_TITLE, error.message, status_code=404)
    return FileResponse(
        path,
        media_type="video/webm",
        headers={"Content-Disposition": "inline", "Cache-Control": "no-store"},
    )
