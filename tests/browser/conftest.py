"""The browser test harness: Debian's Chromium (driven by Playwright) against the real app, served
by uvicorn on a free port of 127.0.0.1 with a real Janus, in the test network namespace.

Fixtures:
- `browser`: one Chromium for the session, with a fake camera and microphone.
- `live_server`: the app for one test, on a database seeded with the web tests' world (its Oak
  lesson moved to now), with helpers to sign staff in and to make pupils' and guests' links.
- `new_page(...)`: a fresh browser context and page for one participant. Every request the page
  makes is recorded; the test fails at teardown if any went to another origin than the server's
  (issue 6: every request goes to the SafeClass origin) or if the page logged an error.
Helpers: `save_screenshot(page, name)` writes docs/screenshots/<name>.png; `wait_for_js(page,
expression)` waits for a JavaScript expression to be truthy (Playwright's `wait_for_function`
does not work under our Content-Security-Policy).

A test marked `browser` is skipped, with the reason, outside the test network namespace or
without Chromium or Janus; with SAFECLASS_REQUIRE_MEDIA=1 (scripts/test) it fails instead.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    ViewportSize,
    WebSocket,
    sync_playwright,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.guests import invite_guest
from safeclass.actions.join_links import Holder, LinkScope, issue_link
from safeclass.codes import passcode_key
from safeclass.config import Config
from safeclass.media.janus_process import JanusProcess
from safeclass.media.server import MediaServer
from safeclass.store.models import Lesson, Parent, ParentLink, Pupil, School, StaffMember
from safeclass.timeutil import utc_now
from safeclass.web.app import create_app
from safeclass.web.auth import session_cookie_name
from safeclass.web.context import WebContext
from tests.media.helpers import janus_options, why_media_cannot_run
from tests.web.conftest import OAK_TEACHER, World, build_world
from tests.web.helpers import PASSWORD, csrf_token

CHROMIUM = Path("/usr/lib/chromium/chromium")  # the real binary; /usr/bin/chromium is a wrapper
# /work/shared/notes/browser-tests.md. Never a --disable-features of our own: Chromium keeps only
# the last copy of a switch, and Playwright passes its own list.
CHROMIUM_ARGS = (
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 720}
SERVER_START_SECONDS = 30.0


def why_browser_cannot_run() -> str | None:
    reason = why_media_cannot_run()
    if reason is not None:
        return reason
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (scripts/install --dev installs it)"
    return None


def _refuse_or_skip(reason: str) -> None:
    if os.environ.get("SAFECLASS_REQUIRE_MEDIA") == "1":
        pytest.fail(f"browser test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") is None:
        return
    reason = why_browser_cannot_run()
    if reason is not None:
        _refuse_or_skip(reason)


# --- The browser ------------------------------------------------------------------------------


# Package scope: Playwright's sync API keeps an event loop running in this thread while it is
# started, and every later `asyncio.run()` (the media tests, the web tests) would then refuse to
# run. Ending it with the browser tests leaves the rest of the suite as it was.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    reason = why_browser_cannot_run()
    if reason is not None:
        _refuse_or_skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield chromium
        finally:
            chromium.close()


# --- The server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestLink:
    name: str
    url: str
    passcode: str


class _Server(uvicorn.Server):
    """uvicorn in a thread of the test process, so that a test can look at the app's state. It
    installs no signal handlers there (uvicorn does so only in the main thread)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.failure: BaseException | None = None

    def serve_in_thread(self, listener: socket.socket) -> None:
        try:
            asyncio.run(self.serve(sockets=[listener]))
        except BaseException as error:  # reported by `start`, in the test's thread
            self.failure = error


