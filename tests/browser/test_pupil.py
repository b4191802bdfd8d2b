"""The pupil's side of a lesson in a real browser: from the personal link to the end.

Staff are present through Python clients on the lesson's own WebSocket (`SimulatedParticipant`,
the teacher sending synthetic video through Janus); the pupil is Chromium with a fake camera. The
page's RTCPeerConnections and WebSockets are noted by a script the test adds before the page
loads, so the test can read the browser's own statistics (frames decoded) and cut the connection.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.guests import invite_guest
from safeclass.actions.join_links import Holder, LinkScope, issue_link
from safeclass.codes import passcode_key
from safeclass.config import Config
from safeclass.media.simulated import SimulatedParticipant
from safeclass.store.models import Lesson, Parent, ParentLink, Pupil, School, StaffMember
from safeclass.timeutil import utc_now
from safeclass.web.app import create_app
from safeclass.web.auth import session_cookie_name
from safeclass.web.context import WebContext
from tests.browser.axe import assert_accessible
from tests.browser.conftest import LiveServer, PageFactory, save_screenshot
from tests.web.conftest import OAK_ASSISTANT, OAK_TEACHER, World, build_world
from tests.web.helpers import PASSWORD, csrf_token

T = TypeVar("T")

# Notes every RTCPeerConnection and WebSocket the page makes, for getStats and for cutting the
# connection. Subclasses, so the page's code runs exactly as it would without them.
NOTE_CONNECTIONS = """
(() => {
  const Peer = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = class extends Peer {
    constructor(...args) { super(...args); window.__peers.push(this); }
  };
  const Socket = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Socket {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""

# The most frames the browser has decoded from any video it receives, over its open connections.
FRAMES_DECODED = """
async () => {
  let most = 0;
  for (const peer of window.__peers) {
    if (peer.connectionState === "closed") continue;
    const report = await peer.getStats();
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "video") {
        most = Math.max(most, entry.framesDecoded || 0);
      }
    });
  }
  return most;
}
"""

# How long a Python participant waits for the lesson to say something, on a busy machine.
STAFF_WAIT = 30.0
PREVIEW_PLAYS = "document.getElementById('check-video').videoWidth > 0"


class Background:
    """An event loop in a thread of its own, for the Python participants: Playwright's sync API
    holds the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="staff", daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def background() -> Iterator[Background]:
    running = Background()
    try:
        yield running
    finally:
        running.close()


def staff_cookie(server: LiveServer, email: str) -> str:
    """A signed-in session for `email`, through the real sign-in form, as a Cookie header."""
    with httpx.Client(base_url=server.base_url, headers={"origin": server.base_url}) as client:
        form = client.get("/signin")
        response = client.post(
            "/signin",
            data={
                "email": email,
                "password": PASSWORD,
                "csrf_token": csrf_token(form.text, "/signin"),
            },
        )
        assert response.status_code == 303, response.text
        name = session_cookie_name(server.config)
        return f"{name}={client.cookies[name]}"


def staff_member(
    server: LiveServer, background: Background, email: str, name: str
) -> SimulatedParticipant:
    async def joined() -> SimulatedParticipant:
        ws_url = server.base_url.replace("http://", "ws://") + f"/lessons/{server.lesson_id}/live"
        participant = SimulatedParticipant(
            url=ws_url, origin=server.base_url, name=name, cookie=staff_cookie(server, email)
        )
        await participant.connect()
        welcome = await participant.join()
        assert welcome["type"] == "welcome", welcome
        return participant

    return background.run(joined())


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def frames_decoded(page: Page) -> int:
    frames = page.evaluate(FRAMES_DECODED)
    assert isinstance(frames, int)
    return frames


def pupil_page(new_page: PageFactory) -> Page:
    page = new_page()
    page.add_init_script(NOTE_CONNECTIONS)
    return page


def through_the_check(page: Page, join_url: str) -> None:
    """From the personal link to the waiting room: the reminder, the camera and microphone
    check (background as it is: blur has its own tests)."""
    page.goto(join_url)
    page.get_by_role("link", name="Join the lesson").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fractions together")
    expect(page.get_by_text("Do not record the lesson or take pictures of it.")).to_be_visible()
    page.get_by_role("button", name="OK, I will remember").click()

    expect(page.get_by_role("heading", name="Check your camera and microphone")).to_be_focused()
    page.get_by_role("button", name="Turn on my camera and microphone").click()
    wait_until(lambda: bool(page.evaluate(PREVIEW_PLAYS)), "the camera preview")
    page.get_by_label("Show my background as it is").check()
    page.get_by_role("button", name="Go to the waiting room").click()


@pytest.mark.browser
def test_a_pupil_joins_from_their_link_is_let_in_sees_the_teacher_and_keeps_their_place(
    live_server: LiveServer, new_page: PageFactory, background: Background
) -> None:
    page = pupil_page(new_page)
    through_the_check(page, live_server.join_url("Amy"))

    # No teacher yet: the waiting room says so, in words.
    expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
    expect(page.locator("#waiting-message")).to_have_text("Your teacher will let you in.")
    expect(page.locator("#announcer")).to_contain_text("You are in the waiting room")

    teacher = staff_member(live_server, background, OAK_TEACHER, "Tess Teacher")
    # A second adult, so that one pupil with one teacher is not a one-to-one lesson.
    assistant = staff_member(live_server, background, OAK_ASSISTANT, "Tariq Assistant")
    try:
        waiting = background.run(
            teacher.view_until(
                lambda view: any(p["name"] == "Amy Adams" for p in view.get("waiting", [])),
                timeout=STAFF_WAIT,
            )
        )
        amy = next(p["pid"] for p in waiting["waiting"] if p["name"] == "Amy Adams")
        expect(page.locator("#waiting-hold")).to_be_hidden()
        save_screenshot(page, "pupil-waiting")

        background.run(teacher.send({"type": "set_camera", "on": True}))
        background.run(teacher.send({"type": "set_mic", "on": True}))
        background.run(teacher.publish_camera())
        background.run(teacher.send({"type": "admit", "target": amy}))

        # In the lesson: the teacher's video plays, decoded by the browser itself.
        expect(page.get_by_role("heading", name="Fractions together")).to_be_focused()
        expect(page.locator("#announcer")).to_contain_text("Your teacher has let you in")
        expect(page.locator("#stage .tile__name")).to_have_text("Tess Teacher")
        wait_until(lambda: frames_decoded(page) > 0, "frames of the teacher's video")
        mark = page.locator("#stage .watermark span").first
        expect(mark).to_have_attribute("data-name", "Amy Adams")
        assert mark.evaluate("span => getComputedStyle(span, '::before').content") == '"Amy Adams"'
        assert (
            page.locator("#stage .watermark").first.evaluate(
                "layer => getComputedStyle(layer).pointerEvents"
            )
            == "none"
        )

        # Her camera: on when she says so, and it reaches the teacher (staff see pupils' video).
        page.get_by_role("button", name="Turn my camera on").click()
        expect(page.locator("#self-placeholder")).to_be_hidden()
        wait_until(lambda: teacher.packets_from(amy, "video") > 0, "Amy's video at the teacher")
        background.run(teacher.send({"type": "chat", "to": "class", "text": "Welcome, everyone!"}))
        expect(page.locator("#chat-log")).to_contain_text("Welcome, everyone!")
        save_screenshot(page, "pupil-lesson")

        # The teacher shares a screen: it takes the stage, and leaves it when the share stops.
        background.run(teacher.send({"type": "start_share"}))
        background.run(teacher.view_until(lambda view: view["you"]["sharing"], timeout=STAFF_WAIT))
        background.run(teacher.publish_screen())
        screen = page.locator("#stage .tile--screen")
        expect(screen.locator(".tile__name")).to_have_text("Tess Teacher's screen")
        expect(page.locator("#stage")).to_have_class(re.compile(r"video-stage--sharing"))
        background.run(teacher.unpublish("screen"))
        background.run(teacher.send({"type": "stop_share"}))
        expect(screen).to_have_count(0)
        expect(page.locator("#stage .tile__name")).to_have_text("Tess Teacher")

        # Ask to speak; the teacher says yes; the pupil's microphone reaches the teacher.
        page.get_by_role("button", name="Ask to speak").click()
        background.run(
            teacher.view_until(
                lambda view: _in_room(view, amy)["wants_to_speak"], timeout=STAFF_WAIT
            )
        )
        background.run(teacher.send({"type": "allow_mic", "target": amy}))
        page.get_by_role("button", name="Turn my microphone on").click()
        expect(page.get_by_role("button", name="Turn my microphone off")).to_have_attribute(
            "aria-pressed", "true"
        )
        background.run(
            teacher.view_until(lambda view: _in_room(view, amy)["mic_on"], timeout=STAFF_WAIT)
        )
        wait_until(lambda: teacher.packets_from(amy, "audio") > 0, "Amy's sound at the teacher")

        # The teacher mutes her: she is told, plainly.
        background.run(teacher.send({"type": "mute", "target": amy}))
        muted = page.locator("#lesson-notices [data-topic=mic]")
        expect(muted).to_contain_text("Your teacher has turned your microphone off.")
        expect(page.locator("#announcer")).to_contain_text("turned your microphone off")
        expect(page.get_by_role("button", name="Turn my microphone on")).to_be_disabled()

        # A network blip: the connection drops and comes back by itself, still admitted.
        background.run(_forget_messages(teacher))
        sockets_before = page.evaluate("window.__sockets.length")
        peers_before = page.evaluate("window.__peers.length")
        page.evaluate("window.__sockets[window.__sockets.length - 1].close(4000, 'blip')")
        background.run(
            teacher.wait_for(
                lambda m: m["type"] == "view" and not _connected(m["view"], amy), timeout=STAFF_WAIT
            )
        )
        back = background.run(
            teacher.wait_for(
                lambda m: m["type"] == "view" and _connected(m["view"], amy), timeout=STAFF_WAIT
            )
        )
        assert page.evaluate("window.__sockets.length") == sockets_before + 1
        assert not any(p["pid"] == amy for p in back["view"]["waiting"])
        expect(page.locator("#connection-status")).to_be_hidden()
        expect(page.locator("#step-lesson")).to_be_visible()
        expect(page.locator("#step-waiting")).to_be_hidden()
        wait_until(
            lambda: (
                page.evaluate("window.__peers.length") > peers_before and frames_decoded(page) > 0
            ),
            "the teacher's video after reconnecting",
        )

        # The end.
        background.run(teacher.send({"type": "end_lesson"}))
        expect(page.get_by_role("heading", name="The lesson has ended")).to_be_visible()
        expect(page.locator("#announcer")).to_contain_text("The lesson has ended")
        wait_until(
            lambda: page.evaluate("window.__peers.every(p => p.connectionState === 'closed')"),
            "the page's media connections to close",
        )
    finally:
        background.run(teacher.close())
        background.run(assistant.close())
    new_page.recorder(page).assert_same_origin()


@pytest.mark.browser
def test_a_parent_confirms_they_are_there_and_every_change_is_said_plainly_at_tablet_width(
    live_server: LiveServer, new_page: PageFactory, background: Background
) -> None:
    with live_server.session_factory() as session:  # Amy's year joins through a parent's link
        session.get_one(School, live_server.world.oak_id).policy_overrides = {
            "parent_mediated_below_year": 5
        }
        session.commit()
    page = new_page(viewport={"width": 768, "height": 1024})
    page.add_init_script(NOTE_CONNECTIONS)
    page.goto(live_server.join_url("Amy", for_parent=True))
    page.get_by_role("link", name="Join the lesson").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fractions together")
    assert_accessible(page)

    # The parent must say they are there; nothing goes on until they do.
    page.get_by_role("button", name="OK, I will remember").click()
    expect(page.get_by_text("Please confirm that you are with Amy.")).to_be_visible()
    expect(page.get_by_label("I am with Amy now")).to_be_focused()
    page.get_by_label("I am with Amy now").check()
    page.get_by_role("button", name="OK, I will remember").click()
    # No camera or microphone this time: straight on to the waiting room.
    page.get_by_role("button", name="Go to the waiting room").click()
    expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
    expect(page.locator("#waiting-hold")).to_contain_text("Your teacher is not here yet.")
    assert_accessible(page)

    teacher = staff_member(live_server, background, OAK_TEACHER, "Tess Teacher")
    assistant: SimulatedParticipant | None = None
    try:
        waiting = background.run(
            teacher.view_until(
                lambda view: any(p["name"] == "Amy Adams" for p in view["waiting"]),
                timeout=STAFF_WAIT,
            )
        )
        amy = waiting["waiting"][0]
        assert amy["parent_present"] is True
        background.run(teacher.send({"type": "admit", "target": amy["pid"]}))

        # One pupil with one teacher: in, but held until a second adult comes.
        expect(page.locator("#step-lesson")).to_be_visible()
        expect(page.locator("#lesson-notices [data-topic=hold]")).to_contain_text(
            "We are waiting for another pupil or a second teacher"
        )
        expect(page.get_by_role("textbox", name="Your message")).to_be_disabled()
        assistant = staff_member(live_server, background, OAK_ASSISTANT, "Tariq Assistant")
        expect(page.locator("#lesson-notices [data-topic=hold]")).to_have_count(0)
        expect(page.locator("#announcer")).to_contain_text("The lesson is carrying on.")
        expect(page.locator("#controls-hint")).to_contain_text(
            "You joined without a camera or microphone."
        )
        expect(page.get_by_role("button", name="Turn my camera on")).to_be_disabled()
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        assert_accessible(page)

        # Chat: a phone number is stopped, kindly; the words come back to be written again.
        page.get_by_role("textbox", name="Your message").fill("ring me on 07700 900123")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#chat-not-sent")).to_contain_text(
            "Your message has not been sent. It looks like it has a phone number in it."
        )
        expect(page.get_by_role("textbox", name="Your message")).to_have_value(
            "ring me on 07700 900123"
        )
        # A message to the teachers gets through; the teacher's answer is shown and announced.
        page.get_by_role("textbox", name="Your message").fill("I can't hear you")
        page.get_by_label("Send to").select_option("staff")
        page.get_by_role("textbox", name="Your message").press("Enter")
        said = background.run(
            teacher.wait_for(
                lambda m: m["type"] == "chat" and m["message"]["to"] == "staff", timeout=STAFF_WAIT
            )
        )
        assert said["message"]["text"] == "I can't hear you"
        background.run(teacher.send({"type": "chat", "to": "class", "text": "Can you now?"}))
        expect(page.locator("#chat-log")).to_contain_text("Tess Teacher (teacher)Can you now?")
        expect(page.locator("#announcer")).to_contain_text(
            "New message from Tess Teacher: Can you now?"
        )

        # A screen share, while the teacher allows it: it reaches the teacher, and stops when the
        # teacher takes the permission back.
        background.run(teacher.send({"type": "grant_share", "target": amy["pid"]}))
        expect(page.locator("#announcer")).to_contain_text("you can share your screen")
        page.get_by_role("button", name="Share my screen").click()
        expect(page.get_by_role("button", name="Stop sharing my screen")).to_be_visible()
        wait_until(
            lambda: teacher.packets_from(amy["pid"], "screen") > 0, "Amy's screen at the teacher"
        )
        background.run(teacher.send({"type": "revoke_share", "target": amy["pid"]}))
        expect(page.get_by_role("button", name="Share my screen")).to_be_hidden()
        expect(page.get_by_role("button", name="Stop sharing my screen")).to_be_hidden()
        wait_until(
            lambda: page.evaluate(
                "window.__peers.every(p => p.getSenders().every(s => !s.track"
                " || s.track.readyState === 'ended' || p.connectionState === 'closed'))"
            ),
            "the screen capture to stop",
        )

        # Every adult gone: back to the waiting room, with the reason.
        background.run(teacher.send({"type": "leave"}))
        background.run(assistant.send({"type": "leave"}))
        expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
        expect(page.locator("#waiting-message")).to_contain_text("You are back in the waiting room")
        expect(page.locator("#waiting-hold")).to_be_visible()
        expect(page.locator("#announcer")).to_contain_text("You are back in the waiting room")
        background.run(teacher.close())
        background.run(assistant.close())

        # The teachers come back: the lesson carries on without being let in again; then Amy is
        # taken out of it.
        teacher = staff_member(live_server, background, OAK_TEACHER, "Tess Teacher")
        assistant = staff_member(live_server, background, OAK_ASSISTANT, "Tariq Assistant")
        expect(page.locator("#step-lesson")).to_be_visible()
        background.run(teacher.send({"type": "remove", "target": amy["pid"]}))
        expect(
            page.get_by_role("heading", name="You have been taken out of this lesson")
        ).to_be_visible()
        expect(page.locator("#ended-help")).to_be_visible()
        expect(page.locator("#announcer")).to_contain_text("You have been taken out")
        assert_accessible(page)
    finally:
        background.run(teacher.close())
        if assistant is not None:
            background.run(assistant.close())


@pytest.mark.browser
def test_a_pupil_may_blur_their_background_in_the_check(
    live_server: LiveServer, new_page: PageFactory
) -> None:
    page = new_page()
    page.goto(live_server.join_url("Amy"))
    page.get_by_role("link", name="Join the lesson").click()
    page.get_by_role("button", name="OK, I will remember").click()
    # The pupil's choice (the trust's default for pupils is no blur).
    expect(page.get_by_label("Show my background as it is")).to_be_checked()
    page.get_by_label("Blur my background").check()
    page.get_by_role("button", name="Turn on my camera and microphone").click()

    # Segmentation is heavy without a GPU, the more so on a busy machine: patience.
    wait_until(lambda: bool(page.evaluate(PREVIEW_PLAYS)), "the blurred preview", timeout=60)
    # What the preview shows (and what would be sent) is the processed picture, not the camera's.
    shown = page.evaluate(
        "document.getElementById('check-video').srcObject.getVideoTracks().map(t => t.label)"
    )
    cameras = page.evaluate(
        "async () => (await navigator.mediaDevices.enumerateDevices())"
        ".filter(d => d.kind === 'videoinput').map(d => d.label)"
    )
    assert len(shown) == 1
    assert cameras
    assert shown[0] not in cameras
    expect(page.locator("#check-problem")).to_be_hidden()
    page.get_by_label("Show my background as it is").check()
    expect(page.locator("#check-problem")).to_be_hidden()
    assert_accessible(page)


def _in_room(view: dict[str, Any], pid: str, default: Any = None) -> dict[str, Any]:
    for person in view.get("in_room", []):
        if person["pid"] == pid:
            return dict(person)
    if default is not None:
        return dict(default)
    raise AssertionError(f"{pid} is not in the room: {view.get('in_room')}")


async def _forget_messages(participant: SimulatedParticipant) -> None:
    async with participant._changed:
        participant.received.clear()


def _connected(view: dict[str, Any], pid: str) -> bool:
    return any(person["pid"] == pid for person in view.get("in_room", []))


# --- The pages, without a browser -----------------------------------------------------------------


class Pages:
    """The app on the web tests' world, through a test client (no browser, no media)."""

    def __init__(self, client: TestClient, world: World, factory: sessionmaker[Session]) -> None:
        self.client = client
        self.world = world
        self.session_factory = factory
        context = client.app.state.safeclass  # type: ignore[attr-defined]
        assert isinstance(context, WebContext)
        self.web = context

    def parts(self) -> tuple[TestClient, WebContext, World, sessionmaker[Session]]:
        return self.client, self.web, self.world, self.session_factory


@pytest.fixture
def pages(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[Pages]:
    with session_factory() as session:
        world = build_world(session)
    config = Config(
        data_dir=tmp_path / "data",
        database_url="sqlite:///unused-the-tests-pass-a-session-factory",
        host="127.0.0.1",
        port=8000,
        secure_cookies=False,
    )
    app = create_app(config, session_factory=session_factory)
    with TestClient(app, follow_redirects=False) as client:
        yield Pages(client, world, session_factory)


def _link(session_factory: sessionmaker[Session], world: World, *, for_parent: bool = False) -> str:
    """A new personal link to the Oak lesson for Amy (or her parent); its token."""
    with session_factory() as session:
        amy = session.scalars(select(Pupil).where(Pupil.first_name == "Amy")).one()
        parent = None
        if for_parent:
            parent = session.scalars(
                select(Parent).join(ParentLink).where(ParentLink.pupil_id == amy.id)
            ).one()
        teacher = session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()
        issued = issue_link(
            session,
            LinkScope.for_lesson(session.get_one(Lesson, world.oak_lesson_id)),
            Holder(amy, parent),
            actor=teacher,
            now=utc_now(),
            passcode_key=passcode_key(b"k" * 32),
        )
        session.commit()
        return issued.token


def _lesson_times(session_factory: sessionmaker[Session], world: World) -> tuple[Any, Any]:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        return lesson.starts_at, lesson.ends_at


def test_the_links_page_offers_the_lesson_only_while_it_is_open(
    pages: Pages,
) -> None:
    client, web, world, session_factory = pages.parts()
    token = _link(session_factory, world)
    starts, ends = _lesson_times(session_factory, world)
    lesson_page = f"/join/{token}/lessons/{world.oak_lesson_id}"

    web.now = lambda: starts - timedelta(minutes=16)
    assert lesson_page not in client.get(f"/join/{token}").text
    web.now = lambda: starts - timedelta(minutes=15)
    assert f'href="{lesson_page}"' in client.get(f"/join/{token}").text
    web.now = lambda: ends - timedelta(minutes=1)
    assert f'href="{lesson_page}"' in client.get(f"/join/{token}").text
    web.now = lambda: ends + timedelta(seconds=1)
    assert lesson_page not in client.get(f"/join/{token}").text


def test_the_lesson_page_is_at_the_links_own_address_and_holds_no_token(
    pages: Pages,
) -> None:
    client, web, world, session_factory = pages.parts()
    token = _link(session_factory, world)
    starts, _ = _lesson_times(session_factory, world)
    web.now = lambda: starts

    response = client.get(f"/join/{token}/lessons/{world.oak_lesson_id}")

    assert response.status_code == 200
    assert token not in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    # Our own scripts, and WebAssembly for the background blur: nothing inline, no eval.
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in policy
    assert "'unsafe-inline'" not in policy
    assert '<script type="module" src="/static/js/lesson/pupil.js">' in response.text
    assert "Hello, Amy" in response.text
    assert "Keep personal details private" in response.text
    assert "only your teachers can see you" in response.text
    assert 'id="parent-present"' not in response.text
    assert "recorded" not in response.text  # the school does not allow recording: not a word


def test_a_parents_lesson_page_asks_them_to_confirm_they_are_there(
    pages: Pages,
) -> None:
    client, web, world, session_factory = pages.parts()
    with session_factory() as session:  # Amy's year joins through a parent's link
        session.get_one(School, world.oak_id).policy_overrides = {"parent_mediated_below_year": 5}
        session.commit()
    token = _link(session_factory, world, for_parent=True)
    starts, _ = _lesson_times(session_factory, world)
    web.now = lambda: starts

    page = client.get(f"/join/{token}/lessons/{world.oak_lesson_id}").text

    assert 'id="parent-present"' in page
    assert "I am with Amy now, and I will stay with them for the whole lesson." in page


@pytest.mark.parametrize("how", ["unknown token", "another lesson", "not a lesson"])
def test_a_lesson_page_the_link_does_not_open_is_not_found(pages: Pages, how: str) -> None:
    client, web, world, session_factory = pages.parts()
    token = _link(session_factory, world)
    starts, _ = _lesson_times(session_factory, world)
    web.now = lambda: starts
    lesson_id = world.oak_lesson_id
    if how == "unknown token":
        token = "A" * 32
    elif how == "another lesson":
        lesson_id = world.birch_lesson_id
    else:
        lesson_id = 999999

    response = client.get(f"/join/{token}/lessons/{lesson_id}")

    assert response.status_code == 404
    assert "This link does not work. Ask your school for a new one." in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_lesson_page_before_the_door_opens_says_when_it_does(
    pages: Pages,
) -> None:
    client, web, world, session_factory = pages.parts()
    token = _link(session_factory, world)
    starts, ends = _lesson_times(session_factory, world)
    page = f"/join/{token}/lessons/{world.oak_lesson_id}"

    web.now = lambda: starts - timedelta(hours=1)
    early = client.get(page)
    web.now = lambda: ends + timedelta(minutes=1)
    late = client.get(page)

    assert early.status_code == 409
    assert "You can come in from" in early.text
    assert late.status_code == 409
    assert "This lesson has finished." in late.text


def test_a_guests_invitation_leads_to_the_lesson_page_while_it_is_open(
    pages: Pages,
) -> None:
    client, web, world, session_factory = pages.parts()
    with session_factory() as session:
        school = session.get_one(School, world.oak_id)
        school.policy_overrides = {**(school.policy_overrides or {}), "named_guests": True}
        session.flush()
        teacher = session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()
        invited = invite_guest(
            session,
            session.get_one(Lesson, world.oak_lesson_id),
            "Dr Priya Shah",
            actor=teacher,
            # Invited in the morning of the lesson, whatever the time the test runs.
            now=session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(hours=3),
            passcode_key=passcode_key(b"k" * 32),
        )
        session.commit()
        token = invited.token
    starts, _ = _lesson_times(session_factory, world)

    web.now = lambda: starts - timedelta(hours=1)
    assert "Join the lesson" not in client.get(f"/guest/{token}").text
    assert client.get(f"/guest/{token}/lesson").status_code == 409
    web.now = lambda: starts
    landing = client.get(f"/guest/{token}").text
    page = client.get(f"/guest/{token}/lesson")

    assert f'href="/guest/{token}/lesson"' in landing
    assert page.status_code == 200
    assert "Welcome, Dr Priya Shah" in page.text
    assert token not in page.text
    assert client.get(f"/guest/{'B' * 32}/lesson").status_code == 404
