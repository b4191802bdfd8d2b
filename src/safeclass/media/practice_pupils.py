"""The simulated pupils of practice rooms (`safeclass.actions.practice`), run inside the server.

Each simulated pupil is a `SimulatedParticipant`: it joins through the lesson's WebSocket with its
own token, exactly as a pupil's browser does, so the lesson engine treats it as any pupil: it knocks
and waits in the waiting room until staff let it in, it is muted and has its camera stopped at the
media server, it is held with everyone else when staff are gone, and removing it bars it. It
behaves like a (well-behaved) child: once in, it turns its camera on and sends small moving
pictures in a colour of its own and a quiet tone; now and then it raises its hand, asks to speak,
or writes in the chat; it speaks when allowed to, and shares its screen when granted. Once per
room, one pupil writes a message the chat check stops (a made-up phone number), so the teacher
sees the alert. Without a media server it does all of that without sound or pictures.

`PracticeRooms` runs every room's pupils. They stop when the lesson ends, when the room's time is
up, when no member of staff has been in the room for `STAFF_AWAY_LIMIT`, when staff stop the room,
and when the server shuts down; then `on_over` (the app's `actions.practice.finish_practice_room`)
ends the room's booking, so the engine takes any pupil still there out of the lesson.

A simulated pupil never decodes what it receives (nobody watches it): packets are counted and
dropped, so a room costs only the sending (see `actions.practice.MAX_PUPILS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpTransceiver
from aiortc.rtp import RtpPacket

from safeclass.domain.lesson.model import Phase, Role
from safeclass.media.simulated import MediaRefused, SimulatedParticipant
from safeclass.timeutil import utc_now

if TYPE_CHECKING:
    from safeclass.actions.live import LiveLesson, LiveLessons
    from safeclass.actions.practice import OpenedPracticeRoom, SimulatedPupil
    from safeclass.domain.lesson.events import AnyEvent

log = logging.getLogger(__name__)

# Simulated pupils stop when no member of staff has been in the room this long (counted from the
# room opening, or from the last one leaving). The lesson's own grace period may end it sooner.
STAFF_AWAY_LIMIT = 10 * 60.0
WATCH_EVERY = 2.0  # seconds between the supervisor's looks at each room
LOOK_EVERY = 0.25  # seconds between a pupil's looks at its own view

CHAT_LINES = (
    "Hello!",
    "Can you hear me?",
    "Is it 3/4?",
    "I've finished question 2.",
    "Can you say that again please?",
    "I like this one.",
    "My screen froze for a second.",
    "Is this for homework?",
)
TO_STAFF_LINES = ("I don't understand question 3.", "Can I go to the toilet?")
# Stopped by the chat check (a phone number, from the range kept for drama): the teacher gets an
# alert, the pupil a kind reminder, nobody else anything.
FLAGGED_LINE = "my number is 07700 900123 text me"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How lively the simulated pupils are. Tests make them quick, or quiet."""

    knock_gap: float = 3.0  # seconds between one pupil knocking and the next
    act_every: tuple[float, float] = (20.0, 60.0)  # a pupil's gap between little actions
    speak_for: float = 8.0  # seconds a pupil talks once allowed, then turns its microphone off
    flagged_after: float = 40.0  # seconds after the first pupil is let in: the flagged message
    chatty: bool = True  # False: pupils never raise hands, ask or chat by themselves


ActionHook = Callable[[str, dict[str, Any]], None]


class QuietParticipant(SimulatedParticipant):
    """A simulated participant that counts what reaches it but never decodes it."""

    received_packets: int = 0

    def _note_packets(self, transceiver: RTCRtpTransceiver) -> None:
        receiver = transceiver.receiver
        if getattr(receiver, "_safeclass_noted", False):
            return
        participant = self

        async def dropped(packet: RtpPacket, arrival_time_ms: int) -> None:
            participant.received_packets += 1

        receiver._handle_rtp_packet = dropped  # type: ignore[method-assign]
        receiver._safeclass_noted = True  # type: ignore[attr-defined]


