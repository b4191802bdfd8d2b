"""Real Janus recordings for the tests, written by Janus's VideoRoom exactly as a lesson's recording
writes them: a teacher's camera recorded in two pieces and a shared screen; and two members of staff
speaking in tones of their own, one of them in two pieces."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from safeclass.domain.lesson.model import Person, Role
from safeclass.media.janus_client import HandleEvent, JanusClient, JanusHandle, JanusSession
from safeclass.media.recording_files import raw_base
from safeclass.media.simulated import AUDIO_RATE, AUDIO_SAMPLES, PatternTrack, ToneTrack
from tests.media.helpers import janus_options, running_janus

TEACHER = Person(Role.STAFF, "7")
SECOND_TEACHER = Person(Role.STAFF, "8")
# The two speakers' tones. Not ToneTrack's: it starts its wave again every 20 ms, which leaves
# little of its 440 Hz over a longer stretch.
TEACHER_TONE_HZ = 440
SECOND_TEACHER_TONE_HZ = 1000
ROOM = 4242
ROOM_SECRET = "room secret"
PIECE_SECONDS = 1.2


@dataclass(frozen=True, slots=True)
class Samples:
    folder: Path  # the .mjr files of one recording
    started_at: datetime  # when the recording started (the first piece was asked for)
    camera_again_after: float  # seconds from started_at: the camera's second piece
    screen_after: float  # seconds from started_at: the screen piece
    stopped_after: float  # seconds from started_at: everything stopped


async def record_samples(folder: Path, janus_folder: Path) -> Samples:
    """Record with a real Janus into `folder` (named as `raw_base` names them)."""
    folder.mkdir(parents=True)
    async with _janus_room(janus_folder) as (session, connections):
        camera = await publish(session, connections, [ToneTrack(), PatternTrack("teacher")])
        screen = await publish(session, connections, [PatternTrack("screen")])

        started = time.monotonic()
        started_at = datetime.now(UTC)
        await _record(camera, raw_base(folder, TEACHER, "camera", 1))
        await asyncio.sleep(PIECE_SECONDS)
        await _stop(camera)
        await asyncio.sleep(0.4)  # a gap, as when a teacher turns the camera off and on
        camera_again_after = time.monotonic() - started
        await _record(camera, raw_base(folder, TEACHER, "camera", 2))
        await asyncio.sleep(0.3)
        screen_after = time.monotonic() - started
        await _record(screen, raw_base(folder, TEACHER, "screen", 1))
        await asyncio.sleep(PIECE_SECONDS)
        await _stop(camera)
        await _stop(screen)
        stopped_after = time.monotonic() - started
        await asyncio.sleep(0.3)  # Janus closes its files
    return Samples(folder, started_at, camera_again_after, screen_after, stopped_after)


@dataclass(frozen=True, slots=True)
class TwoSpeakers:
    folder: Path  # the .mjr files of one recording
    started_at: datetime


async def record_two_speakers(folder: Path, janus_folder: Path) -> TwoSpeakers:
    """Record with a real Janus into `folder`: the teacher's camera (a 440 Hz tone, and pictures)
    throughout the first part; a second member of staff's microphone (a 1000 Hz tone) joining a
    little later, off for a while, on again, and still on after the teacher's camera stopped."""
    folder.mkdir(parents=True)
    async with _janus_room(janus_folder) as (session, connections):
        teacher = await publish(
            session, connections, [SineTrack(TEACHER_TONE_HZ), PatternTrack("teacher")]
        )
        second = await publish(session, connections, [SineTrack(SECOND_TEACHER_TONE_HZ)])

        started_at = datetime.now(UTC)
        await _record(teacher, raw_base(folder, TEACHER, "camera", 1))
        await asyncio.sleep(0.8)
        await _record(second, raw_base(folder, SECOND_TEACHER, "camera", 1))
        await asyncio.sleep(0.8)
        await _stop(second)
        await asyncio.sleep(0.6)  # the second microphone is off
        await _record(second, raw_base(folder, SECOND_TEACHER, "camera", 2))
        await asyncio.sleep(0.6)
        await _stop(teacher)
        await asyncio.sleep(0.8)  # the second member of staff alone
        await _stop(second)
        await asyncio.sleep(0.3)  # Janus closes its files
    return TwoSpeakers(folder, started_at)


