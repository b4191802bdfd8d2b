"""Practice rooms through the web: who may open one and see it, the practice door (simulated pupils
into practice lessons only, nobody else into them), that practice rooms leave no trace in the
school's lessons and counts, and that without a media server the simulated pupils still knock,
chat and raise their hands (a real server, a real WebSocket)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import connect

from safeclass.actions.incidents import CATEGORIES
from safeclass.actions.live import LiveLessons
from safeclass.actions.practice import (
    PRACTICE_DURATION,
    OpenedPracticeRoom,
    finish_practice_room,
    open_practice_room,
)
from safeclass.config import Config
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.media.practice_pupils import FLAGGED_LINE, Behaviour, PracticeRooms
from safeclass.store import event_log
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    Incident,
    Lesson,
    PracticePupil,
    School,
    StaffMember,
)
from safeclass.web.app import create_app
from safeclass.web.join_tokens import Entrant
from safeclass.web.practice_reader import PracticeDoor, SimulatedPupilTokens
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
)
from tests.web.helpers import PASSWORD, TestClient, form_values, sign_in
from tests.web.test_lesson_server import Server

PRACTICE = "/admin/practice"
EXPIRED_FORM = "This form has expired. Go back, reload the page and try again."


class RecordedRooms(PracticeRooms):
    """The real supervisor's interface, recording what the pages ask of it (the bots themselves
    are proved in tests/media/test_practice_room.py and below, without media)."""

    def __init__(self, live: LiveLessons) -> None:
        super().__init__(live, media=False)
        self.started: list[tuple[int, str, str]] = []
        self.stopped: list[int] = []

    async def start(self, room: OpenedPracticeRoom, *, url: str, origin: str) -> None:
        self.started.append((room.lesson_id, url, origin))

    async def stop(self, lesson_id: int, why: str) -> bool:
        self.stopped.append(lesson_id)
        return True


@pytest.fixture
def rooms(session_factory: sessionmaker[Session]) -> RecordedRooms:
    return RecordedRooms(LiveLessons(session_factory, resume_key=b"k" * 32))


@pytest.fixture
def practice_app(
    config: Config, session_factory: sessionmaker[Session], world: World, rooms: RecordedRooms
) -> FastAPI:
    return create_app(config, session_factory=session_factory, practice_rooms=rooms)


@pytest.fixture
def browser(practice_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(practice_app, follow_redirects=False) as client:
        yield client


def signed_in(browser: TestClient, email: str) -> TestClient:
    sign_in(browser, email)
    return browser


def open_form(client: TestClient) -> dict[str, str]:
    values = form_values(client.get(PRACTICE).text, PRACTICE)
    # A browser sends a checkbox only when ticked; none are ticked unless a test says so.
    return {
        name: value
        for name, value in values.items()
        if not name.startswith("colleague_") and name != "one_without_permission"
    }


def count(factory: sessionmaker[Session], model: type[Any]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def staff_id(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        return session.scalars(select(StaffMember.id).where(StaffMember.email == email)).one()


def open_from_page(client: TestClient, **extra: str) -> int:
    response = client.post(PRACTICE, data={**open_form(client), "pupils": "3", **extra})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{PRACTICE}/")
    return int(location.rsplit("/", 1)[1])


# --- Opening -------------------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(browser: TestClient) -> None:
    for response in (
        browser.get(PRACTICE),
        browser.get(f"{PRACTICE}/1"),
    ):
        assert response.status_code == 303
        assert response.headers["location"] == "/signin"


def test_the_practice_page_offers_the_schools_one_works_at_and_their_colleagues(
    browser: TestClient, world: World
) -> None:
    page = signed_in(browser, OAK_TEACHER).get(PRACTICE).text

    assert "Open a practice room" in page
    assert f'name="school_id" value="{world.oak_id}"' in page
    assert "Tariq Assistant" in page  # a colleague at Oak
    assert "Dana Lead" in page
    assert "Eli Elm" not in page  # another school's teacher
    assert "Fran Former" not in page  # switched off
    assert page.count('name="school_id"') == 1


def test_a_trust_admin_without_a_role_at_a_school_cannot_open_one(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    client = signed_in(browser, TRUST_ADMIN)
    assert "You need a role at a school" in client.get(PRACTICE).text
    csrf = form_values(client.get(PRACTICE).text, "/signout")["csrf_token"]

    response = client.post(
        PRACTICE, data={"csrf_token": csrf, "school_id": str(world.oak_id), "pupils": "2"}
    )

    assert response.status_code == 400
    assert "does not work at Oak Primary" in response.text
    assert count(session_factory, Lesson) == 2


@pytest.mark.parametrize("email", [ELM_TEACHER, BIRCH_ADMIN])
def test_staff_who_cannot_see_a_school_cannot_open_a_practice_room_there(
    browser: TestClient, world: World, session_factory: sessionmaker[Session], email: str
) -> None:
    client = signed_in(browser, email)
    csrf = form_values(client.get("/admin").text, "/signout")["csrf_token"]

    response = client.post(
        PRACTICE, data={"csrf_token": csrf, "school_id": str(world.oak_id), "pupils": "2"}
    )

    assert response.status_code == 404
    assert count(session_factory, Lesson) == 2


def test_opening_needs_the_sessions_token(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    client = signed_in(browser, OAK_TEACHER)
    audit_before = count(session_factory, AuditEntry)

    response = client.post(PRACTICE, data={"school_id": str(world.oak_id), "pupils": "2"})

    assert response.status_code == 403
    assert EXPIRED_FORM in response.text
    assert count(session_factory, Lesson) == 2
    assert count(session_factory, AuditEntry) == audit_before


@pytest.mark.parametrize("pupils", ["0", "9", "three", "", "-2", "4.5"])
def test_a_bad_number_of_pupils_is_answered_plainly_and_changes_nothing(
    browser: TestClient, session_factory: sessionmaker[Session], rooms: RecordedRooms, pupils: str
) -> None:
    client = signed_in(browser, OAK_TEACHER)

    response = client.post(PRACTICE, data={**open_form(client), "pupils": pupils})

    assert response.status_code == 400
    assert "Choose between 1 and 8 simulated pupils." in response.text
    assert count(session_factory, Lesson) == 2
    assert rooms.started == []


def test_opening_a_room_starts_its_pupils_and_invites_only_colleagues_of_the_school(
    browser: TestClient, world: World, session_factory: sessionmaker[Session], rooms: RecordedRooms
) -> None:
    client = signed_in(browser, OAK_TEACHER)
    assistant = staff_id(session_factory, OAK_ASSISTANT)
    elm = staff_id(session_factory, ELM_TEACHER)

    lesson_id = open_from_page(
        client,
        **{
            f"colleague_{assistant}": "1",
            f"colleague_{elm}": "1",  # not offered: ignored
            "one_without_permission": "1",
        },
    )

    # The pupils go to the lesson's door on the socket this request came in on.
    assert rooms.started == [
        (lesson_id, f"ws://testserver/lessons/{lesson_id}/live", "http://testserver")
    ]
    with session_factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        assert lesson.practice
        assert [member.staff_id for member in lesson.other_staff] == [assistant]
        pupils = session.scalars(
            select(PracticePupil).where(PracticePupil.lesson_id == lesson_id)
        ).all()
        assert [pupil.consent_ok for pupil in pupils] == [True, True, False]
    page = client.get(f"{PRACTICE}/{lesson_id}").text
    assert f'href="/admin/lessons/{lesson_id}/live"' in page
    assert "Practice only." in page
    assert "no permission from a parent" in page
    lesson_page = client.get(f"/admin/lessons/{lesson_id}").text
    assert "A practice room." in lesson_page
    # Nothing that would let a real person in: no join links, no code to type, no guests.
    for section in ("join-links", 'id="code-to-type"', 'id="guests"', "Who can join"):
        assert section not in lesson_page, section
    assert "Who can join" in client.get(f"/admin/lessons/{world.oak_lesson_id}").text
    # The normal lesson console opens it.
    assert client.get(f"/admin/lessons/{lesson_id}/live").status_code == 200


def test_a_rooms_page_is_for_its_host_and_invited_colleagues_only(
    practice_app: FastAPI, world: World, session_factory: sessionmaker[Session]
) -> None:
    # One browser each, all on the one running app (entering a client's context would start the
    # app again, and a starting app stops the practice rooms left open).
    host = TestClient(practice_app, follow_redirects=False)
    sign_in(host, OAK_TEACHER)
    lesson_id = open_from_page(
        host, **{f"colleague_{staff_id(session_factory, OAK_ASSISTANT)}": "1"}
    )
    # Nobody reaches a real lesson through the practice pages, not even its host.
    assert host.get(f"{PRACTICE}/{world.oak_lesson_id}").status_code == 404
    colleague = TestClient(practice_app, follow_redirects=False)
    sign_in(colleague, OAK_ASSISTANT)
    assert colleague.get(f"{PRACTICE}/{lesson_id}").status_code == 200
    assert f'href="{PRACTICE}/{lesson_id}"' in colleague.get(PRACTICE).text
    for email in (OAK_DSL, ELM_TEACHER, BIRCH_ADMIN, TRUST_ADMIN):
        other = TestClient(practice_app, follow_redirects=False)
        sign_in(other, email)
        assert other.get(f"{PRACTICE}/{lesson_id}").status_code == 404, email
        csrf = form_values(other.get("/admin").text, "/signout")["csrf_token"]
        stop = other.post(
            f"{PRACTICE}/stop", data={"csrf_token": csrf, "lesson_id": str(lesson_id)}
        )
        assert stop.status_code == 404, email
    with session_factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        assert lesson.ends_at - lesson.starts_at == PRACTICE_DURATION  # nobody else stopped it


def test_starting_the_server_stops_practice_rooms_left_open(
    practice_app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    client = TestClient(practice_app, follow_redirects=False)
    sign_in(client, OAK_TEACHER)
    lesson_id = open_from_page(client)

    with TestClient(practice_app):  # the app starts (again)
        pass

    with session_factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        assert lesson.ends_at - lesson.starts_at < PRACTICE_DURATION
        stops = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "practice_room_stopped")
        ).all()
        assert [entry.data["why"] for entry in stops] == ["the server restarted"]


def test_stopping_a_room_stops_its_pupils_and_ends_its_booking(
    browser: TestClient, session_factory: sessionmaker[Session], rooms: RecordedRooms
) -> None:
    client = signed_in(browser, OAK_TEACHER)
    lesson_id = open_from_page(client)
    form = form_values(client.get(f"{PRACTICE}/{lesson_id}").text, f"{PRACTICE}/stop")

    response = client.post(f"{PRACTICE}/stop", data=form)

    assert response.status_code == 303
    assert rooms.stopped == [lesson_id]
    page = client.get(f"{PRACTICE}/{lesson_id}").text
    assert "This practice room has ended." in page
    # Another can be opened now.
    assert open_from_page(client) != lesson_id


def test_practice_rooms_are_not_among_the_schools_lessons_classes_or_counts(
    browser: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    client = signed_in(browser, OAK_TEACHER)
    home_before = client.get("/admin").text
    school_before = client.get(f"/admin/schools/{world.oak_id}").text

    open_from_page(client)

    with session_factory() as session:
        practice_class = session.scalars(
            select(ClassGroup).where(ClassGroup.practice.is_(True))
        ).one()
    assert client.get("/admin").text == home_before
    school_page = client.get(f"/admin/schools/{world.oak_id}").text
    assert school_page == school_before
    assert practice_class.name not in school_page
    assert "Practice room" not in school_page


# --- The door ------------------------------------------------------------------------------------


@dataclass
class AskedReader:
    name: str
    asked: list[int] = field(default_factory=list)

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        self.asked.append(lesson_id)
        return Entrant(Person(Role.PUPIL, "1"), Via.PUPIL_LINK, self.name)


def open_directly(factory: sessionmaker[Session], world: World) -> OpenedPracticeRoom:
    with factory() as session:
        teacher = session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()
        opened = open_practice_room(
            session,
            school=session.get_one(School, world.oak_id),
            host=teacher,
            pupils=2,
            now=session.get_one(Lesson, world.oak_lesson_id).starts_at,
        )
        session.commit()
        return opened


def test_the_door_asks_only_the_practice_reader_for_practice_lessons_and_only_the_real_ones_else(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_directly(session_factory, world)
    real, practice = AskedReader("real"), AskedReader("practice")
    door = PracticeDoor(real, practice)

    with session_factory() as session:
        into_practice = door.read(session, opened.lesson_id, "any-token")
        into_real = door.read(session, world.oak_lesson_id, "any-token")
        door.read(session, 999_999, "any-token")

    assert into_practice is not None
    assert into_practice.device == "practice"
    assert into_real is not None
    assert into_real.device == "real"
    assert real.asked == [world.oak_lesson_id, 999_999]
    assert practice.asked == [opened.lesson_id]


def test_a_simulated_pupils_token_opens_its_own_practice_lesson_and_nothing_else(
    session_factory: sessionmaker[Session], world: World
) -> None:
    opened = open_directly(session_factory, world)
    other = open_directly_for(session_factory, world, OAK_ASSISTANT)
    tokens = SimulatedPupilTokens()
    pupil = opened.pupils[0]

    with session_factory() as session:
        entrant = tokens.read(session, opened.lesson_id, pupil.token)
        assert entrant is not None
        assert entrant.person == Person(Role.PUPIL, pupil.person_id)
        assert entrant.via is Via.PUPIL_LINK
        assert tokens.read(session, world.oak_lesson_id, pupil.token) is None
        assert tokens.read(session, other.lesson_id, pupil.token) is None
        assert tokens.read(session, opened.lesson_id, "not-a-token") is None
        assert tokens.read(session, opened.lesson_id, "x" * 500) is None
        # Even a simulated pupil's row that somehow names a real lesson opens nothing.
        row = session.scalars(
            select(PracticePupil).where(PracticePupil.lesson_id == opened.lesson_id)
        ).first()
        assert row is not None
        row.lesson_id = world.oak_lesson_id
        session.flush()
        assert tokens.read(session, world.oak_lesson_id, pupil.token) is None
        session.rollback()


def open_directly_for(
    factory: sessionmaker[Session], world: World, email: str
) -> OpenedPracticeRoom:
    with factory() as session:
        host = session.scalars(select(StaffMember).where(StaffMember.email == email)).one()
        opened = open_practice_room(
            session,
            school=session.get_one(School, world.oak_id),
            host=host,
            pupils=1,
            now=session.get_one(Lesson, world.oak_lesson_id).starts_at,
        )
        session.commit()
        return opened


def test_the_servers_door_refuses_a_real_pupils_link_at_a_practice_lesson(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    """The app's own door (links, typed codes, guests) never recognises anyone for a practice
    lesson, whichever reader the app is given."""
    opened = open_directly(session_factory, world)
    always = AskedReader("a real pupil's link")
    app = create_app(config, session_factory=session_factory, join_tokens=always)
    door = app.state.safeclass.join_tokens
    with session_factory() as session:
        assert door.read(session, opened.lesson_id, "a-real-pupils-token") is None
        assert door.read(session, world.oak_lesson_id, "a-real-pupils-token") is not None
        assert door.read(session, opened.lesson_id, opened.pupils[0].token) is not None
        assert door.read(session, world.oak_lesson_id, opened.pupils[0].token) is not None
    # The real reader was asked about the real lesson only.
    assert always.asked == [world.oak_lesson_id, world.oak_lesson_id]


# --- Without a media server, for real -------------------------------------------------------------

WAIT = 15.0
LIVELY = Behaviour(knock_gap=0.1, act_every=(0.2, 0.4), flagged_after=0.5, speak_for=1.0)


def test_without_media_simulated_pupils_knock_chat_raise_hands_and_stop_when_staff_go(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    live = LiveLessons(session_factory, resume_key=b"k" * 32)
    rooms = PracticeRooms(
        live,
        media=False,
        on_over=functools.partial(finish_practice_room, session_factory, live),
        behaviour=LIVELY,
        staff_away_limit=1.0,
    )
    app = create_app(config, session_factory=session_factory, live=live, practice_rooms=rooms)
    with Server(app) as server:
        with httpx.Client(base_url=server.origin, follow_redirects=False) as http:
            page = http.get("/signin")
            http.post(
                "/signin",
                data={
                    "email": OAK_TEACHER,
                    "password": PASSWORD,
                    "csrf_token": form_values(page.text, "/signin")["csrf_token"],
                },
                headers={"origin": server.origin},
            )
            form = form_values(http.get(PRACTICE).text, PRACTICE)
            opened = http.post(
                PRACTICE,
                data={
                    "csrf_token": form["csrf_token"],
                    "school_id": form["school_id"],
                    "pupils": "2",
                },
                headers={"origin": server.origin},
            )
            assert opened.status_code == 303, opened.text
            lesson_id = int(opened.headers["location"].rsplit("/", 1)[1])
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        seen: dict[str, Any] = {"chat": [], "alerts": [], "hands": set()}
        with connect(
            f"ws://127.0.0.1:{server.port}/lessons/{lesson_id}/live",
            origin=server.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
            open_timeout=WAIT,
        ) as ws:
            ws.send(json.dumps({"v": 1, "type": "join"}))
            admitted: set[str] = set()
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=WAIT))
                if message["type"] == "view":
                    view = message["view"]
                    for waiting in view.get("waiting", []):
                        if waiting["pid"] not in admitted:
                            admitted.add(waiting["pid"])
                            ws.send(json.dumps({"v": 1, "type": "admit", "target": waiting["pid"]}))
                    for person in view.get("in_room", []):
                        if person.get("hand_raised") or person.get("wants_to_speak"):
                            seen["hands"].add(person["pid"])
                elif message["type"] == "chat":
                    seen["chat"].append(message["message"])
                elif message["type"] == "chat_alert":
                    seen["alerts"].append(message["alert"])
                if seen["chat"] and seen["alerts"] and seen["hands"]:
                    break
            # The teacher goes and does not come back: the pupils stop soon after.
            ws.send(json.dumps({"v": 1, "type": "leave"}))
            deadline = time.monotonic() + WAIT
            while rooms.running(lesson_id) and time.monotonic() < deadline:
                time.sleep(0.05)
    assert len(admitted) == 2
    assert seen["chat"]
    assert all(m["name"].endswith("(practice)") for m in seen["chat"])
    assert [alert["text"] for alert in seen["alerts"]] == [FLAGGED_LINE]
    assert seen["alerts"][0]["blocked"] is True
    assert seen["hands"]
    assert not rooms.running(lesson_id)
    with session_factory() as session:
        stops = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "practice_room_stopped")
        ).all()
        assert [entry.data["why"] for entry in stops] == ["no member of staff came back"]
    with session_factory() as session:
        types = {event.type for event in event_log.load(session, lesson_id)}
    # Nothing was published: no media server, no refusal either (they never tried).
    assert "media_refused" not in types


def test_an_incident_report_from_a_practice_room_reaches_nobody(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    client = signed_in(browser, OAK_TEACHER)
    lesson_id = open_from_page(client)
    form_page = client.get(f"/admin/lessons/{lesson_id}/incidents/new")
    assert form_page.status_code == 200
    form = form_values(form_page.text, "/admin/incidents/report")

    response = client.post(
        "/admin/incidents/report",
        data={
            **form,
            "category": next(iter(CATEGORIES)),
            "description": "Practising the form after removing a pupil.",
        },
    )

    assert response.status_code == 400
    assert "This is a practice room, so nothing was reported" in response.text
    assert count(session_factory, Incident) == 0
