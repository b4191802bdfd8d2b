"""A pupil whose link will not open types the lesson's code and their passcode, and goes on from
there to the same lesson page as their link: the reminder, the camera check, the waiting room."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from safeclass import codes
from safeclass.actions.join_links import Holder, LinkScope, issue_link
from safeclass.actions.typed_codes import issue_lesson_code
from safeclass.store.models import Lesson, Pupil, StaffMember
from safeclass.timeutil import utc_now
from tests.browser.axe import assert_accessible
from tests.browser.conftest import LiveServer, PageFactory
from tests.web.conftest import OAK_TEACHER


def lesson_code_and_passcode(server: LiveServer, first_name: str) -> tuple[str, str]:
    with server.session_factory() as session:
        lesson = session.get_one(Lesson, server.lesson_id)
        teacher = session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()
        pupil = session.scalars(
            select(Pupil).where(Pupil.school_id == lesson.school_id, Pupil.first_name == first_name)
        ).one()
        code = issue_lesson_code(session, lesson, actor=teacher)
        issued = issue_link(
            session,
            LinkScope.for_lesson(lesson),
            Holder(pupil, None),
            actor=teacher,
            now=utc_now(),
            passcode_key=codes.passcode_key(server.config.secret_key()),
        )
        session.commit()
        assert issued.passcode is not None
        return codes.shown(code), codes.shown(issued.passcode)


@pytest.mark.browser
def test_typed_codes_lead_to_the_waiting_room(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    code, passcode = lesson_code_and_passcode(live_server, "Amy")
    page = new_page()
    page.goto(live_server.url("/code"))
    page.get_by_label("Lesson code").fill(code)
    page.get_by_label("Passcode").fill(passcode)
    page.get_by_role("button", name="Go to the waiting room").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Amy")
    assert_accessible(page)
    page.get_by_role("link", name="Go to the waiting room").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Fractions together")
    page.get_by_role("button", name="OK, I will remember").click()
    page.get_by_role("button", name="Turn on my camera and microphone").click()
    page.get_by_label("Show my background as it is").check()
    page.get_by_role("button", name="Go to the waiting room").click()

    expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
    expect(page.locator("#waiting-message")).to_have_text(
        "Your teacher will let you in.", timeout=20_000
    )