class SineTrack(MediaStreamTrack):
    """A steady sine tone at a frequency of the test's choosing (and louder than ToneTrack's)."""

    kind = "audio"

    def __init__(self, frequency: int) -> None:
        super().__init__()
        self._frequency = frequency
        self._pts = 0
        self._started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._pts / AUDIO_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        step = 2 * math.pi * self._frequency / AUDIO_RATE
        samples = b"".join(
            round(4000 * math.sin(step * (self._pts + i))).to_bytes(2, "little", signed=True)
            for i in range(AUDIO_SAMPLES)
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(samples)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += AUDIO_SAMPLES
        return frame


def mjr_packets(path: Path) -> tuple[bytes, list[bytes]]:
    """A .mjr file's header ("MJR00002", length, JSON) and packets ("MEET", time, length, RTP)."""
    data = path.read_bytes()
    header_end = 10 + int.from_bytes(data[8:10], "big")
    packets: list[bytes] = []
    at = header_end
    while at < len(data):
        assert data[at : at + 4] == b"MEET", f"not a packet at byte {at} of {path}"
        end = at + 10 + int.from_bytes(data[at + 8 : at + 10], "big")
        packets.append(data[at:end])
        at = end
    return data[:header_end], packets


def renumbered(packets: list[bytes], *, frame_ms: int = 67, frame_ticks: int = 6000) -> bytes:
    """`packets` (one video frame each, as the samples' small frames are) as one run, the way Janus
    numbers a recording: sequence numbers from 1, RTP time and arrival time from 0."""
    out = bytearray()
    for index, packet in enumerate(packets):
        rtp = bytearray(packet[10:])
        rtp[2:4] = (index + 1).to_bytes(2, "big")
        rtp[4:8] = (index * frame_ticks).to_bytes(4, "big")
        out += b"MEET" + (index * frame_ms).to_bytes(4, "big") + len(rtp).to_bytes(2, "big") + rtp
    return bytes(out)


@asynccontextmanager
async def _janus_room(
    janus_folder: Path,
) -> AsyncIterator[tuple[JanusSession, list[RTCPeerConnection]]]:
    """A real Janus with a VideoRoom that records nothing until asked: a session to publish in,
    and the list every publisher's connection goes in (closed on the way out)."""
    async with running_janus(janus_options(janus_folder)) as janus:
        assert janus.endpoint is not None
        endpoint = janus.endpoint
        client = await JanusClient.connect(endpoint.api_url, api_secret=endpoint.secrets.api_secret)
        connections: list[RTCPeerConnection] = []
        try:
            session = await client.create_session()
            owner = await session.attach()
            await owner.send(
                {
                    "request": "create",
                    "room": ROOM,
                    "admin_key": endpoint.secrets.admin_key,
                    "secret": ROOM_SECRET,
                    "is_private": True,
                    "publishers": 4,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                    "record": False,
                    "lock_record": True,
                }
            )
            yield session, connections
        finally:
            for connection in connections:
                await connection.close()
            await client.close()


async def publish(
    session: JanusSession,
    connections: list[RTCPeerConnection],
    tracks: list[MediaStreamTrack],
    *,
    room: int = ROOM,
) -> JanusHandle:
    """Publish `tracks` from aiortc in `room`; the handle once Janus has the media flowing."""
    handle = await session.attach()
    await handle.send({"request": "join", "ptype": "publisher", "room": room, "display": "t"})
    connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    connections.append(connection)
    for track in tracks:
        connection.addTrack(track)
    await connection.setLocalDescription(await connection.createOffer())
    media_up = asyncio.get_running_loop().create_future()

    def on_event(event: HandleEvent) -> None:
        if event.kind == "webrtcup" and not media_up.done():
            media_up.set_result(None)

    stop_listening = handle.add_listener(on_event)
    try:
        answer = await handle.send(
            {"request": "publish", "audiocodec": "opus", "videocodec": "vp8"},
            jsep={"type": "offer", "sdp": connection.localDescription.sdp},
        )
        assert answer.jsep is not None
        await connection.setRemoteDescription(
            RTCSessionDescription(str(answer.jsep["sdp"]), "answer")
        )
        await asyncio.wait_for(media_up, 15)
    finally:
        stop_listening()
    await asyncio.sleep(0.3)  # the first packets reach Janus
    return handle


async def _record(handle: JanusHandle, base: Path) -> None:
    await handle.send(
        {"request": "configure", "record": True, "filename": str(base), "secret": ROOM_SECRET}
    )


async def _stop(handle: JanusHandle) -> None:
    await handle.send({"request": "configure", "record": False, "secret": ROOM_SECRET})
