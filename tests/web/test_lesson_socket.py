"""The lesson's WebSocket, end to end through the real app, engine, log and database: who gets in,
what each person is shown, and that bad or unauthorised messages change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from safeclass.actions.live import LiveLessons
from safeclass.config import Config
from safeclass.domain.consent import ConsentScope
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.media.ice_servers import BrowserIceServers
from safeclass.media.sdp import SdpRefusal, SdpRefusedError
from safeclass.media.signalling import MediaRefusedError, Purpose, TrickleTarget
from safeclass.store import event_log
from safeclass.store.models import Consent, Lesson, LessonEventRecord, Parent, ParentLink, Pupil
from safeclass.web.app import create_app
from safeclass.web.join_tokens import Entrant
from safeclass.web.protocol import MAX_MESSAGE_BYTES
from tests.web.conftest import OAK_TEACHER, World
from tests.web.helpers import TestClient, sign_in

ORIGIN = {"origin": "http://testserver"}


class KnownTokens:
    """A stand-in for personal join links (they come with the "getting in" work)."""

    def __init__(self) -> None:
        self.tokens: dict[str, Entrant] = {}

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        return self.tokens.get(token)


@dataclass
class Lessons:
    app: FastAPI
    tokens: KnownTokens
    lesson_id: int
    pupil_ids: dict[str, int]
    now: list[datetime]

    def url(self) -> str:
        return f"/lessons/{self.lesson_id}/live"

    def token_for(self, first_name: str) -> str:
        token = f"token-{first_name}"
        person = Person(Role.PUPIL, str(self.pupil_ids[first_name]))
        self.tokens.tokens[token] = Entrant(person, Via.PUPIL_LINK, f"link:{first_name}")
        return token


def _give_consent(session: Session, world: World, first_name: str) -> None:
    pupil = session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()
    parent = Parent(trust_id=pupil.school.trust_id, display_name=f"Parent of {first_name}")
    session.add(parent)
    session.flush()
    session.add(ParentLink(pupil_id=pupil.id, parent_id=parent.id))
    session.add(
        Consent(
            pupil_id=pupil.id,
            parent_id=parent.id,
            scope=ConsentScope.LIVE_LESSONS,
            text_version="v1",
            given_at=datetime(2024, 9, 2, tzinfo=UTC),
        )
    )
    session.commit()


@pytest.fixture
def lessons(config: Config, session_factory: sessionmaker[Session], world: World) -> Lessons:
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
    app = create_app(config, session_factory=session_factory, live=live, join_tokens=tokens)
    return Lessons(app, tokens, world.oak_lesson_id, pupils, now)


@pytest.fixture
def teacher(lessons: Lessons) -> Iterator[TestClient]:
    with TestClient(lessons.app, follow_redirects=False) as client:
        sign_in(client, OAK_TEACHER)
        yield client


@pytest.fixture
def anonymous(lessons: Lessons) -> Iterator[TestClient]:
    with TestClient(lessons.app, follow_redirects=False) as client:
        yield client


# Pupils connect through the teacher's test client too: each test client runs its own event loop,
# and a real server has one. A pupil's token decides who they are, not the teacher's cookie.


def receive(ws: Any, kind: str, limit: int = 20) -> dict[str, Any]:
    """The next message of this type, skipping others."""
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        assert message["v"] == 1
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def view_until(ws: Any, check: Any, limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws, "view")
        if check(message["view"]):
            return dict(message["view"])
    raise AssertionError("the view never got there")


def in_class(view: dict[str, Any]) -> bool:
    """Let in, with nothing held: a pupil waiting sees no hold either, so both are checked."""
    return view["you"]["presence"] == "admitted" and view["lesson"]["hold"] is None


def join(ws: Any, **fields: Any) -> str:
    ws.send_json({"v": 1, "type": "join", **fields})
    welcome = receive(ws, "welcome")
    return str(welcome["pid"])


def events_of(session_factory: sessionmaker[Session], lesson_id: int) -> list[str]:
    with session_factory() as session:
        return [e.type for e in event_log.load(session, lesson_id)]


def test_teacher_signs_in_and_opens_the_lesson(lessons: Lessons, teacher: TestClient) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as ws:
        join(ws)
        view = view_until(ws, lambda v: v["lesson"]["phase"] == "open")
        assert view["you"]["role"] == "staff"
        assert view["you"]["is_host"] is True
        assert [p["name"] for p in view["expected"]] == ["Amy Adams", "Ben Brown", "Cara Clark"]


def test_pupils_wait_until_admitted_and_never_see_each_other_waiting(
    lessons: Lessons, teacher: TestClient
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        with (
            teacher.websocket_connect(lessons.url(), headers=ORIGIN) as amy,
            teacher.websocket_connect(lessons.url(), headers=ORIGIN) as ben,
        ):
            amy_pid = join(amy, token=lessons.token_for("Amy"), reminder_accepted=True)
            join(ben, token=lessons.token_for("Ben"), reminder_accepted=True)
            staff_view = view_until(staff, lambda v: len(v["waiting"]) == 2)
            assert {w["name"] for w in staff_view["waiting"]} == {"Amy Adams", "Ben Brown"}
            ben_view = view_until(ben, lambda v: v["you"]["presence"] == "waiting")
            assert "waiting" not in ben_view or ben_view["waiting"] == []
            assert "Amy" not in json.dumps(ben_view)

            staff.send_json({"v": 1, "type": "admit", "target": amy_pid})
            admitted = view_until(amy, lambda v: v["you"]["presence"] == "admitted")
            # One pupil with one adult: held, and told why.
            assert admitted["lesson"]["hold"] == "one_to_one"
            assert "another pupil" in admitted["lesson"]["hold_message"]


def test_no_consent_is_turned_away_with_a_reason_staff_can_see(
    lessons: Lessons, teacher: TestClient
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as cara:
            cara.send_json(
                {
                    "v": 1,
                    "type": "join",
                    "token": lessons.token_for("Cara"),
                    "reminder_accepted": True,
                }
            )
            refused = receive(cara, "refused")
            assert refused["reason"] == "consent_withdrawn"
            with pytest.raises(WebSocketDisconnect) as closed:
                cara.receive_json()
            assert closed.value.code == 1008
        view = view_until(staff, lambda v: bool(v["turned_away"]))
        assert view["turned_away"][0]["name"] == "Cara Clark"
        assert view["turned_away"][0]["reason"] == "consent_withdrawn"


def test_a_pupil_cannot_use_staff_commands(
    lessons: Lessons,
    teacher: TestClient,
    session_factory: sessionmaker[Session],
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        staff_pid = join(staff)
        with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as amy:
            join(amy, token=lessons.token_for("Amy"), reminder_accepted=True)
            for message in (
                {"type": "mute", "target": staff_pid},
                {"type": "lock"},
                {"type": "end_lesson"},
            ):
                amy.send_json({"v": 1, **message})
                refused = receive(amy, "refused")
                assert refused["command"] == message["type"]
                assert refused["reason"] in {"not_staff", "not_admitted"}
    log = events_of(session_factory, lessons.lesson_id)
    assert log.count("command_refused") == 3
    assert "lock_changed" not in log
    assert log[-1] != "phase_changed" or "ended" not in log


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("not json", "not_json"),
        ("[1, 2]", "bad_message"),
        ('{"v": 2, "type": "lock"}', "unsupported_version"),
        ('{"v": 1, "type": "make_me_teacher"}', "unknown_type"),
        ('{"v": 1, "type": "admit"}', "bad_message"),
        ('{"v": 1, "type": "admit", "target": "p1", "role": "staff"}', "bad_message"),
        ('{"v": 1, "type": "set_mic", "on": "yes"}', "bad_message"),
        ('{"v": 1, "type": "chat", "to": "pupil:2", "text": "psst"}', "bad_message"),
        ('{"v": 1, "type": "join"}', "already_joined"),
    ],
)
def test_bad_messages_get_a_typed_error_and_change_nothing(
    lessons: Lessons,
    teacher: TestClient,
    session_factory: sessionmaker[Session],
    sent: str,
    code: str,
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        before = events_of(session_factory, lessons.lesson_id)
        staff.send_text(sent)
        assert receive(staff, "error")["code"] == code
        staff.send_json({"v": 1, "type": "ping"})
        receive(staff, "pong")  # still connected and answering
        assert events_of(session_factory, lessons.lesson_id) == before


def test_oversized_and_binary_messages_close_the_connection(
    lessons: Lessons, teacher: TestClient
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        too_long = "x" * MAX_MESSAGE_BYTES
        staff.send_text(json.dumps({"v": 1, "type": "chat", "to": "class", "text": too_long}))
        assert receive(staff, "error")["code"] == "too_big"
        with pytest.raises(WebSocketDisconnect) as closed:
            staff.receive_json()
        assert closed.value.code == 1009
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        staff.send_bytes(b"\x00\x01")
        assert receive(staff, "error")["code"] == "not_text"
        with pytest.raises(WebSocketDisconnect) as closed:
            staff.receive_json()
        assert closed.value.code == 1003


def test_strangers_and_other_sites_are_refused(lessons: Lessons, anonymous: TestClient) -> None:
    with anonymous.websocket_connect(lessons.url(), headers=ORIGIN) as ws:
        ws.send_json({"v": 1, "type": "join"})
        assert receive(ws, "error")["code"] == "not_recognised"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
    with anonymous.websocket_connect(lessons.url(), headers=ORIGIN) as ws:
        ws.send_json({"v": 1, "type": "join", "token": "guessed"})
        assert receive(ws, "error")["code"] == "not_recognised"
    with (
        pytest.raises((WebSocketDisconnect, WebSocketDenialResponse)),
        anonymous.websocket_connect(
            lessons.url(), headers={"origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    with anonymous.websocket_connect("/lessons/999999/live", headers=ORIGIN) as ws:
        ws.send_json({"v": 1, "type": "join", "token": lessons.token_for("Amy")})
        assert receive(ws, "error")["code"] == "lesson_unavailable"


def test_the_door_is_closed_outside_the_lesson_time(lessons: Lessons, teacher: TestClient) -> None:
    lessons.now[0] -= timedelta(hours=2)
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        staff.send_json({"v": 1, "type": "join"})
        error = receive(staff, "error")
        assert error["code"] == "lesson_unavailable"
        assert "not opened yet" in error["message"]


def _read_until_closed(ws: Any) -> None:
    for _ in range(100):
        ws.receive_json()


def _collect_error_codes(ws: Any, codes: list[str]) -> None:
    for _ in range(400):
        message = ws.receive_json()
        if message["type"] == "error":
            codes.append(message["code"])


def test_a_flood_is_slowed_then_cut_off(lessons: Lessons, teacher: TestClient) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        for _ in range(200):
            staff.send_json({"v": 1, "type": "ping"})
        codes: list[str] = []
        with pytest.raises(WebSocketDisconnect) as closed:
            _collect_error_codes(staff, codes)
        assert closed.value.code == 1008
        assert "slow_down" in codes


def test_chat_to_staff_reaches_only_staff(lessons: Lessons, teacher: TestClient) -> None:
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
            view_until(ben, in_class)
            view_until(amy, in_class)
            amy.send_json({"v": 1, "type": "chat", "to": "staff", "text": "I need help"})
            assert receive(staff, "chat")["message"]["text"] == "I need help"
            amy.send_json({"v": 1, "type": "chat", "to": "class", "text": "Hello all"})
            # Ben's next chat is the class message: the one to staff never reached him.
            assert receive(ben, "chat")["message"]["text"] == "Hello all"


def test_last_staff_dropping_holds_pupils_and_rejoin_keeps_admission(
    lessons: Lessons, teacher: TestClient
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as amy:
        amy.send_json(
            {"v": 1, "type": "join", "token": lessons.token_for("Amy"), "reminder_accepted": True}
        )
        amy_pid = str(receive(amy, "welcome")["pid"])
        with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as ben:
            ben_pid = join(ben, token=lessons.token_for("Ben"), reminder_accepted=True)
            with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
                staff.send_json({"v": 1, "type": "join"})
                welcome = receive(staff, "welcome")
                staff.send_json({"v": 1, "type": "admit", "target": amy_pid})
                staff.send_json({"v": 1, "type": "admit", "target": ben_pid})
                view_until(amy, in_class)
            held = view_until(amy, lambda v: v["lesson"]["phase"] == "held")
            assert held["lesson"]["hold"] == "no_staff"
            assert held["media"]["receive"] == []
            with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
                staff.send_json(
                    {
                        "v": 1,
                        "type": "join",
                        "rejoin": {"pid": welcome["pid"], "token": welcome["rejoin_token"]},
                    }
                )
                assert receive(staff, "welcome")["pid"] == welcome["pid"]
                view_until(amy, lambda v: v["lesson"]["phase"] == "open")


def test_a_restarted_server_rebuilds_the_lesson_from_its_log(
    lessons: Lessons,
    teacher: TestClient,
    config: Config,
    session_factory: sessionmaker[Session],
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        staff.send_json({"v": 1, "type": "lock"})
        view_until(staff, lambda v: v["lesson"]["locked"])
    # A new server process: same database, nothing in memory.
    live = LiveLessons(session_factory, resume_key=b"k" * 32, clock=lambda: lessons.now[0])
    app = create_app(config, session_factory=session_factory, live=live, join_tokens=lessons.tokens)
    with TestClient(app) as client, client.websocket_connect(lessons.url(), headers=ORIGIN) as amy:
        amy.send_json(
            {"v": 1, "type": "join", "token": lessons.token_for("Amy"), "reminder_accepted": True}
        )
        assert receive(amy, "refused")["reason"] == "locked"
    with session_factory() as session:
        report = event_log.verify(session, lessons.lesson_id)
        assert report.ok
        assert report.rows == len(
            session.scalars(
                select(LessonEventRecord).where(LessonEventRecord.lesson_id == lessons.lesson_id)
            ).all()
        )


def test_the_lesson_page_shows_the_register_from_the_log(
    lessons: Lessons, teacher: TestClient
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as amy:
            amy_pid = join(amy, token=lessons.token_for("Amy"), reminder_accepted=True)
            staff.send_json({"v": 1, "type": "admit", "target": amy_pid})
            view_until(amy, lambda v: v["you"]["presence"] == "admitted")
            staff.send_json({"v": 1, "type": "remove", "target": amy_pid, "reason": "test"})
            with pytest.raises(WebSocketDisconnect):
                _read_until_closed(amy)
    page = teacher.get(f"/admin/lessons/{lessons.lesson_id}").text
    register = page[page.index('id="register-heading"') :]
    assert "Amy Adams" in register
    assert "Removed by staff" in register
    assert "Tess Teacher" in register
    assert "has not been changed since they were written" in register


# --- Media messages reach the media layer, checked; without one they are refused ---------------

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
)


class RecordingMedia:
    """A stand-in for the SFU relay: this test is about the socket's routing, not media. The
    relay itself is tested against real Janus in tests/media."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def publish(self, lesson_id: int, pid: str, purpose: Purpose, offer: str) -> str:
        self.calls.append(("publish", lesson_id, pid, purpose))
        if "m=video" in offer:
            raise SdpRefusedError(SdpRefusal.SECOND_VIDEO, "Only one camera at a time.")
        if purpose is Purpose.SCREEN:
            raise MediaRefusedError("no_grant", "Ask your teacher before you share your screen.")
        return "answer-sdp"

    async def unpublish(self, lesson_id: int, pid: str, purpose: Purpose) -> None:
        self.calls.append(("unpublish", lesson_id, pid, purpose))

    async def watch_answer(self, lesson_id: int, pid: str, answer: str) -> None:
        self.calls.append(("watch_answer", lesson_id, pid, answer))

    async def trickle(
        self, lesson_id: int, pid: str, target: TrickleTarget, candidate: dict[str, Any]
    ) -> None:
        self.calls.append(("trickle", lesson_id, pid, target, candidate))


