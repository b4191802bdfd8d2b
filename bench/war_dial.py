"""A war-dial of typed codes: a million random (lesson code, passcode) guesses, and none gets in.

    .venv/bin/python bench/war_dial.py [--guesses 1000000] [--http-guesses 20000]
                                       [--classes 20] [--pupils 30] [--write]

What it does, all on 127.0.0.1 and in a throwaway folder:

1. Makes a fresh SQLite database with the project's own migrations: one school, a teacher,
   `--classes` classes of `--pupils` pupils each (all with live-lesson consent, old enough to join
   on their own), one lesson per class starting now, a code for every lesson and a personal link
   with a passcode for every pupil, made by the real actions (`issue_lesson_code`,
   `issue_missing_links`) under the server's own secret.
2. Serves the real app (`create_app`, no test doubles) under uvicorn in a child process, with the
   settings `safeclass serve` uses by default: client addresses come from `X-Forwarded-For` only
   when the request comes from 127.0.0.1, a reverse proxy on the same machine.
3. A control, so that a success could not go unseen: one right pair typed over HTTP gets the
   waiting-room page and its token, and that token takes the pupil into the waiting room over the
   lesson's real WebSocket.
4. The limits on the running server, over HTTP: one address typing random pairs is paused after 10
   wrong ones; random passcodes typed with a real lesson's code from many addresses pause that
   lesson after 10, even for a right passcode.
5. The war-dial. Over HTTP, `--http-guesses` random pairs from 16 keep-alive connections, each pair
   sent as if through the proxy from an address of its own group of 9, so no address ever reaches
   its limit (an attacker with as many addresses as they like). This measures the server's
   throughput. The rest of the million go through the same door (`TypedCodeDoor.attempt`, the code
   the `/code` page runs) in worker processes on the same database, with the production limits,
   spread over addresses the same way. On a small machine the door checks a few thousand pairs a
   second this way, the server several hundred over HTTP (the client shares the machine): a
   million requests over loopback would take the best part of half an hour.
6. Checks the outcome three ways: no answer was the waiting room, the audit log holds exactly one
   `typed_code_entry` (the control's), and the lesson logs hold exactly one join (the control's).
7. Computes the expected time to one success under the configured limits (see `docs/benchmarks.md`).

The Markdown goes to stdout, progress to stderr. `--write` replaces this benchmark's section of
`docs/benchmarks.md` (between its `<!-- bench/war_dial.py: ... -->` markers). Any guess that
reaches a waiting room, any answer that is not the expected refusal, a control that does not get
in, or limits that do not hold ends the run with an error.

    .venv/bin/python bench/war_dial.py serve SETUP.json   # the server process (used by the above)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from websockets.asyncio.client import connect
from websockets.typing import Origin

import results as bench_results
from safeclass import codes
from safeclass.actions.join_links import LinkScope, issue_missing_links
from safeclass.actions.typed_codes import TYPED_CODE_LOCKED, TYPED_ENTRY, issue_lesson_code
from safeclass.config import Config
from safeclass.domain.consent import ConsentScope
from safeclass.store.db import make_engine, make_session_factory, upgrade
from safeclass.store.models import (
    AuditEntry,
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
from safeclass.web.typed_entries import (
    ADDRESS_LIMIT,
    LESSON_LIMIT,
    Answer,
    TypedCodeDoor,
)

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = bench_results.RESULTS
YEAR_GROUP = 7  # joins on their own link, so typed codes are for them
SERVER_START_SECONDS = 30.0
WAIT_SECONDS = 15.0
CONNECTIONS = 16
# Each address sends at most this many guesses: one fewer than the per-address limit.
PER_ADDRESS = ADDRESS_LIMIT.max_failures - 1
YEAR_SECONDS = 365.25 * 24 * 3600
TARGET_YEARS = 1e9
NO_MATCH_WORDS = "Those codes do not match a lesson we can let you into."
ENTRY_TOKEN = re.compile(r'data-entry-token="([^"]+)"')


class BenchError(Exception):
    """The run cannot go on, or it found what it must never find."""


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# --- The school, in a throwaway database ---------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    lesson_id: int
    code: str
    passcode: str


@dataclass(frozen=True)
class Setup:
    data_dir: str
    database_url: str
    classes: int
    pupils: int
    control: Pair  # a right pair, typed once to show that success would be seen
    paused_lesson: Pair  # a real lesson code, attacked until it pauses, and a right passcode

    def config(self) -> Config:
        return Config(
            data_dir=Path(self.data_dir),
            database_url=self.database_url,
            host=HOST,
            port=0,
            secure_cookies=False,
        )

    @classmethod
    def load(cls, path: Path) -> Setup:
        raw = json.loads(path.read_text())
        return cls(
            **{
                **raw,
                "control": Pair(**raw["control"]),
                "paused_lesson": Pair(**raw["paused_lesson"]),
            }
        )


def build_school(folder: Path, classes: int, pupils: int) -> Setup:
    database_url = f"sqlite:///{folder / 'safeclass-war-dial.db'}"
    data_dir = folder / "data"
    key = codes.passcode_key(
        Config(data_dir, database_url, HOST, 0, secure_cookies=False).secret_key()
    )
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with make_session_factory(engine)() as session:
            pairs = _add_rows(session, key, classes, pupils)
            session.commit()
    finally:
        engine.dispose()
    return Setup(
        data_dir=str(data_dir),
        database_url=database_url,
        classes=classes,
        pupils=pupils,
        control=pairs[0],
        paused_lesson=pairs[1],
    )


def _add_rows(session: Session, key: bytes, classes: int, pupils: int) -> list[Pair]:
    now = utc_now()
    trust = Trust(name="War-dial Trust")
    session.add(trust)
    session.flush()
    school = School(trust_id=trust.id, name="War-dial School", slug="war-dial")
    teacher = StaffMember(trust_id=trust.id, email="teacher@war-dial.example", display_name="T")
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
    session.flush()
    pairs = []
    for class_number in range(classes):
        group = ClassGroup(
            school_id=school.id, name=f"Class {class_number + 1:03d}", year_group=YEAR_GROUP
        )
        session.add(group)
        session.flush()
        for number in range(pupils):
            pupil = Pupil(
                school_id=school.id,
                mis_id=f"WD-{class_number}-{number}",
                first_name=f"Pupil{number:03d}",
                last_name=f"Class{class_number:03d}",
                year_group=YEAR_GROUP,
            )
            parent = Parent(trust_id=trust.id, display_name=f"Parent {class_number}-{number}")
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
        lesson = Lesson(
            school_id=school.id,
            class_group_id=group.id,
            host_id=teacher.id,
            title=f"Lesson of class {class_number + 1}",
            starts_at=now,
            ends_at=now + timedelta(hours=2),
        )
        session.add(lesson)
        session.flush()
        code = issue_lesson_code(session, lesson, actor=teacher)
        issued = issue_missing_links(
            session, LinkScope.for_class(group), actor=teacher, now=now, passcode_key=key
        )
        assert issued[0].passcode is not None
        pairs.append(Pair(lesson.id, code, issued[0].passcode))
    return pairs


# --- The server, in a process of its own ---------------------------------------------------------


def serve(setup_file: Path) -> None:
    """The real app, as `safeclass serve` runs it with the default settings."""
    import uvicorn

    from safeclass.web.app import create_app

    setup = Setup.load(setup_file)
    config = setup.config()
    app = create_app(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    port = listener.getsockname()[1]

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            print(f"listening {port}", flush=True)

    server = Announcing(
        uvicorn.Config(
            app,
            host=HOST,
            log_level="warning",
            timeout_graceful_shutdown=5,
            proxy_headers=bool(config.trusted_proxies),
            forwarded_allow_ips=list(config.trusted_proxies),
        )
    )
    server.run(sockets=[listener])


class ServerProcess:
    def __init__(self, setup_file: Path) -> None:
        self._command = [sys.executable, str(Path(__file__).resolve()), "serve", str(setup_file)]
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
            raise BenchError(f"the server did not start (said {line!r})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            raise BenchError("the server is not running")
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise BenchError("the server did not stop on SIGTERM") from None
        if process.returncode not in (0, -signal.SIGTERM):
            raise BenchError(f"the server exited with {process.returncode}")


# --- Guesses -------------------------------------------------------------------------------------


def random_code(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(codes.ALPHABET, k=length))


def flood_address(base: int, index: int) -> str:
    """The address of guess `index`: a new one every `PER_ADDRESS` guesses, from 10.0.0.0/8."""
    number = base + index // PER_ADDRESS
    return f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"


@dataclass
class Tally:
    guesses: int = 0
    seconds: float = 0.0
    no_match: int = 0
    paused: int = 0
    waiting_room: int = 0
    other: int = 0

    @property
    def rate(self) -> float:
        return self.guesses / self.seconds if self.seconds else 0.0

    def add(self, other: Tally) -> None:
        self.guesses += other.guesses
        self.no_match += other.no_match
        self.paused += other.paused
        self.waiting_room += other.waiting_room
        self.other += other.other


# --- Over HTTP -----------------------------------------------------------------------------------


class CodePage:
    """One browser-like client of `/code`: its form cookie and token, kept for every post."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    @classmethod
    async def open(cls, base: str) -> CodePage:
        client = httpx.AsyncClient(
            base_url=base,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=WAIT_SECONDS,
            trust_env=False,  # loopback only, whatever the environment says about proxies
        )
        page = await client.get("/code")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or found is None:
            raise BenchError(f"/code answered {page.status_code} without a form")
        return cls(client, found.group(1))

    async def type(self, address: str, code: str, passcode: str) -> httpx.Response:
        return await self.client.post(
            "/code",
            data={"csrf_token": self.token, "lesson_code": code, "passcode": passcode},
            headers={"X-Forwarded-For": address},
        )

    async def close(self) -> None:
        await self.client.aclose()


