"""How fast the lesson's signalling reaches everyone, against a bare WebSocket broadcast.

    .venv/bin/python bench/lesson_signalling.py [--pupils 30] [--rounds 200] [--write]

What it does, all on 127.0.0.1 and in a throwaway folder:

1. Makes a fresh SQLite database with the project's own migrations: one school, one teacher with
   a signed-in staff session, a class of N pupils who all have live-lesson consent, and a lesson
   starting now.
2. Serves the real app under uvicorn in a child process (`bench/servers.py`), with a link reader
   that knows one token per pupil. A second child process serves the baseline: a plain Starlette
   WebSocket endpoint that sends every message it gets, padded to a requested size, to every
   connected client (no engine, no database). Both run with the same uvicorn settings.
3. Connects the teacher and N pupils with the `websockets` client. Pupils join and are admitted one
   at a time; each join and each admission is timed. Then, round by round and alternating with the
   baseline, it times a staff command that changes every participant's view (unlock, lock,
   suspend, resume in turn) and a pupil's chat message to the class: from the send to the moment
   the last of the N+1 participants has it. Each baseline round broadcasts a message of the same
   size as the one SafeClass sent in the round before it, to the same number of clients.
4. Reads each server's resident memory from /proc before and after, then times the engine in
   this process (no sockets): decide + evolve alone, with every participant's view built, and the
   whole `LiveLessons.act` path that also appends to the log in SQLite.

Each server's rounds are spaced by the protocol's rate limit (10 messages a second per
connection), so SafeClass never drops a message as flooding, and the baseline gets the same pace.
Latencies include the client's own work (one process reads all N+1 connections) on both sides of
the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import selectors
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

import results as bench_results
from safeclass.actions.live import LiveLessons
from safeclass.config import Config
from safeclass.domain.consent import ConsentScope
from safeclass.domain.lesson.commands import Admit, Command, Lock, Resume, Suspend, Unlock
from safeclass.domain.lesson.decide import decide
from safeclass.domain.lesson.evolve import evolve
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.domain.lesson.view import view_for
from safeclass.store.db import make_engine, make_session_factory, upgrade
from safeclass.store.models import (
    ClassGroup,
    Consent,
    ConsentText,
    Lesson,
    LessonEventRecord,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
    Trust,
)
from safeclass.timeutil import utc_now
from safeclass.web.auth import session_cookie_name, start_session
from safeclass.web.lesson_socket import PER_SECOND

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = bench_results.RESULTS
SERVERS = ROOT / "bench" / "servers.py"

YEAR_GROUP = 7  # old enough to join through their own link (no parent needed)
SEND_INTERVAL = 1 / PER_SECOND  # the protocol's steady rate per connection
WAIT_SECONDS = 15.0  # for any one expected message: a miss is a failure, not a slow sample
SERVER_START_SECONDS = 30.0

T = TypeVar("T")


class BenchError(Exception):
    """The run cannot go on: a server refused something, closed a connection, or went quiet."""


# --- The school, in a throwaway database ---------------------------------------------------------


@dataclass(frozen=True)
class BenchPupil:
    pupil_id: int
    name: str
    token: str


@dataclass(frozen=True)
class Setup:
    data_dir: str
    database_url: str
    teacher_id: int
    staff_cookie: str
    lesson_id: int  # served over WebSockets
    engine_lesson_id: int  # driven in process, for the engine's throughput
    pupils: tuple[BenchPupil, ...]

    def config(self) -> Config:
        return Config(
            data_dir=Path(self.data_dir),
            database_url=self.database_url,
            host=HOST,
            port=0,
            secure_cookies=False,
        )


def build_school(folder: Path, pupil_count: int) -> Setup:
    database_url = f"sqlite:///{folder / 'safeclass-bench.db'}"
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with make_session_factory(engine)() as session:
            setup = _add_rows(session, folder, database_url, pupil_count)
            session.commit()
    finally:
        engine.dispose()
    return setup


def _add_rows(session: Session, folder: Path, database_url: str, pupil_count: int) -> Setup:
    now = utc_now()
    trust = Trust(name="Benchmark Trust")
    session.add(trust)
    session.flush()
    school = School(trust_id=trust.id, name="Benchmark School", slug="bench")
    teacher = StaffMember(
        trust_id=trust.id, email="teacher@bench.example", display_name="Bea Teacher"
    )
    session.add_all([school, teacher])
    session.flush()
    session.add(StaffRoleGrant(staff_id=teacher.id, role=StaffRole.TEACHER, school_id=school.id))
    session.add(
        ConsentText(
            trust_id=trust.id,
            scope=ConsentScope.LIVE_LESSONS,
            version="v1",
            body="Live lessons.",
            published_at=now - timedelta(days=30),
        )
    )
    group = ClassGroup(school_id=school.id, name="Benchmark class", year_group=YEAR_GROUP)
    session.add(group)
    session.flush()

    pupils = []
    for number in range(1, pupil_count + 1):
        pupil = Pupil(
            school_id=school.id,
            mis_id=f"BENCH-{number}",
            first_name=f"Pupil{number:03d}",
            last_name="Bench",
            year_group=YEAR_GROUP,
        )
        parent = Parent(trust_id=trust.id, display_name=f"Parent of pupil {number}")
        session.add_all([pupil, parent])
        session.flush()
        group.pupils.append(pupil)
        session.add(ParentLink(pupil_id=pupil.id, parent_id=parent.id))
        session.add(
            Consent(
                pupil_id=pupil.id,
                parent_id=parent.id,
                scope=ConsentScope.LIVE_LESSONS,
                text_version="v1",
                given_at=now - timedelta(days=7),
            )
        )
        pupils.append(BenchPupil(pupil.id, pupil.display_name, secrets.token_urlsafe(24)))

    lessons = [
        Lesson(
            school_id=school.id,
            class_group_id=group.id,
            host_id=teacher.id,
            title=title,
            starts_at=now,
            ends_at=now + timedelta(hours=1),
        )
        for title in ("Signalling benchmark", "Engine benchmark")
    ]
    session.add_all(lessons)
    session.flush()
    cookie = start_session(session, teacher, now)
    return Setup(
        data_dir=str(folder / "data"),
        database_url=database_url,
        teacher_id=teacher.id,
        staff_cookie=cookie,
        lesson_id=lessons[0].id,
        engine_lesson_id=lessons[1].id,
        pupils=tuple(pupils),
    )


def log_rows(session_factory: sessionmaker[Session], lesson_id: int) -> int:
    with session_factory() as session:
        count = session.scalar(
            select(func.count())
            .select_from(LessonEventRecord)
            .where(LessonEventRecord.lesson_id == lesson_id)
        )
    return int(count or 0)


# --- The servers, each in a process of its own ------------------------------------------------


class ServerProcess:
    """`bench/servers.py` in a child process: started, measured from /proc, stopped by SIGTERM."""

    def __init__(self, kind: str, *args: str) -> None:
        self.kind = kind
        self._command = [sys.executable, str(SERVERS), kind, *args]
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> None:
        # Our own interpreter running our own script; its errors go to our stderr.
        process = subprocess.Popen(self._command, stdout=subprocess.PIPE, text=True)  # noqa: S603
        self._process = process
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(SERVER_START_SECONDS)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            process.kill()
            process.wait()
            raise BenchError(
                f"the {self.kind} server did not start (said {line!r}, exit {process.returncode})"
            )
        self.port = int(line.split()[1])

    def memory(self) -> Memory:
        process = self._running()
        fields = {}
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        return Memory(rss_kib=_kib(fields["VmRSS"]), peak_kib=_kib(fields["VmHWM"]))

    def stop(self) -> None:
        process = self._running()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise BenchError(f"the {self.kind} server did not stop on SIGTERM") from None
        # uvicorn shuts down cleanly, then raises the signal it caught again.
        if process.returncode not in (0, -signal.SIGTERM):
            raise BenchError(f"the {self.kind} server exited with {process.returncode}")

    def _running(self) -> subprocess.Popen[str]:
        process = self._process
        if process is None or process.poll() is not None:
            raise BenchError(f"the {self.kind} server is not running")
        return process


@dataclass(frozen=True)
class Memory:
    rss_kib: int
    peak_kib: int


def _kib(value: str) -> int:
    number, unit = value.split()
    assert unit == "kB", value
    return int(number)


# --- Clients -------------------------------------------------------------------------------------

Check = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Arrival:
    at: float  # time.perf_counter() when the client read it
    size: int  # characters of JSON text


class Peer:
    """One WebSocket client, read by its own task. A measurement waits for the first message
    that passes a check; an `error` or `refused` from the server, or a closed connection, ends
    the run."""

    def __init__(self, name: str, ws: ClientConnection) -> None:
        self.name = name
        self.ws = ws
        self.pid: str | None = None
        self.latest_view: dict[str, Any] | None = None
        self._waiting: tuple[Check, asyncio.Future[Arrival]] | None = None
        self._reader = asyncio.create_task(self._read(), name=f"read {name}")

    @classmethod
    async def open(cls, name: str, url: str, origin: str, cookie: str | None = None) -> Peer:
        ws = await connect(
            url,
            origin=Origin(origin),
            additional_headers={"Cookie": cookie} if cookie else None,
            proxy=None,  # loopback only, whatever the environment says about proxies
            ping_interval=None,
        )
        return cls(name, ws)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"v": 1, **message}, separators=(",", ":")))

    def expect(self, check: Check) -> asyncio.Future[Arrival]:
        """The first message from now on that passes `check`."""
        if self._reader.done():
            self._reader.result()  # raises what ended the reader
            raise BenchError(f"{self.name}: the connection has closed")
        if self._waiting is not None:
            raise BenchError(f"{self.name}: already waiting for a message")
        arrival: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
        self._waiting = (check, arrival)
        return arrival

    async def view_now_or_later(self, check: Check) -> dict[str, Any]:
        if self.latest_view is not None and check(self.latest_view):
            return self.latest_view
        await within(self.expect(lambda message: is_view(message) and check(message["view"])))
        assert self.latest_view is not None
        return self.latest_view

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def leave(self) -> None:
        """Leave the lesson and let the server close the connection, as it does, with 1000."""
        await self.send({"type": "leave"})
        await within(self._reader)
        if self.ws.close_code != 1000:
            raise BenchError(f"{self.name}: closed with {self.ws.close_code} on leaving")

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                at = time.perf_counter()
                message = json.loads(text)
                self._note(message)
                if self._waiting is not None and self._waiting[0](message):
                    _check, arrival = self._waiting
                    self._waiting = None
                    arrival.set_result(Arrival(at, len(text)))
        except Exception as error:
            self._fail(error)
            raise
        if self._waiting is not None:
            self._fail(
                BenchError(f"{self.name}: closed ({self.ws.close_code} {self.ws.close_reason})")
            )

    def _note(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("error", "refused"):
            raise BenchError(f"{self.name} was sent {message}")
        if kind == "welcome":
            self.pid = message["pid"]
        elif kind == "view":
            self.latest_view = message["view"]

    def _fail(self, error: Exception) -> None:
        if self._waiting is not None:
            _check, arrival = self._waiting
            self._waiting = None
            arrival.set_exception(error)


async def within(awaitable: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(awaitable, WAIT_SECONDS)
    except TimeoutError:
        raise BenchError(f"nothing arrived within {WAIT_SECONDS:.0f} s") from None


class Pacer:
    """Spaces one server's sends by the protocol's per-connection rate, so that nothing is dropped
    as flooding (and both servers see the same pace)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last = -math.inf

    async def wait(self) -> None:
        delay = self._last + self._interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        self._last = time.perf_counter()