class LiveServer:
    """The running app. `base_url` is its origin, e.g. http://127.0.0.1:41234."""

    def __init__(
        self,
        app: FastAPI,
        base_url: str,
        config: Config,
        session_factory: sessionmaker[Session],
        world: World,
    ) -> None:
        self.app = app
        self.base_url = base_url
        self.config = config
        self.session_factory = session_factory
        self.world = world

    @property
    def web(self) -> WebContext:
        context = self.app.state.safeclass
        assert isinstance(context, WebContext)
        return context

    @property
    def lesson_id(self) -> int:
        """Oak's "Fractions together", taught by OAK_TEACHER, running now."""
        return self.world.oak_lesson_id

    def url(self, path: str) -> str:
        assert path.startswith("/"), path
        return self.base_url + path

    def sign_in(self, context: BrowserContext, email: str = OAK_TEACHER) -> None:
        """Sign `email` in through the real sign-in form and give `context` the session cookie."""
        with httpx.Client(base_url=self.base_url, headers={"origin": self.base_url}) as client:
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
            token = client.cookies[session_cookie_name(self.config)]
        context.add_cookies(
            [
                {
                    "name": session_cookie_name(self.config),
                    "value": token,
                    "url": self.base_url,
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )

    def join_url(self, first_name: str = "Amy", *, for_parent: bool = False) -> str:
        """A new personal link to this lesson for the Oak pupil called `first_name` (or for their
        parent), as the teacher would make it."""
        with self.session_factory() as session:
            pupil = session.scalars(
                select(Pupil).where(
                    Pupil.school_id == self.world.oak_id, Pupil.first_name == first_name
                )
            ).one()
            parent = None
            if for_parent:
                parent = session.scalars(
                    select(Parent).join(ParentLink).where(ParentLink.pupil_id == pupil.id)
                ).first()
                assert parent is not None, f"{first_name} has no parent on record"
            lesson = session.get_one(Lesson, self.lesson_id)
            issued = issue_link(
                session,
                LinkScope.for_lesson(lesson),
                Holder(pupil, parent),
                actor=self._teacher(session),
                now=utc_now(),
                passcode_key=passcode_key(self.config.secret_key()),
            )
            session.commit()
            return self.url(f"/join/{issued.token}")

    def guest_link(self, name: str = "Dr Priya Shah") -> GuestLink:
        """An invitation to this lesson (Oak's policy then allows named guests)."""
        with self.session_factory() as session:
            school = session.get_one(School, self.world.oak_id)
            school.policy_overrides = {**(school.policy_overrides or {}), "named_guests": True}
            session.flush()
            invited = invite_guest(
                session,
                session.get_one(Lesson, self.lesson_id),
                name,
                actor=self._teacher(session),
                now=utc_now(),
                passcode_key=passcode_key(self.config.secret_key()),
            )
            session.commit()
            return GuestLink(name, self.url(f"/guest/{invited.token}"), invited.passcode)

    @staticmethod
    def _teacher(session: Session) -> StaffMember:
        return session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()


def _free_listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


def _lesson_running_now(session_factory: sessionmaker[Session], lesson_id: int) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        now = utc_now().replace(microsecond=0)
        lesson.starts_at = now - timedelta(minutes=5)
        lesson.ends_at = now + timedelta(minutes=55)
        session.commit()


@pytest.fixture
def live_server(tmp_path: Path, session_factory: sessionmaker[Session]) -> Iterator[LiveServer]:
    reason = why_browser_cannot_run()
    if reason is not None:
        _refuse_or_skip(reason)
    with session_factory() as session:
        world = build_world(session)
    _lesson_running_now(session_factory, world.oak_lesson_id)
    listener = _free_listener()
    port = listener.getsockname()[1]
    config = Config(
        data_dir=tmp_path / "data",
        database_url="sqlite:///unused-the-tests-pass-a-session-factory",
        host="127.0.0.1",
        port=port,
        secure_cookies=False,
    )
    media = MediaServer(JanusProcess(janus_options(tmp_path / "janus")))
    app = create_app(config, session_factory=session_factory, media_server=media)
    server = _Server(
        uvicorn.Config(
            app, loop="asyncio", lifespan="on", log_level="warning", timeout_graceful_shutdown=3
        )
    )
    thread = threading.Thread(
        target=server.serve_in_thread, args=(listener,), name="live-server", daemon=True
    )
    thread.start()
    waited = 0.0
    while not server.started and thread.is_alive() and waited < SERVER_START_SECONDS:
        thread.join(0.05)
        waited += 0.05
    if not server.started:
        server.should_exit = True
        thread.join(SERVER_START_SECONDS)
        listener.close()
        raise RuntimeError(f"the live server did not start: {server.failure!r}")
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}", config, session_factory, world)
    finally:
        server.should_exit = True
        thread.join(SERVER_START_SECONDS)
        listener.close()
    assert not thread.is_alive(), "the live server did not stop"
    if server.failure is not None:
        raise server.failure


# --- Pages that record what they ask for -------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with ws and wss counted as http and https: a lesson's WebSocket on
    the server's own host and port is the same origin as its pages."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, parts.hostname or "", port


# Not requests to anyone: contents made inside the page itself.
_LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


@dataclass
class RequestRecorder:
    """Every request (WebSockets included) a context's pages make, and every error they log."""

    origin: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.on("request", self._on_request)
        context.on("page", self.attach_page)
        for page in context.pages:
            self.attach_page(page)

    def attach_page(self, page: Page) -> None:
        page.on("websocket", self._on_websocket)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"{page.url}: {error}"))

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _on_websocket(self, websocket: WebSocket) -> None:
        self.requests.append(websocket.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.location.get('url', '?')}: {message.text}")

    def foreign_requests(self) -> list[str]:
        """The requests to anywhere but `origin`."""
        ours = _origin(self.origin)
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in _LOCAL_SCHEMES and _origin(url) != ours
        ]

    def assert_same_origin(self) -> None:
        foreign = self.foreign_requests()
        assert not foreign, f"requests to another origin than {self.origin}: {foreign}"

    def assert_no_errors(self) -> None:
        assert not self.console_errors, f"the page logged errors: {self.console_errors}"


