"""Forms posted by a real browser. Our pages send Referrer-Policy: no-referrer, under which
Chromium posts a page's own forms with "Origin: null": these prove the server still takes them
(and still refuses other sites' posts: tests/web/test_csrf.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from safeclass.actions.consent import issue_consent_link
from safeclass.domain.consent import ConsentScope
from safeclass.store.models import Consent, Parent, Pupil, School, StaffMember
from safeclass.timeutil import utc_now
from tests.browser.conftest import LiveServer, PageFactory
from tests.web.conftest import OAK_ADMIN, OAK_TEACHER
from tests.web.helpers import PASSWORD


@pytest.mark.browser
def test_staff_sign_in_through_the_form(live_server: LiveServer, new_page: PageFactory) -> None:
    page = new_page()
    page.goto(live_server.url("/signin"))
    page.get_by_label("Email").fill(OAK_TEACHER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text("Signed in as")).to_be_visible()


@pytest.mark.browser
def test_a_parent_withdraws_and_gives_permission_through_their_link(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    with live_server.session_factory() as session:
        school = session.get_one(School, live_server.world.oak_id)
        admin = session.scalars(select(StaffMember).where(StaffMember.email == OAK_ADMIN)).one()
        parent = session.scalars(select(Parent).where(Parent.display_name == "Alex Adams")).one()
        issued = issue_consent_link(session, school, parent, actor=admin, now=utc_now())
        session.commit()
        amy_id = session.scalars(select(Pupil.id).where(Pupil.first_name == "Amy")).one()

    def live_consent_standing() -> bool:
        with live_server.session_factory() as session:
            consents = session.scalars(
                select(Consent).where(
                    Consent.pupil_id == amy_id, Consent.scope == ConsentScope.LIVE_LESSONS
                )
            ).all()
            return any(c.withdrawn_at is None for c in consents)

    page = new_page()
    page.goto(live_server.url(f"/consent/{issued.token}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Permission for live lessons")
    live = page.locator(f"#child-{amy_id}")
    live.get_by_role("button", name="Withdraw permission").first.click()
    expect(page.locator(f"#child-{amy_id}")).to_contain_text("Permission is withdrawn.")
    assert not live_consent_standing()

    page.locator(f"#child-{amy_id}").get_by_role(
        "button", name="Yes, I give permission"
    ).first.click()
    expect(page.locator(f"#child-{amy_id}")).to_contain_text("Permission is given.")
    assert live_consent_standing()
