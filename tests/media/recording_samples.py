"""Real Janus recordings for the tests: a teacher's camera recorded in two pieces, and a shared
screen, written by Janus's VideoRoom exactly as a lesson's recording writes them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from safeclass.domain.lesson.model import Person, Role
from safeclass.media.janus_client import HandleEvent, JanusClient, JanusHandle, JanusSession
from safeclass.media.recording_files import raw_base
from safeclass.media.simulated import PatternTrack, ToneTrack
from tests.media.helpers import janus_options, running_janus

TEACHER = Person(Role.STAFF, "7")
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
            camera = await _publish(session, connections, [ToneTrack(), PatternTrack("teacher")])
            screen = await _publish(session, connections, [PatternTrack("screen")])

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
        finally:
            for connection in connections:
                await connection.close()
            await client.close()
    return Samples(folder, started_at, camera_again_after, screen_after, stopped_after)


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


async def _publish(
    session: JanusSession, connections: list[RTCPeerConnection], tracks: list[MediaStreamTrack]
) -> JanusHandle:
    handle = await session.attach()
    await handle.send({"request": "join", "ptype": "publisher", "room": ROOM, "display": "t"})
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
        await asyncio.wait_for(media_up, 10)
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