def test_media_requests_are_refused_plainly_when_the_server_has_no_media(
    lessons: Lessons, teacher: TestClient
) -> None:
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        staff.send_json({"v": 1, "type": "publish", "purpose": "camera", "sdp": OFFER})
        refused = receive(staff, "media_refused")
        assert refused["reason"] == "media_off"
        assert refused["request"] == "publish"
        assert refused["about"] == "camera"


def test_media_requests_go_to_the_media_layer_as_the_connections_own_participant(
    lessons: Lessons, teacher: TestClient
) -> None:
    media = RecordingMedia()
    lessons.app.state.safeclass.media = media
    candidate = {"candidate": "candidate:1 1 udp 1 10.77.0.2 5000 typ host", "sdpMid": "0"}
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        pid = join(staff)
        staff.send_json({"v": 1, "type": "publish", "purpose": "camera", "sdp": OFFER})
        assert receive(staff, "publish_answer") == {
            "v": 1,
            "type": "publish_answer",
            "purpose": "camera",
            "sdp": "answer-sdp",
        }
        staff.send_json({"v": 1, "type": "trickle", "target": "watch", "candidate": candidate})
        staff.send_json({"v": 1, "type": "watch_answer", "sdp": OFFER})
        staff.send_json({"v": 1, "type": "unpublish", "purpose": "camera"})
        staff.send_json({"v": 1, "type": "ping"})
        receive(staff, "pong")
    lesson_id = lessons.lesson_id
    assert media.calls == [
        ("publish", lesson_id, pid, Purpose.CAMERA),
        ("trickle", lesson_id, pid, TrickleTarget.WATCH, candidate),
        ("watch_answer", lesson_id, pid, OFFER),
        ("unpublish", lesson_id, pid, Purpose.CAMERA),
    ]


