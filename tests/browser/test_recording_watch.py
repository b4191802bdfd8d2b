"""Watching a recording on the server, in a real browser: the page plays a real WebM file, asked
for in pieces (HTTP Range), with the viewer's own name over the video."""

from __future__ import annotations

import fractions
from datetime import timedelta
from pathlib import Path

import av
import pytest
from playwright.sync_api import Expect, Response

from safeclass.actions.recordings import RecordingKeeper
from safeclass.store.models import Lesson, Recording, RecordingState
from tests.browser.axe import assert_accessible
from tests.browser.conftest import LiveServer, PageFactory, wait_for_js

pytestmark = pytest.mark.browser

expect = Expect()
expect.set_options(timeout=15_000)

SECONDS = 4
FPS = 15
SIZE = (320, 180)


def small_webm(path: Path) -> None:
    """A few seconds of VP8 video: a bright bar moving across a grey picture."""
    width, height = SIZE
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for count in range(SECONDS * FPS):
            frame = av.VideoFrame(width, height, "yuv420p")
            bar = (count * 5) % width
            line = frame.planes[0].line_size
            row = bytes(235 if bar <= x < bar + 12 else 110 for x in range(line))
            frame.planes[0].update(row * height)
            frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
            frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
            frame.pts = count
            frame.time_base = fractions.Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def ready_recording(server: LiveServer) -> int:
    """Recording 1 of the Oak lesson, ready, with a real file where the server keeps them."""
    keeper = server.app.state.recordings
    assert isinstance(keeper, RecordingKeeper)
    name = f"lesson-{server.lesson_id}-recording-1.webm"
    keeper.root.mkdir(parents=True, exist_ok=True)
    small_webm(keeper.root / name)
    with server.session_factory() as session:
        lesson = session.get_one(Lesson, server.lesson_id)
        recording = Recording(
            lesson_id=lesson.id,
            school_id=lesson.school_id,
            number=1,
            state=RecordingState.READY,
            started_at=lesson.starts_at,
            ended_at=lesson.starts_at + timedelta(seconds=SECONDS),
            started_by_staff_id=lesson.host_id,
            stop_reason="stopped",
            file_name=name,
            size_bytes=(keeper.root / name).stat().st_size,
            duration_seconds=float(SECONDS),
            tracks=["Tess Teacher: camera"],
        )
        session.add(recording)
        session.commit()
        return recording.id


def test_a_recording_plays_on_its_page_with_the_viewers_name_over_it(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    recording_id = ready_recording(live_server)
    page = new_page(staff="dsl@oak.example")
    video_answers: list[Response] = []
    page.on(
        "response",
        lambda response: video_answers.append(response) if "/video?" in response.url else None,
    )

    page.goto(f"/admin/lessons/{live_server.lesson_id}")
    page.get_by_role("link", name="Watch").click()

    expect(page).to_have_url(live_server.url(f"/admin/recordings/{recording_id}"))
    expect(page.get_by_role("heading", name="Recording 1 of Fractions together")).to_be_visible()
    names = page.locator("#recording-player > .watermark span")
    expect(names.first).to_have_attribute("data-name", "Dana Lead")
    drawn = page.evaluate(
        "getComputedStyle(document.querySelector('#recording-player .watermark span'),"
        " '::before').content"
    )
    assert drawn == '"Dana Lead"'
    # Played for a couple of seconds (muted: a page may play sound only after a click).
    page.evaluate(
        "() => { const v = document.getElementById('recording-video'); v.muted = true;"
        " return v.play(); }"
    )
    wait_for_js(page, "document.getElementById('recording-video').currentTime >= 2")
    assert page.evaluate("document.getElementById('recording-video').videoWidth") == SIZE[0]
    assert any(answer.status == 206 for answer in video_answers), [
        answer.status for answer in video_answers
    ]
    # The name is over the picture, not beside it.
    frame = page.locator("#recording-video").bounding_box()
    layer = page.locator("#recording-player > .watermark").bounding_box()
    assert frame is not None
    assert layer is not None
    assert layer["x"] <= frame["x"]
    assert layer["y"] <= frame["y"]
    assert layer["x"] + layer["width"] >= frame["x"] + frame["width"]
    assert layer["y"] + layer["height"] >= frame["y"] + frame["height"]
    expect(page.get_by_role("link", name="Download")).to_have_attribute(
        "href", f"/admin/recordings/{recording_id}/download"
    )
    assert_accessible(page)
