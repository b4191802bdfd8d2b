"""The staff lesson console in Chromium, against the real server and Janus: what it shows of the
waiting room and the class list, and that its controls act on the lesson and say why in words
when the engine says no. Pupils here are simulated (tests/browser/simulated_pupils.py): these
tests are about the console; the whole lesson with pupils' own pages is test_whole_lesson.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Expect, Page, ViewportSize
from sqlalchemy.orm import Session

from safeclass.store.models import Lesson, School
from tests.browser.axe import assert_accessible
from tests.browser.conftest import LiveServer, PageFactory
from tests.browser.simulated_pupils import SimulatedPupils, give_consent
from tests.web.conftest import OAK_TEACHER

pytestmark = pytest.mark.browser

# Assertions wait as long as the harness lets actions wait (15 s), not Playwright's 5 s: two
# pages sending video and a blurred camera keep a small shared machine busy. Our own instance, so
# other test modules keep their own settings.
expect = Expect()
expect.set_options(timeout=15_000)


@pytest.fixture
def pupils(live_server: LiveServer) -> Iterator[SimulatedPupils]:
    made = SimulatedPupils(live_server)
    try:
        yield made
    finally:
        made.close()


def open_console(
    new_page: PageFactory, server: LiveServer, viewport: ViewportSize | None = None
) -> Page:
    page = new_page(staff=OAK_TEACHER, viewport=viewport)
    page.goto(f"/admin/lessons/{server.lesson_id}/live")
    expect(page.locator("#console-connection")).to_have_text("Connected to the lesson.")
    expect(page.get_by_role("button", name="Suspend everything")).to_be_enabled()
    return page


def school_policy(server: LiveServer, **overrides: object) -> None:
    with server.session_factory() as session:
        _override(session, server.world.oak_id, overrides)
        session.commit()


def _override(session: Session, school_id: int, overrides: dict[str, object]) -> None:
    school = session.get_one(School, school_id)
    school.policy_overrides = {**(school.policy_overrides or {}), **overrides}


def test_the_waiting_room_is_matched_against_the_class_list(
    live_server: LiveServer, new_page: PageFactory, pupils: SimulatedPupils
) -> None:
    console = open_console(new_page, live_server)
    expected = console.locator("#expected-list")
    # Amy's parent gave permission; Ben's never did; Cara's parent withdrew it.
    expect(expected.locator("li").filter(has_text="Amy Adams")).to_contain_text(
        "Has permission to join"
    )
    expect(expected.locator("li").filter(has_text="Ben Brown")).to_contain_text("Cannot join:")
    expect(expected.locator("li").filter(has_text="Cara Clark")).to_contain_text("Cannot join:")

    amy = pupils.join("Amy")
    waiting = console.locator("#waiting-list > li")
    expect(waiting).to_have_count(1)
    expect(waiting.first).to_contain_text("Amy Adams")
    expect(console.get_by_role("button", name="Let in Amy Adams")).to_be_visible()
    expect(console.locator("#console-announce")).to_contain_text("Amy Adams is waiting to come in.")
    expect(expected.locator("li").filter(has_text="Amy Adams")).to_have_count(0)

    # The same pupil on a second device is flagged, and says what letting it in does.
    pupils.join("Amy")
    expect(waiting).to_have_count(2)
    expect(waiting.nth(1)).to_contain_text("Second device")

    # A pupil without permission is stopped at the door, and staff see why.
    ben = pupils.join("Ben")
    refused = ben.answer
    assert refused["type"] == "refused"
    assert refused["reason"] == "consent_missing"
    turned_away = console.locator("#turned-away-list > li")
    expect(turned_away).to_have_count(1)
    expect(turned_away.first).to_contain_text("Ben Brown")
    expect(turned_away.first).to_contain_text(refused["message"])
    assert_accessible(console)

    console.get_by_role("button", name="Let in next").click()
    amy.view_until(lambda view: view["you"]["presence"] == "admitted")
    expect(console.locator("#people-list > li").filter(has_text="Amy Adams")).to_be_visible()
    expect(console.locator("#console-announce")).to_contain_text("Amy Adams is in the lesson.")
    # Her second device cannot be let in now, and the console says why instead of offering it.
    expect(waiting).to_have_count(1)
    expect(waiting.first).to_contain_text("Cannot be let in: Amy Adams is already in the lesson")
    expect(waiting.first.get_by_role("button")).to_be_hidden()


def test_the_console_says_why_media_is_held_and_shows_a_refusal_next_to_the_control(
    live_server: LiveServer, new_page: PageFactory, pupils: SimulatedPupils
) -> None:
    school_policy(live_server, screen_sharing="staff")
    give_consent(live_server, "Ben")
    console = open_console(new_page, live_server)
    hold = console.locator("#console-hold")

    amy = pupils.join("Amy")
    console.get_by_role("button", name="Let in Amy Adams").click()
    amy.view_until(lambda view: view["you"]["presence"] == "admitted")
    # One pupil alone with one member of staff: media is held, and the console says why.
    expect(hold).to_be_visible()
    expect(hold).to_contain_text("no one-to-one lessons")

    row = console.locator("#people-list > li").filter(has_text="Amy Adams")
    row.get_by_role("button", name="Allow screen share for Amy Adams").click()
    refusal = row.locator(".console-refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text("At this school, only staff share their screens.")
    expect(console.locator("#console-alert")).to_have_text(
        "At this school, only staff share their screens."
    )

    # Suspending says what it did, in words, and Resume lifts it.
    console.get_by_role("button", name="Suspend everything").click()
    amy.view_until(lambda view: view["lesson"]["suspended"])
    suspended = console.locator("#console-suspend-state")
    expect(suspended).to_contain_text("Suspended: pupils' microphones and cameras are off")
    expect(console.locator("#console-lock-state")).to_contain_text("Locked")
    console.get_by_role("button", name="Resume the lesson").click()
    amy.view_until(lambda view: not view["lesson"]["suspended"])
    expect(suspended).to_be_hidden()
    expect(hold).to_contain_text("no one-to-one lessons")

    # Once a second pupil is in, nothing is held and the words go.
    ben = pupils.join("Ben")
    console.get_by_role("button", name="Let in Ben Brown").click()
    ben.view_until(lambda view: view["you"]["presence"] == "admitted")
    expect(hold).to_be_hidden()


def test_the_console_controls_act_on_pupils_and_the_chat_shows_what_the_check_found(
    live_server: LiveServer, new_page: PageFactory, pupils: SimulatedPupils
) -> None:
    give_consent(live_server, "Ben")
    console = open_console(new_page, live_server)
    amy = pupils.join("Amy")
    ben = pupils.join("Ben")
    console.get_by_role("button", name="Let in Amy Adams").click()
    console.get_by_role("button", name="Let in Ben Brown").click()
    amy.view_until(lambda view: view["you"]["presence"] == "admitted")
    ben.view_until(lambda view: view["you"]["presence"] == "admitted")
    expect(console.locator("#console-hold")).to_be_hidden()

    # Ask to speak, answered with "Let them speak"; then mute.
    amy.send("ask_to_speak")
    amy_row = console.locator("#people-list > li").filter(has_text="Amy Adams")
    expect(amy_row.locator(".console-states")).to_contain_text("Asks to speak")
    expect(console.locator("#console-announce")).to_contain_text("Amy Adams asks to speak.")
    amy_row.get_by_role("button", name="Let them speak (Amy Adams)").click()
    amy.view_until(lambda view: view["you"]["mic_allowed"])
    amy.send("set_mic", on=True)
    expect(amy_row.locator(".console-states")).to_contain_text("Mic on")
    amy_row.get_by_role("button", name="Mute Amy Adams").click()
    amy.view_until(lambda view: not view["you"]["mic_on"])
    expect(amy_row.locator(".console-states")).to_contain_text("Mic off")

    # Stop camera keeps it off until allowed again.
    amy_row.get_by_role("button", name="Stop camera of Amy Adams").click()
    amy.view_until(lambda view: not view["you"]["camera_allowed"])
    expect(amy_row.locator(".console-states")).to_contain_text("Camera stopped by staff")
    amy_row.get_by_role("button", name="Allow camera for Amy Adams").click()
    amy.view_until(lambda view: view["you"]["camera_allowed"])

    # A raised hand, lowered by the teacher.
    ben.send("raise_hand")
    ben_row = console.locator("#people-list > li").filter(has_text="Ben Brown")
    expect(ben_row.locator(".console-states")).to_contain_text("Hand up")
    ben_row.get_by_role("button", name="Lower hand of Ben Brown").click()
    ben.view_until(lambda view: not view["you"]["hand_raised"])
    expect(ben_row.get_by_role("button", name="Lower hand of Ben Brown")).to_be_hidden()

    # Everyone who may come is in, so the lesson locked itself; unlock and lock it again.
    lock_state = console.locator("#console-lock-state")
    expect(lock_state).to_contain_text("Locked")
    console.get_by_role("button", name="Unlock the lesson", exact=True).click()
    expect(lock_state).to_contain_text("Open")
    amy.view_until(lambda view: not view["lesson"]["locked"])
    console.get_by_role("button", name="Lock the lesson", exact=True).click()
    expect(lock_state).to_contain_text("Locked")
    amy.view_until(lambda view: view["lesson"]["locked"])

    # Mute all: every pupil's microphone off (a muted pupil asks to speak again first).
    amy.send("ask_to_speak")
    amy_row.get_by_role("button", name="Let them speak (Amy Adams)").click()
    amy.view_until(lambda view: view["you"]["mic_allowed"])
    amy.send("set_mic", on=True)
    expect(amy_row.locator(".console-states")).to_contain_text("Mic on")
    console.get_by_role("button", name="Mute all pupils").click()
    amy.view_until(lambda view: not view["you"]["mic_on"])

    # Chat: the teacher writes to the class; a pupil's message to staff is marked as such; a
    # message the check stopped is shown as an alert with what it found, and the class never saw it.
    console.get_by_role("textbox", name="Message").fill("Open your books at page 12")
    console.get_by_role("button", name="Send", exact=True).click()
    amy.wait_for(
        lambda m: m["type"] == "chat" and m["message"]["text"] == "Open your books at page 12"
    )
    ben.send("chat", to="staff", text="I can't hear you")
    to_staff = console.locator("#chat-log > li").filter(has_text="I can't hear you")
    expect(to_staff).to_contain_text("to staff only")
    expect(to_staff).to_have_class(re.compile("console-chat__message--staff-only"))
    amy.send("chat", to="class", text="ring me 07700 900123")
    alert = console.locator("#chat-log > li.console-chat__alert")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("Chat check: Amy Adams")
    expect(alert).to_contain_text("Found a phone number. Stopped: nobody else saw it.")
    expect(alert.locator("mark")).to_have_text("07700 900123")
    expect(console.locator("#console-alert")).to_contain_text("Chat check: Amy Adams")
    assert not [
        m
        for m in ben.participant.received
        if m["type"] == "chat" and "07700" in m["message"]["text"]
    ]

    assert_accessible(console)

    # Pausing chat stops pupils' messages.
    console.get_by_role("button", name="Pause pupils' chat").click()
    ben.view_until(lambda view: view["lesson"]["chat_paused"])
    expect(console.locator("#console-chat-state")).to_have_text("Pupils' chat is paused.")
    console.get_by_role("button", name="Let pupils chat again").click()
    ben.view_until(lambda view: not view["lesson"]["chat_paused"])


def test_the_console_fits_a_tablet_and_is_operated_by_keyboard(
    live_server: LiveServer, new_page: PageFactory, pupils: SimulatedPupils
) -> None:
    console = open_console(new_page, live_server, viewport={"width": 768, "height": 1024})
    amy = pupils.join("Amy")
    let_in = console.get_by_role("button", name="Let in Amy Adams")
    expect(let_in).to_be_visible()
    # Nothing sideways to scroll at tablet width.
    assert console.evaluate("document.documentElement.scrollWidth") <= 768

    # By keyboard alone: focus reaches "Let in", Enter lets Amy in.
    let_in.focus()
    expect(let_in).to_be_focused()
    console.keyboard.press("Enter")
    amy.view_until(lambda view: view["you"]["presence"] == "admitted")
    expect(console.locator("#people-list > li").filter(has_text="Amy Adams")).to_be_visible()
    assert console.evaluate("document.documentElement.scrollWidth") <= 768
    assert_accessible(console)
    # The End dialog opens from the keyboard and Escape keeps the lesson going.
    end = console.get_by_role("button", name="End the lesson for everyone")
    end.focus()
    console.keyboard.press("Enter")
    dialog = console.get_by_role("dialog", name="End the lesson for everyone?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="End the lesson", exact=True)).to_be_focused()
    assert_accessible(console)
    console.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    amy.view_until(lambda view: view["lesson"]["phase"] == "open")


def test_a_console_opened_before_the_lesson_opens_says_when_it_does(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    with live_server.session_factory() as session:
        lesson = session.get_one(Lesson, live_server.lesson_id)
        lesson.starts_at = lesson.starts_at + timedelta(hours=3)
        lesson.ends_at = lesson.ends_at + timedelta(hours=3)
        session.commit()
    console = new_page(staff=OAK_TEACHER)
    console.goto(f"/admin/lessons/{live_server.lesson_id}/live")
    connection = console.locator("#console-connection")
    expect(connection).to_contain_text(
        "Not connected to the lesson: This lesson has not opened yet."
    )
    expect(connection).to_contain_text("Reload the page to join again.")
    expect(console.get_by_role("button", name="Suspend everything")).to_be_disabled()
    expect(console.get_by_role("button", name="Let in next")).to_be_disabled()
