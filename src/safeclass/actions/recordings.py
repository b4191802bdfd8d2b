"""Recordings of lessons as records: a row from the moment one starts, one file once it stops,
watched on the server or downloaded only by those allowed, each viewing and download audited.

How a recording goes (the lesson engine decides when; the media relay has Janus write the raw
files; see docs/recordings.md):

1. `RecordingChanged(recording=True)` is stored: the `RecordingKeeper.store_hook`, called inside
   the transaction that writes the lesson's log, adds the row (state `recording`). It exists
   exactly when the event does.
2. `RecordingChanged(recording=False)` is stored: the same hook sets when and why it stopped
   (state `processing`). The keeper's listener, which runs after the media relay's (so Janus has
   closed its files), then makes the one file in a worker thread, after a short pause for the
   last packets to be written (`safeclass.media.recording_files.make_recording`).
3. The row becomes `ready` (with the file's name, size, length and track titles) and the raw
   files are deleted; or `failed`, with the reason in plain words, and the raw files are kept
   (retention deletes them with the row).

A server that stops while recording or converting leaves rows `recording` or `processing`:
`recover()` at start-up converts them (stopped "server_restarted").

Who may watch or download: the lesson's own staff and the school's DSLs
(`access.access_recording`); for everyone else a recording is "not found", the same as one that
does not exist. Opening the page that plays a recording is audited once (`watch_recording`); the
many requests of its player for pieces of the file are not (`recording_file`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import shutil
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import access_recording
from safeclass.actions.audit import record_audit
from safeclass.actions.live import LiveLesson
from safeclass.actions.practice import practice_display_name, practice_person_id, practice_pupils
from safeclass.domain.lesson.events import AnyEvent, RecordingChanged
from safeclass.domain.lesson.model import Person, Role
from safeclass.media.recording_files import (
    MadeRecording,
    RecordingConversionError,
    make_recording,
    output_path,
    raw_dir,
)
from safeclass.store.db import transaction
from safeclass.store.models import Lesson, Recording, RecordingState, StaffMember
from safeclass.timeutil import utc_now

log = logging.getLogger(__name__)

AUDIT_DOWNLOADED = "recording_downloaded"
AUDIT_VIEWED = "recording_viewed"
SERVER_RESTARTED = "server_restarted"
# Janus closes its files when the relay stops recording; a moment more lets the last packets
# reach the disk before they are read.
SETTLE_SECONDS = 1.0
# At shutdown, how long running conversions are waited for before they are cancelled.
CLOSE_WAIT_SECONDS = 5.0

UNEXPECTED_FAILURE = (
    "Something went wrong on the server while the recording was being prepared. "
    "Tell your school's SafeClass admin."
)
NOT_READY = "This recording is still being prepared. Try again in a few minutes."
NOT_MADE = "This recording could not be made, so there is nothing to watch or download."
FILE_MISSING = (
    "The file of this recording is missing from the server, so it cannot be watched or "
    "downloaded. "
    "Tell your school's SafeClass admin."
)


class RecordingMaker(Protocol):
    """`make_recording`'s shape: raw files in `folder` to one file at `out`."""

    def __call__(
        self, folder: Path, out: Path, *, started_at: datetime, titles: Mapping[Person, str]
    ) -> MadeRecording: ...


