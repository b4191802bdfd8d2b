"""Attendance, read from a lesson's event log: who was in the room, from when to when.

"In the room" means let in and connected. Time in the waiting room does not count; a dropped
connection ends a stretch and a reconnection starts a new one. Everyone's stretches end when the
lesson ends. The register is derived from the log alone, so it cannot disagree with what happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from safeclass.domain.lesson.events import (
    Admitted,
    AnyEvent,
    Disconnected,
    Joined,
    Left,
    PhaseChanged,
    Reconnected,
    Removed,
)
from safeclass.domain.lesson.model import Person, Phase, Presence


@dataclass(frozen=True, slots=True)
class Stretch:
    start: datetime
    end: datetime | None  # None: still in the room

    def length(self, now: datetime) -> timedelta:
        return (self.end or now) - self.start


@dataclass(slots=True)
class AttendanceLine:
    """One person's time in the lesson, over every device they used."""

    person: Person
    display_name: str
    stretches: list[Stretch] = field(default_factory=list)
    removed: bool = False

    @property
    def first_in(self) -> datetime | None:
        return self.stretches[0].start if self.stretches else None

    @property
    def last_out(self) -> datetime | None:
        if not self.stretches or any(s.end is None for s in self.stretches):
            return None
        return max(s.end for s in self.stretches if s.end is not None)

    def time_in_room(self, now: datetime) -> timedelta:
        return sum((s.length(now) for s in self.stretches), timedelta())


@dataclass(slots=True)
class _Device:
    person: Person
    admitted: bool
    connected: bool = True
    since: datetime | None = None


def attendance(events: Iterable[AnyEvent]) -> list[AttendanceLine]:
    """The register, in the order people first came into the room."""
    devices: dict[str, _Device] = {}
    lines: dict[Person, AttendanceLine] = {}

    def enter(pid: str, at: datetime) -> None:
        device = devices[pid]
        if device.admitted and device.connected and device.since is None:
            device.since = at

    def leave(pid: str, at: datetime) -> None:
        device = devices[pid]
        if device.since is not None:
            lines[device.person].stretches.append(Stretch(device.since, at))
            device.since = None

    for event in events:
        if isinstance(event, Joined):
            admitted = event.presence is Presence.ADMITTED
            devices[event.pid] = _Device(event.person, admitted)
            lines.setdefault(event.person, AttendanceLine(event.person, event.display_name))
            enter(event.pid, event.at)
        elif isinstance(event, Admitted):
            devices[event.pid].admitted = True
            enter(event.pid, event.at)
        elif isinstance(event, Reconnected):
            devices[event.pid].connected = True
            enter(event.pid, event.at)
        elif isinstance(event, Disconnected):
            devices[event.pid].connected = False
            leave(event.pid, event.at)
        elif isinstance(event, Left | Removed):
            devices[event.pid].admitted = False
            leave(event.pid, event.at)
            if isinstance(event, Removed):
                lines[devices[event.pid].person].removed = True
        elif isinstance(event, PhaseChanged) and event.phase is Phase.ENDED:
            for pid in devices:
                leave(pid, event.at)
    for device in devices.values():
        if device.since is not None:
            lines[device.person].stretches.append(Stretch(device.since, None))
    present = [line for line in lines.values() if line.stretches]
    for line in present:
        line.stretches.sort(key=lambda stretch: stretch.start)
    return sorted(present, key=lambda line: (line.stretches[0].start, line.display_name))