def classify(response: httpx.Response) -> Answer:
    if response.status_code == 200 and ENTRY_TOKEN.search(response.text):
        return Answer.WAITING_ROOM
    if response.status_code == 400 and NO_MATCH_WORDS in response.text:
        return Answer.NO_MATCH
    if response.status_code == 429:
        return Answer.LESSON_PAUSED if "for this lesson" in response.text else Answer.ADDRESS_PAUSED
    raise BenchError(f"unexpected answer {response.status_code}: {response.text[:300]!r}")


async def control(base: str, port: int, pair: Pair) -> str:
    """A right pair over HTTP, and its token into the waiting room over the WebSocket."""
    page = await CodePage.open(base)
    try:
        response = await page.type("192.0.2.200", codes.shown(pair.code), pair.passcode.lower())
    finally:
        await page.close()
    found = ENTRY_TOKEN.search(response.text)
    if response.status_code != 200 or found is None:
        raise BenchError(f"the control's right codes were refused: {response.status_code}")
    async with connect(
        f"ws://{HOST}:{port}/lessons/{pair.lesson_id}/live",
        origin=Origin(base),
        proxy=None,
        ping_interval=None,
    ) as ws:
        join = {"v": 1, "type": "join", "token": found.group(1), "reminder_accepted": True}
        await ws.send(json.dumps(join))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), WAIT_SECONDS))
            if message["type"] in ("error", "refused"):
                raise BenchError(f"the control was turned away: {message}")
            if message["type"] == "view" and message["view"]["you"]["presence"] == "waiting":
                return str(message["view"]["you"]["name"])


