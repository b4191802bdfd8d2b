"""The signalling relay: SafeClass holds every participant's Janus handles, relays their offers,
answers and candidates, and makes the SFU forward exactly what the lesson engine allows.

Per participant who is in the room (admitted and connected) the relay holds:
- a publisher handle joined to the lesson's room with the participant's own token from the room's
  `allowed` list, whether or not they send anything: the room requires a publisher's private id
  to subscribe (`require_pvtid`), and this is theirs. Their microphone and camera are published on
  it (`publish` with their checked offer);
- a second publisher handle for a screen share, only while the engine says they are sharing;
- one subscriber handle carrying every stream they may ever receive under the lesson's rules
  (`forwarding.may_ever_receive`: never another pupil's camera where pupils' video is for staff
  only). Janus offers it, the relay passes the offer on as `watch_offer`, and the answer back.

After every change of the lesson's state, `enforce` works out what the SFU must forward
(`forwarding.Forwarding`) and applies the difference in a safe order: those who left the room
are hung up whole (kicked, their subscriber handle too, which Janus would leave hanging, and
their token taken off the list); publications the state forbids are moderated to silence at the
SFU; streams a viewer may not receive now are paused (`configure` with `send: false`); then what
is allowed again is resumed and unsilenced. It runs before the participants are told, so once a
mute is acknowledged nothing of that stream is forwarded.

While the lesson is being recorded, each publication the engine says goes into the recording
(`MediaPlan.records`: staff only, by default) is recorded by Janus on its own handle (`configure`
with `record` and a file name of ours, and the room's secret: the room has `lock_record`). Every
start of a publication is a new piece with its own files, all in the recording's folder
(`media.recording_files`); a stopped recording, a publication that ends and a hang-up close them.

After Janus restarts (or the connection to it comes back) every handle is gone: participants are
told (`media_reset`) and publish again; their admission, held by the engine, is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from safeclass.domain.lesson.media import MediaKind, MediaPlan
from safeclass.domain.lesson.model import LessonState, Participant, Phase
from safeclass.media.forwarding import Forwarding, Publication, changes, may_ever_receive
from safeclass.media.janus_client import (
    HandleEvent,
    JanusClientError,
    JanusHandle,
    JanusPluginError,
    JanusSession,
    PluginReply,
    VideoRoomCode,
)
from safeclass.media.recording_files import raw_base, raw_dir
from safeclass.media.rooms import new_token
from safeclass.media.sdp import (
    MAX_JANUS_SDP_BYTES,
    SessionDescription,
    check_answer,
    check_candidate,
    check_offer,
    parse,
)
from safeclass.media.sdp import Purpose as SdpPurpose
from safeclass.media.signalling import MediaRefusedError, Purpose, TrickleTarget

if TYPE_CHECKING:
    from safeclass.actions.live import LiveLesson, LiveLessons
    from safeclass.domain.lesson.events import AnyEvent
    from safeclass.media.server import MediaReady, MediaServer

log = logging.getLogger(__name__)

NOT_IN_ROOM = "You can send and receive video and sound once your teacher has let you in."
NO_SHARE_GRANT = "Ask your teacher before you share your screen."
NOT_PUBLISHING = "That is not being sent."
NOTHING_OFFERED = "There was nothing to answer."
MEDIA_DOWN = "Video and sound are not working at the moment. They will come back by themselves."

# How often a subscription is asked for again without feeds that went meanwhile.
_SUBSCRIBE_ATTEMPTS = 3
_KIND_OF_SECTION = {"audio": MediaKind.AUDIO, "video": MediaKind.VIDEO}


@dataclass
class _Publisher:
    handle: JanusHandle
    feed_id: int
    private_id: int
    purpose: Purpose
    mids: dict[MediaKind, str] = field(default_factory=dict)  # what is published, by kind
    # Janus lets nobody subscribe to a feed until its PeerConnection is up ("webrtcup").
    up: bool = False
    recording: int | None = None  # the number of the lesson's recording it is recorded into


@dataclass(frozen=True, slots=True)
class _Watched:
    source: str  # participant id
    kind: MediaKind
    feed_id: int
    feed_mid: str


@dataclass
class _Watcher:
    handle: JanusHandle
    streams: dict[str, _Watched] = field(default_factory=dict)  # subscriber mid -> what it is
    offered: SessionDescription | None = None
    sending: dict[str, bool] = field(default_factory=dict)  # subscriber mid -> forwarded now


@dataclass
class _Person:
    pid: str
    token: str
    camera: _Publisher | None = None
    screen: _Publisher | None = None
    watcher: _Watcher | None = None

    def publishers(self) -> list[_Publisher]:
        return [p for p in (self.camera, self.screen) if p is not None]


@dataclass
class _LessonMedia:
    lesson_id: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    people: dict[str, _Person] = field(default_factory=dict)
    applied: Forwarding = field(default_factory=Forwarding.nothing)
    # Hung up while their connection was gone (a dropped WebSocket): told when they are back.
    stopped_unheard: set[str] = field(default_factory=set)
    pieces: int = 0  # publications recorded so far: each piece's files have their own name


class MediaRelay:
    """The server's `MediaSignalling`, and the enforcer of the engine's decisions at the SFU."""

    def __init__(self, server: MediaServer, live: LiveLessons) -> None:
        self._server = server
        self._live = live
        self._session: JanusSession | None = None
        self._session_lock = asyncio.Lock()
        self._lessons: dict[int, _LessonMedia] = {}
        self._background: set[asyncio.Task[None]] = set()
        server.add_ready_listener(self._media_ready)
        live.add_listener(self.enforce)

    # --- What the lesson's WebSocket asks -------------------------------------------------------

    async def publish(self, lesson_id: int, pid: str, purpose: Purpose, offer: str) -> str:
        with _as_refusal():
            return await self._publish(lesson_id, pid, purpose, offer)

    async def unpublish(self, lesson_id: int, pid: str, purpose: Purpose) -> None:
        with _as_refusal():
            await self._unpublish(lesson_id, pid, purpose)

    async def watch_answer(self, lesson_id: int, pid: str, answer: str) -> None:
        with _as_refusal():
            await self._watch_answer(lesson_id, pid, answer)

    async def trickle(
        self, lesson_id: int, pid: str, target: TrickleTarget, candidate: dict[str, Any]
    ) -> None:
        with _as_refusal():
            await self._trickle(lesson_id, pid, target, candidate)

    async def _publish(self, lesson_id: int, pid: str, purpose: Purpose, offer: str) -> str:
        state = await self._state(lesson_id)
        participant = _in_room(state, pid)
        if purpose is Purpose.SCREEN and not (
            participant.screen_sharing and state.may_share(participant)
        ):
            raise MediaRefusedError("no_grant", NO_SHARE_GRANT)
        description = check_offer(
            offer, SdpPurpose.SCREEN if purpose is Purpose.SCREEN else SdpPurpose.CAMERA
        )
        media = self._lesson(lesson_id)
        async with media.lock:
            person = await self._present(media, pid)
            if purpose is Purpose.CAMERA:
                publisher = person.camera
                assert publisher is not None
                if publisher.recording is not None:
                    # Janus would record a new publication on this handle under the last
                    # piece's name, over its files: it gets a name of its own once made.
                    await self._stop_recording(media, publisher)
                if publisher.mids:
                    await self._unpublish_feed(media, publisher)
            else:
                if person.screen is not None:
                    await self._hang_up_publisher(media, person.screen)
                person.screen = publisher = await self._join_as_publisher(
                    media, person, Purpose.SCREEN
                )
            try:
                reply = await publisher.handle.send(
                    {"request": "publish", "audiocodec": "opus", "videocodec": "vp8"},
                    jsep={"type": "offer", "sdp": description.text},
                )
            except JanusPluginError as error:
                log.warning("Janus refused %s's %s offer: %s", pid, purpose, error)
                raise MediaRefusedError("not_accepted", MEDIA_DOWN) from None
            if reply.jsep is None:
                raise MediaRefusedError("not_accepted", MEDIA_DOWN)
            publisher.mids = _mids_by_kind(description, screen=purpose is Purpose.SCREEN)
            publisher.up = False
            # Silence at once whatever may not be forwarded now, before the browser can connect.
            # Others are given the new streams once they flow (`_publisher_up`).
            state = await self._state(lesson_id)
            allowed = Forwarding.of(state).published
            for kind, mid in publisher.mids.items():
                await self._moderate(media, publisher, mid, muted=(pid, kind) not in allowed)
            await self._record_as_planned(media, MediaPlan.of(state), person)
            return str(reply.jsep.get("sdp", ""))

    async def _unpublish(self, lesson_id: int, pid: str, purpose: Purpose) -> None:
        media = self._lesson(lesson_id)
        async with media.lock:
            person = media.people.get(pid)
            if person is None:
                raise MediaRefusedError("not_publishing", NOT_PUBLISHING)
            if purpose is Purpose.SCREEN:
                if person.screen is None:
                    raise MediaRefusedError("not_publishing", NOT_PUBLISHING)
                await self._hang_up_publisher(media, person.screen)
                person.screen = None
            else:
                if person.camera is None or not person.camera.mids:
                    raise MediaRefusedError("not_publishing", NOT_PUBLISHING)
                await self._unpublish_feed(media, person.camera)
            await self._refresh_watchers(media, await self._state(lesson_id))

    async def _watch_answer(self, lesson_id: int, pid: str, answer: str) -> None:
        media = self._lesson(lesson_id)
        async with media.lock:
            person = media.people.get(pid)
            watcher = person.watcher if person is not None else None
            if watcher is None or watcher.offered is None:
                raise MediaRefusedError("nothing_offered", NOTHING_OFFERED)
            checked = check_answer(answer, watcher.offered)
            watcher.offered = None
            await watcher.handle.send(
                {"request": "start"}, jsep={"type": "answer", "sdp": checked.text}
            )
            # Changes that waited for this answer are made now.
            await self._refresh_watchers(media, await self._state(lesson_id))

    async def _trickle(
        self, lesson_id: int, pid: str, target: TrickleTarget, candidate: dict[str, Any]
    ) -> None:
        checked = check_candidate(candidate)
        media = self._lesson(lesson_id)
        person = media.people.get(pid)
        handle: JanusHandle | None = None
        if person is not None:
            if target is TrickleTarget.WATCH and person.watcher is not None:
                handle = person.watcher.handle
            elif target is TrickleTarget.CAMERA and person.camera is not None:
                handle = person.camera.handle
            elif target is TrickleTarget.SCREEN and person.screen is not None:
                handle = person.screen.handle
        if handle is None:
            raise MediaRefusedError("not_publishing", NOT_PUBLISHING)
        if checked.get("completed"):
            await handle.trickle(completed=True)
        else:
            await handle.trickle(checked)

    # --- Enforcing the engine's decisions -------------------------------------------------------

    async def enforce(self, live: LiveLesson, events: Sequence[AnyEvent]) -> None:
        """A `LiveLessons` listener, run under the lesson's lock after each stored change and
        before anyone is told of it."""
        media = self._lesson(live.lesson_id)
        async with media.lock:
            if live.state.phase is Phase.ENDED:
                for person in list(media.people.values()):
                    await self._hang_up(media, person)
                media.applied = Forwarding.nothing()
                del self._lessons[live.lesson_id]
                return
            if not self._server.available:
                return  # put right when Janus is back (`_media_ready`)
            with _logged_janus_errors(live.lesson_id):
                await self._apply(media, live.state)

    async def _apply(self, media: _LessonMedia, state: LessonState) -> None:
        target = Forwarding.of(state)
        change = changes(media.applied, target)
        for pid in change.hang_up:
            person = media.people.get(pid)
            if person is not None:
                await self._hang_up(media, person)
        # All at once: "suspend everything" silences every pupil's streams, and a round trip to
        # Janus for each, one after another, would keep the last forwarding for a while.
        await _all(self._moderate_publication(media, p, muted=True) for p in change.silence)
        # Pausing and resuming are per viewer: each viewer's subscriber handle is brought in line
        # with what it may receive now, and those who came into the room get theirs.
        for pid in target.in_room - media.applied.in_room:
            await self._present(media, pid)
        media.applied = target
        await self._refresh_watchers(media, state)
        await _all(self._moderate_publication(media, p, muted=False) for p in change.unsilence)
        plan = MediaPlan.of(state)
        await _all(self._record_as_planned(media, plan, person) for person in media.people.values())

    # --- Recording --------------------------------------------------------------------------------

    async def _record_as_planned(
        self, media: _LessonMedia, plan: MediaPlan, person: _Person
    ) -> None:
        """Start or stop recording this person's publications as the lesson's state says."""
        participant = plan.state.participants.get(person.pid)
        recorded = participant is not None and plan.records(participant)
        for publisher in person.publishers():
            wanted = plan.state.recording_number if recorded and publisher.mids else None
            if publisher.recording == wanted:
                continue
            if publisher.recording is not None:
                await self._stop_recording(media, publisher)
            if wanted is not None and participant is not None:
                await self._start_recording(media, participant, publisher, wanted)

    async def _start_recording(
        self, media: _LessonMedia, participant: Participant, publisher: _Publisher, number: int
    ) -> None:
        folder = raw_dir(self._server.recordings, media.lesson_id, number)
        await asyncio.to_thread(folder.mkdir, mode=0o700, parents=True, exist_ok=True)
        while True:
            media.pieces += 1
            base = raw_base(folder, participant.person, publisher.purpose.value, media.pieces)
            # After a restart of SafeClass the count starts again: never write over a piece.
            if not any(folder.glob(f"{base.name}-*")):
                break
        await publisher.handle.send(
            {
                "request": "configure",
                "record": True,
                "filename": str(base),
                "secret": self._server.rooms.secret(media.lesson_id),
            }
        )
        publisher.recording = number
        log.info(
            "lesson %d: recording %s's %s into recording %d",
            media.lesson_id,
            participant.pid,
            publisher.purpose.value,
            number,
        )

    async def _stop_recording(self, media: _LessonMedia, publisher: _Publisher) -> None:
        secret = self._server.rooms.secret(media.lesson_id)
        try:
            await publisher.handle.send({"request": "configure", "record": False, "secret": secret})
        except JanusPluginError as error:
            if error.code not in (VideoRoomCode.NO_SUCH_FEED, VideoRoomCode.NOT_PUBLISHED):
                # Janus may still be recording: what must stop stops for sure, by hanging the
                # publication up (Janus closes its files; the client publishes again).
                log.error("lesson %d: a recording did not stop: %s", media.lesson_id, error)
                await self._hang_up_publisher(media, publisher)
            else:
                # Its publication is gone already, and Janus closed its files with it.
                log.info("lesson %d: stopping a recording: %s", media.lesson_id, error)
        publisher.recording = None

    async def _moderate_publication(
        self, media: _LessonMedia, publication: Publication, *, muted: bool
    ) -> None:
        pid, kind = publication
        person = media.people.get(pid)
        if person is None:
            return
        publisher = person.screen if kind is MediaKind.SCREEN else person.camera
        if publisher is None or kind not in publisher.mids:
            return  # not published (yet): `publish` silences it when it comes
        await self._moderate(media, publisher, publisher.mids[kind], muted=muted)

    async def _moderate(
        self, media: _LessonMedia, publisher: _Publisher, mid: str, *, muted: bool
    ) -> None:
        try:
            await self._server.rooms.moderate(media.lesson_id, publisher.feed_id, mid, muted=muted)
        except JanusPluginError as error:
            # The stream is gone (unpublished meanwhile): nothing of it is forwarded anyway, and a
            # new publication is moderated as it is made.
            if error.code != VideoRoomCode.NO_SUCH_FEED:
                raise
            log.info("lesson %d: moderating a stream that is gone: %s", media.lesson_id, error)

    # --- Watching ---------------------------------------------------------------------------------

    async def _refresh_watchers(self, media: _LessonMedia, state: LessonState) -> None:
        """Each viewer's subscription holds what they may ever receive, and forwards what they
        may receive now."""
        received = Forwarding.of(state).received
        for viewer_pid, viewer in list(media.people.items()):
            participant = state.participants.get(viewer_pid)
            if participant is None or not participant.in_room:
                continue
            wanted = self._watchable(media, state, participant)
            await self._resubscribe(media, viewer, wanted)
            if viewer.watcher is not None:
                await self._set_sending(viewer_pid, viewer.watcher, received)

    def _watchable(
        self, media: _LessonMedia, state: LessonState, viewer: Participant
    ) -> dict[tuple[int, str], _Watched]:
        wanted: dict[tuple[int, str], _Watched] = {}
        for source_pid, source in media.people.items():
            participant = state.participants.get(source_pid)
            if participant is None or not participant.in_room:
                continue
            for publisher in source.publishers():
                if not publisher.up:
                    continue
                for kind, mid in publisher.mids.items():
                    if may_ever_receive(state.rules, viewer, participant, kind):
                        wanted[(publisher.feed_id, mid)] = _Watched(
                            source_pid, kind, publisher.feed_id, mid
                        )
        return wanted

    async def _resubscribe(
        self, media: _LessonMedia, viewer: _Person, wanted: Mapping[tuple[int, str], _Watched]
    ) -> None:
        watcher = viewer.watcher
        if watcher is not None and watcher.offered is not None:
            return  # one renegotiation at a time: done again when the answer comes
        have = {(w.feed_id, w.feed_mid): w for w in watcher.streams.values()} if watcher else {}
        adding = [w for key, w in wanted.items() if key not in have]
        dropping = [w for key, w in have.items() if key not in wanted]
        if not adding and not dropping:
            return
        if watcher is None:
            if not adding:
                return
            room = self._server.rooms.room(media.lesson_id)
            assert room is not None
            assert viewer.camera is not None
            handle = await self._attach(viewer.pid, TrickleTarget.WATCH, media)
            joining = {
                "request": "join",
                "ptype": "subscriber",
                "room": room.room_id,
                "pin": room.pin,
                "private_id": viewer.camera.private_id,
            }
            reply = await self._subscribe(media, handle, joining, adding)
            if reply is None:
                await _detach(handle)
                return
            watcher = viewer.watcher = _Watcher(handle)
        else:
            reply = None
            if dropping:
                reply = await watcher.handle.send(
                    {
                        "request": "unsubscribe",
                        "streams": [{"feed": w.feed_id, "mid": w.feed_mid} for w in dropping],
                    }
                )
            if adding:
                subscribing = {"request": "subscribe"}
                reply = await self._subscribe(media, watcher.handle, subscribing, adding) or reply
        if reply is not None:
            self._offer_to_watch(media, viewer, reply.data, reply.jsep)

    async def _subscribe(
        self,
        media: _LessonMedia,
        handle: JanusHandle,
        request: dict[str, Any],
        adding: list[_Watched],
    ) -> PluginReply | None:
        """Join or add streams to a subscription. A feed that stopped between our reading and
        Janus's fails the whole request: then it is made again without the feeds Janus no longer
        has publishing (their going brings its own refresh). None when none is left."""
        streams = [{"feed": w.feed_id, "mid": w.feed_mid} for w in adding]
        for _attempt in range(_SUBSCRIBE_ATTEMPTS):
            try:
                return await handle.send({**request, "streams": streams})
            except JanusPluginError as error:
                if error.code != VideoRoomCode.NO_SUCH_FEED:
                    raise
                log.info("lesson %d: %s; asking again without it", media.lesson_id, error)
            listed = await self._server.rooms.participants(media.lesson_id)
            publishing = {p.feed_id for p in listed if p.publisher}
            streams = [s for s in streams if s["feed"] in publishing]
            if not streams:
                return None
        # Feeds kept going between listing and asking: each going brings its own refresh.
        log.warning("lesson %d: subscription left for the next refresh", media.lesson_id)
        return None

    def _offer_to_watch(
        self,
        media: _LessonMedia,
        viewer: _Person,
        data: Mapping[str, Any],
        jsep: Mapping[str, Any] | None,
    ) -> None:
        """Janus described the viewer's streams (and offered them, when it changed them)."""
        watcher = viewer.watcher
        if watcher is None:
            return
        by_feed = {(w.feed_id, w.feed_mid): w for w in self._all_publications(media)}
        streams: dict[str, _Watched] = {}
        for entry in data.get("streams") or []:
            if not isinstance(entry, dict) or entry.get("active") is False:
                continue
            key = (int(entry.get("feed_id", 0)), str(entry.get("feed_mid", "")))
            watched = by_feed.get(key)
            if watched is not None:
                streams[str(entry["mid"])] = watched
        watcher.streams = streams
        if jsep is None:
            return
        watcher.offered = parse(
            str(jsep.get("sdp", "")), max_sections=256, max_bytes=MAX_JANUS_SDP_BYTES
        )
        # Janus forwards a new stream until told otherwise, and keeps what it was told for others.
        watcher.sending = {mid: watcher.sending.get(mid, True) for mid in streams}
        self._deliver(
            media.lesson_id,
            viewer.pid,
            {
                "type": "watch_offer",
                "sdp": str(jsep.get("sdp", "")),
                "streams": [
                    {"mid": mid, "pid": w.source, "kind": w.kind.value}
                    for mid, w in sorted(streams.items())
                ],
            },
        )

    def _all_publications(self, media: _LessonMedia) -> list[_Watched]:
        return [
            _Watched(person.pid, kind, publisher.feed_id, mid)
            for person in media.people.values()
            for publisher in person.publishers()
            for kind, mid in publisher.mids.items()
        ]

    async def _set_sending(
        self, viewer_pid: str, watcher: _Watcher, received: frozenset[tuple[str, str, MediaKind]]
    ) -> None:
        changed = []
        for mid, watched in watcher.streams.items():
            send = (viewer_pid, watched.source, watched.kind) in received
            if watcher.sending.get(mid) != send:
                changed.append({"mid": mid, "send": send})
                watcher.sending[mid] = send
        if not changed:
            return
        try:
            await watcher.handle.send({"request": "configure", "streams": changed})
            return
        except JanusPluginError as error:
            if error.code != VideoRoomCode.NO_SUCH_FEED:
                raise
            # A stream left the subscription before we heard (Janus dropped it with its feed):
            # one unknown mid fails the whole request, so each change is asked for alone.
            log.info("%s's subscription: %s; configuring each stream alone", viewer_pid, error)
        for change in changed:
            try:
                await watcher.handle.send({"request": "configure", "streams": [change]})
            except JanusPluginError as error:
                if error.code != VideoRoomCode.NO_SUCH_FEED:
                    raise
                # Gone from the subscription: nothing of it is forwarded, and Janus's next
                # offer leaves it out.
                log.info("%s's subscription: %s", viewer_pid, error)

    # --- Handles ----------------------------------------------------------------------------------

    async def _present(self, media: _LessonMedia, pid: str) -> _Person:
        """The participant's place in the room: a token on the list and a publisher handle."""
        person = media.people.get(pid)
        if person is not None and person.camera is not None:
            return person
        if pid in media.stopped_unheard:
            # Back after a dropped connection: the browser may still hold the connections we
            # hung up meanwhile. It closes them, publishes again, and answers the new offer.
            media.stopped_unheard.discard(pid)
            self._deliver(media.lesson_id, pid, {"type": "media_stopped"})
        await self._server.rooms.open(media.lesson_id)
        if person is None:
            person = _Person(pid, new_token())
            media.people[pid] = person
            await self._server.rooms.allow(media.lesson_id, person.token)
        person.camera = await self._join_as_publisher(media, person, Purpose.CAMERA)
        return person

    async def _join_as_publisher(
        self, media: _LessonMedia, person: _Person, purpose: Purpose
    ) -> _Publisher:
        room = self._server.rooms.room(media.lesson_id)
        assert room is not None
        screen = purpose is Purpose.SCREEN
        display = f"{person.pid} screen" if screen else person.pid
        handle = await self._attach(
            person.pid, TrickleTarget.SCREEN if screen else TrickleTarget.CAMERA, media
        )
        reply = await handle.send(
            {
                "request": "join",
                "ptype": "publisher",
                "room": room.room_id,
                "pin": room.pin,
                "token": person.token,
                "display": display,
            }
        )
        return _Publisher(handle, int(reply.data["id"]), int(reply.data["private_id"]), purpose)

    async def _attach(self, pid: str, target: TrickleTarget, media: _LessonMedia) -> JanusHandle:
        session = await self._janus_session()
        handle = await session.attach()
        lesson_id = media.lesson_id

        def on_event(event: HandleEvent) -> None:
            if event.kind == "webrtcup" and target is not TrickleTarget.WATCH:
                self._soon(self._publisher_up(media, pid, handle))
            elif event.kind == "hangup" and target is not TrickleTarget.WATCH:
                # The browser closed its connection: nothing more comes from this feed.
                self._publisher_down(media, pid, handle)
            elif event.kind == "trickle":
                candidate = event.data.get("candidate")
                if isinstance(candidate, dict):
                    self._deliver(
                        lesson_id,
                        pid,
                        {"type": "trickle", "target": target.value, "candidate": candidate},
                    )
            elif target is TrickleTarget.WATCH and event.videoroom == "updated":
                person = media.people.get(pid)
                if person is not None and person.watcher is not None:
                    self._offer_to_watch(media, person, event.data, event.jsep)

        handle.add_listener(on_event)
        return handle

    async def _publisher_up(self, media: _LessonMedia, pid: str, handle: JanusHandle) -> None:
        async with media.lock:
            person = media.people.get(pid)
            publisher = (
                next((p for p in person.publishers() if p.handle is handle), None)
                if person is not None
                else None
            )
            if publisher is None or publisher.up or not self._server.available:
                return
            publisher.up = True
            log.debug("lesson %d: %s is sending (feed %d)", media.lesson_id, pid, publisher.feed_id)
            live = await self._live.lesson(media.lesson_id)
            with _logged_janus_errors(media.lesson_id):
                await self._refresh_watchers(media, live.state)

    def _publisher_down(self, media: _LessonMedia, pid: str, handle: JanusHandle) -> None:
        person = media.people.get(pid)
        for publisher in person.publishers() if person is not None else []:
            if publisher.handle is handle:
                publisher.up = False
                publisher.mids = {}

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, holding on to it until it is done."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _janus_session(self) -> JanusSession:
        async with self._session_lock:
            if self._session is not None and not self._session.ended:
                return self._session
            client = self._server.client
            if client is None:
                raise MediaRefusedError("media_down", MEDIA_DOWN)
            self._session = await client.create_session()
            return self._session

    async def _unpublish_feed(self, media: _LessonMedia, publisher: _Publisher) -> None:
        if publisher.recording is not None:
            # Closed first: a publication made again on this handle is a new piece of its own.
            await self._stop_recording(media, publisher)
        publisher.mids = {}
        publisher.up = False
        try:
            await publisher.handle.send({"request": "unpublish"})
        except JanusPluginError as error:
            if error.code != VideoRoomCode.NOT_PUBLISHED:
                raise

    async def _hang_up_publisher(self, media: _LessonMedia, publisher: _Publisher) -> None:
        try:
            await self._server.rooms.kick(media.lesson_id, publisher.feed_id)
        except (JanusClientError, KeyError) as error:
            log.info("kick of feed %d: %s", publisher.feed_id, error)
        await _detach(publisher.handle)

    async def _hang_up(self, media: _LessonMedia, person: _Person) -> None:
        """Everything of this person's at the SFU goes: their feeds kicked, the subscriber handle
        Janus would leave hanging detached, their token off the list."""
        media.people.pop(person.pid, None)
        for publisher in person.publishers():
            await self._hang_up_publisher(media, publisher)
        if person.watcher is not None:
            await _detach(person.watcher.handle)
        with contextlib.suppress(KeyError):  # the room is already gone
            await self._server.rooms.disallow(media.lesson_id, person.token)
        if not self._deliver(media.lesson_id, person.pid, {"type": "media_stopped"}):
            media.stopped_unheard.add(person.pid)

    # --- After Janus came back --------------------------------------------------------------------

    async def _media_ready(self, ready: MediaReady) -> None:
        # Restarted or only reconnected, every earlier session and handle is gone: Janus ends a
        # connection's sessions when the connection closes.
        async with self._session_lock:
            self._session = None
        for lesson_id, media in list(self._lessons.items()):
            async with media.lock:
                for person in media.people.values():
                    self._deliver(lesson_id, person.pid, {"type": "media_reset"})
                media.people.clear()
                media.applied = Forwarding.nothing()
                live = await self._live.lesson(lesson_id)
                if live.state.phase is not Phase.ENDED:
                    await self._apply(media, live.state)

    # --- Small parts ----------------------------------------------------------------------------

    def _lesson(self, lesson_id: int) -> _LessonMedia:
        media = self._lessons.get(lesson_id)
        if media is None:
            media = self._lessons[lesson_id] = _LessonMedia(lesson_id)
        return media

    async def _state(self, lesson_id: int) -> LessonState:
        if not self._server.available:
            raise MediaRefusedError("media_down", MEDIA_DOWN)
        return (await self._live.lesson(lesson_id)).state

    def _deliver(self, lesson_id: int, pid: str, message: dict[str, Any]) -> bool:
        """False when the participant has no connection now (it dropped)."""
        live = next((each for each in self._live.live() if each.lesson_id == lesson_id), None)
        channel = live.channels.get(pid) if live is not None else None
        if channel is None:
            return False
        channel.deliver(message)
        return True


