"""Codes to type, through the web: the `/code` page, the lesson page's "Code to type" section, the
limits on wrong codes (per client address and per lesson, with a clock the tests control), the
typed-entry token and its reader, and a pupil reaching the waiting room over the real lesson
WebSocket with nothing but two typed codes."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import Response
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass import codes
from safeclass.actions.join_links import (
    Holder,
    IssuedLink,
    LinkScope,
    issue_link,
    issue_missing_links,
    revoke_link,
)
from safeclass.actions.live import LiveLessons
from safeclass.actions.typed_codes import (
    LESSON_CODE_ISSUED,
    LESSON_CODE_REPLACED,
    TYPED_CODE_LOCKED,
    TYPED_ENTRY,
    issue_lesson_code,
)
from safeclass.config import Config
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    GuestInvitation,
    JoinLink,
    Lesson,
    Pupil,
    School,
    StaffMember,
)
from safeclass.web.app import create_app
from safeclass.web.context import WebContext
from safeclass.web.join_tokens import Entrant, FirstThatKnows
from safeclass.web.link_reader import DatabaseJoinLinks
from safeclass.web.pages.typed_codes import MALFORMED, MISSING, NO_MATCH, door_for
from safeclass.web.ratelimit import FIFTEEN_MINUTES
from safeclass.web.typed_entries import (
    ADDRESS_LIMIT,
    ENTRY_TOKEN_MAX_AGE,
    LESSON_LIMIT,
    Answer,
    EntryKind,
    TypedCodeDoor,
    TypedCodeLimiter,
    TypedEntries,
    TypedEntry,
    TypedEntryTokens,
    address_key,
    read_codes,
)
from tests.web.conftest import ELM_TEACHER, OAK_TEACHER, World
from tests.web.helpers import TestClient, form_values, sign_in

ORIGIN = {"origin": "http://testserver"}
ENTRY_TOKEN = re.compile(r'data-entry-token="([^"]+)"')
MAKE_CODE = "/admin/typed-codes/make"


class FakeClock:
    """Seconds, for the limiter."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Door:
    """The app under test, its clocks, and what the tests made in it."""

    app: FastAPI
    web: WebContext
    session_factory: sessionmaker[Session]
    world: World
    key: bytes
    secret: bytes
    times: list[datetime]
    clock: FakeClock

    def now(self) -> datetime:
        return self.times[0]

    def client(self, address: str = "198.51.100.7") -> TestClient:
        return TestClient(self.app, follow_redirects=False, client=(address, 50000))

    def audit(self, action: str) -> list[AuditEntry]:
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
                )
            )

    def audit_count(self) -> int:
        with self.session_factory() as session:
            return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


@pytest.fixture
def door(config: Config, session_factory: sessionmaker[Session], world: World) -> Door:
    with session_factory() as session:
        starts = session.get_one(Lesson, world.oak_lesson_id).starts_at
    times = [starts]

    def clock() -> datetime:
        return times[0]

    secret = config.secret_key()
    live = LiveLessons(session_factory, resume_key=b"r" * 32, clock=clock)
    app = create_app(
        config,
        session_factory=session_factory,
        live=live,
        join_tokens=FirstThatKnows(DatabaseJoinLinks(clock), TypedEntries(secret, clock)),
    )
    web = app.state.safeclass
    assert isinstance(web, WebContext)
    web.now = clock
    fake = FakeClock()
    door_for(app).limiter = TypedCodeLimiter(clock=fake)
    return Door(
        app,
        web,
        session_factory,
        world,
        codes.passcode_key(secret),
        secret,
        times,
        fake,
    )


def staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def pupil(session: Session, first_name: str) -> Pupil:
    return session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()


def class_links(door: Door) -> dict[str, IssuedLink]:
    """Class links (with passcodes) for Amy, Ben and Cara, made a day before the lesson."""
    with door.session_factory() as session:
        issued = issue_missing_links(
            session,
            LinkScope.for_class(session.get_one(ClassGroup, door.world.kestrels_id)),
            actor=staff(session, OAK_TEACHER),
            now=door.now() - timedelta(days=1),
            passcode_key=door.key,
        )
        session.commit()
        return {item.holder.pupil.first_name: item for item in issued}


def lesson_code(door: Door, lesson_id: int | None = None) -> str:
    with door.session_factory() as session:
        lesson = session.get_one(Lesson, lesson_id or door.world.oak_lesson_id)
        code = issue_lesson_code(
            session, lesson, actor=session.get_one(StaffMember, lesson.host_id)
        )
        session.commit()
        return code


def passcode_of(issued: IssuedLink) -> str:
    assert issued.passcode is not None
    return issued.passcode


def type_codes(client: TestClient, lesson_code: str | None, passcode: str | None) -> Response:
    values = form_values(client.get("/code").text, "/code")
    data = {"csrf_token": values["csrf_token"]}
    if lesson_code is not None:
        data["lesson_code"] = lesson_code
    if passcode is not None:
        data["passcode"] = passcode
    response: Response = client.post("/code", data=data)
    return response


def entry_token(page: str) -> str | None:
    found = ENTRY_TOKEN.search(page)
    return found.group(1) if found else None