@dataclass
class Room:
    """Everyone connected to one server, and the pace of that server's rounds."""

    peers: list[Peer]
    pacer: Pacer = field(default_factory=lambda: Pacer(SEND_INTERVAL))


@dataclass(frozen=True)
class FanOut:
    seconds: float  # from the send to the last participant's arrival
    mean_size: int


async def fan_out(room: Room, sender: Peer, message: dict[str, Any], check: Check) -> FanOut:
    arrivals = [peer.expect(check) for peer in room.peers]
    await room.pacer.wait()
    sent = time.perf_counter()
    await sender.send(message)
    got = await within(asyncio.gather(*arrivals))
    return FanOut(
        seconds=max(a.at for a in got) - sent,
        mean_size=round(statistics.fmean(a.size for a in got)),
    )


def is_view(message: dict[str, Any]) -> bool:
    return bool(message["type"] == "view")


def view_shows(key: str, value: Any) -> Check:
    return lambda message: is_view(message) and message["view"]["lesson"][key] == value


def chat_says(text: str) -> Check:
    return lambda message: message["type"] == "chat" and message["message"]["text"] == text


def broadcast_numbered(seq: int) -> Check:
    return lambda message: message["type"] == "broadcast" and message["seq"] == seq


# --- Samples -------------------------------------------------------------------------------------


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)  # nearest rank
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def max(self) -> float:
        return max(self.seconds)


