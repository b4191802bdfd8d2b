"""A participant without a browser: joins a lesson through SafeClass's own protocol, exactly as the
browser client does, sends synthetic sound and pictures with aiortc, and notes the arrival of every
media packet it is sent.

Tests and benchmarks use it to prove, at the level of packets, what reaches whom; practice rooms use
it for the simulated pupils a teacher rehearses with. It never talks to Janus: everything goes
through the lesson's WebSocket, so it can do no more than a real (or a modified) client could.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

log = logging.getLogger(__name__)
# Close codes that say the server went away on purpose: going away, service restart.
_EXPECTED_CLOSE_CODES = frozenset({1001, 1012})

AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
VIDEO_RATE = 90000
VIDEO_SIZE = (160, 120)
VIDEO_FPS = 15
MESSAGE_TIMEOUT = 10.0
# 20 ms of a quiet square wave at about 440 Hz, as signed 16-bit samples.
_TONE = b"".join(
    (400 if (i * 440 * 2 // AUDIO_RATE) % 2 else -400).to_bytes(2, "little", signed=True)
    for i in range(AUDIO_SAMPLES)
)


@dataclass(frozen=True, slots=True)
class PacketArrival:
    """One media packet that reached this participant."""

    mid: str
    source: str | None  # the participant it came from, as the server's last offer said
    kind: str | None
    at: float  # time.monotonic()
    size: int


class ToneTrack(MediaStreamTrack):
    """A quiet, steady tone: Opus sends a packet every 20 ms for it (silence might be skipped)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._pts / AUDIO_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(_TONE)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += AUDIO_SAMPLES
        return frame


