"""The media server as the web app sees it: Janus, supervised, with the lessons' rooms.

`MediaServer.start()` starts Janus, opens SafeClass's control connection (one session, one
VideoRoom handle that owns the rooms) and reconciles the rooms. If the connection is lost (Janus
died: the supervisor starts it again; or only the connection dropped), the rooms are unbound, and
as soon as a Janus answers again the control connection is made anew, the rooms are reconciled
(made again in a new Janus) and each ready listener is called, so that whoever holds participants'
handles (the signalling relay) can reconnect them. `stop()` closes the connection and stops Janus.

`on_lesson_events` is a listener for `LiveLessons`: a live lesson has a room until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safeclass.config import Config
from safeclass.domain.lesson.model import Phase
from safeclass.media.janus_client import JanusClient, JanusClientError, JanusSession
from safeclass.media.janus_config import JanusOptions
from safeclass.media.janus_process import JanusEndpoint, JanusProcess
from safeclass.media.recording_files import recordings_root
from safeclass.media.rooms import LessonRooms, ReconcileReport

if TYPE_CHECKING:
    # Types only: the media layer serves the lessons, it does not drive them.
    from safeclass.actions.live import LiveLesson
    from safeclass.domain.lesson.events import AnyEvent

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class MediaReady:
    """Janus answers again on a new connection and the rooms are as the register says.

    Every Janus session and handle made before is gone, whether Janus restarted or only the
    connection dropped: Janus ends a connection's sessions when it closes (SafeClass gives it no
    time to reclaim them). Whoever held participants' handles makes them again."""

    endpoint: JanusEndpoint
    rooms: ReconcileReport
    janus_restarted: bool  # a new Janus process, not only a new connection


ReadyListener = Callable[[MediaReady], Awaitable[None]]


class MediaServer:
    def __init__(
        self,
        process: JanusProcess,
        rooms: LessonRooms | None = None,
        *,
        recordings: Path | None = None,
    ) -> None:
        self.process = process
        self.rooms = rooms if rooms is not None else LessonRooms()
        # Where Janus writes what it records (`media.recording_files`): beside Janus's own
        # folder unless the caller says where (the server's data folder, `from_config`).
        self.recordings = (
            recordings if recordings is not None else process.options.folder.parent / "recordings"
        )
        self._client: JanusClient | None = None
        self._session: JanusSession | None = None
        self._endpoint: JanusEndpoint | None = None  # the Janus the control connection reaches
        self._watcher: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._listeners: list[ReadyListener] = []
        self._stopping = False
        process.add_restart_listener(self._janus_restarted)

    @classmethod
    def from_config(cls, config: Config) -> MediaServer:
        return cls(
            JanusProcess(JanusOptions.from_config(config)),
            recordings=recordings_root(config.data_dir),
        )

    @property
    def client(self) -> JanusClient | None:
        """The control connection to Janus's API; None while Janus is unavailable."""
        return self._client if self._client is not None and not self._client.closed else None

    @property
    def available(self) -> bool:
        return self.client is not None and self.rooms.bound

    def add_ready_listener(self, listener: ReadyListener) -> None:
        """Called after Janus came back (restarted, or the connection restored) and the rooms
        were reconciled."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Start Janus and connect. Raises JanusStartError (or JanusConfigError) if Janus does
        not start, or a JanusClientError if it cannot be used; nothing is left running then."""
        self._stopping = False
        endpoint = await self.process.start()
        try:
            await self._connect(endpoint)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the control connection and stop Janus. Idempotent."""
        self._stopping = True
        for task in (self._recovery, self._watcher):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._recovery = self._watcher = None
        await self._disconnect()
        await self.process.stop()

    async def on_lesson_events(self, live: LiveLesson, events: Sequence[AnyEvent]) -> None:
        """A `LiveLessons` listener: a lesson that is not over has a room; an ended one none."""
        if live.state.phase is Phase.ENDED:
            await self.rooms.close(live.lesson_id)
        elif self.rooms.room(live.lesson_id) is None:
            await self.rooms.open(live.lesson_id)

    # --- Connection -----------------------------------------------------------------------------

    async def _connect(self, endpoint: JanusEndpoint) -> ReconcileReport:
        client = await JanusClient.connect(endpoint.api_url, api_secret=endpoint.secrets.api_secret)
        try:
            session = await client.create_session()
            handle = await session.attach()
            self.rooms.bind(handle, endpoint.secrets)
            report = await self.rooms.reconcile()
        except BaseException:
            self.rooms.unbind()
            await client.close()
            raise
        self._client, self._session, self._endpoint = client, session, endpoint
        self._watcher = asyncio.create_task(self._watch(client), name="janus-connection")
        return report

    async def _disconnect(self) -> None:
        self.rooms.unbind()
        client, self._client, self._session = self._client, None, None
        if client is not None:
            await client.close()

    async def _watch(self, client: JanusClient) -> None:
        await client.wait_closed()
        if self._stopping or not client.lost:
            return
        log.error("lost the connection to Janus; media is unavailable until it is back")
        self.rooms.unbind()
        self._recovery = asyncio.create_task(self._recover(), name="janus-recovery")

    async def _janus_restarted(self, endpoint: JanusEndpoint) -> None:
        self._wake.set()

    async def _recover(self) -> None:
        """Until a Janus answers: reconnect, reconcile, tell the listeners."""
        old_pid = self._endpoint.pid if self._endpoint is not None else None
        await self._disconnect()
        attempt = 0
        while not self._stopping:
            endpoint = self.process.endpoint
            if endpoint is not None and self.process.running:
                try:
                    report = await self._connect(endpoint)
                except JanusClientError as error:
                    log.warning("cannot use Janus yet: %s", error)
                else:
                    ready = MediaReady(endpoint, report, janus_restarted=endpoint.pid != old_pid)
                    log.info("media is available again (Janus pid %d)", endpoint.pid)
                    await self._notify(ready)
                    return
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            attempt += 1
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _notify(self, ready: MediaReady) -> None:
        for listener in list(self._listeners):
            try:
                await listener(ready)
            except Exception:
                log.exception("a media ready listener failed")