@dataclass
class Signalling:
    join: Samples = field(default_factory=Samples)
    admit: Samples = field(default_factory=Samples)
    lock_unlock: Samples = field(default_factory=Samples)
    suspend_resume: Samples = field(default_factory=Samples)
    staff_commands: Samples = field(default_factory=Samples)
    chat: Samples = field(default_factory=Samples)
    baseline_views: Samples = field(default_factory=Samples)
    baseline_chat: Samples = field(default_factory=Samples)
    view_sizes: list[int] = field(default_factory=list)
    chat_sizes: list[int] = field(default_factory=list)
    rows_joining: int = 0
    rows_staff_commands: int = 0
    rows_chat: int = 0
    memory: dict[str, tuple[Memory, Memory]] = field(default_factory=dict)


# --- The run -------------------------------------------------------------------------------------


async def run_signalling(setup: Setup, rounds: int) -> Signalling:
    results = Signalling()
    engine = make_engine(setup.database_url)
    rows = make_session_factory(engine)
    setup_file = Path(setup.data_dir).parent / "setup.json"
    setup_file.write_text(json.dumps(asdict(setup)))
    safeclass = ServerProcess("safeclass", str(setup_file))
    baseline = ServerProcess("baseline")
    try:
        safeclass.start()
        baseline.start()
        before = {"safeclass": safeclass.memory(), "baseline": baseline.memory()}
        lesson = await _join_everyone(setup, safeclass.port, results)
        results.rows_joining = log_rows(rows, setup.lesson_id)
        broadcast = await _open_baseline_clients(baseline.port, len(lesson.peers))

        _progress(f"{rounds} rounds of staff commands, each followed by a baseline round")
        await _staff_commands(lesson, broadcast, rounds, results)
        results.rows_staff_commands = log_rows(rows, setup.lesson_id) - results.rows_joining

        _progress(f"{rounds} rounds of chat, each followed by a baseline round")
        before_chat = log_rows(rows, setup.lesson_id)
        await _chat(lesson, broadcast, rounds, results)
        results.rows_chat = log_rows(rows, setup.lesson_id) - before_chat

        results.memory = {
            "safeclass": (before["safeclass"], safeclass.memory()),
            "baseline": (before["baseline"], baseline.memory()),
        }
        # Lesson participants leave and the server closes: when the client closes first, the
        # server currently logs "Exception in ASGI application" for the connection (the
        # WebSocketDisconnect from closing an already closed socket escapes its writer task).
        await asyncio.gather(*(peer.leave() for peer in lesson.peers))
        await asyncio.gather(*(peer.close() for peer in broadcast.peers))
    finally:
        for server in (safeclass, baseline):
            if server.port:
                server.stop()
        engine.dispose()
    return results


