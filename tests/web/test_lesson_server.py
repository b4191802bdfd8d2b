"""The lesson through a real server on a local port: uvicorn serving the app, real WebSocket
clients, the real database and log. The lesson engine's acceptance tests, seen from the wire."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from safeclass.actions.live import LiveLessons
from safeclass.cli import app as cli_app
from safeclass.config import Config
from safeclass.domain.consent import ConsentScope
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store import event_log
from safeclass.store.models import Consent, Lesson, LessonEventRecord, Parent, ParentLink, Pupil
from safeclass.web.app import create_app
from safeclass.web.join_tokens import Entrant
from tests.web.conftest import OAK_TEACHER, World
from tests.web.helpers import PASSWORD, csrf_token

WAIT = 10.0  # seconds: generous, so a slow machine fails only when something is really wrong


class KnownTokens:
    def __init__(self) -> None:
        self.tokens: dict[str, Entrant] = {}

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        return self.tokens.get(token)


class Server:
    """The app under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Client:
    """One participant's WebSocket, read with a deadline so that a missing message fails fast."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    def send(self, kind: str, **fields: Any) -> None:
        self.ws.send(json.dumps({"v": 1, "type": kind, **fields}))

    def next(self, kind: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=WAIT))
            self.seen.append(message)
            if message["type"] == kind:
                return message
        raise AssertionError(f"no {kind} message")

    def view_until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            view: dict[str, Any] = self.next("view")["view"]
            if check(view):
                return view
        raise AssertionError("the view never got there")

    def closed_code(self) -> int:
        with pytest.raises(ConnectionClosed) as closed:
            self._read_until_closed()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    def _read_until_closed(self) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            self.ws.recv(timeout=WAIT)


class Classroom:
    def __init__(
        self,
        config: Config,
        session_factory: sessionmaker[Session],
        lesson_id: int,
        pupils: dict[str, int],
        now: datetime,
    ) -> None:
        self.config = config
        self.session_factory = session_factory
        self.lesson_id = lesson_id
        self.pupils = pupils
        self.now = now
        self.tokens = KnownTokens()
        for name, pupil_id in pupils.items():
            self.tokens.tokens[f"link-{name}"] = Entrant(
                Person(Role.PUPIL, str(pupil_id)), Via.PUPIL_LINK, f"link:{name}"
            )
        self.cookie = ""
        self.connections = contextlib.ExitStack()

    def server(self) -> Server:
        live = LiveLessons(self.session_factory, resume_key=b"r" * 32, clock=lambda: self.now)
        app = create_app(
            self.config, session_factory=self.session_factory, live=live, join_tokens=self.tokens
        )
        return Server(app)

    def sign_in_teacher(self, server: Server) -> None:
        with httpx.Client(base_url=server.origin) as http:
            page = http.get("/signin")
            response = http.post(
                "/signin",
                data={
                    "email": OAK_TEACHER,
                    "password": PASSWORD,
                    "csrf_token": csrf_token(page.text, "/signin"),
                },
                headers={"origin": server.origin},
            )
            assert response.status_code == 303
            self.cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())

    def connect(self, server: Server, *, staff: bool = False) -> Client:
        headers = {"Cookie": self.cookie} if staff else {}
        ws = self.connections.enter_context(
            connect(
                f"ws://127.0.0.1:{server.port}/lessons/{self.lesson_id}/live",
                origin=server.origin,  # type: ignore[arg-type]
                additional_headers=headers,
                open_timeout=WAIT,
            )
        )
        return Client(ws)

    def teacher(self, server: Server, **join: Any) -> tuple[Client, str]:
        client = self.connect(server, staff=True)
        client.send("join", **join)
        return client, str(client.next("welcome")["pid"])

    def pupil(self, server: Server, name: str) -> tuple[Client, str]:
        client = self.connect(server)
        client.send("join", token=f"link-{name}", reminder_accepted=True)
        return client, str(client.next("welcome")["pid"])

    def log(self) -> list[str]:
        with self.session_factory() as session:
            return [event.type for event in event_log.load(session, self.lesson_id)]


def _give_consent(session: Session, pupil: Pupil) -> None:
    parent = Parent(trust_id=pupil.school.trust_id, display_name=f"Parent of {pupil.first_name}")
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


@pytest.fixture
def classroom(config: Config, session_factory: sessionmaker[Session], world: World) -> Classroom:
    """The Kestrels lesson with Amy, Ben and Dev able to join (Cara's permission was withdrawn)."""
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        ben = session.scalars(select(Pupil).where(Pupil.first_name == "Ben")).one()
        _give_consent(session, ben)
        dev = Pupil(
            school_id=world.oak_id,
            mis_id="OAK-4",
            first_name="Dev",
            last_name="Dutta",
            year_group=4,
        )
        session.add(dev)
        session.flush()
        lesson.class_group.pupils.append(dev)
        _give_consent(session, dev)
        session.commit()
        pupils = {
            p.first_name: p.id
            for p in session.scalars(select(Pupil).where(Pupil.school_id == world.oak_id))
        }
        room = Classroom(config, session_factory, lesson.id, pupils, lesson.starts_at)
    with room.connections:
        yield room


@pytest.fixture
def server(classroom: Classroom) -> Iterator[Server]:
    with classroom.server() as running:
        classroom.sign_in_teacher(running)
        yield running


def admitted(view: dict[str, Any]) -> bool:
    return view["you"]["presence"] == "admitted"


def in_class(view: dict[str, Any]) -> bool:
    return admitted(view) and view["lesson"]["hold"] is None


def test_pupils_wait_and_are_admitted_one_at_a_time(classroom: Classroom, server: Server) -> None:
    teacher, _ = classroom.teacher(server)
    amy, amy_pid = classroom.pupil(server, "Amy")
    ben, _ = classroom.pupil(server, "Ben")
    panel = teacher.view_until(lambda v: len(v["waiting"]) == 2)
    assert [w["name"] for w in panel["waiting"]] == ["Amy Adams", "Ben Brown"]
    assert all(w["can_admit"] for w in panel["waiting"])

    teacher.send("admit_all")
    assert teacher.next("refused")["reason"] == "one_at_a_time"
    teacher.send("admit_next")
    amy.view_until(admitted)
    panel = teacher.view_until(lambda v: len(v["waiting"]) == 1)
    assert panel["waiting"][0]["name"] == "Ben Brown"
    waiting_ben = ben.view_until(lambda v: v["you"]["presence"] == "waiting")
    assert "Amy" not in json.dumps(waiting_ben.get("waiting", []))
    assert amy_pid in [p["pid"] for p in panel["in_room"]]


def test_a_locked_lesson_turns_newcomers_away(classroom: Classroom, server: Server) -> None:
    teacher, _ = classroom.teacher(server)
    teacher.send("lock")
    teacher.view_until(lambda v: v["lesson"]["locked"])
    amy = classroom.connect(server)
    amy.send("join", token="link-Amy", reminder_accepted=True)
    refused = amy.next("refused")
    assert refused["reason"] == "locked"
    assert amy.closed_code() == 1008
    panel = teacher.view_until(lambda v: bool(v["turned_away"]))
    assert panel["turned_away"][0]["reason"] == "locked"


def test_one_to_one_is_held_until_a_second_pupil_comes(
    classroom: Classroom, server: Server
) -> None:
    teacher, _ = classroom.teacher(server)
    amy, amy_pid = classroom.pupil(server, "Amy")
    teacher.send("admit", target=amy_pid)
    held = amy.view_until(admitted)
    assert held["lesson"]["hold"] == "one_to_one"
    assert held["media"]["receive"] == []
    staff_view = teacher.view_until(lambda v: v["lesson"]["hold"] == "one_to_one")
    assert "no one-to-one" in staff_view["lesson"]["hold_message"]
    amy.send("chat", to="class", text="hello?")
    assert amy.next("refused")["reason"] == "media_held"

    ben, ben_pid = classroom.pupil(server, "Ben")
    teacher.send("admit", target=ben_pid)
    assert amy.view_until(in_class)["lesson"]["hold"] is None
    ben.view_until(in_class)


def test_last_staff_leaving_holds_pupils_until_staff_return(
    classroom: Classroom, server: Server
) -> None:
    teacher, teacher_pid = classroom.teacher(server)
    welcome = teacher.seen[-1]
    amy, amy_pid = classroom.pupil(server, "Amy")
    _ben, ben_pid = classroom.pupil(server, "Ben")
    teacher.send("admit", target=amy_pid)
    teacher.send("admit", target=ben_pid)
    amy.view_until(in_class)
    teacher.ws.close()  # the teacher's connection drops

    held = amy.view_until(lambda v: v["lesson"]["phase"] == "held")
    assert held["lesson"]["hold"] == "no_staff"
    assert held["media"] == {
        "publish": {"audio": False, "video": False, "screen": False},
        "receive": [],
    }
    assert "teacher" in held["lesson"]["hold_message"]

    _back, pid = classroom.teacher(
        server, rejoin={"pid": teacher_pid, "token": welcome["rejoin_token"]}
    )
    assert pid == teacher_pid
    assert amy.view_until(lambda v: v["lesson"]["phase"] == "open")["you"]["presence"] == "admitted"
    assert "held" not in [e for e in classroom.log() if e == "ended"]


def test_a_removed_pupil_cannot_come_back_on_any_device(
    classroom: Classroom, server: Server
) -> None:
    teacher, _ = classroom.teacher(server)
    amy, amy_pid = classroom.pupil(server, "Amy")
    teacher.send("admit", target=amy_pid)
    amy.view_until(admitted)
    teacher.send("remove", target=amy_pid, reason="Shared a link with a stranger")
    assert amy.closed_code() == 1000
    again = classroom.connect(server)
    again.send("join", token="link-Amy", reminder_accepted=True)
    assert again.next("refused")["reason"] == "removed"
    assert "removed" in classroom.log()


def test_a_pupils_staff_commands_are_refused_and_logged(
    classroom: Classroom, server: Server
) -> None:
    teacher, teacher_pid = classroom.teacher(server)
    amy, amy_pid = classroom.pupil(server, "Amy")
    _ben, ben_pid = classroom.pupil(server, "Ben")
    teacher.send("admit", target=amy_pid)
    teacher.send("admit", target=ben_pid)
    amy.view_until(in_class)
    before = classroom.log()
    for kind, fields in [
        ("mute", {"target": teacher_pid}),
        ("remove", {"target": ben_pid}),
        ("unlock", {}),
        ("end_lesson", {}),
        ("grant_share", {"target": amy_pid}),
    ]:
        amy.send(kind, **fields)
        refused = amy.next("refused")
        assert refused["command"] == kind
        assert refused["reason"] == "not_staff"
    after = classroom.log()
    assert after[len(before) :] == ["command_refused"] * 5
    teacher.send("ping")
    assert teacher.next("pong")


def test_pupils_cannot_message_each_other_privately(classroom: Classroom, server: Server) -> None:
    teacher, _ = classroom.teacher(server)
    amy, amy_pid = classroom.pupil(server, "Amy")
    ben, ben_pid = classroom.pupil(server, "Ben")
    teacher.send("admit", target=amy_pid)
    teacher.send("admit", target=ben_pid)
    amy.view_until(in_class)
    ben.view_until(in_class)
    amy.send("chat", to=ben_pid, text="psst")
    assert amy.next("error")["code"] == "bad_message"
    amy.send("chat", to="staff", text="only for teachers")
    assert teacher.next("chat")["message"]["text"] == "only for teachers"
    assert amy.next("chat")["message"]["to"] == "staff"  # the sender sees their own message
    amy.send("chat", to="class", text="for everyone")
    got = ben.next("chat")["message"]
    assert got["text"] == "for everyone"  # the first chat Ben sees: the staff one never reached him
    assert "only for teachers" not in json.dumps(ben.seen)


def test_a_restart_mid_lesson_restores_it_from_the_log(classroom: Classroom) -> None:
    with classroom.server() as first:
        classroom.sign_in_teacher(first)
        teacher, teacher_pid = classroom.teacher(first)
        rejoin_token = teacher.seen[-1]["rejoin_token"]
        amy, amy_pid = classroom.pupil(first, "Amy")
        _ben, ben_pid = classroom.pupil(first, "Ben")
        teacher.send("admit", target=amy_pid)
        teacher.send("admit", target=ben_pid)
        teacher.send("lock")
        amy.view_until(lambda v: in_class(v) and v["lesson"]["locked"])
    # A new server process on the same database: nothing carried over in memory.
    with classroom.server() as second:
        teacher, pid = classroom.teacher(second, rejoin={"pid": teacher_pid, "token": rejoin_token})
        assert pid == teacher_pid
        panel = teacher.view_until(lambda v: v["lesson"]["phase"] == "open")
        assert panel["lesson"]["locked"]
        amy = classroom.connect(second)
        amy.send(
            "join",
            token="link-Amy",
            reminder_accepted=True,
            rejoin={"pid": amy_pid, "token": "0" * 64},
        )
        assert amy.next("error")["code"] == "rejoin_failed"
        assert amy.next("refused")["reason"] == "locked"
    log = classroom.log()
    assert log.count("disconnected") >= 3  # everyone, marked gone when the server came back


def test_audit_verify_finds_a_tampered_row(classroom: Classroom, server: Server) -> None:
    teacher, _ = classroom.teacher(server)
    amy, amy_pid = classroom.pupil(server, "Amy")
    teacher.send("admit", target=amy_pid)
    amy.view_until(admitted)
    env = {"SAFECLASS_DATABASE_URL": str(classroom.session_factory.kw["bind"].url)}
    runner = CliRunner()
    clean = runner.invoke(
        cli_app, ["audit", "verify", "--lesson", str(classroom.lesson_id)], env=env
    )
    assert clean.exit_code == 0, clean.output
    assert "unchanged" in clean.output

    with classroom.session_factory() as session:
        row = session.scalars(
            select(LessonEventRecord).where(
                LessonEventRecord.lesson_id == classroom.lesson_id,
                LessonEventRecord.type == "admitted",
            )
        ).one()
        row.data = {**row.data, "by": "someone-else"}
        session.commit()
        seq = row.seq
    tampered = runner.invoke(cli_app, ["audit", "verify"], env=env)
    assert tampered.exit_code == 1
    assert f"entry {seq}" in tampered.output