class RecordingUnavailableError(Exception):
    """A recording the caller may see that cannot be watched or downloaded now. The message is
    for them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RecordingNotReadyError(RecordingUnavailableError):
    """Still being made, or it could not be made."""


class RecordingFileMissingError(RecordingUnavailableError):
    """The row says the file is there; the disk does not have it."""


_Key = tuple[int, int]  # (lesson id, recording number)
# A conversion's work folder and part-written file (`media.recording_files.make_recording`).
_LEFTOVER = re.compile(
    r"\.lesson-(?P<lesson>\d+)-recording-(?P<number>\d+)-"
    r"(converting-.+|.+\.webm\.partial)"
)


class RecordingKeeper:
    """Keeps the `recordings` rows in step with the lesson engine's `RecordingChanged` events
    and makes each recording's file when it stops."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        root: Path,
        clock: Callable[[], datetime] = utc_now,
        *,
        make: RecordingMaker = make_recording,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self._session_factory = session_factory
        self.root = root
        self._clock = clock
        self._make = make
        self._settle = settle
        # Conversions waiting or running, held here so that none is garbage-collected midway
        # and none is started twice.
        self._conversions: dict[_Key, asyncio.Task[None]] = {}
        self._closed = False

    # --- The lesson's side: rows written with the events, conversions after them --------------

    def store_hook(self, session: Session, lesson_id: int, events: Sequence[AnyEvent]) -> None:
        """The `LiveLessons` store hook (in the transaction that stores `events`)."""
        for event in events:
            if not isinstance(event, RecordingChanged):
                continue
            if event.recording:
                _started(session, lesson_id, event)
            else:
                _stopped(session, lesson_id, event)

    async def on_lesson_events(self, live: LiveLesson, events: Sequence[AnyEvent]) -> None:
        """The `LiveLessons` listener, added after the media relay's."""
        for event in events:
            if isinstance(event, RecordingChanged) and not event.recording:
                self._convert_soon((live.lesson_id, event.number), self._settle)

    async def recover(self) -> int:
        """At start-up: convert every recording the last run of the server left unfinished.
        Returns how many were found. A keeper closed before (an app started again) opens again."""
        self._closed = False
        busy = set(self._conversions)
        await asyncio.to_thread(self._clear_leftovers, busy)
        keys = await asyncio.to_thread(self._unfinished, busy)
        for key in keys:
            self._convert_soon(key, 0.0)
        return len(keys)

    async def close(self, wait: float = CLOSE_WAIT_SECONDS) -> None:
        """At shutdown: wait up to `wait` seconds for conversions, then cancel the rest (their
        rows stay `processing`; the next `recover()` converts them). Idempotent."""
        self._closed = True
        tasks = list(self._conversions.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=wait)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d recording(s) left to prepare at the next start", len(pending))
            await asyncio.wait(pending)

    @property
    def busy(self) -> bool:
        return bool(self._conversions)

    def _convert_soon(self, key: _Key, delay: float) -> None:
        if self._closed or key in self._conversions:
            return
        task = asyncio.create_task(self._convert_later(key, delay), name=f"recording {key}")
        self._conversions[key] = task
        task.add_done_callback(functools.partial(self._conversion_done, key))

    async def _convert_later(self, key: _Key, delay: float) -> None:
        await asyncio.sleep(delay)
        await asyncio.to_thread(self.convert, *key)

    def _conversion_done(self, key: _Key, task: asyncio.Task[None]) -> None:
        self._conversions.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "preparing recording %s of lesson %s failed",
                key[1],
                key[0],
                exc_info=(type(error), error, error.__traceback__),
            )

    def _clear_leftovers(self, busy: set[_Key]) -> None:
        """What a conversion cut short (the server killed mid-way) left beside the files: its
        work folder and its part-written file, copies of the media nothing else would delete.
        The recording itself is made again from its raw files."""
        if not self.root.is_dir():
            return
        for path in self.root.iterdir():
            found = _LEFTOVER.fullmatch(path.name)
            if found is None or (int(found["lesson"]), int(found["number"])) in busy:
                continue
            log.info("removing %s, left by a conversion that did not finish", path.name)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def _unfinished(self, busy: set[_Key]) -> list[_Key]:
        keys: list[_Key] = []
        with transaction(self._session_factory) as session:
            rows = session.scalars(
                select(Recording)
                .where(Recording.state.in_((RecordingState.RECORDING, RecordingState.PROCESSING)))
                .order_by(Recording.id)
            )
            for row in rows:
                key = (row.lesson_id, row.number)
                if key in busy:
                    continue
                if row.state is RecordingState.RECORDING:
                    row.state = RecordingState.PROCESSING
                    row.stop_reason = SERVER_RESTARTED
                if row.ended_at is None:
                    row.ended_at = self._clock()
                keys.append(key)
        return keys

    # --- Making the file ------------------------------------------------------------------------

    def convert(self, lesson_id: int, number: int) -> RecordingState | None:
        """Make the file of a stopped recording (blocking: a worker thread's job). Returns the
        row's new state, or None when there was nothing to do (no such row, or not waiting)."""
        with self._session_factory() as session:
            row = _find(session, lesson_id, number)
            if row is None or row.state is not RecordingState.PROCESSING:
                return None
            started_at = row.started_at
            titles = recording_titles(session, row.lesson)
        folder = raw_dir(self.root, lesson_id, number)
        out = output_path(self.root, lesson_id, number)
        try:
            made = self._make(folder, out, started_at=started_at, titles=titles)
        except RecordingConversionError as error:
            log.warning("recording %s of lesson %s could not be made: %s", number, lesson_id, error)
            return self._finish(lesson_id, number, failure=str(error))
        except Exception:
            log.exception("recording %s of lesson %s could not be made", number, lesson_id)
            return self._finish(lesson_id, number, failure=UNEXPECTED_FAILURE)
        state = self._finish(lesson_id, number, made=made)
        if state is RecordingState.READY:
            # Only once the row names the file: until then the raw files are all there is.
            try:
                if folder.exists():
                    shutil.rmtree(folder)
            except OSError:
                log.exception("the raw files of recording %s of lesson %s stay", number, lesson_id)
        return state

    def _finish(
        self,
        lesson_id: int,
        number: int,
        *,
        made: MadeRecording | None = None,
        failure: str | None = None,
    ) -> RecordingState | None:
        with transaction(self._session_factory) as session:
            row = _find(session, lesson_id, number)
            if row is None or row.state is not RecordingState.PROCESSING:
                # Deleted meanwhile (retention), or finished by another conversion.
                log.warning(
                    "recording %s of lesson %s changed while it was prepared; left as it is",
                    number,
                    lesson_id,
                )
                return None
            if made is None:
                row.state = RecordingState.FAILED
                row.failure = failure
                return row.state
            row.state = RecordingState.READY
            row.file_name = made.path.relative_to(self.root).as_posix()
            row.size_bytes = made.size_bytes
            row.duration_seconds = made.duration_seconds
            row.tracks = list(made.tracks)
            row.parts_left_out = made.left_out
            row.failure = None
            return row.state