async def _join_everyone(setup: Setup, port: int, results: Signalling) -> Room:
    """The teacher opens the lesson; each pupil joins and is admitted, one at a time."""
    url = f"ws://{HOST}:{port}/lessons/{setup.lesson_id}/live"
    origin = f"http://{HOST}:{port}"
    cookie = f"{session_cookie_name(setup.config())}={setup.staff_cookie}"
    teacher = await Peer.open("teacher", url, origin, cookie)
    room = Room([teacher])
    opened = teacher.expect(view_shows("phase", "open"))
    await room.pacer.wait()
    await teacher.send({"type": "join"})
    await within(opened)

    _progress(f"{len(setup.pupils)} pupils join and are admitted one at a time")
    for pupil in setup.pupils:
        peer = await Peer.open(pupil.name, url, origin)
        waiting = peer.expect(lambda m: is_view(m) and m["view"]["you"]["presence"] == "waiting")
        seen = teacher.expect(_waiting_to_be_admitted(pupil.name))
        await room.pacer.wait()
        sent = time.perf_counter()
        await peer.send({"type": "join", "token": pupil.token, "reminder_accepted": True})
        arrivals = await within(asyncio.gather(waiting, seen))
        results.join.add(max(a.at for a in arrivals) - sent)

        admitted = peer.expect(lambda m: is_view(m) and m["view"]["you"]["presence"] == "admitted")
        await room.pacer.wait()
        sent = time.perf_counter()
        await teacher.send({"type": "admit", "target": peer.pid})
        results.admit.add((await within(admitted)).at - sent)
        room.peers.append(peer)

    await teacher.view_now_or_later(lambda view: len(view["in_room"]) == len(room.peers))
    return room


