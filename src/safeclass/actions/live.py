"""Live lessons: the only path from a participant's request to the lesson engine.

For every request: the caller is already authenticated (the web layer did that) and acts only as the
participant its connection joined as; the engine decides; the events go into the lesson's log in
one transaction; only then does the state in memory move on, and each participant is sent their own
view. One lock per lesson keeps its log a single chain. A server that restarts rebuilds each live
lesson from its log, with everyone marked as disconnected until they come back.

Messages to participants go through a `Channel`: the web layer's WebSocket connections. Delivery
never waits on a slow client: each channel queues, and a client that cannot keep up is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, selectinload, sessionmaker

from safeclass.actions.guests import lesson_guests
from safeclass.actions.practice import practice_roster
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.commands import (
    Admit,
    AdmitAll,
    AdmitNext,
    Command,
    Disconnect,
    Join,
    Reconnect,
    StartRecording,
    Tick,
    UpdateRoster,
)
from safeclass.domain.lesson.decide import decide
from safeclass.domain.lesson.events import (
    AnyEvent,
    ChatFlagged,
    ChatSent,
    CommandRefused,
    JoinRefused,
    LessonPrepared,
    MediaRefused,
)
from safeclass.domain.lesson.evolve import evolve, replay, start
from safeclass.domain.lesson.media import chat_recipients
from safeclass.domain.lesson.model import (
    LessonRules,
    LessonState,
    Person,
    Phase,
    Presence,
    Role,
    RosterPupil,
    RosterStaff,
    Via,
)
from safeclass.domain.lesson.view import chat_flag_messages, views_for
from safeclass.media.ice_servers import BrowserIceServers
from safeclass.store import event_log
from safeclass.store.models import ClassGroup, Lesson, LessonStaff, Pupil
from safeclass.store.queries import lesson_consent_coverage, lesson_policy
from safeclass.timeutil import utc_now

log = logging.getLogger(__name__)

# How early people may come to a lesson's door, before its booked start.
STAFF_EARLY = timedelta(minutes=30)
PUPILS_EARLY = timedelta(minutes=15)


class Channel(Protocol):
    """One participant's connection. Both methods return at once; the connection sends later."""

    def deliver(self, message: dict[str, Any]) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class LessonUnavailableError(Exception):
    """The lesson cannot be joined now: it does not exist, or it is not open at this time. The
    same words for "no such lesson" and "not yours", so a guess learns nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    pid: str | None  # None when refused
    resume_token: str | None
    reason: ReasonCode | None = None
    message: str | None = None

    @property
    def joined(self) -> bool:
        return self.pid is not None


@dataclass
class LiveLesson:
    lesson_id: int
    state: LessonState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    channels: dict[str, Channel] = field(default_factory=dict)
    last_views: dict[str, dict[str, Any]] = field(default_factory=dict)


Listener = Callable[[LiveLesson, Sequence[AnyEvent]], Awaitable[None]]
StoreHook = Callable[[Session, int, Sequence[AnyEvent]], None]

# Everything the roster reads, in a few queries rather than two per pupil.
_ROSTER_LOADING = (
    selectinload(Lesson.class_group).selectinload(ClassGroup.pupils).selectinload(Pupil.consents),
    selectinload(Lesson.class_group)
    .selectinload(ClassGroup.pupils)
    .selectinload(Pupil.parent_links),
    selectinload(Lesson.other_staff).selectinload(LessonStaff.staff),
    selectinload(Lesson.host),
    selectinload(Lesson.school),
)

NOT_AVAILABLE = "We could not find that lesson, or it is not open now."


class LiveLessons:
    """Every live lesson of this server, in memory, each backed by its log."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        resume_key: bytes,
        clock: Callable[[], datetime] = utc_now,
        ice_servers: BrowserIceServers | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._resume_key = resume_key
        self._ice_servers = ice_servers or BrowserIceServers()
        self._clock = clock
        self._lessons: dict[int, LiveLesson] = {}
        self._loading = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._store_hooks: list[StoreHook] = []

    # --- Finding a lesson -----------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Called after each change is stored (the media layer enforces permissions from here)."""
        self._listeners.append(listener)

    def add_store_hook(self, hook: StoreHook) -> None:
        """Called inside the transaction that stores each change's events, so what it writes
        exists exactly when they do (an incident opened by a removal: `actions.incidents`)."""
        if hook not in self._store_hooks:
            self._store_hooks.append(hook)

    def live(self) -> list[LiveLesson]:
        return list(self._lessons.values())

    async def lesson(self, lesson_id: int) -> LiveLesson:
        live = self._lessons.get(lesson_id)
        if live is not None:
            return live
        async with self._loading:
            live = self._lessons.get(lesson_id)
            if live is None:
                state = await asyncio.to_thread(self._load_or_prepare, lesson_id)
                live = LiveLesson(lesson_id, state)
                self._lessons[lesson_id] = live
            return live

    def _load_or_prepare(self, lesson_id: int) -> LessonState:
        with self._session_factory() as session:
            lesson = session.get(Lesson, lesson_id)
            if lesson is None:
                raise LessonUnavailableError(NOT_AVAILABLE)
            events = event_log.load(session, lesson_id)
            if events:
                return replay(events)
            prepared = prepare_lesson(session, lesson, self._clock())
            event_log.append(session, lesson_id, [prepared])
            session.commit()
            return start(prepared)

    # --- Joining and leaving --------------------------------------------------------------------

    async def join(
        self,
        lesson_id: int,
        *,
        person: Person,
        via: Via,
        device: str,
        channel: Channel,
        reminder_accepted: bool = False,
        parent_present: bool = False,
    ) -> JoinOutcome:
        """Come to the lesson's door. Staff on the lesson go straight in; everyone else waits."""
        await asyncio.to_thread(self._check_open_now, lesson_id, person.role)
        live = await self.lesson(lesson_id)
        async with live.lock:
            if person.role is not Role.STAFF:
                # Consent, the class list and guests' invitations are read again at every
                # pupil's or guest's join, so a withdrawal takes effect at the next knock even
                # mid-lesson, and a guest invited since the lesson was loaded is expected.
                await self._refresh_roster_locked(live)
            pid = f"p{secrets.token_hex(6)}"
            command = Join(
                pid=pid,
                person=person,
                device=device,
                via=via,
                reminder_accepted=reminder_accepted,
                parent_present=parent_present,
            )
            events = await self._apply_locked(live, command, joining=(pid, channel))
        refused = next((e for e in events if isinstance(e, JoinRefused)), None)
        if refused is not None:
            return JoinOutcome(None, None, refused.reason, refused.message)
        return JoinOutcome(pid, self.resume_token(lesson_id, pid))

    async def resume(
        self, lesson_id: int, *, pid: str, resume_token: str, person: Person, channel: Channel
    ) -> bool:
        """Come back after a dropped connection, keeping one's place (admitted stays admitted)."""
        if not hmac.compare_digest(resume_token, self.resume_token(lesson_id, pid)):
            return False
        live = await self.lesson(lesson_id)
        async with live.lock:
            participant = live.state.participants.get(pid)
            if participant is None or participant.person != person:
                return False
            if participant.presence not in (Presence.WAITING, Presence.ADMITTED):
                return False
            if not participant.connected:
                # Consent withdrawn while they were away takes effect before they are back in.
                await self._refresh_roster_locked(live)
                # Welcomed on this channel before the media layer acts on the reconnection, so
                # that its messages (a new offer of what to watch) reach the new connection.
                await self._apply_locked(live, Reconnect(pid=pid), joining=(pid, channel))
                if not live.state.participants[pid].connected:
                    return False  # refused: already in on another device, or may not come now
            previous = live.channels.pop(pid, None)
            if previous is not None and previous is not channel:
                previous.close(1000, "This lesson was opened again somewhere else.")
            if previous is not channel:
                channel.deliver(self._welcome(lesson_id, pid))
            live.channels[pid] = channel
            live.last_views.pop(pid, None)
            await self._deliver_locked(live, [])
            return True

    async def disconnected(self, lesson_id: int, pid: str, channel: Channel) -> None:
        """The connection closed. Only its own channel can mark a participant as gone."""
        live = self._lessons.get(lesson_id)
        if live is None:
            return
        async with live.lock:
            if live.channels.get(pid) is not channel:
                return
            del live.channels[pid]
            live.last_views.pop(pid, None)
            participant = live.state.participants.get(pid)
            if live.state.phase is Phase.ENDED:
                return  # nothing left to leave: an ended lesson refuses everything
            if participant is not None and participant.connected:
                await self._apply_locked(live, Disconnect(pid=pid))

    def _welcome(self, lesson_id: int, pid: str) -> dict[str, Any]:
        """The first message a participant gets: who they are in this lesson, and the token that
        puts them back in their place after a dropped connection, and the STUN and TURN servers
        their browser may use to reach the media server (TURN with a credential of their own)."""
        return {
            "type": "welcome",
            "pid": pid,
            "rejoin_token": self.resume_token(lesson_id, pid),
            "ice_servers": self._ice_servers.for_participant(pid, self._clock()),
        }

    def resume_token(self, lesson_id: int, pid: str) -> str:
        message = f"resume:{lesson_id}:{pid}".encode()
        return hmac.new(self._resume_key, message, hashlib.sha256).hexdigest()

    def _check_open_now(self, lesson_id: int, role: Role) -> None:
        with self._session_factory() as session:
            lesson = session.get(Lesson, lesson_id)
            if lesson is None:
                raise LessonUnavailableError(NOT_AVAILABLE)
            now = self._clock()
            early = STAFF_EARLY if role is Role.STAFF else PUPILS_EARLY
            if now < lesson.starts_at - early:
                opens = (lesson.starts_at - early).strftime("%H:%M")
                raise LessonUnavailableError(
                    f"This lesson has not opened yet. You can come in from {opens} (UTC)."
                )
            live = self._lessons.get(lesson_id)
            running = live is not None and live.state.phase in (Phase.OPEN, Phase.HELD)
            if now > lesson.ends_at and not running:
                raise LessonUnavailableError("This lesson has finished.")

    # --- Acting ---------------------------------------------------------------------------------

    async def act(self, lesson_id: int, command: Command) -> list[AnyEvent]:
        """Apply a command from someone in the lesson. The caller fills in the actor from the
        connection itself, never from what the client claims."""
        live = await self.lesson(lesson_id)
        async with live.lock:
            if isinstance(command, Admit | AdmitNext | AdmitAll | StartRecording):
                # Let in, or record, only on consent as it stands now, not as it stood at the
                # knock.
                await self._refresh_roster_locked(live)
            return await self._apply_locked(live, command)

    async def refresh_roster(self, lesson_id: int) -> list[AnyEvent]:
        """Read the class list, staff and consent again (after a change made elsewhere)."""
        live = self._lessons.get(lesson_id)
        if live is None:
            return []
        async with live.lock:
            return await self._refresh_roster_locked(live)

    async def consent_changed(self, pupil_ids: Collection[int]) -> None:
        """A parent's consent changed for these pupils (`actions.consent`): each live lesson that
        expects one of them reads its roster again at once, so a withdrawal takes the pupil out
        of the waiting room, or out of the room, now rather than at the next knock."""
        wanted = {str(pupil_id) for pupil_id in pupil_ids}
        for live in self.live():
            if live.state.phase is Phase.ENDED or wanted.isdisjoint(live.state.pupils):
                continue
            await self.refresh_roster(live.lesson_id)

    async def tick(self) -> None:
        """Time passes for every live lesson: one held too long without staff ends."""
        for live in self.live():
            if live.state.phase is not Phase.HELD:
                continue
            async with live.lock:
                await self._apply_locked(live, Tick())
        self._forget_quiet_lessons()

    async def _refresh_roster_locked(self, live: LiveLesson) -> list[AnyEvent]:
        pupils, staff, guests = await asyncio.to_thread(self._read_roster, live.lesson_id)
        state = live.state
        if (pupils, staff, guests) == (dict(state.pupils), dict(state.staff), dict(state.guests)):
            return []
        return await self._apply_locked(
            live, UpdateRoster(pupils=pupils, staff=staff, guests=guests)
        )

    def _read_roster(
        self, lesson_id: int
    ) -> tuple[dict[str, RosterPupil], dict[str, RosterStaff], dict[str, str]]:
        with self._session_factory() as session:
            lesson = session.get(Lesson, lesson_id, options=_ROSTER_LOADING)
            if lesson is None:
                raise LessonUnavailableError(NOT_AVAILABLE)
            return lesson_roster(session, lesson, self._clock())

    async def _apply_locked(
        self,
        live: LiveLesson,
        command: Command,
        *,
        joining: tuple[str, Channel] | None = None,
    ) -> list[AnyEvent]:
        at = self._clock()
        events = decide(live.state, command, at)
        if not events:
            return events
        await asyncio.to_thread(self._store, live.lesson_id, events)
        for event in events:
            live.state = evolve(live.state, event)
        if joining is not None and _connected(live.state, joining[0]):
            pid, channel = joining
            channel.deliver(self._welcome(live.lesson_id, pid))
            live.channels[pid] = channel
        # Side effects first (the media layer enforces a mute at the SFU), then people are told:
        # once a mute is acknowledged, nothing of that stream is forwarded any more.
        for listener in self._listeners:
            try:
                await listener(live, events)
            except Exception:
                # A failing side effect must not undo what is already stored, nor stop the
                # others; it is logged for the operator.
                log.exception("listener failed for lesson %s", live.lesson_id)
        await self._deliver_locked(live, events)
        return events

    def _store(self, lesson_id: int, events: Sequence[AnyEvent]) -> None:
        with self._session_factory() as session:
            event_log.append(session, lesson_id, events)
            if self._store_hooks:
                session.flush()  # the events first: a failure of their own is never a hook's
            for hook in self._store_hooks:
                try:
                    with session.begin_nested():
                        hook(session, lesson_id, events)
                except Exception:
                    # The lesson's own record comes first: a failing hook is undone alone and
                    # logged, never a reason to lose (or refuse) what happened in the lesson.
                    log.exception("store hook failed for lesson %s", lesson_id)
            session.commit()

    async def _deliver_locked(self, live: LiveLesson, events: Sequence[AnyEvent]) -> None:
        state = live.state
        # Chat, chat-check alerts and refusals change nobody's view: only the messages go out.
        views_may_change = not events or any(
            not isinstance(event, ChatSent | ChatFlagged | CommandRefused | MediaRefused)
            for event in events
        )
        for event in events:
            if isinstance(event, ChatSent):
                message = chat_message(event)
                for pid in chat_recipients(state, event):
                    channel = live.channels.get(pid)
                    if channel is not None:
                        channel.deliver(message)
            elif isinstance(event, ChatFlagged):
                # The alert to staff in the room, the reminder to its sender: nobody else.
                for pid, flag_message in chat_flag_messages(state, event).items():
                    channel = live.channels.get(pid)
                    if channel is not None:
                        channel.deliver(flag_message)
            elif isinstance(event, CommandRefused):
                channel = live.channels.get(event.actor)
                if channel is not None:
                    channel.deliver(
                        {
                            "type": "refused",
                            "command": event.command,
                            "reason": event.reason.value,
                            "message": event.message,
                        }
                    )
        if not views_may_change:
            return
        views = views_for(state, [pid for pid in live.channels if pid in state.participants])
        for pid, channel in list(live.channels.items()):
            view = views.get(pid)
            if view is None:
                continue
            if live.last_views.get(pid) != view:
                live.last_views[pid] = view
                channel.deliver({"type": "view", "view": view})
            farewell = _farewell(state, pid)
            if farewell is not None:
                channel.close(1000, farewell)
                del live.channels[pid]
                live.last_views.pop(pid, None)

    def _forget_quiet_lessons(self) -> None:
        """Lessons with nobody connected are read back from their log when next needed."""
        for lesson_id, live in list(self._lessons.items()):
            if live.channels or live.lock.locked():
                continue
            if live.state.phase is Phase.HELD:
                continue  # still counting down the staff-absence grace period
            del self._lessons[lesson_id]

    # --- After a restart ------------------------------------------------------------------------

    async def restore(self) -> int:
        """Rebuild every lesson that was going on when the server stopped. Nobody is connected
        any more: each is marked disconnected, so the engine holds pupils until staff are back."""
        lesson_ids = await asyncio.to_thread(self._unfinished_lessons)
        for lesson_id in lesson_ids:
            live = await self.lesson(lesson_id)
            async with live.lock:
                for pid, participant in list(live.state.participants.items()):
                    if participant.connected:
                        await self._apply_locked(live, Disconnect(pid=pid))
        self._forget_quiet_lessons()
        return len(lesson_ids)

    def _unfinished_lessons(self) -> list[int]:
        unfinished = []
        with self._session_factory() as session:
            for lesson_id in event_log.lessons_with_logs(session):
                state = replay(event_log.load(session, lesson_id))
                if state.phase is not Phase.ENDED and any(
                    p.connected for p in state.participants.values()
                ):
                    unfinished.append(lesson_id)
        return unfinished