class PatternTrack(MediaStreamTrack):
    """Small moving pictures in a colour of the participant's own, so a person watching a practice
    lesson can tell the simulated pupils apart."""

    kind = "video"

    def __init__(self, name: str) -> None:
        super().__init__()
        crc = zlib.crc32(name.encode())
        # Luma, blue-difference and red-difference of a colour of the participant's own.
        self._planes = (64 + (crc & 0x7F), crc >> 8 & 0xFF, crc >> 16 & 0xFF)
        self._count = 0
        self._started: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._count / VIDEO_FPS
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame(*VIDEO_SIZE, "yuv420p")
        luma, blue, red = self._planes
        bar = (self._count * 4) % VIDEO_SIZE[0]
        row = bytes(235 if bar <= x < bar + 8 else luma for x in range(frame.planes[0].line_size))
        frame.planes[0].update(row * VIDEO_SIZE[1])
        frame.planes[1].update(bytes([blue]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([red]) * frame.planes[2].buffer_size)
        frame.pts = self._count * (VIDEO_RATE // VIDEO_FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        self._count += 1
        return frame


@dataclass
class _Publication:
    connection: RTCPeerConnection
    answered: asyncio.Future[str]


@dataclass
class SimulatedParticipant:
    """One participant on one lesson WebSocket. Use `async with`, or call `close()`."""

    url: str  # ws://host:port/lessons/N/live
    origin: str  # the page's origin, as a browser sends it
    name: str = "Simulated"
    cookie: str | None = None  # staff: the signed-in session cookie header value
    pid: str | None = None
    view: dict[str, Any] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    packets: list[PacketArrival] = field(default_factory=list)
    streams: dict[str, tuple[str, str]] = field(default_factory=dict)  # mid -> (pid, kind)
    _socket: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _publications: dict[str, _Publication] = field(default_factory=dict)
    _watching: RTCPeerConnection | None = None
    _tracks: list[MediaStreamTrack] = field(default_factory=list)
    _answers: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _camera: tuple[bool, bool] | None = None  # what the camera publication carries
    _resetting: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SimulatedParticipant:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # --- The WebSocket ----------------------------------------------------------------------------

    async def connect(self) -> None:
        headers = {"Cookie": self.cookie} if self.cookie else None
        self._socket = await connect(
            self.url, origin=Origin(self.origin), additional_headers=headers, max_size=2**20
        )
        self._reader = asyncio.create_task(self._read())

    async def send(self, message: dict[str, Any]) -> None:
        assert self._socket is not None, "connect first"
        await self._socket.send(json.dumps({"v": 1, **message}))

    async def join(self, *, token: str | None = None, **fields: Any) -> dict[str, Any]:
        await self.send({"type": "join", **({"token": token} if token else {}), **fields})
        welcome = await self.wait_for(lambda m: m["type"] in ("welcome", "refused", "error"))
        if welcome["type"] == "welcome":
            self.pid = str(welcome["pid"])
        return welcome

    async def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = MESSAGE_TIMEOUT
    ) -> dict[str, Any]:
        """The first message received (already, or from now on) that passes `check`; it is
        consumed, so the next call finds the one after it."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for index, message in enumerate(self.received):
                    if check(message):
                        del self.received[: index + 1]
                        return message
                await self._changed.wait()

    async def view_until(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = MESSAGE_TIMEOUT
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout), self._changed:
            while not (self.view and check(self.view)):
                await self._changed.wait()
            return self.view

    async def _read(self) -> None:
        assert self._socket is not None
        try:
            async for text in self._socket:
                message = json.loads(text)
                if message["type"] == "view":
                    self.view = message["view"]
                elif message["type"] == "watch_offer":
                    await self._watch(message)
                elif message["type"] == "trickle":
                    await self._remote_candidate(message)
                elif message["type"] == "media_reset":
                    # The media server restarted: publish again, as a browser does.
                    self._resetting = asyncio.create_task(self._publish_again())
                elif message["type"] == "publish_answer":
                    publication = self._publications.get(message["purpose"])
                    if publication is not None and not publication.answered.done():
                        publication.answered.set_result(message["sdp"])
                async with self._changed:
                    self.received.append(message)
                    self._changed.notify_all()
        except ConnectionClosed as closed:
            # The server going away (1001, or 1012 when it restarts) ends the reading as a close
            # does; anything else is worth a look.
            if closed.rcvd is None or closed.rcvd.code not in _EXPECTED_CLOSE_CODES:
                log.exception("simulated participant %s stopped reading", self.name)
            raise
        except Exception:
            log.exception("simulated participant %s stopped reading", self.name)
            raise
        finally:
            async with self._changed:
                self.received.append({"type": "closed"})
                self._changed.notify_all()

    # --- Sending ----------------------------------------------------------------------------------

    async def publish_camera(self, *, audio: bool = True, video: bool = True) -> str:
        """Offer a microphone and a camera; returns the server's answer (or raises on refusal)."""
        self._camera = (audio, video)
        tracks: list[MediaStreamTrack] = []
        if audio:
            tracks.append(ToneTrack())
        if video:
            tracks.append(PatternTrack(self.name))
        return await self._publish("camera", tracks)

    async def publish_screen(self) -> str:
        return await self._publish("screen", [PatternTrack(self.name + " screen")])

    async def publish_raw(self, purpose: str, tracks: list[MediaStreamTrack]) -> str:
        """Any tracks at all, as a modified client might offer (two cameras, say)."""
        return await self._publish(purpose, tracks)

    async def _publish(self, purpose: str, tracks: list[MediaStreamTrack]) -> str:
        connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for track in tracks:
            connection.addTransceiver(track, direction="sendonly")
            self._tracks.append(track)
        answered: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # The publication this one replaces keeps going until the server accepts the new one.
        old = self._publications.get(purpose)
        self._publications[purpose] = _Publication(connection, answered)
        await connection.setLocalDescription(await connection.createOffer())
        await self.send(
            {"type": "publish", "purpose": purpose, "sdp": connection.localDescription.sdp}
        )
        refused = asyncio.ensure_future(
            self.wait_for(lambda m: m["type"] == "media_refused" and m["about"] == purpose)
        )
        waiting: set[asyncio.Future[Any]] = {answered, refused}
        done, _ = await asyncio.wait(
            waiting, timeout=MESSAGE_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        refused.cancel()
        if answered in done:
            answer = answered.result()
            await connection.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            if old is not None:
                await old.connection.close()
            return answer
        await connection.close()
        if old is not None:
            self._publications[purpose] = old
        else:
            self._publications.pop(purpose, None)
        if refused in done and not refused.cancelled():
            raise MediaRefused(refused.result())
        raise TimeoutError(f"no answer to {purpose} publication")

    async def _publish_again(self) -> None:
        for publication in list(self._publications.values()):
            await publication.connection.close()
        self._publications.clear()
        if self._watching is not None:
            await self._watching.close()
            self._watching = None
        if self._camera is not None:
            audio, video = self._camera
            await self.publish_camera(audio=audio, video=video)

    async def unpublish(self, purpose: str) -> None:
        publication = self._publications.pop(purpose, None)
        if publication is not None:
            await publication.connection.close()
        await self.send({"type": "unpublish", "purpose": purpose})

    # --- Receiving --------------------------------------------------------------------------------

    async def _watch(self, message: dict[str, Any]) -> None:
        self.streams = {
            str(stream["mid"]): (str(stream["pid"]), str(stream["kind"]))
            for stream in message.get("streams", [])
        }
        if self._watching is None:
            self._watching = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        connection = self._watching
        await connection.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        for transceiver in connection.getTransceivers():
            self._note_packets(transceiver)
        await connection.setLocalDescription(await connection.createAnswer())
        await self.send({"type": "watch_answer", "sdp": connection.localDescription.sdp})

    def _note_packets(self, transceiver: RTCRtpTransceiver) -> None:
        receiver: RTCRtpReceiver = transceiver.receiver
        if getattr(receiver, "_safeclass_noted", False):
            return
        original = receiver._handle_rtp_packet
        participant = self

        async def noted(packet: RtpPacket, arrival_time_ms: int) -> None:
            mid = transceiver.mid or ""
            source, kind = participant.streams.get(mid, (None, None))
            participant.packets.append(
                PacketArrival(mid, source, kind, time.monotonic(), len(packet.payload))
            )
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = noted  # type: ignore[method-assign]
        receiver._safeclass_noted = True  # type: ignore[attr-defined]

    async def _remote_candidate(self, message: dict[str, Any]) -> None:
        target = message.get("target")
        connection = (
            self._watching
            if target == "watch"
            else getattr(self._publications.get(str(target)), "connection", None)
        )
        candidate = message.get("candidate") or {}
        if connection is None or not candidate.get("candidate"):
            return
        parsed = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await connection.addIceCandidate(parsed)

    def packets_from(self, source: str, kind: str | None = None, since: float = 0.0) -> int:
        return sum(
            1
            for packet in self.packets
            if packet.source == source
            and (kind is None or packet.kind == kind)
            and packet.at >= since
        )

    # --- Leaving ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """Idempotent: closes the WebSocket, then the media connections. Reading stops first: an
        offer read in between (others leaving at the same moment change what this participant
        watches) would find its connection closed and log as a fault what is only leaving."""
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        for publication in list(self._publications.values()):
            await publication.connection.close()
        self._publications.clear()
        if self._watching is not None:
            await self._watching.close()
            self._watching = None
        for track in self._tracks:
            track.stop()
        self._tracks.clear()


class MediaRefused(Exception):  # noqa: N818 (it is what the server said, not a fault)
    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(message.get("message", "refused"))
        self.reason = str(message.get("reason"))
        self.message = message