def _waiting_to_be_admitted(name: str) -> Check:
    def check(message: dict[str, Any]) -> bool:
        return is_view(message) and any(
            person["name"] == name and person["can_admit"] for person in message["view"]["waiting"]
        )

    return check


async def _open_baseline_clients(port: int, count: int) -> Room:
    url = f"ws://{HOST}:{port}/broadcast"
    origin = f"http://{HOST}:{port}"
    return Room([await Peer.open(f"baseline client {n}", url, origin) for n in range(count)])


async def _staff_commands(lesson: Room, broadcast: Room, rounds: int, results: Signalling) -> None:
    teacher = lesson.peers[0]
    assert teacher.latest_view is not None
    # Each command changes every view; the lesson locks by itself once the class is all in.
    cycle = [("suspend", "suspended", True), ("resume", "suspended", False)]
    if teacher.latest_view["lesson"]["locked"]:
        cycle += [("unlock", "locked", False), ("lock", "locked", True)]
    else:
        cycle += [("lock", "locked", True), ("unlock", "locked", False)]
    for number in range(rounds):
        command, key, value = cycle[number % len(cycle)]
        done = await fan_out(lesson, teacher, {"type": command}, view_shows(key, value))
        results.staff_commands.add(done.seconds)
        (results.lock_unlock if key == "locked" else results.suspend_resume).add(done.seconds)
        results.view_sizes.append(done.mean_size)
        results.baseline_views.add(
            await _baseline_round(broadcast, broadcast.peers[0], number, done.mean_size)
        )
    if teacher.latest_view["lesson"]["suspended"]:  # chat is paused while suspended
        await fan_out(lesson, teacher, {"type": "resume"}, view_shows("suspended", False))