async def limits_on_the_server(base: str, pair: Pair) -> dict[str, list[str]]:
    """One address over its limit; one lesson code over its limit, then its right passcode."""
    rng = random.Random(1)  # noqa: S311 (an attacker's guesses; seeded to be repeatable)
    page = await CodePage.open(base)
    seen: dict[str, list[str]] = {"address": [], "lesson": []}
    try:
        for _ in range(ADDRESS_LIMIT.max_failures + 2):
            response = await page.type(
                "192.0.2.1", random_code(rng, codes.LESSON_CODE_LENGTH), random_code(rng, 12)
            )
            seen["address"].append(classify(response).value)
        for number in range(LESSON_LIMIT.max_failures + 2):
            response = await page.type(
                f"192.0.2.{10 + number}", pair.code, random_code(rng, codes.PASSCODE_LENGTH)
            )
            seen["lesson"].append(classify(response).value)
        response = await page.type("192.0.2.99", pair.code, pair.passcode)
        seen["lesson"].append(f"right passcode: {classify(response).value}")
    finally:
        await page.close()
    expected_address = ["no_match"] * ADDRESS_LIMIT.max_failures + ["address_paused"] * 2
    expected_lesson = [
        *(["no_match"] * LESSON_LIMIT.max_failures),
        *(["lesson_paused"] * 2),
        "right passcode: lesson_paused",
    ]
    if seen["address"] != expected_address or seen["lesson"] != expected_lesson:
        raise BenchError(f"the limits did not hold: {seen}")
    return seen


