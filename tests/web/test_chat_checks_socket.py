"""The chat check end to end, through the real app, engine, log and database: a pupil's phone
number is stopped with a kind reminder to that pupil, staff get the alert, and the rest of the
class hears nothing of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.live import LiveLessons
from safeclass.config import Config
from safeclass.store.models import Lesson, Pupil, School
from safeclass.web.app import create_app
from tests.web.conftest import OAK_TEACHER, World
from tests.web.helpers import TestClient, sign_in
from tests.web.test_lesson_socket import (
    ORIGIN,
    KnownTokens,
    Lessons,
    _give_consent,
    events_of,
    in_class,
    join,
    receive,
    view_until,
)


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


def messages_until_chat(ws: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Everything up to and including the next chat message."""
    seen = []
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        seen.append(message)
        if message["type"] == "chat":
            return seen
    raise AssertionError("no chat message")


def test_a_phone_number_is_stopped_staff_are_alerted_and_the_class_hears_nothing(
    lessons: Lessons, teacher: TestClient, session_factory: sessionmaker[Session]
) -> None:
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

            amy.send_json({"v": 1, "type": "chat", "to": "class", "text": "ring me 07700 900123"})
            not_sent = receive(amy, "chat_not_sent")
            assert not_sent["kinds"] == ["phone_number"]
            assert "a phone number" in not_sent["message"]
            alert = receive(staff, "chat_alert")["alert"]
            assert alert["from"] == amy_pid
            assert alert["text"] == "ring me 07700 900123"
            assert alert["blocked"] is True
            assert alert["found"] == [{"kind": "phone_number", "start": 8, "end": 20}]

            amy.send_json({"v": 1, "type": "chat", "to": "class", "text": "sorry, hello"})
            # Ben's next chat is the second message: the first, and the alert, never reached him.
            seen = messages_until_chat(ben)
            assert seen[-1]["message"]["text"] == "sorry, hello"
            assert {m["type"] for m in seen} <= {"view", "chat"}
            assert "07700" not in str(seen)
    log = events_of(session_factory, lessons.lesson_id)
    assert log.count("chat_flagged") == 1
    assert log.count("chat_sent") == 1


def test_a_word_the_school_added_is_stopped_like_any_swear_word(
    lessons: Lessons,
    teacher: TestClient,
    session_factory: sessionmaker[Session],
    world: World,
) -> None:
    with session_factory() as session:
        school = session.get_one(School, world.oak_id)
        school.policy_overrides = {"chat_extra_words": ["plonker"]}
        session.commit()
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

            amy.send_json({"v": 1, "type": "chat", "to": "class", "text": "ben is a PL0NKER"})
            assert receive(amy, "chat_not_sent")["kinds"] == ["profanity"]
            alert = receive(staff, "chat_alert")["alert"]
            assert alert["kinds"] == ["profanity"]
            assert alert["blocked"] is True

            amy.send_json({"v": 1, "type": "chat", "to": "class", "text": "hello ben"})
            seen = messages_until_chat(ben)
            assert seen[-1]["message"]["text"] == "hello ben"
            assert "PL0NKER" not in str(seen)