async def _chat(lesson: Room, broadcast: Room, rounds: int, results: Signalling) -> None:
    pupils = lesson.peers[1:]
    for number in range(rounds):
        text = f"Round {number + 1}: is it three quarters?"
        sender = pupils[number % len(pupils)]
        message = {"type": "chat", "to": "class", "text": text}
        done = await fan_out(lesson, sender, message, chat_says(text))
        results.chat.add(done.seconds)
        results.chat_sizes.append(done.mean_size)
        like_a_pupil = broadcast.peers[1 + number % len(pupils)]
        results.baseline_chat.add(
            await _baseline_round(broadcast, like_a_pupil, rounds + number, done.mean_size)
        )


async def _baseline_round(broadcast: Room, sender: Peer, seq: int, size: int) -> float:
    message = {"type": "broadcast", "seq": seq, "size": size}
    done = await fan_out(broadcast, sender, message, broadcast_numbered(seq))
    if abs(done.mean_size - size) > 1:
        raise BenchError(f"the baseline sent {done.mean_size} characters, not {size}")
    return done.seconds


# --- The engine alone, in this process -----------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    label: str
    commands: int
    events: int
    seconds: float


@dataclass(frozen=True)
class Engine:
    paths: list[Throughput]  # from the least work to the whole of `act`
    events_per_command: dict[str, float]  # by wire name: "lock", "suspend", ...


class CountingChannel:
    """Takes what the lesson sends and counts it; nothing here should be closed."""

    def __init__(self) -> None:
        self.messages = 0
        self.closed: str | None = None

    def deliver(self, message: dict[str, Any]) -> None:
        self.messages += 1

    def close(self, code: int, reason: str) -> None:
        self.closed = f"{code} {reason}"


async def run_engine(setup: Setup, commands: int) -> Engine:
    engine = make_engine(setup.database_url)
    session_factory = make_session_factory(engine)
    try:
        return await _time_engine(setup, session_factory, commands)
    finally:
        engine.dispose()


async def _time_engine(setup: Setup, session_factory: sessionmaker[Session], count: int) -> Engine:
    live = LiveLessons(session_factory, resume_key=secrets.token_bytes(32))
    lesson_id = setup.engine_lesson_id
    channels: list[CountingChannel] = []

    async def join(person: Person, via: Via, device: str) -> str:
        channel = CountingChannel()
        outcome = await live.join(
            lesson_id,
            person=person,
            via=via,
            device=device,
            channel=channel,
            reminder_accepted=True,
        )
        if outcome.pid is None:
            raise BenchError(f"{person} was refused: {outcome.message}")
        channels.append(channel)
        return outcome.pid

    teacher = await join(Person(Role.STAFF, str(setup.teacher_id)), Via.STAFF_SIGN_IN, "bench")
    for pupil in setup.pupils:
        pupil_person = Person(Role.PUPIL, str(pupil.pupil_id))
        pid = await join(pupil_person, Via.PUPIL_LINK, f"link:{pupil.pupil_id}")
        await live.act(lesson_id, Admit(actor=teacher, target=pid))

    lesson = await live.lesson(lesson_id)
    cycle: list[Command] = [
        Suspend(actor=teacher),
        Resume(actor=teacher),
        Unlock(actor=teacher) if lesson.state.locked else Lock(actor=teacher),
        Lock(actor=teacher) if lesson.state.locked else Unlock(actor=teacher),
    ]
    plan = [cycle[n % len(cycle)] for n in range(count)]
    viewers = list(lesson.channels)

    made: dict[str, list[int]] = {}

    def decide_and_evolve(*, views: bool) -> tuple[int, float]:
        state = lesson.state
        events = 0
        started = time.perf_counter()
        for command in plan:
            decided = decide(state, command, utc_now())
            for event in decided:
                state = evolve(state, event)
            events += len(decided)
            made.setdefault(type(command).__name__.lower(), []).append(len(decided))
            if views:
                for pid in viewers:
                    view_for(state, pid)
        return events, time.perf_counter() - started

    in_memory = decide_and_evolve(views=False)
    with_views = decide_and_evolve(views=True)
    rows_before = log_rows(session_factory, lesson_id)
    started = time.perf_counter()
    for command in plan:
        await live.act(lesson_id, command)
    acted = time.perf_counter() - started
    rows = log_rows(session_factory, lesson_id) - rows_before

    closed = [channel.closed for channel in channels if channel.closed is not None]
    if closed:
        raise BenchError(f"the engine closed {len(closed)} channel(s): {closed[0]}")
    if rows != in_memory[0]:
        raise BenchError(f"act() wrote {rows} log rows, decide() made {in_memory[0]} events")
    return Engine(
        paths=[
            Throughput("decide + evolve, in memory", count, *in_memory),
            Throughput("decide + evolve + every participant's view built", count, *with_views),
            Throughput(
                "`LiveLessons.act`: decide + append to the log (SQLite commit) + evolve + views",
                count,
                rows,
                acted,
            ),
        ],
        events_per_command={name: statistics.fmean(sizes) for name, sizes in made.items()},
    )