@dataclass
class PracticePupilBot:
    """One simulated pupil: its connection and what it does."""

    pupil: SimulatedPupil
    participant: QuietParticipant
    media: bool
    behaviour: Behaviour
    rng: random.Random
    flagged_message: asyncio.Event = field(default_factory=asyncio.Event)  # the room says when
    admitted: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    _seen: dict[str, Any] | None = None  # the last view acted on
    _camera_published: bool = False
    _asked_to_share: bool = False
    _screen_published: bool = False
    _speaking_since: float | None = None
    _mic_allowed_before: bool = False

    @property
    def name(self) -> str:
        return self.pupil.display_name

    async def run(self, delay: float) -> None:
        """Knock after `delay` seconds, then live until the connection ends."""
        await asyncio.sleep(delay)
        participant = self.participant
        try:
            await participant.connect()
            welcome = await participant.join(token=self.pupil.token, reminder_accepted=True)
            if welcome["type"] != "welcome":
                log.info("practice pupil %s was not let in: %s", self.name, welcome.get("reason"))
                return
            next_act = time.monotonic() + self._gap()
            while not self._connection_ended():
                view = participant.view
                if view and view is not self._seen:
                    # Each view is acted on once: a request the engine refuses is not repeated
                    # until something changes.
                    self._seen = view
                    await self._follow(view)
                if view:
                    await self._stop_speaking_after_a_while()
                    if self.behaviour.chatty and time.monotonic() >= next_act:
                        next_act = time.monotonic() + self._gap()
                        await self._act(view)
                    if self.flagged_message.is_set() and self._may_chat(view):
                        self.flagged_message.clear()
                        await participant.send(
                            {"type": "chat", "to": "class", "text": FLAGGED_LINE}
                        )
                await asyncio.sleep(LOOK_EVERY)
        finally:
            self.closed = True
            await participant.close()

    def _connection_ended(self) -> bool:
        # What the pupil needs is in its view; the list of messages only tells when the
        # connection ended. It is emptied here so that an hour of views does not pile up.
        received = self.participant.received
        ended = any(message.get("type") == "closed" for message in received)
        received.clear()
        return ended

    def _gap(self) -> float:
        low, high = self.behaviour.act_every
        return self.rng.uniform(low, high)

    @staticmethod
    def _may_chat(view: dict[str, Any]) -> bool:
        return bool(view["you"]["presence"] == "admitted" and view["lesson"]["hold"] is None)

    async def _follow(self, view: dict[str, Any]) -> None:
        """Do what a child would with what the view now allows."""
        you = view["you"]
        send = self.participant.send
        if you["presence"] != "admitted":
            return
        self.admitted.set()
        if you["camera_allowed"] and not you["camera_on"]:
            await send({"type": "set_camera", "on": True})
        if self.media and you["camera_on"] and not self._camera_published:
            self._camera_published = await self._publish(self.participant.publish_camera())
        # Allowed to speak (having asked, or told so by staff): the microphone goes on, for a
        # while. Never again until staff allow it again.
        just_allowed = you["mic_allowed"] and not self._mic_allowed_before
        self._mic_allowed_before = you["mic_allowed"]
        if you["mic_allowed"] and not you["mic_on"] and (just_allowed or you["wants_to_speak"]):
            self._speaking_since = time.monotonic()
            await send({"type": "set_mic", "on": True})
        if you["share_granted"] and not you["sharing"] and not self._asked_to_share:
            self._asked_to_share = True
            await send({"type": "start_share"})
        if not you["share_granted"]:
            self._asked_to_share = False
        if self.media and you["sharing"] and not self._screen_published:
            self._screen_published = await self._publish(self.participant.publish_screen())
        if not you["sharing"] and self._screen_published:
            # The share was stopped (a grant taken back): close what was sending it.
            self._screen_published = False
            await self.participant.unpublish("screen")

    async def _stop_speaking_after_a_while(self) -> None:
        since = self._speaking_since
        if since is not None and time.monotonic() - since > self.behaviour.speak_for:
            self._speaking_since = None
            if self.participant.view["you"]["mic_on"]:
                await self.participant.send({"type": "set_mic", "on": False})

    async def _publish(self, publishing: Awaitable[str]) -> bool:
        try:
            await publishing
        except (MediaRefused, TimeoutError) as refused:
            # The server said no (media restarting, say): tried again at the next view.
            log.info("practice pupil %s could not publish: %s", self.name, refused)
            self._seen = None
            return False
        return True

    async def _act(self, view: dict[str, Any]) -> None:
        if not self._may_chat(view):
            return
        you = view["you"]
        choice = self.rng.random()
        send = self.participant.send
        if choice < 0.3 and not you["hand_raised"]:
            await send({"type": "raise_hand"})
        elif choice < 0.5 and not you["mic_allowed"] and not you["wants_to_speak"]:
            await send({"type": "ask_to_speak"})
        elif choice < 0.9:
            await send({"type": "chat", "to": "class", "text": self.rng.choice(CHAT_LINES)})
        else:
            await send({"type": "chat", "to": "staff", "text": self.rng.choice(TO_STAFF_LINES)})


@dataclass
class _Room:
    lesson_id: int
    ends_at: datetime
    bots: list[PracticePupilBot]
    tasks: list[asyncio.Task[None]]
    opened_at: float
    staff_seen_at: float | None = None
    first_in_at: float | None = None  # when the supervisor first saw a pupil let in
    flagged: bool = False  # the flagged message has been asked for
    watcher: asyncio.Task[None] | None = None


RoomOver = Callable[[int, str], Awaitable[object]]