def problem(page: str) -> str:
    found = re.search(
        r'<div class="notice notice--problem" role="alert">\s*<p>(.*?)</p>', page, re.S
    )
    assert found is not None, page
    return found.group(1).replace("&#39;", "'")


# --- The page where codes are typed ---------------------------------------------------------------


def test_the_code_page_asks_for_both_codes_in_plain_words(door: Door) -> None:
    with door.client() as client:
        response = client.get("/code")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "safeclass_code" in response.headers["set-cookie"]
    page = response.text
    assert "Lesson code" in page
    assert "Passcode" in page
    assert "your teacher gives it to you" in page
    assert "cannot use codes" in page  # children who join with a parent
    assert set(form_values(page, "/code")) == {"csrf_token", "lesson_code", "passcode"}
    assert "Sign out" not in page


def test_right_codes_lead_to_the_waiting_room_page_with_a_token(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    with door.client("203.0.113.9") as client:
        # As people type them: small letters, spaces, dashes.
        response = type_codes(
            client, codes.shown(code).lower(), " " + codes.shown(passcode_of(links["Amy"])) + " "
        )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert "Hello, Amy" in page
    assert "Adams" not in page
    assert "waiting room for <strong>Fractions together</strong>" in page
    assert f'data-lesson-id="{door.world.oak_lesson_id}"' in page
    assert f'data-socket-path="/lessons/{door.world.oak_lesson_id}/live"' in page
    token = entry_token(page)
    assert token is not None
    assert TypedEntryTokens(door.secret, door.now).read(token, door.world.oak_lesson_id) == (
        TypedEntry(EntryKind.LINK, links["Amy"].link.id, door.world.oak_lesson_id)
    )
    (entry,) = door.audit(TYPED_ENTRY)
    assert entry.actor_staff_id is None
    assert entry.school_id == door.world.oak_id
    assert entry.data == {
        "lesson_id": door.world.oak_lesson_id,
        "address": "203.0.113.9",
        "link_id": links["Amy"].link.id,
        "pupil_id": links["Amy"].link.pupil_id,
        "parent_id": None,
    }
    assert passcode_of(links["Amy"]) not in repr(entry.data)
    assert code not in repr(entry.data)


def test_codes_typed_the_wrong_way_round_still_work(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    with door.client() as client:
        response = type_codes(client, passcode_of(links["Ben"]), code)
    assert response.status_code == 200
    assert "Hello, Ben" in response.text


def test_a_link_for_this_lesson_only_has_a_passcode_that_works_too(door: Door) -> None:
    with door.session_factory() as session:
        lesson = session.get_one(Lesson, door.world.oak_lesson_id)
        made = issue_link(
            session,
            LinkScope.for_lesson(lesson),
            Holder(pupil(session, "Cara")),
            actor=staff(session, OAK_TEACHER),
            now=door.now() - timedelta(hours=1),
            passcode_key=door.key,
        )
        session.commit()
    code = lesson_code(door)
    with door.client() as client:
        response = type_codes(client, code, passcode_of(made))
    assert response.status_code == 200
    assert entry_token(response.text) is not None


@dataclass(frozen=True)
class Wrong:
    """One way of getting the pair wrong."""

    name: str


WRONG_WAYS = [
    "unknown lesson code",
    "unknown passcode",
    "another lessons code",
    "another schools lesson",
    "revoked link",
    "replaced link",
    "expired link",
    "pupil left the class",
    "link for another lesson",
    "guest invited to another lesson",
    "withdrawn guest invitation",
]


@pytest.mark.parametrize("how", WRONG_WAYS)
def test_every_wrong_pair_gets_the_same_answer_and_no_token(door: Door, how: str) -> None:
    links = class_links(door)
    code = lesson_code(door)
    passcode = passcode_of(links["Amy"])
    world = door.world
    with door.session_factory() as session:
        teacher = staff(session, OAK_TEACHER)
        oak_lesson = session.get_one(Lesson, world.oak_lesson_id)
        if how == "unknown lesson code":
            code = next(c for c in iter(codes.new_lesson_code, None) if c != code)
        elif how == "unknown passcode":
            passcode = codes.new_passcode()
        elif how == "another lessons code":
            spelling = Lesson(
                school_id=oak_lesson.school_id,
                class_group_id=oak_lesson.class_group_id,
                host_id=oak_lesson.host_id,
                title="Spelling",
                starts_at=oak_lesson.starts_at,
                ends_at=oak_lesson.ends_at,
            )
            session.add(spelling)
            session.flush()
            made = issue_link(
                session,
                LinkScope.for_lesson(spelling),
                Holder(pupil(session, "Ben")),
                actor=teacher,
                now=door.now(),
                passcode_key=door.key,
            )
            passcode = passcode_of(made)  # Ben's passcode, for Spelling only
        elif how == "another schools lesson":
            session.commit()
            code = lesson_code(door, world.birch_lesson_id)
        elif how == "revoked link":
            revoke_link(
                session,
                session.get_one(JoinLink, links["Amy"].link.id),
                actor=teacher,
                now=door.now(),
            )
        elif how == "replaced link":
            issue_link(
                session,
                LinkScope.for_class(oak_lesson.class_group),
                Holder(pupil(session, "Amy")),
                actor=teacher,
                now=door.now(),
                passcode_key=door.key,
            )
        elif how == "expired link":
            door.times[0] = links["Amy"].link.expires_at
            oak_lesson.starts_at = door.now()
            oak_lesson.ends_at = door.now() + timedelta(hours=1)
        elif how == "pupil left the class":
            oak_lesson.class_group.pupils.remove(pupil(session, "Amy"))
        elif how == "link for another lesson":
            later = Lesson(
                school_id=oak_lesson.school_id,
                class_group_id=oak_lesson.class_group_id,
                host_id=oak_lesson.host_id,
                title="Later",
                starts_at=oak_lesson.starts_at + timedelta(days=1),
                ends_at=oak_lesson.ends_at + timedelta(days=1),
            )
            session.add(later)
            session.flush()
            passcode = passcode_of(
                issue_link(
                    session,
                    LinkScope.for_lesson(later),
                    Holder(pupil(session, "Amy")),
                    actor=teacher,
                    now=door.now(),
                    passcode_key=door.key,
                )
            )
        elif how in ("guest invited to another lesson", "withdrawn guest invitation"):
            passcode = codes.new_passcode()
            invitation = GuestInvitation(
                school_id=world.oak_id,
                lesson_id=world.oak_lesson_id,
                display_name="Dr Visitor",
                token_hash="g" * 64,
                passcode_hmac=codes.passcode_hmac(door.key, passcode),
                expires_at=door.now() + timedelta(days=1),
            )
            if how == "withdrawn guest invitation":
                invitation.revoked_at = door.now() - timedelta(minutes=1)
            else:
                invitation.lesson_id = world.birch_lesson_id
                invitation.school_id = world.birch_id
            session.add(invitation)
        session.commit()
    audit_before = door.audit_count()
    with door.client() as client:
        response = type_codes(client, code, passcode)
    assert response.status_code == 400
    assert problem(response.text) == NO_MATCH
    assert entry_token(response.text) is None
    assert "Hello" not in response.text
    assert door.audit_count() == audit_before  # a wrong pair is counted, not audited


def test_a_wrong_pair_keeps_the_lesson_code_typed_but_never_the_passcode(door: Door) -> None:
    class_links(door)
    code = lesson_code(door)
    wrong = codes.new_passcode()
    with door.client() as client:
        response = type_codes(client, code, wrong)
    values = form_values(response.text, "/code")
    assert values["lesson_code"] == code
    assert values["passcode"] == ""
    assert wrong not in response.text


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lesson_code_typed", "passcode_typed", "words"),
    [
        (None, None, MISSING),
        ("", "", MISSING),
        ("   ", "ABCD-EFGH-JKMN", MISSING),
        ("ABCD-EFGH-JK", None, MISSING),
        ("ABCD-EFGH-J", "ABCD-EFGH-JKMN", MALFORMED),
        ("ABCD-EFGH-JK", "ABCD-EFGH-JKM", MALFORMED),
        ("ABCD-EFGH-JK", "ABCD-EFGH-JK", MALFORMED),  # two lesson codes
        ("ABCD-EFGH-0K", "ABCD-EFGH-JKMN", MALFORMED),  # 0 is never used
        ("A" * 5000, "B" * 5000, MALFORMED),
        ("ÄBCD-ÉFGH-JK", "ABCD-EFGH-JKMN", MALFORMED),
        ("ＡＢＣＤＥＦＧＨＪＫ", "ABCD-EFGH-JKMN", MALFORMED),
        ("😀" * 10, "ABCD-EFGH-JKMN", MALFORMED),
        ("ABCD\x00EFGHJK", "ABCD-EFGH-JKMN", MALFORMED),
        ("<script>alert(1)</script>", "ABCD-EFGH-JKMN", MALFORMED),
        ("' OR 1=1 --", "ABCD-EFGH-JKMN", MALFORMED),
    ],
)
def test_malformed_input_gets_a_clear_answer_and_changes_nothing(
    door: Door, lesson_code_typed: str | None, passcode_typed: str | None, words: str
) -> None:
    class_links(door)
    lesson_code(door)
    audit_before = door.audit_count()
    with door.client() as client:
        response = type_codes(client, lesson_code_typed, passcode_typed)
    assert response.status_code == 400
    assert problem(response.text) == words
    assert "<script>alert" not in response.text
    assert entry_token(response.text) is None
    assert door.audit_count() == audit_before
    # Not even counted: something that cannot be a code tells a guesser nothing.
    assert door_for(door.app).limiter.tracked() == (0, 0)


def test_a_form_without_its_token_or_from_another_site_is_refused(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    right = {"lesson_code": code, "passcode": passcode_of(links["Amy"])}
    with door.client() as client:
        assert client.post("/code", data=right).status_code == 403
        token = form_values(client.get("/code").text, "/code")["csrf_token"]
        assert client.post("/code", data={**right, "csrf_token": "forged"}).status_code == 403
        response = client.post(
            "/code", data={**right, "csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        too_big = client.post("/code", data={**right, "csrf_token": token, "x": "y" * 70_000})
        assert too_big.status_code == 413
    assert door.audit(TYPED_ENTRY) == []


# --- Limits and pauses ----------------------------------------------------------------------------


def test_too_many_wrong_codes_from_one_address_pause_it_even_for_right_codes(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    right = passcode_of(links["Amy"])
    assert ADDRESS_LIMIT.max_failures == 10
    with door.client("192.0.2.10") as attacker:
        for _ in range(ADDRESS_LIMIT.max_failures):
            # Unknown lesson codes: they count against the address.
            response = type_codes(attacker, codes.new_lesson_code(), codes.new_passcode())
            assert response.status_code == 400
        paused = type_codes(attacker, code, right)
        assert paused.status_code == 429
        assert 0 < int(paused.headers["retry-after"]) <= FIFTEEN_MINUTES
        assert "too many wrong codes from this internet connection" in paused.text
        assert "wait 15 minutes" in paused.text
        assert entry_token(paused.text) is None
        for _ in range(5):
            assert type_codes(attacker, codes.new_lesson_code(), right).status_code == 429

    (locked,) = door.audit(TYPED_CODE_LOCKED)  # once for the pause, not once a try
    assert locked.data == {"by": "address", "address": "192.0.2.10", "minutes": 15}
    assert locked.school_id is None
    assert door.audit(TYPED_ENTRY) == []
    # Unknown lesson codes are not counted against any lesson.
    assert door_for(door.app).limiter.tracked() == (1, 0)

    with door.client("192.0.2.11") as neighbour:
        assert type_codes(neighbour, code, right).status_code == 200

    door.clock.advance(FIFTEEN_MINUTES - 1)
    with door.client("192.0.2.10") as attacker:
        paused = type_codes(attacker, code, right)
        assert paused.status_code == 429
        assert "wait a minute" in paused.text
        door.clock.advance(1)
        assert type_codes(attacker, code, right).status_code == 200
    assert len(door.audit(TYPED_CODE_LOCKED)) == 1


def test_too_many_wrong_passcodes_for_a_lesson_pause_typing_its_code_from_anywhere(
    door: Door,
) -> None:
    links = class_links(door)
    code = lesson_code(door)
    assert LESSON_LIMIT.max_failures == 10
    # Spread over addresses, so that no address reaches its own limit.
    for number in range(LESSON_LIMIT.max_failures):
        with door.client(f"192.0.2.{100 + number}") as client:
            assert type_codes(client, code, codes.new_passcode()).status_code == 400
    with door.client("198.51.100.200") as amy:
        paused = type_codes(amy, code, passcode_of(links["Amy"]))
    assert paused.status_code == 429
    assert "too many wrong codes for this lesson" in paused.text
    assert "use it now" in paused.text  # their link still works
    assert entry_token(paused.text) is None
    (locked,) = door.audit(TYPED_CODE_LOCKED)
    assert locked.data == {
        "by": "lesson",
        "address": "192.0.2.109",
        "minutes": 15,
        "lesson_id": door.world.oak_lesson_id,
    }
    assert locked.school_id == door.world.oak_id

    # Links still work while typing is paused.
    with door.session_factory() as session:
        assert (
            DatabaseJoinLinks(door.now).read(session, door.world.oak_lesson_id, links["Amy"].token)
            is not None
        )

    # Staff see the pause on the lesson's page, and a new code ends it.
    with door.client() as teacher:
        sign_in(teacher, OAK_TEACHER)
        page = teacher.get(f"/admin/lessons/{door.world.oak_lesson_id}").text
        assert "Typing codes for this lesson has stopped for 15 minutes" in page
        response = teacher.post(MAKE_CODE, data=form_values(page, MAKE_CODE))
        assert response.status_code == 303
        page = teacher.get(f"/admin/lessons/{door.world.oak_lesson_id}").text
        assert "has stopped" not in page
    with door.session_factory() as session:
        new_code = session.get_one(Lesson, door.world.oak_lesson_id).typed_code
    assert new_code is not None
    assert new_code != code
    with door.client("198.51.100.200") as amy:
        assert type_codes(amy, new_code, passcode_of(links["Amy"])).status_code == 200
        # The old code opens nothing now, paused or not.
        assert type_codes(amy, code, passcode_of(links["Ben"])).status_code in (400, 429)


def test_a_lesson_pause_ends_by_itself(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    for number in range(LESSON_LIMIT.max_failures):
        with door.client(f"192.0.2.{100 + number}") as client:
            type_codes(client, code, codes.new_passcode())
    with door.client() as amy:
        assert type_codes(amy, code, passcode_of(links["Amy"])).status_code == 429
        door.clock.advance(FIFTEEN_MINUTES)
        assert type_codes(amy, code, passcode_of(links["Amy"])).status_code == 200


def test_wrong_codes_older_than_the_window_no_longer_count(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    with door.client("192.0.2.50") as client:
        for _ in range(ADDRESS_LIMIT.max_failures - 1):
            type_codes(client, code, codes.new_passcode())
        door.clock.advance(FIFTEEN_MINUTES + 1)
        for _ in range(ADDRESS_LIMIT.max_failures - 1):
            assert type_codes(client, code, codes.new_passcode()).status_code == 400
        assert type_codes(client, code, passcode_of(links["Amy"])).status_code == 200
    assert door.audit(TYPED_CODE_LOCKED) == []


def test_a_right_pair_does_not_wipe_out_wrong_ones(door: Door) -> None:
    """A pupil with a passcode of their own cannot use it to keep guessing at another's."""
    links = class_links(door)
    code = lesson_code(door)
    with door.client("192.0.2.60") as pupil_guessing:
        for _ in range(ADDRESS_LIMIT.max_failures - 1):
            type_codes(pupil_guessing, code, codes.new_passcode())
        assert type_codes(pupil_guessing, code, passcode_of(links["Ben"])).status_code == 200
        assert type_codes(pupil_guessing, code, codes.new_passcode()).status_code == 400
        assert type_codes(pupil_guessing, code, passcode_of(links["Ben"])).status_code == 429


def test_parallel_guesses_cannot_get_past_a_limit(door: Door) -> None:
    """Fifty guesses at once at one lesson, from fifty addresses: exactly ten are checked."""
    class_links(door)
    code = lesson_code(door)
    typed_door = door_for(door.app)
    start = threading.Barrier(50)

    def guess(number: int) -> Answer:
        start.wait()
        return typed_door.attempt(f"192.0.2.{number}", code, codes.new_passcode()).answer

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(guess, range(50)))
    assert answers.count(Answer.NO_MATCH) == LESSON_LIMIT.max_failures
    assert answers.count(Answer.LESSON_PAUSED) == 50 - LESSON_LIMIT.max_failures
    assert len(door.audit(TYPED_CODE_LOCKED)) == 1


def test_ipv6_addresses_count_by_their_network() -> None:
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("testclient") == "testclient"
    assert len(address_key("x" * 500)) == 64


def test_ipv6_neighbours_share_one_count(
    session_factory: sessionmaker[Session], world: World
) -> None:
    limiter = TypedCodeLimiter(clock=FakeClock())
    typed_door = TypedCodeDoor(session_factory, secret_key=b"s" * 32, limiter=limiter)
    for number in range(ADDRESS_LIMIT.max_failures):
        answer = typed_door.attempt(
            f"2001:db8:5:6::{number + 1:x}", codes.new_lesson_code(), codes.new_passcode()
        )
        assert answer.answer is Answer.NO_MATCH
    paused = typed_door.attempt(
        "2001:db8:5:6:1:2:3:4", codes.new_lesson_code(), codes.new_passcode()
    )
    assert paused.answer is Answer.ADDRESS_PAUSED


# --- Right codes at the wrong time ----------------------------------------------------------------


def test_a_lesson_not_open_yet_or_finished_says_so_only_to_right_codes(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    starts = door.now()
    door.times[0] = starts - timedelta(hours=1)
    with door.client() as client:
        early = type_codes(client, code, passcode_of(links["Amy"]))
        assert early.status_code == 409
        assert "Your codes are right, but Fractions together has not started yet" in early.text
        assert "You can come in from" in early.text
        assert entry_token(early.text) is None
        wrong = type_codes(client, code, codes.new_passcode())
        assert problem(wrong.text) == NO_MATCH

        door.times[0] = starts + timedelta(hours=2)
        late = type_codes(client, code, passcode_of(links["Amy"]))
        assert late.status_code == 409
        assert "Fractions together has finished" in late.text
        assert problem(type_codes(client, code, codes.new_passcode()).text) == NO_MATCH
    assert door.audit(TYPED_ENTRY) == []


def test_a_pupil_who_must_join_with_a_parent_is_told_codes_cannot_do_that(door: Door) -> None:
    links = class_links(door)  # made while Year 4 joined on its own
    code = lesson_code(door)
    with door.session_factory() as session:
        session.get_one(School, door.world.oak_id).policy_overrides = {
            "parent_mediated_below_year": 5
        }
        session.commit()
    with door.client() as client:
        response = type_codes(client, code, passcode_of(links["Amy"]))
    assert response.status_code == 409
    text = response.text.replace("&#39;", "'")
    assert "children in Year 4 join this lesson with a parent or carer" in text
    assert "Codes cannot be used for that" in text
    assert entry_token(response.text) is None


# --- Staff: the lesson's code ---------------------------------------------------------------------


def test_staff_make_and_replace_the_code_on_the_lesson_page(door: Door) -> None:
    url = f"/admin/lessons/{door.world.oak_lesson_id}"
    with door.client() as teacher:
        sign_in(teacher, OAK_TEACHER)
        page = teacher.get(url).text
        assert "Code to type" in page
        assert "This lesson has no code yet" in page
        assert '<code class="email">testserver/code</code>' in page
        values = form_values(page, MAKE_CODE)
        assert values["lesson_id"] == str(door.world.oak_lesson_id)
        response = teacher.post(MAKE_CODE, data=values)
        assert response.status_code == 303
        assert response.headers["location"] == f"{url}#code-to-type"
        with door.session_factory() as session:
            first = session.get_one(Lesson, door.world.oak_lesson_id).typed_code
        assert first is not None
        page = teacher.get(url).text
        assert codes.shown(first) in page
        assert "Make a new code" in page

        teacher.post(MAKE_CODE, data=form_values(page, MAKE_CODE))
        with door.session_factory() as session:
            second = session.get_one(Lesson, door.world.oak_lesson_id).typed_code
        assert second not in (None, first)
        assert codes.shown(first) not in teacher.get(url).text

        # Without the session's token nothing changes.
        for token in (None, "wrong"):
            data = {"lesson_id": str(door.world.oak_lesson_id)}
            if token is not None:
                data["csrf_token"] = token
            assert teacher.post(MAKE_CODE, data=data).status_code == 403
    with door.session_factory() as session:
        assert session.get_one(Lesson, door.world.oak_lesson_id).typed_code == second
    assert len(door.audit(LESSON_CODE_ISSUED)) == 1
    assert len(door.audit(LESSON_CODE_REPLACED)) == 1


@pytest.mark.parametrize("lesson_id", ["", "abc", "0", "-1", "9" * 40, "987654", "BIRCH"])
def test_staff_cannot_make_codes_for_lessons_they_cannot_see(door: Door, lesson_id: str) -> None:
    with door.client() as teacher:
        sign_in(teacher, OAK_TEACHER)
        csrf = form_values(teacher.get("/admin").text, "/signout")["csrf_token"]
        lesson_id = lesson_id.replace("BIRCH", str(door.world.birch_lesson_id))
        response = teacher.post(MAKE_CODE, data={"csrf_token": csrf, "lesson_id": lesson_id})
    assert response.status_code == 404
    with door.session_factory() as session:
        assert session.scalars(select(Lesson.typed_code)).all() == [None, None]
    assert door.audit(LESSON_CODE_ISSUED) == []


def test_staff_of_another_school_cannot_see_or_make_the_code(door: Door) -> None:
    code = lesson_code(door)
    with door.client() as elm:
        sign_in(elm, ELM_TEACHER)
        assert elm.get(f"/admin/lessons/{door.world.oak_lesson_id}").status_code == 404
        csrf = form_values(elm.get("/admin").text, "/signout")["csrf_token"]
        response = elm.post(
            MAKE_CODE, data={"csrf_token": csrf, "lesson_id": str(door.world.oak_lesson_id)}
        )
        assert response.status_code == 404
    with door.session_factory() as session:
        assert session.get_one(Lesson, door.world.oak_lesson_id).typed_code == code


# --- The new links page, the letters and the mail-merge file --------------------------------------


def test_new_links_show_their_passcodes_once_and_the_file_and_letters_carry_them(
    door: Door,
) -> None:
    with door.client() as teacher:
        sign_in(teacher, OAK_TEACHER)
        listing = teacher.get(f"/admin/classes/{door.world.kestrels_id}/join-links").text
        new_page = teacher.post(
            "/admin/join-links/create", data=form_values(listing, "/admin/join-links/create")
        ).text
        passcodes = re.findall(r"<td><code>([A-Z0-9-]{14})</code></td>", new_page)
        assert len(passcodes) == 3
        assert "http://testserver/code" in new_page
        # Each passcode is its link's own.
        with door.session_factory() as session:
            stored = set(session.scalars(select(JoinLink.passcode_hmac)))
        raw = [codes.normalise(p) for p in passcodes]
        assert {codes.passcode_hmac(door.key, p) for p in raw if p is not None} == stored
        # Shown once: the class's page does not have them.
        listing = teacher.get(f"/admin/classes/{door.world.kestrels_id}/join-links").text
        assert not any(p in listing for p in passcodes)

        values = form_values(new_page, "/admin/join-links/document")
        csv_file = teacher.post("/admin/join-links/document", data={**values, "format": "csv"})
        assert csv_file.status_code == 200
        text = csv_file.content.decode("utf-8-sig")
        header = text.splitlines()[0]
        assert header.endswith("Passcode,Where to type the passcode")
        for passcode in passcodes:
            assert f"{passcode},http://testserver/code" in text
        pdf = teacher.post("/admin/join-links/document", data={**values, "format": "pdf"})
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")

        # A passcode changed on the way back is refused: a letter never carries a wrong one.
        token, _, passcode = values["tokens"].split()[0].partition(":")
        changed = values["tokens"].replace(f"{token}:{passcode}", f"{token}:{codes.new_passcode()}")
        for tokens in (
            changed,
            values["tokens"].replace(f":{passcode}", ""),  # left out
            values["tokens"].replace(f":{passcode}", ":not-a-passcode"),
            values["tokens"].replace(f":{passcode}", f":{passcode}:{passcode}"),
        ):
            response = teacher.post(
                "/admin/join-links/document", data={**values, "tokens": tokens, "format": "csv"}
            )
            assert response.status_code == 400
        # Typed back in small letters, it is still the link's own, printed as issued.
        lower = values["tokens"].replace(f":{passcode}", f":{passcode.lower()}")
        response = teacher.post(
            "/admin/join-links/document", data={**values, "tokens": lower, "format": "csv"}
        )
        assert response.status_code == 200
        assert f"{codes.shown(passcode)},http://testserver/code" in response.content.decode(
            "utf-8-sig"
        )


def test_the_letter_explains_codes_to_a_pupil_only(door: Door) -> None:
    from safeclass.web.link_letters import LetterFonts, LinkSheetRow, links_pdf

    def row(passcode: str | None, parent: str | None) -> LinkSheetRow:
        return LinkSheetRow(
            pupil_first_name="Amy",
            pupil_last_name="Adams",
            year_group=4,
            class_name="Year 4 Kestrels",
            school_name="Oak Primary",
            parent_name=parent,
            parent_email=None,
            url="http://testserver/join/" + "A" * 32,
            expires_at=door.now() + timedelta(days=30),
            lesson_title=None,
            lesson_starts_at=None,
            passcode=passcode,
            code_page="http://testserver/code" if passcode else None,
        )

    # The built-in font writes text as it is (the system's font writes glyph numbers), and fpdf2
    # compresses each page: the text is read back from the uncompressed pages.
    pupil_pdf = links_pdf([row("ABCDEFGHJKMN", None)], LetterFonts.built_in())
    parent_pdf = links_pdf([row(None, "Alex Adams")], LetterFonts.built_in())
    assert _pdf_text(pupil_pdf).count("ABCD-EFGH-JKMN") == 1
    assert "http://testserver/code" in _pdf_text(pupil_pdf)
    assert "If your link will not open" in _pdf_text(pupil_pdf)
    assert "ABCD" not in _pdf_text(parent_pdf)
    assert "cannot come in by typing codes" in _pdf_text(parent_pdf)


def _pdf_text(pdf: bytes) -> str:
    """The words of the letters, lines joined by spaces."""
    import zlib

    lines = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            page = zlib.decompress(stream).decode("latin-1")
        except zlib.error:
            continue
        lines.extend(re.findall(r"\((.*?)\) Tj", page))
    return " ".join(line.strip() for line in lines)


# --- The token and its reader ---------------------------------------------------------------------


def test_the_reader_knows_the_pupil_and_checks_the_link_again(door: Door) -> None:
    links = class_links(door)
    amy = links["Amy"].link
    tokens = TypedEntryTokens(door.secret, door.now)
    reader = TypedEntries(door.secret, door.now)
    token = tokens.mint(TypedEntry(EntryKind.LINK, amy.id, door.world.oak_lesson_id))
    with door.session_factory() as session:
        assert reader.read(session, door.world.oak_lesson_id, token) == Entrant(
            Person(Role.PUPIL, str(amy.pupil_id)), Via.TYPED_CODE, f"link:{amy.id}"
        )
        # For another lesson, forged, or changed: nothing.
        assert reader.read(session, door.world.birch_lesson_id, token) is None
        assert (
            TypedEntries(b"x" * 32, door.now).read(session, door.world.oak_lesson_id, token) is None
        )
        assert reader.read(session, door.world.oak_lesson_id, token[:-2] + "xx") is None
        for odd in ("", "a" * 10_000, "not.a.token", links["Amy"].token):
            assert reader.read(session, door.world.oak_lesson_id, odd) is None
        # A token from another of our signers (the sign-in form's) is not one.
        assert (
            reader.read(session, door.world.oak_lesson_id, door.web.sign_in_tokens.issue(None))
            is None
        )

        # Ten minutes later it has expired.
        door.times[0] += timedelta(minutes=10, seconds=1)
        assert reader.read(session, door.world.oak_lesson_id, token) is None
        door.times[0] -= timedelta(minutes=10, seconds=1)

        # The link stopped working after the token was made: so does the token.
        revoke_link(
            session,
            session.get_one(JoinLink, amy.id),
            actor=staff(session, OAK_TEACHER),
            now=door.now(),
        )
        session.commit()
        assert reader.read(session, door.world.oak_lesson_id, token) is None


def test_the_reader_knows_a_named_guest(door: Door) -> None:
    with door.session_factory() as session:
        invitation = GuestInvitation(
            school_id=door.world.oak_id,
            lesson_id=door.world.oak_lesson_id,
            display_name="Dr Visitor",
            token_hash="g" * 64,
            passcode_hmac=codes.passcode_hmac(door.key, "GUESTPASSWRD"),
            expires_at=door.now() + timedelta(hours=3),
        )
        session.add(invitation)
        session.commit()
        invitation_id = invitation.id
    code = lesson_code(door)
    with door.client() as client:
        response = type_codes(client, code, "GUES-TPAS-SWRD")
    assert response.status_code == 200
    assert "Welcome, Dr Visitor" in response.text
    token = entry_token(response.text)
    assert token is not None
    reader = TypedEntries(door.secret, door.now)
    with door.session_factory() as session:
        assert reader.read(session, door.world.oak_lesson_id, token) == Entrant(
            Person(Role.GUEST, str(invitation_id)), Via.TYPED_CODE, f"guest:{invitation_id}"
        )
        session.get_one(GuestInvitation, invitation_id).revoked_at = door.now()
        session.commit()
        assert reader.read(session, door.world.oak_lesson_id, token) is None
    (entry,) = door.audit(TYPED_ENTRY)
    assert entry.data["guest_invitation_id"] == invitation_id


def test_the_apps_own_reader_knows_typed_entries(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    """Wired in `create_app`: no reader passed in, real clocks."""
    from safeclass.timeutil import utc_now

    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        lesson.starts_at = utc_now()
        lesson.ends_at = utc_now() + timedelta(hours=1)
        made = issue_link(
            session,
            LinkScope.for_class(lesson.class_group),
            Holder(pupil(session, "Amy")),
            actor=staff(session, OAK_TEACHER),
            now=utc_now(),
            passcode_key=codes.passcode_key(config.secret_key()),
        )
        code = issue_lesson_code(session, lesson, actor=staff(session, OAK_TEACHER))
        session.commit()
    app = create_app(config, session_factory=session_factory)
    with TestClient(app, follow_redirects=False) as client:
        token = entry_token(type_codes(client, code, passcode_of(made)).text)
    assert token is not None
    web = app.state.safeclass
    with session_factory() as session:
        entrant = web.join_tokens.read(session, world.oak_lesson_id, token)
        assert entrant == Entrant(
            Person(Role.PUPIL, str(made.link.pupil_id)), Via.TYPED_CODE, f"link:{made.link.id}"
        )
        # And the link's own token still goes to the link reader.
        assert web.join_tokens.read(session, world.oak_lesson_id, made.token).via is Via.PUPIL_LINK


# --- End to end: two typed codes to the waiting room ----------------------------------------------


def receive(ws: Any, kind: str, limit: int = 20) -> dict[str, Any]:
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


@pytest.fixture
def teacher(door: Door) -> Iterator[TestClient]:
    with door.client() as client:
        sign_in(client, OAK_TEACHER)
        yield client


def test_typed_codes_reach_the_waiting_room_and_no_further(door: Door, teacher: TestClient) -> None:
    links = class_links(door)
    code = lesson_code(door)
    with door.client("203.0.113.20") as home:
        token = entry_token(type_codes(home, code, passcode_of(links["Amy"])).text)
    assert token is not None
    url = f"/lessons/{door.world.oak_lesson_id}/live"
    with teacher.websocket_connect(url, headers=ORIGIN) as staff_ws:
        staff_ws.send_json({"v": 1, "type": "join"})
        receive(staff_ws, "welcome")
        # Pupils connect through the teacher's client (one event loop, as a real server has);
        # the token decides who they are, not the teacher's cookie.
        with teacher.websocket_connect(url, headers=ORIGIN) as amy:
            amy.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
            receive(amy, "welcome")
            amy_view = view_until(amy, lambda v: v["you"]["presence"] == "waiting")
            assert amy_view["you"]["name"] == "Amy Adams"
            assert amy_view["you"]["role"] == "pupil"
            waiting = view_until(staff_ws, lambda v: len(v["waiting"]) == 1)["waiting"]
            assert waiting[0]["name"] == "Amy Adams"
            assert waiting[0]["flags"] == []

            # The same pupil on her link as well: the same person, so a second device, flagged.
            with teacher.websocket_connect(url, headers=ORIGIN) as second:
                second.send_json(
                    {"v": 1, "type": "join", "token": links["Amy"].token, "reminder_accepted": True}
                )
                receive(second, "welcome")
                waiting = view_until(staff_ws, lambda v: len(v["waiting"]) == 2)["waiting"]
                assert [w["flags"] for w in waiting].count(["second_device"]) >= 1

        # An expired typed-entry token does not open the door.
        door.times[0] += timedelta(minutes=11)
        with teacher.websocket_connect(url, headers=ORIGIN) as late:
            late.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
            error = receive(late, "error")
            assert error["code"] == "not_recognised"


@given(st.one_of(st.none(), st.text(max_size=80)), st.one_of(st.none(), st.text(max_size=80)))
def test_whatever_is_typed_the_door_reads_it_as_codes_or_says_why_not(
    typed_code: str | None, typed_passcode: str | None
) -> None:
    read = read_codes(typed_code, typed_passcode)
    if isinstance(read, Answer):
        assert read in (Answer.MISSING, Answer.MALFORMED)
        return
    code, passcode = read
    assert len(code) == codes.LESSON_CODE_LENGTH
    assert len(passcode) == codes.PASSCODE_LENGTH
    assert set(code + passcode) <= set(codes.ALPHABET)


def test_right_codes_lead_on_to_the_lesson_page_and_a_spent_token_does_not(door: Door) -> None:
    links = class_links(door)
    code = lesson_code(door)
    lesson_id = door.world.oak_lesson_id
    with door.client("203.0.113.9") as client:
        page = type_codes(client, code, passcode_of(links["Amy"])).text
        token = entry_token(page)
        assert token is not None
        url = f"/code/{token}/lessons/{lesson_id}"
        assert f'href="{url}"' in page

        lesson_page = client.get(url)
        assert lesson_page.status_code == 200
        assert 'data-role="pupil"' in lesson_page.text
        assert "Amy" in lesson_page.text
        assert token not in lesson_page.text  # only in the address, sent only in `join`
        assert lesson_page.headers["referrer-policy"] == "no-referrer"

        other_lesson = client.get(f"/code/{token}/lessons/{lesson_id + 1000}")
        assert other_lesson.status_code == 404
        assert "type them again" in other_lesson.text
        assert client.get(f"/code/x{token}/lessons/{lesson_id}").status_code == 404
        links_own_token = links["Amy"].token
        assert client.get(f"/code/{links_own_token}/lessons/{lesson_id}").status_code == 404

        door.times[0] += ENTRY_TOKEN_MAX_AGE + timedelta(seconds=1)
        assert client.get(url).status_code == 404
