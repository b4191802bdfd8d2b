"""A lesson's recordings on its page, and their download: for the lesson's staff and the school's
DSL only, as an attachment that is never cached, each download audited; a file missing from disk
gives a page that says so. Watching one on the server: the same people, each opening of the page
audited, the player's requests for pieces of the file (with the page's viewing pass) not."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.recordings import AUDIT_DOWNLOADED, AUDIT_VIEWED, FILE_MISSING, NOT_READY
from safeclass.config import Config
from safeclass.media.recording_files import recordings_root
from safeclass.store.models import AuditEntry, Lesson, Recording, RecordingState, StaffMember
from safeclass.web.pages.recordings import VIEWING_MAX_AGE, ViewingPasses, length_words
from tests.web.conftest import ELM_TEACHER, OAK_ADMIN, OAK_DSL, OAK_TEACHER, World
from tests.web.helpers import TestClient, sign_in


def _add(
    factory: sessionmaker[Session],
    lesson_id: int,
    number: int,
    state: RecordingState,
    *,
    failure: str | None = None,
) -> int:
    with factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        done = state in (RecordingState.READY, RecordingState.FAILED, RecordingState.PROCESSING)
        recording = Recording(
            lesson_id=lesson_id,
            school_id=lesson.school_id,
            number=number,
            state=state,
            started_at=lesson.starts_at + timedelta(minutes=5),
            ended_at=lesson.starts_at + timedelta(minutes=47) if done else None,
            started_by_staff_id=lesson.host_id,
            stop_reason="stopped" if done else None,
            file_name=(
                f"lesson-{lesson_id}-recording-{number}.webm"
                if state is RecordingState.READY
                else None
            ),
            size_bytes=4 if state is RecordingState.READY else None,
            duration_seconds=2520.0 if state is RecordingState.READY else None,
            failure=failure,
        )
        session.add(recording)
        session.commit()
        return recording.id


def _file(config: Config, lesson_id: int, number: int) -> Path:
    path = recordings_root(config.data_dir) / f"lesson-{lesson_id}-recording-{number}.webm"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"webm")
    return path


def _signed_in(app: FastAPI, email: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    sign_in(client, email)
    return client


def test_the_lesson_page_lists_each_recording_and_its_state(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    ready = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    _add(session_factory, world.oak_lesson_id, 2, RecordingState.PROCESSING)
    _add(
        session_factory,
        world.oak_lesson_id,
        3,
        RecordingState.FAILED,
        failure="Nothing was recorded: no camera or microphone was on.",
    )
    _add(session_factory, world.oak_lesson_id, 4, RecordingState.RECORDING)
    sign_in(client, OAK_TEACHER)

    page = client.get(f"/admin/lessons/{world.oak_lesson_id}").text

    assert f'href="/admin/recordings/{ready}/download"' in page
    assert page.count(">Download</a>") == 1
    assert f'<a href="/admin/recordings/{ready}">Watch</a>' in page
    assert page.count(">Watch</a>") == 1
    assert "Being prepared" in page
    assert "Could not be made: Nothing was recorded: no camera or microphone was on." in page
    assert "Recording now" in page
    assert "42 minutes" in page  # recording 1's length
    assert "Stopped by staff" in page
    assert "Tess Teacher" in page


def test_staff_who_may_not_download_see_the_list_without_the_link(
    app: FastAPI, session_factory: sessionmaker[Session], world: World
) -> None:
    _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    with _signed_in(app, OAK_ADMIN) as admin:
        page = admin.get(f"/admin/lessons/{world.oak_lesson_id}").text

    assert "Recording 1" in page
    assert ">Download</a>" not in page
    assert ">Watch</a>" not in page
    assert "Ready" in page


def test_a_lesson_that_may_not_be_recorded_and_was_not_shows_no_section(
    client: TestClient, world: World
) -> None:
    sign_in(client, OAK_TEACHER)

    page = client.get(f"/admin/lessons/{world.oak_lesson_id}").text

    assert 'id="recordings"' not in page


def _audit(
    factory: sessionmaker[Session], action: str = AUDIT_DOWNLOADED
) -> list[tuple[int | None, dict[str, object]]]:
    with factory() as session:
        return [
            (entry.actor_staff_id, entry.data)
            for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        ]


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_DSL])
def test_the_download_is_an_uncached_attachment_and_audited(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World, email: str
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    _file(config, world.oak_lesson_id, 1)

    with _signed_in(app, email) as client:
        response = client.get(f"/admin/recordings/{recording_id}/download")

    assert response.status_code == 200
    assert response.content == b"webm"
    assert response.headers["content-type"] == "video/webm"
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "-recording-1.webm" in disposition
    [(actor, data)] = _audit(session_factory)
    assert actor is not None
    assert data == {"recording_id": recording_id, "lesson_id": world.oak_lesson_id, "number": 1}


@pytest.mark.parametrize("email", [OAK_ADMIN, ELM_TEACHER])
def test_others_get_page_not_found(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World, email: str
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    _file(config, world.oak_lesson_id, 1)

    with _signed_in(app, email) as client:
        response = client.get(f"/admin/recordings/{recording_id}/download")

    assert response.status_code == 404
    assert b"webm" not in response.content
    assert _audit(session_factory) == []


def test_signed_out_visitors_are_sent_to_sign_in(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)

    response = client.get(f"/admin/recordings/{recording_id}/download")

    assert response.status_code == 303
    assert response.headers["location"] == "/signin"


def test_a_file_missing_on_disk_gives_a_clear_page(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    sign_in(client, OAK_TEACHER)

    response = client.get(f"/admin/recordings/{recording_id}/download")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert FILE_MISSING.replace("'", "&#39;") in response.text
    assert _audit(session_factory) == []


def test_a_recording_being_prepared_cannot_be_downloaded_yet(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.PROCESSING)
    sign_in(client, OAK_TEACHER)

    response = client.get(f"/admin/recordings/{recording_id}/download")

    assert response.status_code == 409
    assert NOT_READY in response.text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59.4, "59 seconds"),
        (60, "1 minute"),
        (2520, "42 minutes"),
        (3600, "1 hour"),
        (3600 + 5 * 60 + 20, "1 hour 5 minutes"),
        (2 * 3600 + 60, "2 hours 1 minute"),
    ],
)
def test_lengths_read_plainly(seconds: float, words: str) -> None:
    assert length_words(seconds) == words


# --- Watching on the server -----------------------------------------------------------------------

VIDEO_BYTES = bytes(range(256)) * 4  # 1 KiB, each byte telling where it is


def _video_file(config: Config, lesson_id: int, number: int) -> None:
    _file(config, lesson_id, number).write_bytes(VIDEO_BYTES)


def _video_url(page: str) -> str:
    found = re.search(r'data-video-url="([^"]+)"', page)
    assert found is not None, "the page has no video address"
    return html.unescape(found.group(1))


def _staff_id(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        return session.scalars(select(StaffMember.id).where(StaffMember.email == email)).one()


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_DSL])
def test_watching_plays_the_file_in_pieces_with_each_page_view_audited_once(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World, email: str
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    _video_file(config, world.oak_lesson_id, 1)

    with _signed_in(app, email) as client:
        first = client.get(f"/admin/recordings/{recording_id}")
        url = _video_url(first.text)
        whole = client.get(url)
        piece = client.get(url, headers={"Range": "bytes=100-299"})
        tail = client.get(url, headers={"Range": "bytes=-24"})
        client.get(f"/admin/recordings/{recording_id}")

    assert first.status_code == 200
    assert url.startswith(f"/admin/recordings/{recording_id}/video?viewing=")
    assert 'id="recording-video"' in first.text
    # The name is drawn, and the video given to the player, by a module of our own: the
    # Content-Security-Policy allows no inline script.
    assert first.text.count("<script") == 1
    assert '<script type="module" src="/static/js/recording_watch.js"></script>' in first.text
    assert 'controlslist="nodownload nofullscreen"' in first.text
    name = "Tess Teacher" if email == OAK_TEACHER else "Dana Lead"
    assert f'data-viewer-name="{name}"' in first.text
    assert f'href="/admin/recordings/{recording_id}/download" download>Download</a>' in first.text
    assert "42 minutes" in first.text
    assert whole.status_code == 200
    assert whole.content == VIDEO_BYTES
    assert whole.headers["accept-ranges"] == "bytes"
    assert piece.status_code == 206
    assert piece.content == VIDEO_BYTES[100:300]
    assert piece.headers["content-range"] == f"bytes 100-299/{len(VIDEO_BYTES)}"
    assert tail.status_code == 206
    assert tail.content == VIDEO_BYTES[-24:]
    for response in (whole, piece, tail):
        assert response.headers["content-type"] == "video/webm"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-disposition"] == "inline"
    viewer = _staff_id(session_factory, email)
    viewed = {"recording_id": recording_id, "lesson_id": world.oak_lesson_id, "number": 1}
    assert _audit(session_factory, AUDIT_VIEWED) == [(viewer, viewed), (viewer, viewed)]
    assert _audit(session_factory) == []  # watching is not downloading


@pytest.mark.parametrize("email", [OAK_ADMIN, ELM_TEACHER])
def test_others_cannot_watch_even_with_a_viewing_pass(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World, email: str
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    _video_file(config, world.oak_lesson_id, 1)
    viewing = ViewingPasses(config.secret_key()).issue(
        recording_id, _staff_id(session_factory, email)
    )

    with _signed_in(app, email) as client:
        page = client.get(f"/admin/recordings/{recording_id}")
        video = client.get(f"/admin/recordings/{recording_id}/video?viewing={viewing}")

    assert page.status_code == 404
    assert video.status_code == 404
    assert VIDEO_BYTES not in video.content
    assert _audit(session_factory, AUDIT_VIEWED) == []


def test_the_video_needs_the_viewers_own_pass_for_that_recording(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    """Without a pass from an audited page view, the file cannot be fetched around the audit."""
    first = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    second = _add(session_factory, world.oak_lesson_id, 2, RecordingState.READY)
    _video_file(config, world.oak_lesson_id, 1)
    _video_file(config, world.oak_lesson_id, 2)
    passes = ViewingPasses(config.secret_key())
    dsl_pass = passes.issue(first, _staff_id(session_factory, OAK_DSL))

    with _signed_in(app, OAK_TEACHER) as client:
        url = _video_url(client.get(f"/admin/recordings/{first}").text)
        own = client.get(url)
        refused = [
            client.get(f"/admin/recordings/{first}/video"),
            client.get(f"/admin/recordings/{first}/video?viewing=not-a-pass"),
            client.get(f"/admin/recordings/{first}/video?viewing={dsl_pass}"),
            client.get(url.replace(f"/recordings/{first}/", f"/recordings/{second}/")),
        ]

    assert own.status_code == 200
    assert [response.status_code for response in refused] == [404, 404, 404, 404]


def test_a_viewing_pass_lasts_long_enough_to_watch_a_lesson_and_no_longer() -> None:
    now = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    clock = [now]
    passes = ViewingPasses(b"k" * 32, lambda: clock[0])
    viewing = passes.issue(5, 7)

    clock[0] = now + VIEWING_MAX_AGE - timedelta(seconds=1)
    assert passes.admits(viewing, 5, 7)
    assert not passes.admits(viewing, 6, 7)
    assert not passes.admits(viewing, 5, 8)
    assert not ViewingPasses(b"x" * 32, lambda: clock[0]).admits(viewing, 5, 7)
    clock[0] = now + VIEWING_MAX_AGE + timedelta(seconds=1)
    assert not passes.admits(viewing, 5, 7)


def test_a_recording_being_prepared_cannot_be_watched_yet(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.PROCESSING)
    sign_in(client, OAK_TEACHER)

    response = client.get(f"/admin/recordings/{recording_id}")

    assert response.status_code == 409
    assert NOT_READY in response.text
    assert "recording-video" not in response.text
    assert _audit(session_factory, AUDIT_VIEWED) == []


def test_watching_a_file_missing_on_disk_gives_a_clear_page(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    recording_id = _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    sign_in(client, OAK_TEACHER)

    response = client.get(f"/admin/recordings/{recording_id}")

    assert response.status_code == 404
    assert FILE_MISSING.replace("'", "&#39;") in response.text
    assert _audit(session_factory, AUDIT_VIEWED) == []


def test_a_recording_missing_some_parts_says_so(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    _add(session_factory, world.oak_lesson_id, 1, RecordingState.READY)
    missing = _add(session_factory, world.oak_lesson_id, 2, RecordingState.READY)
    with session_factory() as session:
        session.get_one(Recording, missing).parts_left_out = 2
        session.commit()
    sign_in(client, OAK_TEACHER)

    page = client.get(f"/admin/lessons/{world.oak_lesson_id}").text

    assert page.count("Part of this recording is missing") == 1
    assert "2 of the pieces the media server wrote could not be read" in page
    assert page.count(">Watch</a>") == 2  # both can still be watched