class PracticeRooms:
    """Every practice room's simulated pupils on this server."""

    def __init__(
        self,
        live: LiveLessons,
        *,
        media: bool,
        on_over: RoomOver | None = None,
        behaviour: Behaviour | None = None,
        clock: Callable[[], datetime] = utc_now,
        staff_away_limit: float = STAFF_AWAY_LIMIT,
    ) -> None:
        self._live = live
        self._media = media
        self._on_over = on_over
        self._behaviour = behaviour or Behaviour()
        self._clock = clock
        self._staff_away_limit = staff_away_limit
        self._rooms: dict[int, _Room] = {}
        self._stopping: set[asyncio.Task[bool]] = set()

    @property
    def media(self) -> bool:
        return self._media

    def running(self, lesson_id: int) -> bool:
        return lesson_id in self._rooms

    def pupils(self, lesson_id: int) -> list[PracticePupilBot]:
        room = self._rooms.get(lesson_id)
        return list(room.bots) if room is not None else []

    async def start(self, room: OpenedPracticeRoom, *, url: str, origin: str) -> None:
        """Send the room's pupils to the lesson's door (`url`: its WebSocket address), one after
        another, as a class arrives."""
        if room.lesson_id in self._rooms:
            raise ValueError(f"practice room {room.lesson_id} is already running")
        # Only for when pupils do things and what they say: nothing secret.
        rng = random.Random()  # noqa: S311
        bots = [
            PracticePupilBot(
                pupil=pupil,
                participant=QuietParticipant(url=url, origin=origin, name=pupil.display_name),
                media=self._media,
                behaviour=self._behaviour,
                rng=random.Random(rng.random()),  # noqa: S311
            )
            for pupil in room.pupils
        ]
        tasks = [
            asyncio.create_task(
                bot.run(delay=index * self._behaviour.knock_gap),
                name=f"practice-{room.lesson_id}-{bot.pupil.number}",
            )
            for index, bot in enumerate(bots)
        ]
        running = _Room(room.lesson_id, room.ends_at, bots, tasks, time.monotonic())
        self._rooms[room.lesson_id] = running
        running.watcher = asyncio.create_task(
            self._watch(running), name=f"practice-{room.lesson_id}-watch"
        )
        log.info("practice room %d: %d simulated pupils", room.lesson_id, len(bots))

    async def stop(self, lesson_id: int, why: str) -> bool:
        """Stop the room's pupils (they leave the lesson), then call `on_over`. False when the
        room was not running."""
        room = self._rooms.pop(lesson_id, None)
        if room is None:
            return False
        log.info("practice room %d: simulated pupils stop (%s)", lesson_id, why)
        if room.watcher is not None and room.watcher is not asyncio.current_task():
            room.watcher.cancel()
        for task in room.tasks:
            task.cancel()
        results = await asyncio.gather(*room.tasks, return_exceptions=True)
        for bot, result in zip(room.bots, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("practice pupil %s failed", bot.name, exc_info=result)
        if self._on_over is not None:
            try:
                await self._on_over(lesson_id, why)
            except Exception:
                log.exception("practice room %d: could not end its booking", lesson_id)
        return True

    async def stop_all(self, why: str = "the server is shutting down") -> None:
        for lesson_id in list(self._rooms):
            await self.stop(lesson_id, why)
        for task in list(self._stopping):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def on_lesson_events(self, live: LiveLesson, events: Sequence[AnyEvent]) -> None:
        """A `LiveLessons` listener: a practice lesson that ended stops its pupils. Run under the
        lesson's lock, so the stop (whose pupils' leaving needs that lock) runs after it."""
        if live.lesson_id in self._rooms and live.state.phase is Phase.ENDED:
            self._stop_later(live.lesson_id, "the lesson ended")

    def _stop_later(self, lesson_id: int, why: str) -> None:
        task = asyncio.create_task(self.stop(lesson_id, why), name=f"practice-{lesson_id}-stop")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _watch(self, room: _Room) -> None:
        """Time is up, or staff have been away too long: the room stops."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            now = time.monotonic()
            if self._clock() >= room.ends_at:
                self._stop_later(room.lesson_id, "the practice room's time is up")
                return
            if self._staff_in_room(room.lesson_id):
                room.staff_seen_at = now
                self._maybe_flag(room, now)
            elif now - (room.staff_seen_at or room.opened_at) > self._staff_away_limit:
                self._stop_later(room.lesson_id, "no member of staff came back")
                return

    def _maybe_flag(self, room: _Room, now: float) -> None:
        """Once per room, a while after the first pupil is let in: one pupil's flagged message."""
        if room.flagged:
            return
        admitted = [bot for bot in room.bots if bot.admitted.is_set() and not bot.closed]
        if not admitted:
            return
        if room.first_in_at is None:
            room.first_in_at = now
        if now - room.first_in_at >= self._behaviour.flagged_after:
            room.flagged = True
            admitted[0].flagged_message.set()

    def _staff_in_room(self, lesson_id: int) -> bool:
        for live in self._live.live():
            if live.lesson_id == lesson_id:
                return bool(live.state.in_room(Role.STAFF))
        return False