def _find(session: Session, lesson_id: int, number: int) -> Recording | None:
    return session.scalar(
        select(Recording).where(Recording.lesson_id == lesson_id, Recording.number == number)
    )


def _started(session: Session, lesson_id: int, event: RecordingChanged) -> None:
    if _find(session, lesson_id, event.number) is not None:
        log.warning("recording %s of lesson %s was already stored", event.number, lesson_id)
        return
    lesson = session.get_one(Lesson, lesson_id)
    session.add(
        Recording(
            lesson_id=lesson_id,
            school_id=lesson.school_id,
            number=event.number,
            state=RecordingState.RECORDING,
            started_at=event.at,
            started_by_staff_id=_staff_id(session, event.person),
        )
    )


def _stopped(session: Session, lesson_id: int, event: RecordingChanged) -> None:
    row = _find(session, lesson_id, event.number)
    if row is None:
        log.error("recording %s of lesson %s stopped but was never stored", event.number, lesson_id)
        return
    if row.state is not RecordingState.RECORDING:
        return  # already stopped (after a restart, `recover()` got there first)
    row.state = RecordingState.PROCESSING
    row.ended_at = event.at
    row.stop_reason = event.reason


def _staff_id(session: Session, person: Person | None) -> int | None:
    if person is None or person.role is not Role.STAFF or not person.id.isdigit():
        return None
    staff = session.get(StaffMember, int(person.id))
    return staff.id if staff is not None else None


def recording_titles(session: Session, lesson: Lesson) -> dict[Person, str]:
    """The names of everyone whose media a recording of `lesson` could hold, for its tracks."""
    titles = {Person(Role.STAFF, str(lesson.host_id)): lesson.host.display_name}
    for member in lesson.other_staff:
        titles[Person(Role.STAFF, str(member.staff_id))] = member.staff.display_name
    if lesson.practice:
        for simulated in practice_pupils(session, lesson):
            titles[Person(Role.PUPIL, practice_person_id(simulated))] = practice_display_name(
                simulated.first_name
            )
    else:
        for pupil in lesson.class_group.pupils:
            titles[Person(Role.PUPIL, str(pupil.id))] = pupil.display_name
    return titles