def _in_room(state: LessonState, pid: str) -> Participant:
    # While the lesson is held a pupil may still publish: nothing is forwarded until it resumes.
    participant = state.participants.get(pid)
    if participant is None or not participant.in_room:
        raise MediaRefusedError("not_in_room", NOT_IN_ROOM)
    return participant


def _mids_by_kind(description: SessionDescription, *, screen: bool) -> dict[MediaKind, str]:
    mids: dict[MediaKind, str] = {}
    for index, section in enumerate(description.sections):
        if not section.sends or section.kind not in _KIND_OF_SECTION:
            continue
        kind = MediaKind.SCREEN if screen else _KIND_OF_SECTION[section.kind]
        mids[kind] = section.mid if section.mid is not None else str(index)
    return mids


@contextlib.contextmanager
def _logged_janus_errors(lesson_id: int) -> Iterator[None]:
    """Janus failing part-way through (it died, say) is logged; the supervisor brings it back and
    `_media_ready` rebuilds everything from the lesson's state."""
    try:
        yield
    except JanusClientError:
        log.exception("lesson %d: the media server failed part-way", lesson_id)


@contextlib.contextmanager
def _as_refusal() -> Iterator[None]:
    """A participant's request that Janus could not carry out gets a plain refusal."""
    try:
        yield
    except JanusClientError as error:
        log.warning("a media request failed at Janus: %s", error)
        raise MediaRefusedError("media_down", MEDIA_DOWN) from None


async def _detach(handle: JanusHandle) -> None:
    try:
        await handle.detach()
    except JanusClientError as error:
        log.info("detach of handle %d: %s", handle.id, error)


async def _all(work: Iterable[Awaitable[None]]) -> None:
    """Run every request together and let each finish; then raise the first failure, if any, so
    that one stream's error neither stops the others nor goes unseen."""
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
