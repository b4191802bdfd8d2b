"""Parents' consent through the real app: staff make consent links (letters, the outbox, a real
local SMTP server), parents give and withdraw permission on the page their link opens, a trust
admin publishes new words, and each of these changes who the lesson's door lets in, through the
real lesson socket. Bad links and forms get a plain answer and change nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer  # noqa: N811
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi import FastAPI
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect

from safeclass.actions.live import LiveLessons
from safeclass.config import Config, ConfigError
from safeclass.store.models import (
    AuditEntry,
    Consent,
    ConsentLink,
    ConsentMessage,
    ConsentMessageState,
    Lesson,
    Pupil,
)
from safeclass.web.app import create_app
from tests.web.conftest import (
    OAK_ADMIN,
    OAK_DSL,
    OAK_TEACHER,
    PARENT_EMAIL,
    TRUST_ADMIN,
    World,
)
from tests.web.helpers import TestClient, form_values, session_csrf, sign_in
from tests.web.test_lesson_socket import (
    ORIGIN,
    KnownTokens,
    join,
    receive,
    view_until,
)

LINK = re.compile(r"http://testserver/consent/([A-Za-z0-9_-]{32})")


@dataclass
class Site:
    app: FastAPI
    tokens: KnownTokens
    lesson_id: int
    pupil_ids: dict[str, int]

    def pupil_token(self, first_name: str) -> str:
        from safeclass.domain.lesson.model import Person, Role, Via
        from safeclass.web.join_tokens import Entrant

        token = f"token-{first_name}"
        person = Person(Role.PUPIL, str(self.pupil_ids[first_name]))
        self.tokens.tokens[token] = Entrant(person, Via.PUPIL_LINK, f"link:{first_name}")
        return token

    def lesson_url(self) -> str:
        return f"/lessons/{self.lesson_id}/live"


def _site(config: Config, session_factory: sessionmaker[Session], world: World) -> Site:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        now = [lesson.starts_at]
        pupils = {
            p.first_name: p.id
            for p in session.scalars(select(Pupil).where(Pupil.school_id == world.oak_id))
        }
    tokens = KnownTokens()
    live = LiveLessons(session_factory, resume_key=b"k" * 32, clock=lambda: now[0])
    app = create_app(config, session_factory=session_factory, live=live, join_tokens=tokens)
    return Site(app, tokens, world.oak_lesson_id, pupils)


@pytest.fixture
def site(config: Config, session_factory: sessionmaker[Session], world: World) -> Site:
    return _site(config, session_factory, world)


@pytest.fixture
def browser(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, follow_redirects=False) as client:
        yield client


def as_staff(client: TestClient, email: str) -> None:
    """Sign in as this member of staff, whoever was signed in before."""
    client.cookies.clear()
    sign_in(client, email)


def make_links(
    client: TestClient, world: World, *, delivery: str = "letters", **extra: str
) -> tuple[str, dict[str, str]]:
    """Staff make consent links for the class; the page's text and each parent's token."""
    response = client.post(
        "/admin/consent/links",
        data={
            "csrf_token": session_csrf(client),
            "class_group_id": str(world.kestrels_id),
            "delivery": delivery,
            **extra,
        },
    )
    assert response.status_code == 200, response.text
    tokens = {}
    for row in re.findall(
        r'<th scope="row">(.*?)</th>.*?<code class="email">(.*?)</code>',
        response.text,
        flags=re.DOTALL,
    ):
        name, url = row
        match = LINK.fullmatch(url)
        assert match is not None, url
        tokens[name] = match.group(1)
    return response.text, tokens


def choose(
    client: TestClient,
    token: str,
    pupil_id: int,
    choice: str,
    *,
    scope: str = "live_lessons",
    version: str | None = None,
) -> Any:
    page = client.get(f"/consent/{token}")
    assert page.status_code == 200, page.text
    fields = form_values(page.text, "/consent")
    data = {
        "csrf_token": fields["csrf_token"],
        "link": token,
        "pupil_id": str(pupil_id),
        "scope": scope,
        "choice": choice,
    }
    if choice == "give":
        data["text_version"] = version if version is not None else _shown_version(page.text)
    return client.post("/consent", data=data)


def _shown_version(html: str) -> str:
    found = re.search(r'name="text_version" value="([^"]*)"', html)
    assert found is not None, "no version offered on the page"
    return found.group(1)


def knock(ws: Any, token: str) -> None:
    ws.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})


def closed_code(ws: Any, limit: int = 20) -> int:
    """Read until the server closes the socket; its close code."""
    for _ in range(limit):
        try:
            ws.receive_json()
        except WebSocketDisconnect as closed:
            return int(closed.code)
    raise AssertionError("the socket stayed open")


def consents(session_factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with session_factory() as session:
        return [
            (c.pupil_id, c.parent_id, c.scope, c.text_version, c.given_at, c.withdrawn_at)
            for c in session.scalars(select(Consent).order_by(Consent.id))
        ]


def audit_actions(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- Consent changes who gets in --------------------------------------------------------------


def test_consent_given_withdrawn_and_a_new_version_change_who_the_door_lets_in(
    site: Site, browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_staff(browser, OAK_ADMIN)
    _, tokens = make_links(browser, world)
    assert set(tokens) == {"Alex Adams", "Chris Clark"}
    as_staff(browser, OAK_TEACHER)
    cara, amy = site.pupil_ids["Cara"], site.pupil_ids["Amy"]

    with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as staff:
        join(staff)
        # Withdrawn: turned away at the door.
        with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as ws:
            ws.send_json(
                {
                    "v": 1,
                    "type": "join",
                    "token": site.pupil_token("Cara"),
                    "reminder_accepted": True,
                }
            )
            assert receive(ws, "refused")["reason"] == "consent_withdrawn"

        # Her carer says yes on their consent page: she may wait now.
        answer = choose(browser, tokens["Chris Clark"], cara, "give")
        assert answer.status_code == 303
        with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as ws:
            join(ws, token=site.pupil_token("Cara"), reminder_accepted=True)
            view_until(ws, lambda v: v["you"]["presence"] == "waiting")
            view_until(staff, lambda v: [w["name"] for w in v["waiting"]] == ["Cara Clark"])

            # Withdrawn while she waits: she is out of the waiting room at once.
            assert choose(browser, tokens["Chris Clark"], cara, "withdraw").status_code == 303
            turned = view_until(staff, lambda v: v["waiting"] == [] and bool(v["turned_away"]))
            assert turned["turned_away"][-1]["reason"] == "consent_withdrawn"
            assert closed_code(ws) == 1000

        # A new version of the words: Amy's yes to the old one no longer lets her in.
        as_staff(browser, TRUST_ADMIN)
        published = browser.post(
            "/admin/consent-texts",
            data={
                "csrf_token": session_csrf(browser),
                "scope": "live_lessons",
                "version": "v2",
                "body": "New words.",
            },
        )
        assert published.status_code == 303
        with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as ws:
            ws.send_json(
                {
                    "v": 1,
                    "type": "join",
                    "token": site.pupil_token("Amy"),
                    "reminder_accepted": True,
                }
            )
            assert receive(ws, "refused")["reason"] == "consent_outdated"

        # Her parent agrees to the new words: she may wait again.
        page = browser.get(f"/consent/{tokens['Alex Adams']}")
        assert "New words." in page.text
        assert choose(browser, tokens["Alex Adams"], amy, "give", version="v2").status_code == 303
        with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as ws:
            join(ws, token=site.pupil_token("Amy"), reminder_accepted=True)
            view_until(ws, lambda v: v["you"]["presence"] == "waiting")

    actions = audit_actions(session_factory)
    assert actions.count("consent_given") == 2
    assert actions.count("consent_withdrawn") == 1
    assert actions.count("consent_text_published") == 1


def test_a_withdrawal_takes_a_pupil_out_of_the_room_too(
    site: Site, browser: TestClient, world: World
) -> None:
    as_staff(browser, OAK_ADMIN)
    _, tokens = make_links(browser, world)
    as_staff(browser, OAK_TEACHER)
    amy = site.pupil_ids["Amy"]
    with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as staff:
        join(staff)
        with browser.websocket_connect(site.lesson_url(), headers=ORIGIN) as ws:
            amy_pid = join(ws, token=site.pupil_token("Amy"), reminder_accepted=True)
            view_until(staff, lambda v: len(v["waiting"]) == 1)
            staff.send_json({"v": 1, "type": "admit", "target": amy_pid})
            view_until(ws, lambda v: v["you"]["presence"] == "admitted")

            assert choose(browser, tokens["Alex Adams"], amy, "withdraw").status_code == 303
            view_until(staff, lambda v: bool(v["turned_away"]))
            assert closed_code(ws) == 1000


# --- The parent's page ------------------------------------------------------------------------


def test_the_parent_page_explains_and_shows_only_their_own_children(
    browser: TestClient, world: World
) -> None:
    as_staff(browser, OAK_ADMIN)
    _, tokens = make_links(browser, world)
    page = browser.get(f"/consent/{tokens['Alex Adams']}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "What a live lesson is like" in page.text
    assert "The risks" in page.text
    assert "Amy Adams" in page.text
    assert "Cara" not in page.text
    assert "Ben Brown" not in page.text


def test_a_parents_link_cannot_reach_another_familys_child(
    browser: TestClient, site: Site, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_staff(browser, OAK_ADMIN)
    _, tokens = make_links(browser, world)
    before, audit_before = consents(session_factory), audit_actions(session_factory)
    for other in ("Cara", "Ben"):
        for choice in ("give", "withdraw"):
            answer = choose(
                browser, tokens["Alex Adams"], site.pupil_ids[other], choice, version="v1"
            )
            assert answer.status_code == 404
    assert consents(session_factory) == before
    assert audit_actions(session_factory) == audit_before


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"link": "not-a-token"}, 404, "This consent link does not work"),
        ({"link": "A" * 32}, 404, "This consent link does not work"),
        ({"pupil_id": "abc"}, 404, "find that page"),
        ({"pupil_id": ""}, 404, "find that page"),
        ({"scope": "everything"}, 400, "not one this page offers"),
        ({"choice": "maybe"}, 400, "not one this page offers"),
        ({"text_version": "v0"}, 409, "have just changed"),
        ({"csrf_token": "forged"}, 403, ""),
    ],
)
def test_bad_forms_get_a_plain_answer_and_change_nothing(
    browser: TestClient,
    site: Site,
    world: World,
    session_factory: sessionmaker[Session],
    change: dict[str, str],
    status: int,
    words: str,
) -> None:
    as_staff(browser, OAK_ADMIN)
    _, tokens = make_links(browser, world)
    token = tokens["Chris Clark"]
    page = browser.get(f"/consent/{token}")
    data = {
        "csrf_token": form_values(page.text, "/consent")["csrf_token"],
        "link": token,
        "pupil_id": str(site.pupil_ids["Cara"]),
        "scope": "live_lessons",
        "choice": "give",
        "text_version": "v1",
        **change,
    }
    before, audit_before = consents(session_factory), audit_actions(session_factory)
    answer = browser.post("/consent", data=data)
    assert answer.status_code == status
    assert words in answer.text
    assert consents(session_factory) == before
    assert audit_actions(session_factory) == audit_before


def test_a_stopped_or_unknown_link_opens_nothing(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_staff(browser, OAK_ADMIN)
    _, tokens = make_links(browser, world)
    _, again = make_links(browser, world, replace="1")  # every parent's old link stops
    assert browser.get(f"/consent/{tokens['Alex Adams']}").status_code == 404
    assert browser.get(f"/consent/{again['Alex Adams']}").status_code == 200
    assert browser.get("/consent/" + "x" * 500).status_code == 404
    with session_factory() as session:
        stored = {link.token_hash for link in session.scalars(select(ConsentLink))}
    token = again["Alex Adams"]
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


# --- Staff pages ---------------------------------------------------------------------------------


def test_staff_see_counts_and_who_is_missing_per_class(browser: TestClient, world: World) -> None:
    as_staff(browser, OAK_TEACHER)
    page = browser.get(f"/admin/classes/{world.kestrels_id}/consent")
    assert page.status_code == 200
    assert "1 can join live lessons; 2 cannot join yet" in page.text
    missing = page.text.split("Who cannot join live lessons yet")[1].split("Every pupil")[0]
    assert "Ben Brown" in missing
    assert "Cara Clark" in missing
    assert "Amy Adams" not in missing
    # A teacher sees coverage, but makes no links and sees no addresses.
    assert "/admin/consent/links" not in page.text
    assert PARENT_EMAIL not in page.text
    csv_answer = browser.get(f"/admin/classes/{world.kestrels_id}/consent.csv")
    assert csv_answer.status_code == 404
    assert (
        browser.post(
            "/admin/consent/links",
            data={
                "csrf_token": session_csrf(browser),
                "class_group_id": str(world.kestrels_id),
                "delivery": "letters",
            },
        ).status_code
        == 404
    )


def test_the_consent_register_exports_as_csv_with_formulas_made_harmless(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        ben = session.scalars(select(Pupil).where(Pupil.first_name == "Ben")).one()
        ben.first_name = '=HYPERLINK("http://evil.example")'
        session.commit()
    as_staff(browser, OAK_DSL)
    answer = browser.get(f"/admin/classes/{world.kestrels_id}/consent.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:6] == [
        "Pupil first name",
        "Pupil last name",
        "Class",
        "Year group",
        "Scope",
        "Status now",
    ]
    assert rows[0][6:] == [
        "Parent or carer",
        "Text version",
        "Given at",
        "Withdrawn at",
        "Withdrawn by",
    ]
    assert all(len(row) == len(rows[0]) for row in rows)
    body = [(r[0], r[4], r[5], r[6], r[7], bool(r[8]), bool(r[9])) for r in rows[1:]]
    # A cell a spreadsheet would run as a formula starts with an apostrophe instead.
    evil = '\'=HYPERLINK("http://evil.example")'
    assert body == [
        ("Amy", "Live lessons", "given", "Alex Adams", "v1", True, False),
        ("Amy", "Recording", "missing", "", "", False, False),
        (evil, "Live lessons", "missing", "", "", False, False),
        (evil, "Recording", "missing", "", "", False, False),
        ("Cara", "Live lessons", "withdrawn", "Chris Clark", "v1", True, True),
        ("Cara", "Recording", "missing", "", "", False, False),
    ]


def test_letters_are_a_pdf_with_each_parents_link_for_their_maker_only(
    browser: TestClient, world: World, config: Config, session_factory: sessionmaker[Session]
) -> None:
    as_staff(browser, OAK_ADMIN)
    page, tokens = make_links(browser, world)
    fields = form_values(page, "/admin/consent/letters")
    answer = browser.post("/admin/consent/letters", data=fields)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.content)).pages)
    flat = re.sub(r"\s+", "", text)
    for token in tokens.values():
        assert token in flat
    assert "Dear Alex Adams" in text
    # Someone else (even another admin) cannot make letters from the same tokens.
    as_staff(browser, OAK_DSL)
    fields["csrf_token"] = session_csrf(browser)
    refused = browser.post("/admin/consent/letters", data=fields)
    assert refused.status_code == 400


def test_without_a_mail_server_emails_wait_in_the_outbox_without_their_link(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_staff(browser, OAK_ADMIN)
    page, tokens = make_links(browser, world, delivery="email")
    assert "No mail server is set up" in page
    with session_factory() as session:
        messages = session.scalars(select(ConsentMessage)).all()
        assert [(m.to_address, m.state) for m in messages] == [
            (PARENT_EMAIL, ConsentMessageState.OUTBOX)
        ]
        body = messages[0].body
    assert tokens["Alex Adams"] not in body
    assert "[personal link" in body
    outbox = browser.get(f"/admin/schools/{world.oak_id}/consent-outbox")
    assert outbox.status_code == 200
    assert PARENT_EMAIL in outbox.text
    assert "your permission for live lessons" in outbox.text
    assert tokens["Alex Adams"] not in outbox.text
    as_staff(browser, OAK_TEACHER)
    assert browser.get(f"/admin/schools/{world.oak_id}/consent-outbox").status_code == 404


class _Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(  # noqa: N802 (aiosmtpd's name)
        self, server: SmtpServer, session: SmtpSession, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mail_server() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_with_a_mail_server_parents_get_an_email_whose_link_works(
    config: Config,
    session_factory: sessionmaker[Session],
    world: World,
    mail_server: tuple[int, _Inbox],
) -> None:
    port, inbox = mail_server
    mailing = replace(
        config,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="safeclass@oak.example",
        smtp_starttls=False,
    )
    site = _site(mailing, session_factory, world)
    with TestClient(site.app, follow_redirects=False) as client:
        as_staff(client, OAK_ADMIN)
        page, tokens = make_links(client, world, delivery="email")
        assert "Sent to" in page
        assert len(inbox.received) == 1
        recipients, mail = inbox.received[0]
        assert recipients == [PARENT_EMAIL]
        assert mail["From"] == "safeclass@oak.example"
        text = mail.get_payload(decode=True)
        assert isinstance(text, bytes)
        found = LINK.search(text.decode())
        assert found is not None
        assert found.group(1) == tokens["Alex Adams"]
        assert client.get(f"/consent/{found.group(1)}").status_code == 200
    with session_factory() as session:
        message = session.scalars(select(ConsentMessage)).one()
        assert message.state is ConsentMessageState.SENT
        assert found.group(1) not in message.body


def test_an_unreachable_mail_server_is_recorded_as_not_sent(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    mailing = replace(
        config,
        smtp_host="127.0.0.1",
        smtp_port=_free_port(),
        smtp_from="safeclass@oak.example",
        smtp_starttls=False,
    )
    site = _site(mailing, session_factory, world)
    with TestClient(site.app, follow_redirects=False) as client:
        as_staff(client, OAK_ADMIN)
        page, _ = make_links(client, world, delivery="email")
    assert "Not sent: The mail server 127.0.0.1" in page
    with session_factory() as session:
        message = session.scalars(select(ConsentMessage)).one()
        assert message.state is ConsentMessageState.FAILED
        assert "could not be used" in message.error
        failed = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "consent_message_failed")
        )
        assert failed == 1


def test_only_trust_admins_publish_new_words(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_staff(browser, OAK_ADMIN)
    assert browser.get("/admin/consent-texts").status_code == 404
    as_staff(browser, TRUST_ADMIN)
    page = browser.get("/admin/consent-texts")
    assert page.status_code == 200
    duplicate = browser.post(
        "/admin/consent-texts",
        data={
            "csrf_token": session_csrf(browser),
            "scope": "recording",
            "version": "v1",
            "body": "Again.",
        },
    )
    assert duplicate.status_code == 400
    assert "already a version" in duplicate.text
    assert "consent_text_published" not in audit_actions(session_factory)


def test_every_consent_form_without_its_token_is_refused(
    browser: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    as_staff(browser, TRUST_ADMIN)
    before = audit_actions(session_factory)
    for path in (
        "/consent",
        "/admin/consent/links",
        "/admin/consent/letters",
        "/admin/consent/revoke",
        "/admin/consent-texts",
    ):
        answer = browser.post(
            path, data={"class_group_id": str(world.kestrels_id), "delivery": "letters"}
        )
        assert answer.status_code == 403, path
    assert audit_actions(session_factory) == before


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"SAFECLASS_SMTP_HOST": "mail.example.org"}, "set SAFECLASS_SMTP_FROM"),
        ({"SAFECLASS_SMTP_FROM": "a@b.example"}, "without SAFECLASS_SMTP_HOST"),
        ({"SAFECLASS_SMTP_HOST": "bad host!", "SAFECLASS_SMTP_FROM": "a@b.example"}, "host name"),
        (
            {
                "SAFECLASS_SMTP_HOST": "mail.example.org",
                "SAFECLASS_SMTP_FROM": "a@b.example",
                "SAFECLASS_SMTP_USER": "u",
            },
            "or neither",
        ),
        (
            {
                "SAFECLASS_SMTP_HOST": "mail.example.org",
                "SAFECLASS_SMTP_FROM": "a@b.example",
                "SAFECLASS_SMTP_USER": "u",
                "SAFECLASS_SMTP_PASSWORD": "p",
                "SAFECLASS_SMTP_STARTTLS": "0",
            },
            "unencrypted",
        ),
        (
            {
                "SAFECLASS_SMTP_HOST": "mail.example.org",
                "SAFECLASS_SMTP_FROM": "a@b.example",
                "SAFECLASS_SMTP_PORT": "0",
            },
            "SAFECLASS_SMTP_PORT",
        ),
    ],
)
def test_mail_settings_that_cannot_work_are_refused_by_name(
    settings: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        Config.from_env({"SAFECLASS_MEDIA": "0", **settings})


def test_mail_settings_are_read_from_the_environment() -> None:
    config = Config.from_env(
        {
            "SAFECLASS_MEDIA": "0",
            "SAFECLASS_SMTP_HOST": "mail.example.org",
            "SAFECLASS_SMTP_PORT": "2525",
            "SAFECLASS_SMTP_FROM": "safeclass@oak.example",
            "SAFECLASS_SMTP_USER": "oak",
            "SAFECLASS_SMTP_PASSWORD": "secret",
        }
    )
    assert (config.smtp_host, config.smtp_port, config.smtp_from) == (
        "mail.example.org",
        2525,
        "safeclass@oak.example",
    )
    assert (config.smtp_user, config.smtp_starttls) == ("oak", True)
    assert "secret" not in repr(config)
    assert Config.from_env({"SAFECLASS_MEDIA": "0"}).smtp_host == ""
