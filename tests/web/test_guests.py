"""Named guests through the web: the "Guests" part of the lesson's page and its forms (with their
CSRF tokens), the page that shows a guest's link and passcode once, the page the link opens, the
reader the lesson's door uses, and a guest joining over the real lesson WebSocket with nothing but
the token from their link: waiting, let in by a teacher, and taken out when staff withdraw the
invitation."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect

from safeclass.actions.guests import (
    NAME_MISSING,
    NAME_NOT_PRINTABLE,
    NAME_TOO_LONG,
    NOT_YOURS_TO_INVITE,
    TURNED_OFF_BY_SCHOOL,
    invite_guest,
)
from safeclass.actions.join_links import Holder, LinkScope, issue_link
from safeclass.actions.live import LiveLessons
from safeclass.codes import ALPHABET, passcode_hmac, passcode_key
from safeclass.config import Config
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store.models import (
    AuditEntry,
    GuestInvitation,
    Lesson,
    Pupil,
    School,
    StaffMember,
)
from safeclass.web.app import create_app
from safeclass.web.context import WebContext
from safeclass.web.guest_reader import GuestInvitations
from safeclass.web.join_tokens import Entrant, FirstThatKnows
from safeclass.web.link_reader import DatabaseJoinLinks
from safeclass.web.pages.guests import INVITATION_DOES_NOT_WORK
from safeclass.web.pages.join_links import LANDING_HEADERS
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    OAK_ASSISTANT,
    OAK_TEACHER,
    World,
)
from tests.web.helpers import TestClient, form_values, sign_in

INVITE = "/admin/guests/invite"
WITHDRAW = "/admin/guests/withdraw"
EXPIRED_FORM = "This form has expired. Go back, reload the page and try again."
NOT_FOUND = "find that page"
ORIGIN = {"origin": "http://testserver"}
LINK_IN_PAGE = re.compile(r"http://testserver/guest/([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")
PASSCODE_IN_PAGE = re.compile(rf"\b([{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}})\b")


@pytest.fixture
def key(config: Config) -> bytes:
    """The passcodes' HMAC key, as the server derives it from its secret."""
    return passcode_key(config.secret_key())


@pytest.fixture
def now(session_factory: sessionmaker[Session], world: World) -> list[datetime]:
    """The clock every part of the app reads: an hour before the Oak lesson, with guests
    allowed at Oak."""
    with session_factory() as session:
        session.get_one(School, world.oak_id).policy_overrides = {"named_guests": True}
        session.commit()
        return [session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(hours=1)]


@pytest.fixture
def app(
    config: Config, session_factory: sessionmaker[Session], world: World, now: list[datetime]
) -> FastAPI:
    live = LiveLessons(session_factory, resume_key=b"k" * 32, clock=lambda: now[0])
    app = create_app(
        config,
        session_factory=session_factory,
        live=live,
        join_tokens=FirstThatKnows(
            DatabaseJoinLinks(clock=lambda: now[0]), GuestInvitations(clock=lambda: now[0])
        ),
    )
    context = app.state.safeclass
    assert isinstance(context, WebContext)
    context.now = lambda: now[0]
    return app


@pytest.fixture
def teacher(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, OAK_TEACHER)
        yield client


def lesson_url(world: World) -> str:
    return f"/admin/lessons/{world.oak_lesson_id}"