async def http_flood(base: str, count: int, seed: int) -> Tally:
    pages = [await CodePage.open(base) for _ in range(CONNECTIONS)]
    tally = Tally()
    answers: Counter[Answer] = Counter()
    rng = random.Random(seed)  # noqa: S311 (an attacker's guesses; seeded to be repeatable)
    guesses = [
        (
            flood_address(0, index),
            random_code(rng, codes.LESSON_CODE_LENGTH),
            random_code(rng, codes.PASSCODE_LENGTH),
        )
        for index in range(count)
    ]
    next_guess = iter(guesses)

    async def worker(page: CodePage) -> None:
        for address, code, passcode in next_guess:
            answers[classify(await page.type(address, code, passcode))] += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(page) for page in pages))
    finally:
        tally.seconds = time.perf_counter() - started
        for page in pages:
            await page.close()
    _fill(tally, answers)
    return tally


def _fill(tally: Tally, answers: Counter[Answer]) -> None:
    tally.guesses = sum(answers.values())
    tally.no_match = answers[Answer.NO_MATCH]
    tally.paused = answers[Answer.ADDRESS_PAUSED] + answers[Answer.LESSON_PAUSED]
    tally.waiting_room = answers[Answer.WAITING_ROOM]
    tally.other = tally.guesses - tally.no_match - tally.paused - tally.waiting_room


# --- In process, through the same door ----------------------------------------------------------


def door_flood(setup_file: str, first: int, count: int, seed: int) -> dict[str, Any]:
    """`count` random pairs through `TypedCodeDoor.attempt`, in a worker process of its own."""
    setup = Setup.load(Path(setup_file))
    config = setup.config()
    engine = make_engine(setup.database_url)
    door = TypedCodeDoor(make_session_factory(engine), secret_key=config.secret_key())
    rng = random.Random(seed)  # noqa: S311 (an attacker's guesses; seeded to be repeatable)
    answers: Counter[Answer] = Counter()
    started = time.perf_counter()
    for index in range(first, first + count):
        answer = door.attempt(
            flood_address(1 << 22, index),
            random_code(rng, codes.LESSON_CODE_LENGTH),
            random_code(rng, codes.PASSCODE_LENGTH),
        )
        answers[answer.answer] += 1
    seconds = time.perf_counter() - started
    engine.dispose()
    tally = Tally(seconds=seconds)
    _fill(tally, answers)
    return asdict(tally)


def in_process_flood(setup_file: Path, first: int, count: int, workers: int) -> Tally:
    shares = [count // workers + (1 if n < count % workers else 0) for n in range(workers)]
    starts = [first + sum(shares[:n]) for n in range(workers)]
    tally = Tally()
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(door_flood, str(setup_file), start, share, 1000 + n)
            for n, (start, share) in enumerate(zip(starts, shares, strict=True))
        ]
        for future in futures:
            tally.add(Tally(**future.result()))
    tally.seconds = time.perf_counter() - started
    return tally


# --- What was found afterwards ------------------------------------------------------------------


@dataclass(frozen=True)
class Afterwards:
    entries: int  # typed_code_entry audit rows
    pauses: int  # typed_code_locked audit rows
    joins: int  # joins in every lesson's log


def look_afterwards(setup: Setup) -> Afterwards:
    engine = make_engine(setup.database_url)
    try:
        with make_session_factory(engine)() as session:

            def audit(action: str) -> int:
                query = select(func.count()).select_from(AuditEntry)
                return session.scalar(query.where(AuditEntry.action == action)) or 0

            joins = session.scalar(
                select(func.count())
                .select_from(LessonEventRecord)
                .where(LessonEventRecord.type == "joined")
            )
            return Afterwards(audit(TYPED_ENTRY), audit(TYPED_CODE_LOCKED), joins or 0)
    finally:
        engine.dispose()


# --- The expected time to one success -----------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    attack: str
    guesses: float  # needed on average for one success
    per_second: float
    rate_words: str

    @property
    def years(self) -> float:
        return self.guesses / self.per_second / YEAR_SECONDS


