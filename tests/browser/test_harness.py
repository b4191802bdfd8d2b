"""The harness itself: pages load from the live server, and the same-origin check that every
browser test ends with really fails when a page asks another origin for anything."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageFactory, RequestRecorder
from tests.web.conftest import OAK_TEACHER

ELSEWHERE = "http://203.0.113.7/pixel.png"  # TEST-NET-3: nobody's address


@pytest.mark.browser
def test_a_staff_page_and_a_pupils_join_landing_load_from_our_origin_only(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    teacher = new_page(staff=OAK_TEACHER)
    teacher.goto(f"/admin/lessons/{live_server.lesson_id}")
    expect(teacher.get_by_role("heading", level=1)).to_contain_text("Fractions together")

    pupil = new_page()
    pupil.goto(live_server.join_url("Amy"))
    expect(pupil.get_by_role("heading", level=1)).to_contain_text("Amy")

    for page in (teacher, pupil):
        recorder = new_page.recorder(page)
        assert live_server.url("/static/css/safeclass.css") in recorder.requests
        recorder.assert_same_origin()
        recorder.assert_no_errors()


@pytest.mark.browser
def test_the_check_sees_a_request_to_another_origin(
    browser: Browser, live_server: LiveServer
) -> None:
    factory = PageFactory(browser, live_server)
    page = factory()
    page.goto("/signin")
    # A page with no policy of ours (ours would block the request before it is made).
    other = page.context.new_page()
    other.set_content(f'<img src="{ELSEWHERE}" alt="">')
    other.wait_for_load_state()

    recorder = factory.recorder(page)
    assert recorder.foreign_requests() == [ELSEWHERE]
    with pytest.raises(AssertionError, match="another origin"):
        recorder.assert_same_origin()
    with pytest.raises(pytest.fail.Exception, match="another origin"):
        factory.close_and_check()


def test_a_lessons_websocket_on_the_same_host_and_port_counts_as_our_origin() -> None:
    recorder = RequestRecorder("http://127.0.0.1:8000")
    recorder.requests += [
        "http://127.0.0.1:8000/static/css/safeclass.css",
        "ws://127.0.0.1:8000/lessons/1/live",
        "data:image/png;base64,AAAA",
        "blob:http://127.0.0.1:8000/6f1c",
        "http://127.0.0.1:8001/",
        "http://localhost:8000/",
        "https://127.0.0.1:8000/",
        "wss://127.0.0.1:8000/lessons/1/live",
    ]

    assert recorder.foreign_requests() == [
        "http://127.0.0.1:8001/",
        "http://localhost:8000/",
        "https://127.0.0.1:8000/",
        "wss://127.0.0.1:8000/lessons/1/live",
    ]
