"""axe-core finds no serious or critical violation on the pages pupils, parents, guests and staff
use to get into a lesson (tests/browser/axe.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.axe import assert_accessible
from tests.browser.conftest import LiveServer, PageFactory
from tests.web.conftest import OAK_TEACHER


@pytest.mark.browser
def test_the_join_pages_are_accessible(live_server: LiveServer, new_page: PageFactory) -> None:
    page = new_page()
    page.goto(live_server.join_url("Amy"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Amy")
    assert_accessible(page)

    page.goto("/code")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)

    guest = live_server.guest_link()
    page.goto(guest.url)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)


@pytest.mark.browser
def test_the_pre_lesson_check_is_accessible(live_server: LiveServer, new_page: PageFactory) -> None:
    page = new_page(staff=OAK_TEACHER)
    page.goto(f"/admin/lessons/{live_server.lesson_id}/check")
    assert_accessible(page)
    # With the camera on (blur off here: the blur itself is tests/browser/test_blur.py's).
    page.get_by_label("Blur my background").uncheck()
    page.get_by_role("button", name="Turn on my camera and microphone").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your camera is on. Your background is not blurred."
    )
    assert_accessible(page)


@pytest.mark.browser
def test_the_check_fails_on_a_serious_violation(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    page = new_page()
    page.goto("/code")
    assert_accessible(page)
    # A button nobody can name: axe calls that critical.
    page.evaluate(
        "document.querySelector('main').append(Object.assign("
        "document.createElement('button'), {id: 'nameless'}))"
    )
    with pytest.raises(AssertionError, match=r"critical: button-name .*#nameless"):
        assert_accessible(page)


@pytest.mark.browser
def test_the_console_and_the_pupils_lesson_view_are_accessible(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    teacher = new_page(staff=OAK_TEACHER)
    teacher.goto(f"/admin/lessons/{live_server.lesson_id}/live")
    expect(teacher.locator("#console-connection")).to_have_text("Connected to the lesson.")
    assert_accessible(teacher)

    # Amy, from her personal link: the reminder, the camera check, the waiting room.
    pupil = new_page()
    pupil.goto(live_server.join_url("Amy"))
    pupil.get_by_role("link", name="Join the lesson").click()
    expect(pupil.get_by_role("heading", level=1)).to_have_text("Fractions together")
    assert_accessible(pupil)
    pupil.get_by_role("button", name="OK, I will remember").click()
    expect(pupil.get_by_role("heading", name="Check your camera and microphone")).to_be_visible()
    pupil.get_by_label("Show my background as it is").check()
    pupil.get_by_role("button", name="Turn on my camera and microphone").click()
    assert_accessible(pupil)
    pupil.get_by_role("button", name="Go to the waiting room").click()
    expect(pupil.get_by_role("heading", name="Waiting room")).to_be_visible()
    assert_accessible(pupil)

    # Let in: the console with someone in the lesson, and the pupil's lesson view.
    expect(teacher.locator("#waiting-list > li")).to_have_count(1)
    assert_accessible(teacher)
    teacher.get_by_role("button", name="Let in next").click()
    expect(pupil.locator("#step-lesson")).to_be_visible()
    assert_accessible(pupil)
    assert_accessible(teacher)