# --- Reading and downloading ---------------------------------------------------------------------


def lesson_recordings(session: Session, lesson_id: int) -> list[Recording]:
    return list(
        session.scalars(
            select(Recording).where(Recording.lesson_id == lesson_id).order_by(Recording.number)
        )
    )


def recording_covers(recording: Recording, at: datetime) -> bool:
    """Whether `recording` was going at `at`: started then or before, and ended then or after,
    or still going (an incident's page shows the recording of its moment first)."""
    if recording.started_at > at:
        return False
    return recording.ended_at is None or recording.ended_at >= at


@dataclass(frozen=True)
class RecordingDownload:
    path: Path
    download_name: str  # what the browser saves it as


def download_recording(
    session: Session, staff: StaffMember, recording_id: int, *, root: Path
) -> RecordingDownload:
    """The file of a recording `staff` may download, with the audit entry of this download
    added to `session` (the caller commits). `NotFoundError` for a recording they may not see;
    `RecordingUnavailableError` when there is no file to give them."""
    recording = access_recording(session, staff, recording_id)
    path = _ready_file(recording, root)
    _audit(session, AUDIT_DOWNLOADED, staff, recording)
    return RecordingDownload(path, download_name(recording))


def watch_recording(
    session: Session, staff: StaffMember, recording_id: int, *, root: Path
) -> Recording:
    """A recording `staff` may watch on the server, with the audit entry of this viewing added
    to `session` (the caller commits): one for each time the page that plays it is opened.
    Errors as for `download_recording`."""
    recording = access_recording(session, staff, recording_id)
    _ready_file(recording, root)
    _audit(session, AUDIT_VIEWED, staff, recording)
    return recording


def recording_file(session: Session, staff: StaffMember, recording_id: int, *, root: Path) -> Path:
    """The file of a recording `staff` may watch, for the player on its page, which asks for it
    piece by piece: not audited here (opening the page was). Errors as for
    `download_recording`."""
    return _ready_file(access_recording(session, staff, recording_id), root)


def _ready_file(recording: Recording, root: Path) -> Path:
    if recording.state is RecordingState.FAILED:
        raise RecordingNotReadyError(NOT_MADE)
    if recording.state is not RecordingState.READY or recording.file_name is None:
        raise RecordingNotReadyError(NOT_READY)
    path = root / recording.file_name
    if not path.is_file():
        log.error("recording %s: its file %s is missing", recording.id, path)
        raise RecordingFileMissingError(FILE_MISSING)
    return path


def _audit(session: Session, action: str, staff: StaffMember, recording: Recording) -> None:
    record_audit(
        session,
        action,
        actor=staff,
        school_id=recording.school_id,
        data={
            "recording_id": recording.id,
            "lesson_id": recording.lesson_id,
            "number": recording.number,
        },
    )


def download_name(recording: Recording) -> str:
    """ASCII only, from the lesson's title and day, so every browser keeps it."""
    lesson = recording.lesson
    plain = unicodedata.normalize("NFKD", lesson.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "lesson"
    suffix = Path(recording.file_name or "").suffix or ".webm"
    return f"{slug}-{lesson.starts_at:%Y-%m-%d}-recording-{recording.number}{suffix}"


def delete_recording_files(root: Path, recording: Recording) -> None:
    """Delete a recording's file and any raw files left of it (retention). A file already gone
    is fine; one that cannot be deleted raises `OSError`."""
    paths = {output_path(root, recording.lesson_id, recording.number)}
    if recording.file_name is not None:
        paths.add(root / recording.file_name)
    for path in paths:
        path.unlink(missing_ok=True)
    folder = raw_dir(root, recording.lesson_id, recording.number)
    if folder.exists():
        shutil.rmtree(folder)
