"""A practice room in the browser: a teacher opens one with simulated pupils from the practice
page, then rehearses in the real console: the pupils knock, and respond to admit, mute and
remove as real ones would."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Expect, expect

from tests.browser.conftest import LiveServer, PageFactory
from tests.web.conftest import OAK_TEACHER

# Simulated pupils knock a few seconds apart, on a machine that may be busy.
SLOW = Expect()
SLOW.set_options(timeout=45_000)


@pytest.mark.browser
def test_a_practice_room_responds_to_admit_mute_and_remove_in_the_console(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    page = new_page(staff=OAK_TEACHER)
    page.goto(live_server.url("/admin/practice"))
    page.get_by_label("Number of simulated pupils").first.fill("2")
    page.get_by_role("button", name="Open a practice room").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Practice room of Tess Teacher")
    page.get_by_role("link", name="Go to the lesson console").click()

    waiting = page.locator("#waiting-list > li")
    people = page.locator("#people-list > li")
    SLOW(waiting).to_have_count(2)
    page.get_by_role("button", name="Let in next").click()
    SLOW(waiting).to_have_count(1)
    page.get_by_role("button", name="Let in next").click()
    SLOW(waiting).to_have_count(0)
    SLOW(people.filter(has_text="Pupil")).to_have_count(2)

    # Mute: the microphone is first allowed, then muted; the console follows the engine's view.
    page.get_by_role("button", name=re.compile(r"^Allow mic|^Let them speak")).first.click()
    mute = page.get_by_role("button", name=re.compile(r"^Mute (?!all)"))
    SLOW(mute).to_have_count(1)
    mute.click()
    SLOW(mute).to_have_count(0)

    # Remove: the dialog asks for a reason; the removed pupil leaves the list.
    page.get_by_role("button", name=re.compile(r"^Remove ")).first.click()
    page.locator("#remove-reason").fill("Practising a removal")
    with page.expect_popup() as incident:
        page.get_by_role("button", name="Remove and open the incident form").click()
    incident.value.close()
    SLOW(people.filter(has_text="Pupil")).to_have_count(1)