def test_refused_media_requests_are_answered_on_that_connection_and_it_stays_open(
    lessons: Lessons, teacher: TestClient, session_factory: sessionmaker[Session]
) -> None:
    lessons.app.state.safeclass.media = RecordingMedia()
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        two_cameras = OFFER + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        staff.send_json({"v": 1, "type": "publish", "purpose": "camera", "sdp": two_cameras})
        assert receive(staff, "media_refused")["reason"] == "second_video"
        staff.send_json({"v": 1, "type": "publish", "purpose": "screen", "sdp": OFFER})
        refused = receive(staff, "media_refused")
        assert refused["reason"] == "no_grant"
        assert refused["about"] == "screen"
        staff.send_json({"v": 1, "type": "ping"})
        receive(staff, "pong")
    # Both refusals are in the lesson's record; nothing else changed.
    assert events_of(session_factory, lessons.lesson_id).count("media_refused") == 2


@pytest.mark.parametrize(
    "message",
    [
        {"type": "publish", "purpose": "both", "sdp": OFFER},
        {"type": "publish", "purpose": "camera", "sdp": ""},
        {"type": "publish", "purpose": "camera", "sdp": "v" * 40000},
        {"type": "publish", "purpose": "camera"},
        {"type": "trickle", "target": "camera", "candidate": "candidate:1"},
        {"type": "trickle", "target": "camera", "candidate": {"candidate": ["x"]}},
        {"type": "watch_answer", "sdp": 7},
        {"type": "unpublish", "purpose": "camera", "pid": "someone-else"},
    ],
)
def test_malformed_media_messages_are_refused_before_the_media_layer(
    lessons: Lessons, teacher: TestClient, message: dict[str, Any]
) -> None:
    media = RecordingMedia()
    lessons.app.state.safeclass.media = media
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        staff.send_json({"v": 1, **message})
        assert receive(staff, "error")["code"] == "bad_message"
    assert media.calls == []


def test_the_welcome_names_the_browser_ice_servers_with_a_credential_of_ones_own(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        starts_at = session.get_one(Lesson, world.oak_lesson_id).starts_at
    ice = BrowserIceServers(
        turn_urls=("turns:turn.example.org:443?transport=tcp",), turn_secret=b"s" * 32
    )
    live = LiveLessons(
        session_factory, resume_key=b"k" * 32, clock=lambda: starts_at, ice_servers=ice
    )
    app = create_app(config, session_factory=session_factory, live=live)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, OAK_TEACHER)
        url = f"/lessons/{world.oak_lesson_id}/live"
        with client.websocket_connect(url, headers=ORIGIN) as staff:
            staff.send_json({"v": 1, "type": "join"})
            welcome = receive(staff, "welcome")
    [turn] = welcome["ice_servers"]
    assert [turn] == ice.for_participant(welcome["pid"], starts_at)
    assert turn["username"].endswith(f":{welcome['pid']}")
