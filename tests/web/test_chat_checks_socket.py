"""The chat check end to end, through the real app, engine, log and database: a pupil's phone
number is stopped with a kind reminder to that pupil, staff get the alert, and the rest of the
class hears nothing of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from safeclass.store.models import School
from tests.web.conftest import World
from tests.web.helpers import TestClient
from tests.web.test_lesson_socket import (  # noqa: F401 (lessons, teacher: fixtures)
    ORIGIN,
    KnownTokens,
    Lessons,
    _give_consent,
    events_of,
    in_class,
    join,
    lessons,
    receive,
    teacher,
    view_until,
)


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
    lessons: Lessons,  # noqa: F811
    teacher: TestClient,  # noqa: F811
    session_factory: sessionmaker[Session],
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
    lessons: Lessons,  # noqa: F811
    teacher: TestClient,  # noqa: F811
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