def count(session_factory: sessionmaker[Session], model: type[Any]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def written(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    """How many invitations and audit entries there are (signing in writes audit entries too)."""
    return count(session_factory, GuestInvitation), count(session_factory, AuditEntry)


def invite_form(client: TestClient, world: World) -> dict[str, str]:
    return form_values(client.get(lesson_url(world)).text, INVITE)


def invite_from_page(client: TestClient, world: World, name: str = "Dr Priya Shah") -> str:
    """Type a name into the lesson page's invite form and send it; the page shown once."""
    response = client.post(INVITE, data={**invite_form(client, world), "name": name})
    assert response.status_code == 200, response.text
    return str(response.text)


def token_in(page: str) -> str:
    tokens: set[str] = set(LINK_IN_PAGE.findall(page))
    assert len(tokens) == 1, tokens
    return tokens.pop()


def set_school_policy(
    session_factory: sessionmaker[Session], world: World, guests_allowed: bool
) -> None:
    with session_factory() as session:
        overrides = {"named_guests": True} if guests_allowed else {}
        session.get_one(School, world.oak_id).policy_overrides = overrides
        session.commit()


def staff_member(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


# --- The lesson's page ----------------------------------------------------------------------------


def test_the_lesson_page_says_when_the_schools_policy_turns_guests_off(
    teacher: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    set_school_policy(session_factory, world, guests_allowed=False)
    page = teacher.get(lesson_url(world)).text
    assert '<h2 id="guests-heading">Guests</h2>' in page
    assert TURNED_OFF_BY_SCHOOL.replace("'", "&#39;") in page
    assert f'action="{INVITE}"' not in page


def test_inviting_from_the_lesson_page_shows_the_link_and_passcode_once(
    teacher: TestClient, world: World, session_factory: sessionmaker[Session], key: bytes
) -> None:
    page = teacher.get(lesson_url(world)).text
    assert "Nobody has been invited." in page
    response = teacher.post(INVITE, data={**invite_form(teacher, world), "name": "Dr Priya Shah"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    shown_once = response.text
    token = token_in(shown_once)
    passcodes = set(PASSCODE_IN_PAGE.findall(shown_once))
    assert len(passcodes) == 1
    passcode = passcodes.pop()
    assert "This is the only time this link and passcode are shown." in shown_once
    assert "http://testserver/code" in shown_once
    # The email staff can paste: whom it is for, the link, the passcode, and the plain rules.
    email = shown_once.split('<textarea id="guest-email"', 1)[1].split("</textarea>", 1)[0]
    assert "Dear Dr Priya Shah," in email
    assert f"To join, open this link: http://testserver/guest/{token}" in email
    assert f"this passcode: {passcode}" in email
    assert "waiting room until a teacher lets you in" in email
    assert "keep this link and passcode private" in email
    assert "do not share personal information" in email

    with session_factory() as session:
        invitation = session.scalars(select(GuestInvitation)).one()
        assert invitation.display_name == "Dr Priya Shah"
        assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert invitation.passcode_hmac == passcode_hmac(key, passcode.replace("-", ""))

    listing = teacher.get(lesson_url(world)).text
    assert "Dr Priya Shah" in listing
    assert "Works until" in listing
    assert f'action="{WITHDRAW}"' in listing
    assert token not in listing
    assert passcode not in listing


def test_a_guests_name_is_shown_as_text_never_as_markup(teacher: TestClient, world: World) -> None:
    shown_once = invite_from_page(teacher, world, "<b>Bold</b> & Co")
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in shown_once
    assert "<b>Bold</b>" not in shown_once
    assert "<b>Bold</b>" not in teacher.get(lesson_url(world)).text


def test_the_lesson_page_shows_each_invitations_state(
    teacher: TestClient, world: World, session_factory: sessionmaker[Session], now: list[datetime]
) -> None:
    invite_from_page(teacher, world, "Still Coming")
    invite_from_page(teacher, world, "Withdrawn Guest")
    invite_from_page(teacher, world, "Expired Guest")
    with session_factory() as session:
        by_name = {i.display_name: i for i in session.scalars(select(GuestInvitation))}
        by_name["Withdrawn Guest"].revoked_at = now[0]
        by_name["Expired Guest"].expires_at = now[0] - timedelta(minutes=1)
        session.commit()
    page = teacher.get(lesson_url(world)).text
    rows = {
        name: re.search(rf"{name}</th>(.*?)</tr>", page, re.S).group(1)  # type: ignore[union-attr]
        for name in ("Still Coming", "Withdrawn Guest", "Expired Guest")
    }
    assert "Works until" in rows["Still Coming"]
    assert "Withdraw</button>" in rows["Still Coming"]
    assert "Withdrawn on" in rows["Withdrawn Guest"]
    assert "Withdraw</button>" not in rows["Withdrawn Guest"]
    assert "Ended on" in rows["Expired Guest"]
    assert "Withdraw</button>" not in rows["Expired Guest"]
    assert all("Tess Teacher" in row for row in rows.values())


# --- Refusals: nothing written, plain words -------------------------------------------------------


def test_the_invite_form_is_refused_while_the_policy_turns_guests_off(
    teacher: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    values = invite_form(teacher, world)
    set_school_policy(session_factory, world, guests_allowed=False)
    before = written(session_factory)
    response = teacher.post(INVITE, data={**values, "name": "Dr Priya Shah"})
    assert response.status_code == 400
    assert "Nobody was invited." in response.text
    assert "Guests are turned off by the school&#39;s policy" in response.text
    assert f'action="{INVITE}"' not in response.text
    assert written(session_factory) == before
    assert before[0] == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", NAME_MISSING),
        ("    ", NAME_MISSING),
        (None, NAME_MISSING),
        ("A" * 81, NAME_TOO_LONG),
        ("A" * 20_000, NAME_TOO_LONG),
        ("Ann\nSmith", NAME_NOT_PRINTABLE),
        ("Mr \u202ehtimS", NAME_NOT_PRINTABLE),
        ("Ann\x00", NAME_NOT_PRINTABLE),
    ],
)
def test_a_bad_name_is_refused_plainly_and_nothing_is_written(
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    name: str | None,
    message: str,
) -> None:
    values = invite_form(teacher, world)
    del values["name"]
    if name is not None:
        values["name"] = name
    before = written(session_factory)
    response = teacher.post(INVITE, data=values)
    assert response.status_code == 400
    assert message.replace("'", "&#39;") in response.text
    # The form again, to put the name right.
    again = form_values(response.text, INVITE)
    assert again["lesson_id"] == str(world.oak_lesson_id)
    assert len(again["name"]) <= 320
    assert written(session_factory) == before
    assert before[0] == 0


@pytest.mark.parametrize("lesson_id", [None, "", "abc", "0", "-1", "1.5", "9" * 30, "\u0661"])
def test_a_malformed_lesson_in_the_form_is_not_found(
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    lesson_id: str | None,
) -> None:
    values = invite_form(teacher, world)
    del values["lesson_id"]
    if lesson_id is not None:
        values["lesson_id"] = lesson_id
    before = written(session_factory)
    response = teacher.post(INVITE, data={**values, "name": "Dr Priya Shah"})
    assert response.status_code == 404
    assert NOT_FOUND in response.text
    assert written(session_factory) == before
    assert before[0] == 0


@pytest.mark.parametrize("invitation_id", [None, "", "abc", "0", "99999", "9" * 30])
def test_withdrawing_an_unknown_or_malformed_invitation_is_not_found(
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    invitation_id: str | None,
) -> None:
    invite_from_page(teacher, world)
    values = form_values(teacher.get(lesson_url(world)).text, WITHDRAW)
    del values["invitation_id"]
    if invitation_id is not None:
        values["invitation_id"] = invitation_id
    response = teacher.post(WITHDRAW, data=values)
    assert response.status_code == 404
    with session_factory() as session:
        assert session.scalars(select(GuestInvitation)).one().revoked_at is None


@pytest.mark.parametrize("path", [INVITE, WITHDRAW])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_every_guest_form_needs_the_sessions_token(
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    path: str,
    token: str | None,
) -> None:
    invite_from_page(teacher, world)
    with session_factory() as session:
        invitation_id = session.scalars(select(GuestInvitation.id)).one()
    audit_before = count(session_factory, AuditEntry)
    data = {
        "lesson_id": str(world.oak_lesson_id),
        "invitation_id": str(invitation_id),
        "name": "Someone Else",
    }
    if token is not None:
        data["csrf_token"] = token
    response = teacher.post(path, data=data)
    assert response.status_code == 403
    assert EXPIRED_FORM in response.text
    assert count(session_factory, GuestInvitation) == 1
    assert count(session_factory, AuditEntry) == audit_before
    with session_factory() as session:
        assert session.get_one(GuestInvitation, invitation_id).revoked_at is None


@pytest.mark.parametrize("email", [ELM_TEACHER, BIRCH_ADMIN])
def test_staff_of_another_school_can_neither_invite_nor_withdraw(
    app: FastAPI,
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    email: str,
) -> None:
    invite_from_page(teacher, world)
    with session_factory() as session:
        invitation_id = session.scalars(select(GuestInvitation.id)).one()
    with TestClient(app, follow_redirects=False) as other:
        sign_in(other, email)
        audit_before = count(session_factory, AuditEntry)
        assert other.get(lesson_url(world)).status_code == 404
        csrf = form_values(other.get("/admin").text, "/signout")["csrf_token"]
        response = other.post(
            INVITE,
            data={"csrf_token": csrf, "lesson_id": str(world.oak_lesson_id), "name": "Intruder"},
        )
        assert response.status_code == 404
        response = other.post(
            WITHDRAW, data={"csrf_token": csrf, "invitation_id": str(invitation_id)}
        )
        assert response.status_code == 404
    assert count(session_factory, GuestInvitation) == 1
    assert count(session_factory, AuditEntry) == audit_before
    with session_factory() as session:
        assert session.get_one(GuestInvitation, invitation_id).revoked_at is None


def test_a_teaching_assistant_sees_the_guests_and_may_withdraw_but_not_invite(
    app: FastAPI, teacher: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    invite_from_page(teacher, world)
    with TestClient(app, follow_redirects=False) as assistant:
        sign_in(assistant, OAK_ASSISTANT)
        page = assistant.get(lesson_url(world)).text
        assert "Dr Priya Shah" in page
        assert f'action="{INVITE}"' not in page
        assert "Only the lesson's teachers" in page
        csrf = form_values(page, WITHDRAW)["csrf_token"]
        response = assistant.post(
            INVITE,
            data={"csrf_token": csrf, "lesson_id": str(world.oak_lesson_id), "name": "Friend"},
        )
        assert response.status_code == 403
        assert NOT_YOURS_TO_INVITE.replace("'", "&#39;") in response.text
        assert count(session_factory, GuestInvitation) == 1

        response = assistant.post(WITHDRAW, data=form_values(page, WITHDRAW))
        assert response.status_code == 303
        assert response.headers["location"] == f"{lesson_url(world)}?guests=withdrawn#guests"
    with session_factory() as session:
        invitation = session.scalars(select(GuestInvitation)).one()
        assert invitation.revoked_by_staff_id == staff_member(session, OAK_ASSISTANT).id


def test_someone_not_signed_in_as_staff_cannot_invite(
    app: FastAPI,
    world: World,
    session_factory: sessionmaker[Session],
    now: list[datetime],
    key: bytes,
) -> None:
    """A pupil, say, who has opened their own join link: they have no staff session."""
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        amy = session.scalars(select(Pupil).where(Pupil.first_name == "Amy")).one()
        pupil_link = issue_link(
            session,
            LinkScope.for_lesson(lesson),
            Holder(amy),
            actor=staff_member(session, OAK_TEACHER),
            now=now[0],
            passcode_key=key,
        )
        session.commit()
    audit_before = count(session_factory, AuditEntry)
    with TestClient(app, follow_redirects=False) as pupil:
        assert pupil.get(f"/join/{pupil_link.token}").status_code == 200
        response = pupil.post(
            INVITE,
            data={"lesson_id": str(world.oak_lesson_id), "name": "My Friend", "csrf_token": "x"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/signin"
    assert count(session_factory, GuestInvitation) == 0
    assert count(session_factory, AuditEntry) == audit_before


# --- The page a guest's link opens ---------------------------------------------------------------


def test_a_guests_link_opens_a_page_about_their_lesson(teacher: TestClient, world: World) -> None:
    token = token_in(invite_from_page(teacher, world))
    with TestClient(teacher.app, follow_redirects=False) as guest:
        response = guest.get(f"/guest/{token}")
    assert response.status_code == 200
    for name, value in LANDING_HEADERS.items():
        assert response.headers[name.lower()] == value
    page = response.text
    assert "Welcome, Dr Priya Shah" in page
    assert "Tess Teacher has invited you to a live online lesson at Oak Primary" in page
    assert "Fractions together" in page
    assert "you wait in the waiting room until a teacher lets you in" in page
    assert "Keep it private" in page
    assert "Do not share personal information" in page


def test_a_guests_link_that_does_not_work_says_so_the_same_way(
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    now: list[datetime],
) -> None:
    withdrawn = token_in(invite_from_page(teacher, world, "Withdrawn Guest"))
    expired = token_in(invite_from_page(teacher, world, "Expired Guest"))
    turned_off = token_in(invite_from_page(teacher, world, "Guest Elsewhere"))
    with session_factory() as session:
        by_name = {i.display_name: i for i in session.scalars(select(GuestInvitation))}
        by_name["Withdrawn Guest"].revoked_at = now[0]
        by_name["Expired Guest"].expires_at = now[0]
        session.commit()
    bad = [withdrawn, expired, "A" * 32, "x" * 200, "not-a-token!", "%C3%A9", "%00", "%E2%80%AE"]
    with TestClient(teacher.app, follow_redirects=False) as guest:
        responses = [guest.get(f"/guest/{token}") for token in bad]
        set_school_policy(session_factory, world, guests_allowed=False)
        responses.append(guest.get(f"/guest/{turned_off}"))
    for response in responses:
        assert response.status_code == 404
        assert INVITATION_DOES_NOT_WORK in response.text
        for name, value in LANDING_HEADERS.items():
            assert response.headers[name.lower()] == value


# --- The reader the lesson's door asks -----------------------------------------------------------


def test_the_reader_knows_a_guest_only_for_their_own_lesson(
    session_factory: sessionmaker[Session], world: World, now: list[datetime], key: bytes
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        invited = invite_guest(
            session,
            lesson,
            "Dr Priya Shah",
            actor=staff_member(session, OAK_TEACHER),
            now=now[0],
            passcode_key=key,
        )
        amy = session.scalars(select(Pupil).where(Pupil.first_name == "Amy")).one()
        pupil_link = issue_link(
            session,
            LinkScope.for_lesson(lesson),
            Holder(amy),
            actor=staff_member(session, OAK_TEACHER),
            now=now[0],
            passcode_key=key,
        )
        session.commit()
        guest_id = invited.invitation.id
        reader = GuestInvitations(clock=lambda: now[0])
        assert reader.read(session, world.oak_lesson_id, invited.token) == Entrant(
            Person(Role.GUEST, str(guest_id)), Via.GUEST_INVITE, f"guest:{guest_id}"
        )
        assert reader.read(session, world.birch_lesson_id, invited.token) is None
        assert reader.read(session, 999_999, invited.token) is None
        assert reader.read(session, world.oak_lesson_id, pupil_link.token) is None
        assert reader.read(session, world.oak_lesson_id, "") is None
        # A pupil's link reader does not take a guest's token for a pupil's.
        links = DatabaseJoinLinks(clock=lambda: now[0])
        assert links.read(session, world.oak_lesson_id, invited.token) is None
        expired = GuestInvitations(clock=lambda: invited.invitation.expires_at)
        assert expired.read(session, world.oak_lesson_id, invited.token) is None


def test_the_server_asks_the_guest_reader_at_the_lesson_door(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    """The app as `safeclass serve` makes it: a guest's token is recognised with no test reader."""
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        token = "G" * 32
        session.add(
            GuestInvitation(
                school_id=world.oak_id,
                lesson_id=lesson.id,
                display_name="Dr Priya Shah",
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                created_at=datetime.now(lesson.starts_at.tzinfo),
                expires_at=datetime.now(lesson.starts_at.tzinfo) + timedelta(days=1),
            )
        )
        session.commit()
    app = create_app(config, session_factory=session_factory)
    context = app.state.safeclass
    assert isinstance(context, WebContext)
    with session_factory() as session:
        entrant = context.join_tokens.read(session, world.oak_lesson_id, token)
    assert entrant is not None
    assert entrant.person.role is Role.GUEST
    assert entrant.via is Via.GUEST_INVITE


# --- Over the real lesson WebSocket ---------------------------------------------------------------


def receive(ws: Any, kind: str, limit: int = 20) -> dict[str, Any]:
    """The next message of this type, skipping others."""
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def view_until(ws: Any, check: Any, limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        view: dict[str, Any] = receive(ws, "view")["view"]
        if check(view):
            return view
    raise AssertionError("the view never got there")


def closed(ws: Any, limit: int = 20) -> WebSocketDisconnect:
    """Read on until the server closes the connection; how it closed."""
    for _ in range(limit):
        try:
            ws.receive_json()
        except WebSocketDisconnect as disconnect:
            return disconnect
    raise AssertionError("the connection stayed open")


def test_a_guest_joins_from_their_link_waits_and_is_let_in_by_a_teacher(
    teacher: TestClient, world: World, now: list[datetime]
) -> None:
    token = token_in(invite_from_page(teacher, world))
    now[0] += timedelta(hours=1)  # the lesson starts
    url = f"/lessons/{world.oak_lesson_id}/live"
    with teacher.websocket_connect(url, headers=ORIGIN) as staff:
        staff.send_json({"v": 1, "type": "join"})
        receive(staff, "welcome")
        # The guest connects through the teacher's client (one event loop, as a real server
        # has); the token decides who they are, not the teacher's cookie.
        with teacher.websocket_connect(url, headers=ORIGIN) as guest:
            guest.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
            guest_pid = receive(guest, "welcome")["pid"]
            waiting = view_until(guest, lambda v: v["you"]["presence"] == "waiting")
            assert waiting["you"]["name"] == "Dr Priya Shah"
            assert waiting["you"]["role"] == "guest"
            assert waiting["in_room"] == []
            panel = view_until(staff, lambda v: len(v["waiting"]) == 1)["waiting"]
            assert [(w["name"], w["role"], w["pid"]) for w in panel] == [
                ("Dr Priya Shah", "guest", guest_pid)
            ]
            assert panel[0]["can_admit"] is True

            staff.send_json({"v": 1, "type": "admit", "target": guest_pid})
            view_until(guest, lambda v: v["you"]["presence"] == "admitted")
            in_room = view_until(staff, lambda v: len(v["in_room"]) == 2)["in_room"]
            assert {(p["name"], p["via"]) for p in in_room} == {
                ("Tess Teacher", "staff_sign_in"),
                ("Dr Priya Shah", "guest_invite"),
            }


def test_withdrawing_from_the_lesson_page_takes_the_guest_out_of_the_lesson(
    teacher: TestClient, world: World, now: list[datetime]
) -> None:
    token = token_in(invite_from_page(teacher, world))
    now[0] += timedelta(hours=1)
    url = f"/lessons/{world.oak_lesson_id}/live"
    with teacher.websocket_connect(url, headers=ORIGIN) as staff:
        staff.send_json({"v": 1, "type": "join"})
        receive(staff, "welcome")
        with teacher.websocket_connect(url, headers=ORIGIN) as guest:
            guest.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
            guest_pid = receive(guest, "welcome")["pid"]
            view_until(staff, lambda v: len(v["waiting"]) == 1)
            staff.send_json({"v": 1, "type": "admit", "target": guest_pid})
            view_until(guest, lambda v: v["you"]["presence"] == "admitted")

            page = teacher.get(lesson_url(world)).text
            response = teacher.post(WITHDRAW, data=form_values(page, WITHDRAW))
            assert response.status_code == 303
            assert response.headers["location"] == f"{lesson_url(world)}?guests=withdrawn#guests"

            gone = closed(guest)
            assert gone.code == 1000
            assert gone.reason == "You are no longer in this lesson."
            panel = view_until(staff, lambda v: bool(v["turned_away"]))
            assert [p["name"] for p in panel["in_room"]] == ["Tess Teacher"]
            assert [(t["name"], t["reason"]) for t in panel["turned_away"]] == [
                ("Dr Priya Shah", "not_invited")
            ]

        page = teacher.get(response.headers["location"]).text
        assert "That invitation has been withdrawn." in page
        assert "Withdrawn on" in page
        # The same link does not get them back in.
        with teacher.websocket_connect(url, headers=ORIGIN) as again:
            again.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
            assert receive(again, "error")["code"] == "not_recognised"
            assert closed(again).code == 1008


def test_withdrawn_expired_and_other_lessons_invitations_are_refused_at_the_door(
    teacher: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    now: list[datetime],
    key: bytes,
) -> None:
    withdrawn = token_in(invite_from_page(teacher, world, "Withdrawn Guest"))
    expired = token_in(invite_from_page(teacher, world, "Expired Guest"))
    with session_factory() as session:
        oak = session.get_one(Lesson, world.oak_lesson_id)
        other_lesson = Lesson(
            school_id=oak.school_id,
            class_group_id=oak.class_group_id,
            host_id=oak.host_id,
            title="Another lesson",
            starts_at=oak.starts_at,
            ends_at=oak.ends_at,
        )
        session.add(other_lesson)
        session.flush()
        elsewhere = invite_guest(
            session,
            other_lesson,
            "Guest Elsewhere",
            actor=staff_member(session, OAK_TEACHER),
            now=now[0],
            passcode_key=key,
        ).token
        by_name = {i.display_name: i for i in session.scalars(select(GuestInvitation))}
        by_name["Withdrawn Guest"].revoked_at = now[0]
        by_name["Expired Guest"].expires_at = now[0] + timedelta(minutes=30)
        session.commit()
    now[0] += timedelta(hours=1)
    url = f"/lessons/{world.oak_lesson_id}/live"
    for token in (withdrawn, expired, elsewhere):
        with teacher.websocket_connect(url, headers=ORIGIN) as guest:
            guest.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
            error = receive(guest, "error")
            assert error["code"] == "not_recognised"
            assert closed(guest).code == 1008


def test_the_door_turns_a_guest_away_when_the_school_has_turned_guests_off_since(
    teacher: TestClient, world: World, session_factory: sessionmaker[Session], now: list[datetime]
) -> None:
    token = token_in(invite_from_page(teacher, world))
    set_school_policy(session_factory, world, guests_allowed=False)
    now[0] += timedelta(hours=1)
    url = f"/lessons/{world.oak_lesson_id}/live"
    with teacher.websocket_connect(url, headers=ORIGIN) as guest:
        guest.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
        refused = receive(guest, "refused")
        assert refused["reason"] == "guests_not_allowed"
        assert refused["message"] == "Guests cannot join lessons at this school."
        assert closed(guest).code == 1008
