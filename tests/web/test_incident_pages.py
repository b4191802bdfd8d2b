"""Incidents through the real app: a removal in a real lesson (its WebSocket) opens an incident
holding the remove and the chat around it; the form the console opens after "remove" edits that
incident; the DSL's inbox shows only their school's; the exports parse; bad forms change
nothing; and the webhook reaches a real local receiver with a signature that verifies."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.incidents import CATEGORY_MISSING, DESCRIPTION_MISSING, NOTE_MISSING
from safeclass.actions.live import LiveLessons
from safeclass.config import Config
from safeclass.store.models import (
    AuditEntry,
    Incident,
    IncidentNote,
    IncidentState,
    Lesson,
    Pupil,
    WebhookDelivery,
)
from safeclass.web.app import create_app
from safeclass.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    IncidentWebhook,
    WebhookSettings,
    verify_signature,
)
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    World,
)
from tests.web.helpers import TestClient, form_values, session_csrf, sign_in
from tests.web.test_lesson_socket import (
    ORIGIN,
    KnownTokens,
    Lessons,
    _give_consent,
    in_class,
    join,
    receive,
    view_until,
)


def _lessons(
    config: Config,
    session_factory: sessionmaker[Session],
    world: World,
    webhook: IncidentWebhook | None = None,
) -> Lessons:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        now = [lesson.starts_at]
        _give_consent(session, world, "Ben")
        pupils = {
            p.first_name: p.id
            for p in session.scalars(select(Pupil).where(Pupil.school_id == world.oak_id))
        }
    tokens = KnownTokens()
    live = LiveLessons(session_factory, resume_key=b"k" * 32, clock=lambda: now[0])
    app = create_app(
        config,
        session_factory=session_factory,
        live=live,
        join_tokens=tokens,
        incident_webhook=webhook,
    )
    return Lessons(app, tokens, world.oak_lesson_id, pupils, now)


@pytest.fixture
def lessons(config: Config, session_factory: sessionmaker[Session], world: World) -> Lessons:
    return _lessons(config, session_factory, world)


@pytest.fixture
def teacher(lessons: Lessons) -> Iterator[TestClient]:
    with TestClient(lessons.app, follow_redirects=False) as client:
        sign_in(client, OAK_TEACHER)
        yield client


def client_for(lessons: Lessons, email: str) -> TestClient:
    client = TestClient(lessons.app, follow_redirects=False)
    sign_in(client, email)
    return client


def remove_amy_after_chat(lessons: Lessons, teacher: TestClient) -> str:
    """A lesson: Ben says hello, two hours pass, Amy is unkind, the teacher removes Amy."""
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        with (
            teacher.websocket_connect(lessons.url(), headers=ORIGIN) as amy,
            teacher.websocket_connect(lessons.url(), headers=ORIGIN) as ben,
        ):
            amy_pid = join(amy, token=lessons.token_for("Amy"), reminder_accepted=True)
            ben_pid = join(ben, token=lessons.token_for("Ben"), reminder_accepted=True)
            staff.send_json({"v": 1, "type": "admit", "target": amy_pid})
            staff.send_json({"v": 1, "type": "admit", "target": ben_pid})
            view_until(amy, in_class)
            view_until(ben, in_class)
            ben.send_json({"v": 1, "type": "chat", "to": "class", "text": "hello from hours ago"})
            receive(staff, "chat")
            lessons.now[0] += timedelta(hours=2)
            amy.send_json({"v": 1, "type": "chat", "to": "class", "text": "Ben is an idiot"})
            receive(staff, "chat")
            lessons.now[0] += timedelta(minutes=1)
            staff.send_json(
                {"v": 1, "type": "remove", "target": amy_pid, "reason": "Unkind to Ben"}
            )
            view_until(staff, lambda v: all(p["pid"] != amy_pid for p in v["in_room"]))
    return amy_pid


def incident_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Incident)) or 0


def test_a_removal_in_a_real_lesson_opens_an_incident_with_its_own_timeline(
    lessons: Lessons, teacher: TestClient, session_factory: sessionmaker[Session]
) -> None:
    amy_pid = remove_amy_after_chat(lessons, teacher)
    # Nobody filled anything in: the server opened it from the removal by itself.
    with session_factory() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.about_pid == amy_pid
        assert incident.about_name == "Amy Adams"
        assert incident.reported_by_name == "Tess Teacher"
        assert [line["text"] for line in incident.chat] == ["Ben is an idiot"]
        timeline = [entry["text"] for entry in incident.timeline]
        assert 'Tess Teacher removed Amy Adams from the lesson. Reason given: "Unkind to Ben"' in (
            timeline
        )
        assert not any("hours ago" in text for text in timeline)

    # The page the console opens after "remove" edits that incident, filled in.
    page = teacher.get(f"/admin/lessons/{lessons.lesson_id}/incidents/new?about={amy_pid}")
    assert page.status_code == 200
    action = "/admin/incidents/edit"
    values = form_values(page.text, action)
    assert values["actions_taken"] == "Removed from the lesson."
    assert "Unkind to Ben" in values["description"]
    assert values["people_involved"] == "Amy Adams"
    assert "Ben is an idiot" in page.text
    assert "removed Amy Adams from the lesson" in page.text
    assert "hello from hours ago" not in page.text

    values.update(category="behaviour", description="Amy called Ben names in the chat.")
    saved = teacher.post(action, data=values)
    assert saved.status_code == 303
    assert incident_count(session_factory) == 1
    with session_factory() as session:
        edited = session.get_one(Incident, incident.id)
        assert edited.category == "behaviour"
        assert edited.description == "Amy called Ben names in the chat."
    edit_page = teacher.get(f"/admin/incidents/{incident.id}/edit")
    assert form_values(edit_page.text, action)["category"] == "behaviour"

    # A plain report without `about` is a new incident, with the same timeline attached.
    new_page = teacher.get(f"/admin/lessons/{lessons.lesson_id}/incidents/new")
    report = form_values(new_page.text, "/admin/incidents/report")
    report.update(category="wellbeing", description="Ben seemed upset afterwards.")
    assert teacher.post("/admin/incidents/report", data=report).is_redirect
    assert incident_count(session_factory) == 2


def test_the_dsl_sees_their_schools_incidents_exports_them_and_others_see_nothing(
    lessons: Lessons, teacher: TestClient, session_factory: sessionmaker[Session]
) -> None:
    remove_amy_after_chat(lessons, teacher)
    with session_factory() as session:
        incident_id = session.scalars(select(Incident.id)).one()

    with client_for(lessons, OAK_DSL) as dsl:
        inbox = dsl.get("/admin/incidents")
        assert f"/admin/incidents/{incident_id}" in inbox.text
        exported = dsl.get("/admin/incidents.csv")
        assert exported.status_code == 200
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][0] == "Incident"
        assert len(rows) == 2
        assert rows[1][0] == str(incident_id)
        assert rows[1][1] == "Oak Primary"
        assert rows[1][8] == "Amy Adams"
        assert rows[1][7] == "New"

        pdf = dsl.get(f"/admin/incidents/{incident_id}/report.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Safeguarding incident report" in text
        assert "Amy Adams" in text
        assert "Ben is an idiot" in text
        assert "hours ago" not in text

        csrf = session_csrf(dsl)
        moved = dsl.post(
            "/admin/incidents/state",
            data={"csrf_token": csrf, "incident_id": str(incident_id), "state": "in_review"},
        )
        assert moved.status_code == 303
        noted = dsl.post(
            "/admin/incidents/notes",
            data={
                "csrf_token": csrf,
                "incident_id": str(incident_id),
                "note": "Called Amy's parent.",
            },
        )
        assert noted.status_code == 303
        page = dsl.get(f"/admin/incidents/{incident_id}")
        assert "Called Amy&#39;s parent." in page.text
        assert "Dana Lead" in page.text

    # The teacher who removed sees it (no exports, no state); the others see nothing at all.
    assert teacher.get(f"/admin/incidents/{incident_id}").status_code == 200
    assert teacher.get("/admin/incidents.csv").status_code == 404
    assert teacher.get(f"/admin/incidents/{incident_id}/report.pdf").status_code == 404
    for email in (OAK_ASSISTANT, OAK_ADMIN, ELM_TEACHER, BIRCH_ADMIN):
        with client_for(lessons, email) as other:
            assert other.get(f"/admin/incidents/{incident_id}").status_code == 404
            assert f"/admin/incidents/{incident_id}" not in other.get("/admin/incidents").text
    with session_factory() as session:
        exports = session.scalars(
            select(AuditEntry.data).where(AuditEntry.action == "incidents_exported")
        ).all()
        assert [entry["format"] for entry in exports] == ["csv", "pdf"]
        assert session.get_one(Incident, incident_id).state is IncidentState.IN_REVIEW


def test_bad_forms_get_clear_errors_and_change_nothing(
    lessons: Lessons, teacher: TestClient, session_factory: sessionmaker[Session]
) -> None:
    url = "/admin/incidents/report"
    lesson = str(lessons.lesson_id)
    csrf = session_csrf(teacher)
    refused = teacher.post(
        url,
        data={"csrf_token": csrf, "lesson_id": lesson, "category": "made-up", "description": "  "},
    )
    assert refused.status_code == 400
    assert CATEGORY_MISSING in refused.text
    assert DESCRIPTION_MISSING in refused.text
    assert incident_count(session_factory) == 0

    no_token = teacher.post(
        url, data={"lesson_id": lesson, "category": "behaviour", "description": "x"}
    )
    assert no_token.status_code == 403
    assert incident_count(session_factory) == 0

    made = teacher.post(
        url,
        data={
            "csrf_token": csrf,
            "lesson_id": lesson,
            "category": "behaviour",
            "description": "Shouting",
        },
    )
    incident_id = int(made.headers["location"].split("/")[3].split("?")[0])
    # Another school's lesson is "not found", and nothing is made.
    assert (
        teacher.post(
            url,
            data={
                "csrf_token": csrf,
                "lesson_id": "999999",
                "category": "other",
                "description": "x",
            },
        ).status_code
        == 404
    )
    with session_factory() as session:
        audits = session.scalar(select(func.count()).select_from(AuditEntry)) or 0

    ident = str(incident_id)
    blank_note = teacher.post(
        "/admin/incidents/notes", data={"csrf_token": csrf, "incident_id": ident, "note": " "}
    )
    assert blank_note.status_code == 400
    assert NOTE_MISSING in blank_note.text
    not_dsl = teacher.post(
        "/admin/incidents/state",
        data={"csrf_token": csrf, "incident_id": ident, "state": "closed"},
    )
    assert not_dsl.status_code == 400
    bad_edit = teacher.post(
        "/admin/incidents/edit",
        data={
            "csrf_token": csrf,
            "incident_id": ident,
            "category": "behaviour",
            "description": "x" * 5001,
        },
    )
    assert bad_edit.status_code == 400
    assert "at most 5000 characters" in bad_edit.text
    assert teacher.get("/admin/incidents?state=lost").status_code == 404
    assert teacher.get(
        f"/admin/lessons/{lessons.lesson_id}/incidents/new?about=p1"
    ).status_code == (200)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits
        assert session.scalar(select(func.count()).select_from(IncidentNote)) == 0
        incident = session.get_one(Incident, incident_id)
        assert incident.state is IncidentState.NEW
        assert incident.description == "Shouting"


class Receiver:
    """A real HTTP server on this machine standing in for the school's safeguarding system: it
    answers 500 to its first message (so the retry is proven), then 204."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.failures_left = 1
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures_left:
                    receiver.failures_left -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/safeguarding"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_webhook_reaches_a_real_receiver_signed_and_after_a_retry(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    secret = b"a-shared-secret-of-at-least-32-chars!"
    with Receiver() as receiver:
        webhook = IncidentWebhook(
            session_factory,
            WebhookSettings(receiver.url, secret),
            retry_delays=(timedelta(0),),
            poll_seconds=0.05,
        )
        lessons = _lessons(config, session_factory, world, webhook)
        with TestClient(lessons.app, follow_redirects=False) as teacher:
            sign_in(teacher, OAK_TEACHER)
            amy_pid = remove_amy_after_chat(lessons, teacher)
            assert receiver.arrived.wait(10), "the safeguarding system got nothing"
    [(headers, body)] = receiver.received
    assert verify_signature(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(
        b"x" * 32, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
    )
    assert not verify_signature(
        secret, headers[TIMESTAMP_HEADER], body + b" ", headers[SIGNATURE_HEADER]
    )
    message = json.loads(body)
    assert message["event"] == "incident.opened"
    assert message["incident"]["source"] == "removal"
    assert message["incident"]["pupils"] == [{"mis_id": "OAK-1"}]
    # No names, no words of the incident, no chat.
    for private in ("Amy", "Adams", "idiot", "Unkind", amy_pid):
        assert private not in body.decode()
    with session_factory() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.attempts == 2
        assert delivery.delivered_at is not None
        assert delivery.last_error == ""

    # A member of staff who looks after the school sees how messages are getting on.
    with client_for(lessons, OAK_ADMIN) as admin:
        page = admin.get("/admin/incidents-webhook")
        assert page.status_code == 200
        assert "Delivered" in page.text