@dataclass
class PageFactory:
    """`new_page(staff=OAK_TEACHER)` signs the new context in as that member of staff.
    `allow_errors(text)` says which logged errors a test expects (it must check them itself)."""

    browser: Browser
    server: LiveServer
    opened: list[tuple[BrowserContext, RequestRecorder, Callable[[str], bool] | None]] = field(
        default_factory=list
    )

    def __call__(
        self,
        *,
        staff: str | None = None,
        viewport: ViewportSize | None = None,
        allow_errors: Callable[[str], bool] | None = None,
    ) -> Page:
        context = self.browser.new_context(
            base_url=self.server.base_url,
            viewport=viewport or VIEWPORT,
        )
        context.set_default_timeout(15_000)
        recorder = RequestRecorder(self.server.base_url)
        recorder.attach(context)
        self.opened.append((context, recorder, allow_errors))
        if staff is not None:
            self.server.sign_in(context, staff)
        return context.new_page()

    def recorder(self, page: Page) -> RequestRecorder:
        for context, recorder, _ in self.opened:
            if page.context is context:
                return recorder
        raise LookupError("that page was not made by new_page")

    def close_and_check(self) -> None:
        problems: list[str] = []
        for context, recorder, allow_errors in self.opened:
            context.close()
            foreign = recorder.foreign_requests()
            if foreign:
                problems.append(f"requests to another origin than {recorder.origin}: {foreign}")
            errors = [
                text
                for text in recorder.console_errors
                if allow_errors is None or not allow_errors(text)
            ]
            if errors:
                problems.append(f"a page logged errors: {errors}")
        self.opened.clear()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def new_page(browser: Browser, live_server: LiveServer) -> Iterator[PageFactory]:
    factory = PageFactory(browser, live_server)
    yield factory
    factory.close_and_check()


def wait_for_js(page: Page, expression: str, *, timeout: float = 15.0) -> Any:
    """Wait until `expression` (JavaScript) is truthy in the page, and return its value.

    Playwright's own `wait_for_function` evaluates its predicate with eval() inside the page,
    which our Content-Security-Policy refuses; `page.evaluate` is not subject to it."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(100)


def save_screenshot(page: Page, name: str, **options: Any) -> Path:
    """docs/screenshots/<name>.png, for the README."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), **options)
    return path