def _farewell(state: LessonState, pid: str) -> str | None:
    """Why this participant's connection ends now, or None while they stay."""
    participant = state.participants[pid]
    if state.phase is Phase.ENDED:
        return "The lesson has ended."
    if participant.presence is Presence.REMOVED:
        return "You were removed from the lesson."
    if participant.presence is Presence.DENIED:
        return "Your teacher did not let you in."
    if participant.presence is Presence.LEFT:
        return "You are no longer in this lesson."
    return None


def chat_message(event: ChatSent) -> dict[str, Any]:
    return {
        "type": "chat",
        "message": {
            "id": event.message_id,
            "from": event.pid,
            "name": event.display_name,
            "role": event.person.role.value,
            "to": event.to.value,
            "text": event.text,
            "at": event.at.isoformat(),
        },
    }


# --- Reading a lesson's people from the records ---------------------------------------------


def lesson_roster(
    session: Session, lesson: Lesson, now: datetime
) -> tuple[dict[str, RosterPupil], dict[str, RosterStaff], dict[str, str]]:
    """Who may come: the class's pupils with their consent, the lesson's active staff, and the
    guests whose invitations still work at `now` (`actions.guests`). A practice lesson's pupils
    are its simulated pupils only, and it has no guests (`actions.practice`)."""
    staff = _lesson_staff(lesson)
    if lesson.practice:
        return practice_roster(session, lesson, now), staff, {}
    coverage = lesson_consent_coverage(session, lesson)
    pupils = {
        str(pupil.pupil_id): RosterPupil(
            display_name=pupil.display_name,
            consent_ok=pupil.can_join.allowed,
            consent_reason=pupil.can_join.reason_code,
            consent_message=pupil.can_join.message,
            parent_mediated=pupil.parent_mediated,
            may_be_recorded=pupil.can_be_recorded.allowed,
        )
        for pupil in coverage.pupils
    }
    return pupils, staff, lesson_guests(session, lesson, now)


def _lesson_staff(lesson: Lesson) -> dict[str, RosterStaff]:
    staff: dict[str, RosterStaff] = {}
    if lesson.host.active:
        staff[str(lesson.host_id)] = RosterStaff(lesson.host.display_name, is_host=True)
    for member in lesson.other_staff:
        if member.staff.active and str(member.staff_id) not in staff:
            staff[str(member.staff_id)] = RosterStaff(member.staff.display_name, is_host=False)
    return staff


def prepare_lesson(session: Session, lesson: Lesson, at: datetime) -> LessonPrepared:
    pupils, staff, guests = lesson_roster(session, lesson, at)
    return LessonPrepared(
        at=at,
        lesson_id=str(lesson.id),
        rules=LessonRules.from_policy(lesson_policy(lesson)),
        pupils=pupils,
        staff=staff,
        guests=guests,
    )


def _connected(state: LessonState, pid: str) -> bool:
    """Whether `pid` came in (or back) with the events just applied: a refused join or
    reconnection leaves them absent or disconnected."""
    participant = state.participants.get(pid)
    return participant is not None and participant.connected