def estimates(setup: Setup, http_rate: float, door_rate: float) -> list[Estimate]:
    passcodes = len(codes.ALPHABET) ** codes.PASSCODE_LENGTH
    lesson_codes = len(codes.ALPHABET) ** codes.LESSON_CODE_LENGTH
    per_lesson = setup.pupils  # passcodes that open one lesson: one per pupil's link
    lesson_rate = LESSON_LIMIT.max_failures / max(
        LESSON_LIMIT.lock_seconds, LESSON_LIMIT.window_seconds
    )
    limit_words = (
        f"{LESSON_LIMIT.max_failures} per {LESSON_LIMIT.lock_seconds / 60:.0f} min per lesson"
    )
    pairs = setup.classes * per_lesson
    return [
        Estimate(
            "Knows a lesson's code, guesses passcodes (the worst case: only the lesson's limit "
            "holds them back)",
            passcodes / (2 * per_lesson),
            lesson_rate,
            limit_words,
        ),
        Estimate(
            f"Knows the codes of all {setup.classes} lessons at once, guesses passcodes at each",
            passcodes / (2 * per_lesson),
            lesson_rate * setup.classes,
            f"{setup.classes} x {limit_words}",
        ),
        Estimate(
            "Guesses both codes, from as many addresses as they like (per-address limits "
            "ignored), at this server's measured HTTP rate",
            lesson_codes * passcodes / (2 * pairs),
            http_rate,
            f"{http_rate:,.0f}/s",
        ),
        Estimate(
            "The same at 1,000 times the door's in-process rate (a far bigger server)",
            lesson_codes * passcodes / (2 * pairs),
            door_rate * 1000,
            f"{door_rate * 1000:,.0f}/s",
        ),
    ]


# --- Report --------------------------------------------------------------------------------------


def _machine() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lesson_signalling import machine

    return machine()


def _paragraph(text: str) -> str:
    return textwrap.fill(text, width=100, break_on_hyphens=False) + "\n"


def _sci(value: float) -> str:
    exponent = math.floor(math.log10(value))
    return f"{value / 10**exponent:.2f} x 10^{exponent}"


def _row(name: str, tally: Tally) -> str:
    return (
        f"| {name} | {tally.guesses:,} | {tally.seconds:.1f} | {tally.rate:,.0f} | "
        f"{tally.no_match:,} | {tally.paused:,} | {tally.waiting_room} |"
    )


def report(
    setup: Setup,
    command: str,
    name: str,
    limits: dict[str, list[str]],
    http: Tally,
    door: Tally,
    afterwards: Afterwards,
    found: list[Estimate],
    seconds: float,
) -> str:
    now = datetime.now(UTC)
    total = Tally()
    total.add(http)
    total.add(door)
    total.seconds = http.seconds + door.seconds
    lines = [
        f"Command: `{command}`",
        "",
        _paragraph(
            f"Run on {now:%Y-%m-%d %H:%M} UTC. Machine: {_machine()}. The school: "
            f"{setup.classes} lessons, each with its own code, for {setup.classes} classes of "
            f"{setup.pupils} pupils, each pupil with a personal link and passcode. The whole run "
            f"took {seconds:.0f} s."
        ),
        _paragraph(
            "Control: a right pair typed over HTTP got the waiting-room page, and its token "
            f"took {name} into the lesson's waiting room over the real WebSocket. Limits on the "
            "running server: one address typing random pairs got "
            f"{limits['address'].count('no_match')} refusals, then pauses; a real lesson's code "
            f"typed with random passcodes from {LESSON_LIMIT.max_failures + 2} addresses got "
            f"{limits['lesson'].count('no_match')} refusals, then pauses, and then a right "
            "passcode for that lesson was paused too."
        ),
        "| Guesses (random lesson code and passcode) | guesses | seconds | guesses/s | "
        "refused | paused | reached a waiting room |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row(f"Over HTTP, {CONNECTIONS} keep-alive connections, real server", http),
        _row("In process, `TypedCodeDoor.attempt`, same database and limits", door),
        _row("**All**", total),
        "",
        _paragraph(
            f"Afterwards: {afterwards.entries} `typed_code_entry` in the audit log (the "
            f"control's), {afterwards.joins} join in the lessons' logs (the control's), "
            f"{afterwards.pauses} `typed_code_locked` (the two pauses above, each written once). "
            "Every address sent at most "
            f"{PER_ADDRESS} guesses, so no address was paused: the flood is an attacker with as "
            "many addresses as they like, believed through the proxy's X-Forwarded-For."
        ),
        "Expected time to one success under the configured limits "
        f"(target: more than {_sci(TARGET_YEARS)} years):",
        "",
        "| Attack | guesses needed on average | rate | expected time |",
        "|---|---:|---:|---:|",
        *(
            f"| {e.attack} | {_sci(e.guesses)} | {e.rate_words} | {_sci(e.years)} years |"
            for e in found
        ),
        "",
        _paragraph(
            "Guesses needed on average: the codes that could be guessed divided by twice the right "
            f"ones. A passcode is one of 31^{codes.PASSCODE_LENGTH} and a lesson code one of "
            f"31^{codes.LESSON_CODE_LENGTH}; {setup.pupils} passcodes open each lesson (one per "
            "pupil's link; a class with both class links and links for that one lesson would "
            "have twice as many, halving the times). The lesson's limit allows at most "
            f"{LESSON_LIMIT.max_failures} wrong passcodes per {LESSON_LIMIT.lock_seconds / 60:.0f} "
            "minutes whatever the number of addresses, since attempts for one lesson are checked "
            "one at a time. An attacker must first learn a lesson's code, which is given to the "
            "class at lesson time; knowing several only divides the time by their number."
        ),
    ]
    return "\n".join(lines)


