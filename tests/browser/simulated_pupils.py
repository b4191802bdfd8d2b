"""Pupils without a browser, for browser tests of the staff console.

A `SimulatedParticipant` (safeclass.media.simulated) joins through the lesson's WebSocket exactly as
the pupil's page does and sends synthetic sound and pictures with aiortc. Playwright's sync API
owns the test's thread, so these pupils run on an event loop of their own in a second thread, and
the test drives them through blocking calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import select

from safeclass.domain.consent import ConsentScope
from safeclass.media.simulated import SimulatedParticipant
from safeclass.store.models import Consent, Parent, ParentLink, Pupil
from safeclass.timeutil import utc_now
from tests.browser.conftest import LiveServer

T = TypeVar("T")
WAIT = 15.0


def give_consent(server: LiveServer, first_name: str) -> None:
    """A parent of the Oak pupil `first_name` gives live-lesson consent (the web tests' world gives
    it for Amy only). Call before anyone joins: the lesson reads its roster when it opens."""
    with server.session_factory() as session:
        pupil = session.scalars(
            select(Pupil).where(
                Pupil.school_id == server.world.oak_id, Pupil.first_name == first_name
            )
        ).one()
        parent = Parent(trust_id=pupil.school.trust_id, display_name=f"Parent of {first_name}")
        session.add(parent)
        session.flush()
        session.add_all(
            [
                ParentLink(pupil_id=pupil.id, parent_id=parent.id),
                Consent(
                    pupil_id=pupil.id,
                    parent_id=parent.id,
                    scope=ConsentScope.LIVE_LESSONS,
                    text_version="v1",
                    given_at=utc_now(),
                ),
            ]
        )
        session.commit()


class SimulatedPupil:
    """One pupil on their own WebSocket; every method blocks until the pupil's loop answers."""

    def __init__(
        self, pupils: SimulatedPupils, participant: SimulatedParticipant, answer: dict[str, Any]
    ) -> None:
        self._pupils = pupils
        self.participant = participant
        self.answer = answer  # the door's answer: `welcome`, or `refused` with the reason

    @property
    def pid(self) -> str:
        assert self.participant.pid is not None
        return self.participant.pid

    def send(self, type_: str, **fields: Any) -> None:
        self._pupils.run(self.participant.send({"type": type_, **fields}))

    def view_until(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return self._pupils.run(self.participant.view_until(check, timeout=WAIT))

    def wait_for(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return self._pupils.run(self.participant.wait_for(check, timeout=WAIT))

    def turn_camera_on(self) -> None:
        """As the pupil's page does: camera on, then publish microphone and camera."""
        self.send("set_camera", on=True)
        self.view_until(lambda view: view["you"]["camera_on"])
        self._pupils.run(self.participant.publish_camera())

    def packets_from(self, pid: str, kind: str) -> int:
        return self.participant.packets_from(pid, kind)

    def leave(self) -> None:
        self._pupils.run(self.participant.close())


class SimulatedPupils:
    """Makes and holds the simulated pupils of one test, on one event loop in its own thread."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="simulated-pupils", daemon=True
        )
        self._thread.start()
        self._joined: list[SimulatedParticipant] = []

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT + 5) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def join(self, first_name: str) -> SimulatedPupil:
        """The pupil opens their personal link, accepts the reminder and knocks: they are in the
        waiting room (or turned away at the door) when this returns."""
        link = self.server.join_url(first_name)
        token = urlsplit(link).path.rsplit("/", 1)[-1]
        participant = SimulatedParticipant(
            url=self.server.base_url.replace("http://", "ws://", 1)
            + f"/lessons/{self.server.lesson_id}/live",
            origin=self.server.base_url,
            name=first_name,
        )

        async def knock() -> dict[str, Any]:
            await participant.connect()
            return await participant.join(token=token, reminder_accepted=True, parent_present=False)

        self._joined.append(participant)
        answer = self.run(knock())
        assert answer["type"] in ("welcome", "refused"), answer
        return SimulatedPupil(self, participant, answer)

    def close(self) -> None:
        for participant in self._joined:
            self.run(participant.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()