# --- Report --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("uvicorn", "websockets", "uvloop", "httptools")
    )
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({cpu}), {int(memory) // 1024} MiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {versions}"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _row(label: str, samples: Samples) -> str:
    return (
        f"| {label} | {len(samples.seconds)} | {_ms(samples.median)} | {_ms(samples.p95)} "
        f"| {_ms(samples.max)} |"
    )


def _ratio(label: str, ours: Samples, base: Samples) -> str:
    return (
        f"| {label} | {ours.median / base.median:.1f}x | {ours.p95 / base.p95:.1f}x "
        f"| {ours.max / base.max:.1f}x |"
    )


def report(pupils: int, rounds: int, signalling: Signalling, engine: Engine, command: str) -> str:
    people = pupils + 1
    view_size = round(statistics.fmean(signalling.view_sizes))
    chat_size = round(statistics.fmean(signalling.chat_sizes))
    staff_rows = signalling.rows_staff_commands / len(signalling.staff_commands.seconds)
    made = engine.events_per_command
    lock_events = statistics.fmean([made["lock"], made["unlock"]])
    suspend_events = statistics.fmean([made["suspend"], made["resume"]])
    lines = [
        _paragraph(f"Command: `{command}`"),
        _paragraph(f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}."),
        _paragraph(
            f"Latency from the send to the last of the {people} participants receiving the "
            f"result (teacher + {pupils} pupils, each its own WebSocket), in milliseconds. "
            "Baseline rounds alternate with SafeClass rounds and send a message of the same size "
            "as the SafeClass round before them."
        ),
        "| What | samples | median ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        _row(
            "Join: pupil `join` -> in the waiting room and on the teacher's list", signalling.join
        ),
        _row("Admit: teacher `admit` -> the pupil's view says admitted", signalling.admit),
        _row(
            f"Staff command -> every view changed (all; {staff_rows:.1f} log rows a command)",
            signalling.staff_commands,
        ),
        _row(f"- `lock` / `unlock` ({_log_rows(lock_events)} each)", signalling.lock_unlock),
        _row(
            f"- `suspend` / `resume` ({_log_rows(suspend_events)} each)",
            signalling.suspend_resume,
        ),
        _row(f"Baseline broadcast, view-sized (mean {view_size} chars)", signalling.baseline_views),
        _row("Pupil chat to the class -> everyone has it", signalling.chat),
        _row(f"Baseline broadcast, chat-sized (mean {chat_size} chars)", signalling.baseline_chat),
        "",
        "| SafeClass / baseline | median | p95 | max |",
        "|---|---:|---:|---:|",
        _ratio(
            "Staff command vs view-sized broadcast",
            signalling.staff_commands,
            signalling.baseline_views,
        ),
        _ratio("Chat vs chat-sized broadcast", signalling.chat, signalling.baseline_chat),
        "",
        "| Server process memory (RSS, MiB) | idle after start | after the run | peak |",
        "|---|---:|---:|---:|",
    ]
    for name, (before, after) in signalling.memory.items():
        lines.append(
            f"| {name} | {before.rss_kib / 1024:.1f} | {after.rss_kib / 1024:.1f} "
            f"| {after.peak_kib / 1024:.1f} |"
        )
    lines += [
        "",
        _paragraph(
            f"Log rows written through the WebSocket: {signalling.rows_joining} while the class "
            f"joined, {signalling.rows_staff_commands} for {rounds} staff commands (and the "
            f"resume that reopens chat, if one was needed), {signalling.rows_chat} for {rounds} "
            "chat messages."
        ),
        _paragraph(
            f"Engine throughput in this process, without sockets: the same command cycle on a "
            f"second lesson with the {people} participants admitted, {rounds} commands a line."
        ),
        "| Path | commands | events | events/s | ms a command |",
        "|---|---:|---:|---:|---:|",
    ]
    for path in engine.paths:
        lines.append(
            f"| {path.label} | {path.commands} | {path.events} "
            f"| {path.events / path.seconds:,.0f} | {path.seconds / path.commands * 1000:.3f} |"
        )
    in_memory, with_views, acted = (path.seconds for path in engine.paths)
    lines += [
        "",
        _paragraph(
            f"Of the time `act` takes, deciding and evolving is {in_memory / acted:.0%}, building "
            f"the participants' views {(with_views - in_memory) / acted:.0%}, and the rest (the "
            f"log append and commit, in a worker thread) {(acted - with_views) / acted:.0%}."
        ).rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"


def _log_rows(count: float) -> str:
    return "1 log row" if count == 1 else f"{count:.0f} log rows"


def _paragraph(text: str) -> str:
    """Wrapped like the rest of the docs, with the blank line after it."""
    return textwrap.fill(text, width=100, break_on_hyphens=False) + "\n"


SECTION_TITLE = """## Lesson signalling (`bench/lesson_signalling.py`)

How quickly a change in a live lesson reaches every participant, through the real app, engine, log
and SQLite database under uvicorn, compared with a bare WebSocket broadcast (no engine, no
database) served the same way to the same number of clients. Also: how long a pupil's join and
admission take, the server's memory, and how many events a second the engine decides and appends.
"""


def write_section(body: str) -> None:
    try:
        bench_results.write_section("lesson_signalling.py", SECTION_TITLE, body)
    except bench_results.SectionError as error:
        raise BenchError(str(error)) from error


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=30, help="pupils in the class (default 30)")
    parser.add_argument(
        "--rounds", type=int, default=200, help="timed rounds of each kind (default 200)"
    )
    parser.add_argument(
        "--write", action="store_true", help=f"update this benchmark's section of {RESULTS}"
    )
    args = parser.parse_args(argv)
    if args.pupils < 2 or args.rounds < 1:
        parser.error("needs at least 2 pupils (no one-to-one lessons) and 1 round")

    command = (
        f".venv/bin/python bench/lesson_signalling.py --pupils {args.pupils} --rounds {args.rounds}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="safeclass-bench-") as folder:
        _progress(f"a school with {args.pupils} pupils in {folder}")
        setup = build_school(Path(folder), args.pupils)
        signalling = asyncio.run(run_signalling(setup, args.rounds))
        _progress("the engine alone")
        engine = asyncio.run(run_engine(setup, args.rounds))
    body = report(args.pupils, args.rounds, signalling, engine, command)
    print(body)
    _progress(f"done in {time.perf_counter() - started:.0f} s")
    if args.write:
        write_section(body)
        _progress(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
