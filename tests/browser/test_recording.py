"""Recording a lesson, in real browsers against the real server and Janus: the teacher starts and
stops a recording from the console, and the pupil's own page says so while it runs. The pupil's
link and the lesson's reminder say beforehand that the lesson may be recorded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Expect
from sqlalchemy import select

from safeclass.domain.consent import ConsentScope
from safeclass.store.models import Consent, ParentLink, Pupil
from safeclass.timeutil import utc_now
from tests.browser.axe import assert_accessible
from tests.browser.conftest import LiveServer, PageFactory, save_screenshot
from tests.browser.simulated_pupils import give_consent
from tests.browser.test_console import open_console, school_policy
from tests.browser.test_whole_lesson import in_the_lesson, pupil_joins

pytestmark = pytest.mark.browser

# Assertions wait as long as the harness lets actions wait (15 s): a small shared machine.
expect = Expect()
expect.set_options(timeout=15_000)


def recording_consent(server: LiveServer, first_name: str) -> None:
    """The parent on record for the Oak pupil `first_name` says yes to recording. Call before
    anyone joins: the lesson reads its roster when it opens."""
    with server.session_factory() as session:
        pupil = session.scalars(
            select(Pupil).where(
                Pupil.school_id == server.world.oak_id, Pupil.first_name == first_name
            )
        ).one()
        link = session.scalars(select(ParentLink).where(ParentLink.pupil_id == pupil.id)).first()
        assert link is not None, f"{first_name} has no parent on record"
        session.add(
            Consent(
                pupil_id=pupil.id,
                parent_id=link.parent_id,
                scope=ConsentScope.RECORDING,
                text_version="v1",
                given_at=utc_now(),
            )
        )
        session.commit()


def test_the_teacher_records_and_the_pupil_sees_it_while_it_runs(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    school_policy(live_server, recording_allowed=True)
    give_consent(live_server, "Ben")
    for pupil in ("Amy", "Ben"):
        recording_consent(live_server, pupil)
    console = open_console(new_page, live_server)
    start = console.get_by_role("button", name="Start recording")
    expect(start).to_be_enabled()

    # Amy's link and the lesson's reminder say beforehand that the lesson may be recorded.
    amy = new_page()
    amy.goto(live_server.join_url("Amy"))
    expect(amy.get_by_text("This lesson may be recorded")).to_be_visible()
    amy.get_by_role("link", name="Join the lesson").click()
    expect(amy.get_by_role("heading", name="This lesson may be recorded")).to_be_visible()
    amy.get_by_role("button", name="OK, I will remember").click()
    amy.get_by_role("button", name="Go to the waiting room").click()
    console.get_by_role("button", name="Let in Amy Adams").click()
    expect(amy.locator("#step-lesson")).to_be_visible()
    # Ben too, so that the lesson runs (one pupil alone with one teacher would hold it).
    ben = pupil_joins(new_page, live_server, "Ben")
    console.get_by_role("button", name="Let in Ben Brown").click()
    in_the_lesson(ben)
    console.get_by_role("button", name="Turn my camera on").click()
    notice = amy.locator("#recording-notice")
    expect(notice).to_be_hidden()

    # Start, after saying what is recorded: the console shows a red badge with the time.
    start.click()
    dialog = console.get_by_role("dialog", name="Start recording this lesson?")
    expect(dialog).to_contain_text("Pupils' cameras and sound are not recorded.")
    dialog.get_by_role("button", name="Yes, start recording").click()
    badge = console.locator("#console-recording-badge")
    expect(badge).to_be_visible()
    expect(badge).to_contain_text("Recording")
    expect(console.locator("#console-recording-time")).to_have_text(re.compile(r"^\d+:\d\d$"))
    stop = console.get_by_role("button", name="Stop recording")
    expect(stop).to_be_enabled()
    expect(console.locator("#console-announce")).to_contain_text("Recording has started.")

    # Amy's page says so, in words for her, and reads it out once.
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("This lesson is being recorded.")
    expect(notice).to_contain_text("not you")
    expect(amy.locator("#announcer")).to_contain_text("This lesson is being recorded.")
    assert_accessible(console)
    assert_accessible(amy)
    save_screenshot(amy, "pupil-recording")
    save_screenshot(console, "console-recording")

    # Stop: the notice goes, and Amy is told.
    stop.click()
    expect(notice).to_be_hidden()
    expect(amy.locator("#announcer")).to_contain_text("The recording has stopped.")
    expect(badge).to_be_hidden()
    expect(console.get_by_role("button", name="Start recording")).to_be_enabled()
    expect(console.locator("#console-announce")).to_contain_text("The recording has stopped.")
