"""The staff pre-lesson check in Chromium: the camera preview is blurred unless the teacher turns
blur off, the microphone bar moves, the button opens the console; and where blur cannot work the
page says so and shows the camera as it is."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import LiveServer, PageFactory, wait_for_js
from tests.web.conftest import OAK_TEACHER

BLURRED = "Your camera is on. Your background is blurred."
NOT_BLURRED = "Your camera is on. Your background is not blurred."
PREVIEW_TRACK = "document.getElementById('check-video').srcObject?.getVideoTracks()[0]?.label"


def open_check(page: Page, live_server: LiveServer) -> None:
    page.goto(f"/admin/lessons/{live_server.lesson_id}/check")
    expect(page.get_by_role("heading", level=1)).to_have_text("Before the lesson")


@pytest.mark.browser
def test_the_check_shows_a_blurred_preview_and_the_microphone_then_opens_the_lesson(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    page = new_page(staff=OAK_TEACHER)
    open_check(page, live_server)
    blur = page.get_by_label("Blur my background")
    expect(blur).to_be_checked()

    page.get_by_role("button", name="Turn on my camera and microphone").click()
    expect(page.get_by_role("status")).to_have_text(BLURRED, timeout=60_000)
    expect(page.get_by_role("button", name="Turn on my camera and microphone")).to_be_hidden()
    expect(page.get_by_text("Your camera is not on.")).to_be_hidden()
    # The preview plays the processed stream, not the camera's own track.
    wait_for_js(page, "document.getElementById('check-video').videoWidth > 0")
    assert "fake" not in page.evaluate(PREVIEW_TRACK)
    wait_for_js(page, "document.getElementById('check-mic').value > 0.01")
    assert page.evaluate("sessionStorage.getItem('safeclass.staff-blur')") == "blur"

    blur.uncheck()
    expect(page.get_by_role("status")).to_have_text(NOT_BLURRED)
    assert page.evaluate("sessionStorage.getItem('safeclass.staff-blur')") == "off"
    blur.check()
    expect(page.get_by_role("status")).to_have_text(BLURRED)

    # The session cookie is HttpOnly: the page's scripts cannot read it.
    assert page.evaluate("document.cookie") == ""
    open_lesson = page.get_by_role("link", name="Open the lesson")
    expect(open_lesson).to_have_attribute("href", f"/admin/lessons/{live_server.lesson_id}/live")


def _no_blur_files(route: Route) -> None:
    route.fulfill(json={"selfie_segmentation": None})


@pytest.mark.browser
@pytest.mark.parametrize(
    ("why", "words"),
    [
        ("the server has no blur files", "Background blur is not set up on this SafeClass server"),
        ("the browser has no WebGL", "This browser cannot blur your background"),
    ],
)
def test_where_blur_cannot_work_the_check_says_so_and_shows_the_camera(
    live_server: LiveServer, new_page: PageFactory, why: str, words: str
) -> None:
    page = new_page(staff=OAK_TEACHER)
    if why == "the server has no blur files":
        page.route("**/static/vendor/index.json", _no_blur_files)
    else:
        page.add_init_script(
            "const real = HTMLCanvasElement.prototype.getContext;"
            "HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {"
            "  return kind.startsWith('webgl') ? null : real.call(this, kind, ...rest); };"
        )
    open_check(page, live_server)
    page.get_by_role("button", name="Turn on my camera and microphone").click()

    expect(page.get_by_role("alert")).to_contain_text(words)
    expect(page.get_by_role("status")).to_have_text(NOT_BLURRED)
    blur = page.get_by_label("Blur my background")
    expect(blur).not_to_be_checked()
    expect(blur).to_be_disabled()
    # The preview shows the camera as it is.
    wait_for_js(page, "document.getElementById('check-video').videoWidth > 0")
    assert re.search("fake", page.evaluate(PREVIEW_TRACK))


@pytest.mark.browser
def test_blur_turned_off_in_the_check_stays_off_in_the_console(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    page = new_page(staff=OAK_TEACHER)
    open_check(page, live_server)
    page.get_by_label("Blur my background").uncheck()

    page.get_by_role("link", name="Open the lesson").click()

    expect(page.locator("#console-my-blur")).to_have_text("Background blur: off", timeout=30_000)
