"""The lesson's register as a CSV, read from the lesson's log after a real lesson (its WebSocket):
who was in the room, from when, for how long, and who was removed; safe to open in a
spreadsheet; for staff who may see the lesson only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.retention import run_retention
from safeclass.store import event_log
from safeclass.store.models import Pupil
from tests.web.conftest import BIRCH_ADMIN, ELM_TEACHER, OAK_ASSISTANT
from tests.web.helpers import TestClient, sign_in
from tests.web.test_lesson_socket import (  # noqa: F401 (lessons, teacher: fixtures)
    ORIGIN,
    KnownTokens,
    Lessons,
    _give_consent,
    in_class,
    join,
    lessons,
    teacher,
    view_until,
)


def register(client: TestClient, lesson_id: int) -> list[dict[str, str]]:
    response = client.get(f"/admin/lessons/{lesson_id}/attendance.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="register-')
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_register_csv_says_who_was_in_the_room_and_who_was_removed(
    lessons: Lessons,  # noqa: F811
    teacher: TestClient,  # noqa: F811
    session_factory: sessionmaker[Session],
) -> None:
    # A name a spreadsheet would run as a formula is written as text.
    with session_factory() as session:
        ben = session.get_one(Pupil, lessons.pupil_ids["Ben"])
        ben.first_name = "=HYPERLINK(1)"
        session.commit()
    with teacher.websocket_connect(lessons.url(), headers=ORIGIN) as staff:
        join(staff)
        with (
            teacher.websocket_connect(lessons.url(), headers=ORIGIN) as amy,
            teacher.websocket_connect(lessons.url(), headers=ORIGIN) as ben_ws,
        ):
            amy_pid = join(amy, token=lessons.token_for("Amy"), reminder_accepted=True)
            ben_pid = join(ben_ws, token=lessons.token_for("Ben"), reminder_accepted=True)
            staff.send_json({"v": 1, "type": "admit", "target": amy_pid})
            staff.send_json({"v": 1, "type": "admit", "target": ben_pid})
            view_until(amy, in_class)
            view_until(ben_ws, in_class)
            lessons.now[0] += timedelta(minutes=20)
            staff.send_json({"v": 1, "type": "remove", "target": amy_pid, "reason": "test"})
            view_until(staff, lambda v: all(p["pid"] != amy_pid for p in v["in_room"]))
            lessons.now[0] += timedelta(minutes=10)
            staff.send_json({"v": 1, "type": "end_lesson"})
            view_until(staff, lambda v: v["lesson"]["phase"] == "ended")

    rows = {row["Name"]: row for row in register(teacher, lessons.lesson_id)}
    assert set(rows) == {"Tess Teacher", "Amy Adams", "'=HYPERLINK(1) Brown"}
    amy_row = rows["Amy Adams"]
    assert amy_row["Role"] == "Pupil"
    assert amy_row["Pupil number"] == "OAK-1"
    assert amy_row["Minutes in the lesson"] == "20"
    assert amy_row["Removed by staff"] == "Yes"
    ben_row = rows["'=HYPERLINK(1) Brown"]
    assert ben_row["Minutes in the lesson"] == "30"
    assert ben_row["Removed by staff"] == "No"
    assert ben_row["Times in the room"] == "1"
    teacher_row = rows["Tess Teacher"]
    assert teacher_row["Role"] == "Staff"
    assert teacher_row["Pupil number"] == ""

    # The lesson's page links to it.
    assert (
        f"/admin/lessons/{lessons.lesson_id}/attendance.csv"
        in teacher.get(f"/admin/lessons/{lessons.lesson_id}").text
    )

    # A year on, the lesson's log is deleted; the register kept on its own reads the same.
    report = run_retention(session_factory, now=lessons.now[0] + timedelta(days=366))
    assert report.deletions
    with session_factory() as session:
        assert event_log.count_events(session, lessons.lesson_id) == 0
    assert {row["Name"]: row for row in register(teacher, lessons.lesson_id)} == rows
    assert "Amy Adams" in teacher.get(f"/admin/lessons/{lessons.lesson_id}").text


def test_a_lesson_nobody_came_to_has_an_empty_register(
    lessons: Lessons,  # noqa: F811
    teacher: TestClient,  # noqa: F811
) -> None:
    assert register(teacher, lessons.lesson_id) == []


def test_only_staff_who_may_see_the_lesson_get_its_register(
    lessons: Lessons,  # noqa: F811
) -> None:
    url = f"/admin/lessons/{lessons.lesson_id}/attendance.csv"
    with TestClient(lessons.app, follow_redirects=False) as anonymous:
        assert anonymous.get(url).status_code == 303
    for email in (ELM_TEACHER, BIRCH_ADMIN):
        with TestClient(lessons.app, follow_redirects=False) as other:
            sign_in(other, email)
            assert other.get(url).status_code == 404
    with TestClient(lessons.app, follow_redirects=False) as assistant:
        sign_in(assistant, OAK_ASSISTANT)
        assert assistant.get(url).status_code == 200
