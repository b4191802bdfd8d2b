"""The register is read from the lesson's log: time in the room counts, waiting does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from safeclass.domain.attendance import Stretch, attendance
from safeclass.domain.lesson.events import (
    Admitted,
    AnyEvent,
    Disconnected,
    Joined,
    Left,
    LockChanged,
    PhaseChanged,
    Reconnected,
    Removed,
)
from safeclass.domain.lesson.model import Person, Phase, Presence, Role, Via

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEACHER = Person(Role.STAFF, "7")
AMY = Person(Role.PUPIL, "1")
BEN = Person(Role.PUPIL, "2")
CARA = Person(Role.PUPIL, "3")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def joined(minute: int, pid: str, person: Person, name: str) -> Joined:
    staff = person.role is Role.STAFF
    return Joined(
        at=at(minute),
        pid=pid,
        person=person,
        display_name=name,
        device=pid,
        via=Via.STAFF_SIGN_IN if staff else Via.PUPIL_LINK,
        presence=Presence.ADMITTED if staff else Presence.WAITING,
        mic_on=False,
        camera_on=False,
        mic_allowed=True,
        camera_allowed=True,
        duplicate_of=None,
        parent_present=False,
    )


LESSON: list[AnyEvent] = [
    joined(0, "t", TEACHER, "Tess Teacher"),
    joined(1, "a", AMY, "Amy Adams"),
    joined(2, "b", BEN, "Ben Brown"),
    joined(2, "c", CARA, "Cara Clark"),  # waits, never let in
    Admitted(at=at(5), pid="a", by="t"),
    Admitted(at=at(6), pid="b", by="t"),
    Disconnected(at=at(10), pid="a"),
    Reconnected(at=at(12), pid="a"),
    LockChanged(at=at(13), locked=True, by="t", automatic=False),
    Removed(at=at(20), pid="b", by="t", reason="unkind words"),
    joined(25, "a2", AMY, "Amy Adams"),  # a second device, never admitted
    Left(at=at(30), pid="a"),
    PhaseChanged(at=at(40), phase=Phase.ENDED, reason="ended_by_staff"),
]


def test_time_in_the_room_counts_from_admission_and_breaks_with_the_connection() -> None:
    register = {line.display_name: line for line in attendance(LESSON)}

    assert list(register) == ["Tess Teacher", "Amy Adams", "Ben Brown"]
    assert register["Tess Teacher"].stretches == [Stretch(at(0), at(40))]
    assert register["Amy Adams"].stretches == [Stretch(at(5), at(10)), Stretch(at(12), at(30))]
    assert register["Amy Adams"].time_in_room(at(99)) == timedelta(minutes=23)
    assert register["Amy Adams"].first_in == at(5)
    assert register["Amy Adams"].last_out == at(30)
    assert register["Ben Brown"].removed
    assert not register["Amy Adams"].removed
    assert register["Ben Brown"].stretches == [Stretch(at(6), at(20))]


def test_nobody_who_only_waited_is_on_the_register() -> None:
    names = [line.display_name for line in attendance(LESSON)]
    assert "Cara Clark" not in names


def test_people_still_in_the_room_have_an_open_stretch() -> None:
    register = attendance(LESSON[:6])
    amy = next(line for line in register if line.person == AMY)
    assert amy.stretches == [Stretch(at(5), None)]
    assert amy.last_out is None
    assert amy.time_in_room(at(15)) == timedelta(minutes=10)


def test_an_empty_log_has_an_empty_register() -> None:
    assert attendance([]) == []
    line_without_time = attendance([joined(1, "a", AMY, "Amy Adams")])
    assert line_without_time == []