SECTION_TITLE = """## War-dial of typed codes (`bench/war_dial.py`)

A million random (lesson code, passcode) guesses at the `/code` page's door of a running server,
with the limits as configured for production: none reaches a waiting room. Most guesses go through
the door's own code in process (the same `TypedCodeDoor.attempt` the page calls, on the same
database, in one process per CPU), so that the run ends within minutes; a sample goes over real
HTTP to the server, to measure its rate and to show its limits holding. See the script's docstring
for every step.
"""


def write_section(body: str) -> None:
    try:
        bench_results.write_section("war_dial.py", SECTION_TITLE, body)
    except bench_results.SectionError as error:
        raise BenchError(str(error)) from error


# --- Running it ----------------------------------------------------------------------------------


async def over_http(setup: Setup, port: int, http_guesses: int) -> tuple[str, Any, Tally]:
    base = f"http://{HOST}:{port}"
    _progress("control: right codes, then the waiting room over the WebSocket")
    name = await control(base, port, setup.control)
    _progress("limits on the running server")
    limits = await limits_on_the_server(base, setup.paused_lesson)
    _progress(f"{http_guesses:,} random pairs over HTTP")
    http = await http_flood(base, http_guesses, seed=7)
    return name, limits, http


def run(args: argparse.Namespace, command: str) -> str:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="safeclass-war-dial-") as folder:
        _progress(f"a school of {args.classes} classes of {args.pupils} pupils in {folder}")
        setup = build_school(Path(folder), args.classes, args.pupils)
        setup_file = Path(folder) / "setup.json"
        setup_file.write_text(json.dumps(asdict(setup)))
        server = ServerProcess(setup_file)
        server.start()
        try:
            name, limits, http = asyncio.run(over_http(setup, server.port, args.http_guesses))
            rest = args.guesses - http.guesses
            workers = max(1, len(os.sched_getaffinity(0)))
            _progress(f"{rest:,} random pairs through the door in {workers} processes")
            door = in_process_flood(setup_file, args.http_guesses, rest, workers)
        finally:
            server.stop()
        afterwards = look_afterwards(setup)
    _check(http, door, afterwards)
    found = estimates(setup, http.rate, door.rate)
    if found[0].years <= TARGET_YEARS:
        raise BenchError(f"the worst case is {found[0].years:.3g} years, not over 10^9")
    seconds = time.perf_counter() - started
    return report(setup, command, name, limits, http, door, afterwards, found, seconds)


def _check(http: Tally, door: Tally, afterwards: Afterwards) -> None:
    for tally in (http, door):
        if tally.waiting_room or tally.other:
            raise BenchError(f"a guess got in, or got an unexpected answer: {tally}")
    if afterwards != Afterwards(entries=1, pauses=2, joins=1):
        raise BenchError(f"the logs show more than the control and the two pauses: {afterwards}")


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        serve(Path(arguments[1]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--guesses", type=int, default=1_000_000, help="in all (default 1000000)")
    parser.add_argument(
        "--http-guesses", type=int, default=20_000, help="of them over HTTP (default 20000)"
    )
    parser.add_argument("--classes", type=int, default=20, help="one lesson each (default 20)")
    parser.add_argument("--pupils", type=int, default=30, help="in each class (default 30)")
    parser.add_argument(
        "--write", action="store_true", help=f"update this benchmark's section of {RESULTS}"
    )
    args = parser.parse_args(arguments)
    if args.classes < 2 or args.pupils < 2 or not 0 < args.http_guesses <= args.guesses:
        parser.error("needs 2 classes of 2 pupils, and some but not all guesses over HTTP")
    command = (
        f".venv/bin/python bench/war_dial.py --guesses {args.guesses} "
        f"--http-guesses {args.http_guesses} --classes {args.classes} --pupils {args.pupils}"
    )
    started = time.perf_counter()
    body = run(args, command)
    print(body)
    _progress(f"done in {time.perf_counter() - started:.0f} s")
    if args.write:
        write_section(body)
        _progress(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
