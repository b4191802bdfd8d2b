"""Media through SafeClass against raw Janus signalling, in the same run: how long a pupil waits for
the teacher's picture, how quickly a staff mute and "suspend everything" stop packets at the SFU,
and what a 30-pupil lesson costs Janus and the server in CPU and memory.

    scripts/in-test-netns .venv/bin/python bench/media.py [--pupils 30] [--joins 40]
        [--rounds 80] [--suspends 30] [--steady 60] [--write]

About 8 to 10 minutes with the defaults; `--pupils 4 --joins 4 --rounds 4 --suspends 2 --steady
10` checks that it works in about a minute.

It must run as root inside the private network namespace that `scripts/in-test-netns` makes (Janus
gathers no ICE candidates from loopback alone; the veth pair there reaches nothing outside).

What it does, all inside that namespace and a throwaway folder:

1. Makes a fresh SQLite database with the project's migrations (`lesson_signalling.build_school`):
   a school, a teacher with a signed-in session, a class of N pupils with live-lesson consent, and
   a lesson starting now. Two more pupils are on the class list: one joins and leaves again and
   again for (a), the other never comes, so the lesson never locks itself as "everyone is in".
2. Starts the server in a child process (`bench/media.py --serve PLAN.json`): the real app
   (`servers.safeclass_app`) under uvicorn with a real `MediaServer`, which starts Janus as its
   own child with ICE on the namespace's veth address only. It notes when the relay asks Janus to
   stop forwarding a stream (`moderate`) and has its answer, on the clients' monotonic clock, and
   what it logs at ERROR; it hands the room's pin and secret to the baseline. It never imports
   aiortc or PyAV.
3. Starts a sniffer in another (`bench/media.py --sniff LOW HIGH`): the kernel's time of every RTP
   packet Janus sends to a client, by SSRC (see `sniff`). Stops are timed by these.
4. The clients are `SimulatedParticipant`s in this process (they join through the lesson's
   WebSocket as a browser does and note the arrival of every RTP packet), so /proc gives the
   server's, Janus's and the clients' CPU and memory separately. Here aiortc is adapted
   (`adapt_aiortc`): it decodes nothing, describes its connections about as compactly as a
   browser does, notes each stream's SSRC and when each video stream's first VP8 keyframe is
   complete (first packet to the packet with the marker bit, none missing). The baseline is a raw
   Janus client (`safeclass.media.janus_client`) in this process, on the same Janus and room.

The measures, each SafeClass round alternating with a raw Janus round under the same load:

(a) Join: from the teacher's `admit` to the first complete keyframe of the teacher's video at the
    pupil (teacher and two pupils in the room), as the client handled it. Baseline: attach a
    handle, join as a subscriber to the teacher's feed (with a private id of a publisher joined
    beforehand, as the room requires), answer, `start`, first complete keyframe.
(b) Mute: with one pupil's microphone forwarded to everyone else in the full lesson, from sending
    `mute` to the last packet of that stream Janus forwarded to any participant. Baseline: the
    same with a `moderate` request sent straight to Janus.
(c) Suspend: pupils' cameras forwarded to the teacher and one pupil's microphone to everyone; from
    sending `suspend` to the last pupil packet Janus forwarded to anyone. Baselines: `moderate`
    requests for every pupil stream straight to Janus, all at once, and one after another.
(d) Steady lesson: the teacher's camera and microphone to every pupil, every pupil's camera to the
    teacher, for a minute: CPU (% of one core) and memory (RSS, PSS) of Janus, the server and the
    clients, from /proc. Baseline: the same processes idle before anyone joined.

Any refusal or reset, a client's media connection closing, a stream that does not start within
15 s or is not flowing right before a stop, a stop after which packets keep coming, a packet the
sniffer missed, or a Janus that restarts ends the run with an error: a benchmark that quietly
measures something else is worse than none. What the server logs at ERROR is counted and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fractions
import functools
import itertools
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn

import lesson_signalling
import results as bench_results
import servers
from lesson_signalling import Setup, _paragraph, _version, build_school
from safeclass.media.janus_client import HandleEvent, JanusClient, JanusHandle, JanusSession
from safeclass.media.janus_config import JanusOptions
from safeclass.media.janus_process import JanusProcess
from safeclass.media.sdp import MAX_SDP_BYTES, SDP_BYTES_PER_WATCHED_SECTION
from safeclass.media.server import MediaServer
from safeclass.web.auth import session_cookie_name

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
    from aiortc.rtp import RtpPacket

    from safeclass.media.simulated import SimulatedParticipant

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
RESULTS = bench_results.RESULTS

NETNS_ADDRESS = "10.77.0.1"  # what scripts/in-test-netns exports as SAFECLASS_TEST_NETNS
NETNS_INTERFACES = {"lo", "sca", "scb"}
JANUS_INTERFACE = "sca"  # Janus's side of the veth pair
# The clients' one host candidate. Their candidates on scb (10.77.0.2) never connect to Janus
# (ICE on sca only): the pair that does is 10.77.0.1 at both ends, routed inside the namespace.
CLIENT_ADDRESS = NETNS_ADDRESS
RTP_PORTS = (20000, 20999)

WAIT = 15.0  # for anything expected: a miss ends the run
POLL = 0.002  # how often a waiting client looks again (arrival times are noted, not polled)
MUTE_SETTLE = 0.8  # after a mute: how long to watch for packets still coming
SUSPEND_SETTLE = 1.0
AFTER_DONE = 0.5  # ... and at least this long after it is done (acknowledged, answered)
QUIET = 0.3  # a stream with a packet this close to the end of the watch has not stopped
QUIET_BEFORE = 0.3  # before each timed stop: the server finishes the work of getting ready
# Right before each timed stop, every stream it stops must have had a packet this recently at
# each of its receivers (sound: a packet every 20 ms; pictures: a frame every 67 ms).
RECENT_AUDIO = 0.1
RECENT_VIDEO = 0.2
# ... and the sniffer must have seen each of them in this last while (its times are the
# kernel's, earlier than the clients' by however late the busy clients handle packets).
SEEN = 1.0
LAG_EVERY = 0.01
SLOW_DTLS = 0.5  # a join whose DTLS took this long after ICE connected waited for a retry
SAMPLE_EVERY = 5.0  # CPU samples during the steady minute
IDLE_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


class BenchError(Exception):
    """The run cannot go on: something was refused, did not arrive, or is not what was measured."""


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# --- The server, in a process of its own: `bench/media.py --serve PLAN.json` ---------------------


def serve(plan_file: Path) -> None:
    asyncio.run(_serve(plan_file))


class ErrorLog(logging.Handler):
    """Every record the server logs at ERROR or above (the relay logs Janus failing part-way
    there, and carries on): the benchmark asks for them after each part and stops if any."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = f" ({record.exc_info[1]})" if record.exc_info else ""
        self.records.append(f"{record.name}: {record.getMessage()}{error}")


async def _serve(plan_file: Path) -> None:
    """The real app (`servers.safeclass_app`) with a real MediaServer (and so Janus) behind it.
    Says on stdout where it listens and how to reach its Janus; then answers one-line requests on
    stdin (`room N`: the room's pin and secret; `status`: Janus's pid now, and the errors logged
    since the last time; `moderations`: the relay's `moderate` requests since the last time)
    until `stop` or the end of stdin."""
    logging.basicConfig(level=logging.WARNING, format="server: %(levelname)s %(name)s: %(message)s")
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    plan = json.loads(plan_file.read_text())
    api_port, admin_port = _free_ports(2)
    options = JanusOptions(
        folder=Path(plan["janus_folder"]),
        api_port=api_port,
        admin_port=admin_port,
        rtp_ports=RTP_PORTS,
        ice_interfaces=(JANUS_INTERFACE,),  # never lo, never the clients' side
        ice_ignore=(),
    )
    media = MediaServer(JanusProcess(options))
    # When the relay asks Janus to stop or restart forwarding a stream, on the clock the clients
    # use too (CLOCK_MONOTONIC is one clock for every process): (asked, answered, muted).
    moderations: list[tuple[float, float, bool]] = []
    moderate = media.rooms.moderate

    async def timed_moderate(lesson_id: int, feed_id: int, mid: str, *, muted: bool) -> None:
        asked = time.monotonic()
        await moderate(lesson_id, feed_id, mid, muted=muted)
        moderations.append((asked, time.monotonic(), muted))

    media.rooms.moderate = timed_moderate  # type: ignore[method-assign]
    app = servers.safeclass_app(plan_file, media_server=media)
    listener = servers.listening_socket()
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=HOST,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            serving.result()
            raise SystemExit("the server stopped while starting")
        await asyncio.sleep(0.02)
    endpoint = media.process.endpoint
    if endpoint is None:
        raise SystemExit("the server started without Janus")
    # Over a pipe to the parent only: the baseline talks to this Janus directly.
    _say(
        {
            "port": port,
            "pid": os.getpid(),
            "janus_pid": endpoint.pid,
            "janus_api": endpoint.api_url,
            "api_secret": endpoint.secrets.api_secret,
        }
    )
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while not serving.done():
        words = (await stdin.readline()).decode().split()
        if not words or words[0] == "stop":
            break
        now = media.process.endpoint
        if words[0] == "room" and now is not None:
            room = media.rooms.room(int(words[1]))
            if room is None:
                _say({"error": f"lesson {words[1]} has no room"})
            else:
                _say(
                    {
                        "room_id": room.room_id,
                        "pin": room.pin,
                        "secret": now.secrets.room_secret(room.room_id),
                    }
                )
        elif words[0] == "status":
            _say(
                {
                    "janus_pid": now.pid if now else None,
                    "available": media.available,
                    "errors": errors.records,
                }
            )
            errors.records = []
        elif words[0] == "moderations":
            _say({"moderations": moderations})
            moderations.clear()
        else:
            _say({"error": f"cannot answer {words!r}"})
    server.should_exit = True
    await serving


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            ports.add(probe.getsockname()[1])
    return sorted(ports)


class Child:
    """This script in a child process (`--serve` or `--sniff`), as seen from the clients'
    process: one JSON line of answer to each line of request, on its stdin and stdout."""

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        self._args = args
        self._process: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}  # its first line: what it says once it is ready

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    async def start(self) -> None:
        # Our own interpreter running this very script; its errors go to our stderr.
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, str(THIS), *self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.info = await self._answer(timeout=60.0)

    async def ask(self, request: str) -> dict[str, Any]:
        process = self._running()
        assert process.stdin is not None
        process.stdin.write(f"{request}\n".encode())
        await process.stdin.drain()
        answer = await self._answer(timeout=WAIT)
        if "error" in answer:
            raise BenchError(f"the {self.name} could not answer {request!r}: {answer['error']}")
        return answer

    async def _answer(self, timeout: float) -> dict[str, Any]:
        process = self._running()
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchError(f"the {self.name} process went quiet") from None
        if not line:
            raise BenchError(f"the {self.name} process ended (exit {await process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.write(b"stop\n")
        process.stdin.close()
        try:
            code = await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise BenchError(f"the {self.name} process did not stop") from None
        if code != 0:
            raise BenchError(f"the {self.name} process exited with {code}")

    def _running(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is None or process.returncode is not None:
            raise BenchError(f"the {self.name} process is not running")
        return process


class ServerChild(Child):
    def __init__(self, plan_file: Path) -> None:
        super().__init__("server", "--serve", str(plan_file))
        self.errors: list[tuple[str, str]] = []  # (during what, the error)

    @property
    def janus_pid(self) -> int:
        return int(self.info["janus_pid"])

    @property
    def port(self) -> int:
        return int(self.info["port"])

    async def check(self, during: str) -> None:
        """The run stops if Janus restarted during `during`. What the server logged at ERROR
        is kept for the report (`errors`), with when."""
        status = await self.ask("status")
        self.errors += [(during, error) for error in status["errors"]]
        if status["janus_pid"] != self.janus_pid or not status["available"]:
            raise BenchError(f"Janus restarted or went away during {during}: {status}")


class SnifferChild(Child):
    def __init__(self) -> None:
        super().__init__("sniffer", "--sniff", str(RTP_PORTS[0]), str(RTP_PORTS[1]))

    async def tail(self, ssrcs: Iterable[int], since: float) -> Tail:
        """The last packet Janus sent with one of these SSRCs since `since`, and the most packets
        of one of them. Any packet the sniffer dropped ends the run: a missed packet could be
        the last one."""
        answer = await self.ask(f"tail {since!r} {','.join(str(s) for s in sorted(ssrcs))}")
        if answer["dropped"]:
            raise BenchError(f"the sniffer dropped {answer['dropped']} packets")
        counts: dict[str, int] = answer["counts"]
        return Tail(answer["last"], max(counts.values(), default=0), len(counts))

    async def seen(self, ssrcs: set[int], since: float) -> None:
        """Each of these SSRCs has crossed the wire since `since`: the sniffer sees them."""
        found = await self.tail(ssrcs, since)
        if found.streams < len(ssrcs):
            raise BenchError(
                f"the sniffer saw {found.streams} of {len(ssrcs)} streams that the clients "
                "receive: it would miss the packets it times"
            )


# --- Packets on the wire: a sniffer in a process of its own --------------------------------------

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35  # Linux; also the type of the ancillary message carrying the time
SNIFF_KEEP = 10.0  # seconds of packets kept before the earliest time asked about


def sniff(low: int, high: int) -> None:
    """`bench/media.py --sniff LOW HIGH`: notes the kernel's time of every RTP packet Janus sends
    (UDP from its RTP ports LOW-HIGH) as it arrives for a client, by its SSRC. Janus and the
    clients both use the namespace's 10.77.0.1 (`CLIENT_ADDRESS`), so these packets cross `lo`,
    where a packet socket sees them. The kernel stamps each one as it receives it: neither this
    process's nor the clients' scheduling delays the times. Answers `tail SINCE SSRC,SSRC,...`
    on stdin (the last such packet since SINCE, on the clients' monotonic clock, and how many of
    each SSRC) until `stop`."""
    packets: collections.deque[tuple[float, int]] = collections.deque()  # (time, SSRC)
    lock = threading.Lock()
    listener = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    listener.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 * 1024 * 1024)
    listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    listener.bind(("lo", 0))
    failed: list[BaseException] = []

    def capture() -> None:
        try:
            _capture(listener, low, high, packets, lock)
        except BaseException as error:
            failed.append(error)
            raise

    threading.Thread(target=capture, name="capture", daemon=True).start()
    dropped = 0
    _say({"pid": os.getpid()})
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "stop":
            break
        if failed:
            _say({"error": f"the capture stopped: {failed[0]!r}"})
            continue
        if words[0] != "tail" or len(words) != 3:
            _say({"error": f"cannot answer {words!r}"})
            continue
        since = float(words[1])
        wanted = {int(ssrc) for ssrc in words[2].split(",") if ssrc}
        # struct tpacket_stats: packets and drops since the last reading.
        _, drops = struct.unpack("II", listener.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        dropped += drops
        with lock:
            while packets and packets[0][0] < since - SNIFF_KEEP:
                packets.popleft()
            found = [(at, ssrc) for at, ssrc in packets if at >= since and ssrc in wanted]
        counts = Counter(ssrc for _, ssrc in found)
        _say(
            {
                "last": max((at for at, _ in found), default=None),
                "counts": {str(ssrc): n for ssrc, n in counts.items()},
                "dropped": dropped,
            }
        )


def _capture(
    listener: socket.socket,
    low: int,
    high: int,
    packets: collections.deque[tuple[float, int]],
    lock: threading.Lock,
) -> None:
    space = socket.CMSG_SPACE(16)
    while True:
        frame, ancillary, _flags, address = listener.recvmsg(2048, space)
        # lo frames carry an empty Ethernet header; each packet is seen leaving and arriving.
        if address[2] == PACKET_OUTGOING or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        udp = 14 + (frame[14] & 0x0F) * 4
        if not low <= int.from_bytes(frame[udp : udp + 2], "big") <= high:
            continue
        rtp = udp + 8
        # RTP, not RTCP, STUN or DTLS (RFC 7983); an SRTP packet's header is not encrypted.
        if len(frame) < rtp + 12 or not 128 <= frame[rtp] < 192 or 192 <= frame[rtp + 1] <= 223:
            continue
        stamp = next(
            (data for level, kind, data in ancillary if (level, kind) == (1, SO_TIMESTAMPNS)),
            None,
        )
        if stamp is None:
            raise RuntimeError("a packet came without the kernel's time")
        seconds, nanoseconds = struct.unpack("qq", stamp)
        at = seconds + nanoseconds / 1e9 - (time.time() - time.monotonic())
        ssrc = int.from_bytes(frame[rtp + 8 : rtp + 12], "big")
        with lock:
            packets.append((at, ssrc))


# --- aiortc in this process: no decoding, and when each video stream's first keyframe is whole --


@dataclass
class VideoArrivals:
    """One receiver's video stream: its first packet, and its first complete VP8 keyframe."""

    vp8_types: frozenset[int]
    first_packet: float | None = None
    keyframe: float | None = None
    _start: tuple[int, int] | None = None  # (RTP timestamp, sequence number) of a keyframe's start
    _packets: int = 0

    def note(self, packet: RtpPacket, at: float, descriptor: tuple[int, int, bytes] | None) -> None:
        if self.first_packet is None:
            self.first_packet = at
        if descriptor is not None:
            partition_start, partition_id, rest = descriptor
            if partition_start and partition_id == 0:
                # RFC 7741 section 4.3: P, the lowest bit of the first byte, is 0 on a keyframe.
                is_key = bool(rest) and rest[0] & 0x01 == 0
                self._start = (packet.timestamp, packet.sequence_number) if is_key else None
                self._packets = 0
        if self._start is None or packet.timestamp != self._start[0]:
            return
        self._packets += 1
        span = (packet.sequence_number - self._start[1]) % 65536 + 1
        if packet.marker and self._packets == span:
            self.keyframe = at


VIDEO: weakref.WeakKeyDictionary[RTCRtpReceiver, VideoArrivals] = weakref.WeakKeyDictionary()


CONSENT_EXPIRED: list[float] = []  # when a client's connection gave its peer up

# The SSRC of what each receiver gets (Janus gives each subscriber stream its own).
SSRC_OF: weakref.WeakKeyDictionary[RTCRtpReceiver, int] = weakref.WeakKeyDictionary()


def adapt_aiortc() -> None:
    """Only in this process, for this benchmark:
    - decode nothing: each receiver's decoder thread is stopped as soon as it starts (the
      clients would spend most of their CPU decoding pictures nobody looks at, as
      `shared/notes/janus.md` measured, and a class's hundred decoder threads fight over this
      one process's interpreter lock);
    - watch each VP8 stream for its first complete keyframe, and note each stream's SSRC;
    - describe a connection about as compactly as a browser does: one DTLS fingerprint (aiortc
      lists three) and one host candidate, on the address that connects (aiortc offers one for
      each address of the namespace, in every media section);
    - note when a connection gave up because its peer stopped answering (ICE consent, RFC 7675).
    """
    import aioice.ice
    from aiortc import RTCCertificate, RTCRtpReceiver
    from aiortc.codecs.vpx import VpxPayloadDescriptor
    from aiortc.rtcdtlstransport import RTCDtlsFingerprint
    from aiortc.rtcrtpparameters import RTCRtpReceiveParameters

    class ConsentLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Consent to send expired" in record.getMessage():
                CONSENT_EXPIRED.append(time.monotonic())

    ice_log = logging.getLogger("aioice.ice")
    ice_log.setLevel(logging.INFO)
    ice_log.addHandler(ConsentLog())
    ice_log.propagate = False

    receive = RTCRtpReceiver.receive
    handle_rtp = RTCRtpReceiver._handle_rtp_packet

    async def noting_receive(self: RTCRtpReceiver, parameters: RTCRtpReceiveParameters) -> None:
        vp8 = frozenset(
            codec.payloadType
            for codec in parameters.codecs
            if codec.mimeType.lower() == "video/vp8" and codec.payloadType is not None
        )
        if vp8 and self not in VIDEO:
            VIDEO[self] = VideoArrivals(vp8)
        await receive(self, parameters)
        # With no decoder thread the receiver passes no frame on (aiortc checks for it).
        self._RTCRtpReceiver__stop_decoder()  # type: ignore[attr-defined]

    async def noting_rtp(self: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int) -> None:
        SSRC_OF[self] = packet.ssrc
        arrivals = VIDEO.get(self)
        if (
            arrivals is not None
            and arrivals.keyframe is None
            and packet.payload_type in arrivals.vp8_types
        ):
            try:
                descriptor, rest = VpxPayloadDescriptor.parse(packet.payload)
                parsed = (descriptor.partition_start, descriptor.partition_id, rest)
            except ValueError:
                parsed = None
            arrivals.note(packet, time.monotonic(), parsed)
        await handle_rtp(self, packet, arrival_time_ms)

    RTCRtpReceiver.receive = noting_receive  # type: ignore[method-assign]
    RTCRtpReceiver._handle_rtp_packet = noting_rtp  # type: ignore[method-assign]

    fingerprints = RTCCertificate.getFingerprints

    def sha_256_only(self: RTCCertificate) -> list[RTCDtlsFingerprint]:
        return [f for f in fingerprints(self) if f.algorithm == "sha-256"]

    def clients_side(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [CLIENT_ADDRESS]

    RTCCertificate.getFingerprints = sha_256_only  # type: ignore[method-assign]
    aioice.ice.get_host_addresses = clients_side


REPLAYED_PICTURES = 30
KEYFRAME_EVERY = 15  # a keyframe a second


@functools.cache
def _encoded_pictures() -> tuple[bytes, ...]:
    """Two seconds of a small moving picture, encoded to VP8 once."""
    import av

    from safeclass.media.simulated import VIDEO_FPS, VIDEO_SIZE

    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height = VIDEO_SIZE
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = fractions.Fraction(1, VIDEO_FPS)
    encoder.gop_size = KEYFRAME_EVERY
    encoder.bit_rate = 100_000
    encoder.options = {"deadline": "realtime", "lag-in-frames": "0"}
    pictures = []
    for number in range(REPLAYED_PICTURES):
        frame = av.VideoFrame(*VIDEO_SIZE, "yuv420p")
        bar = (number * 4) % VIDEO_SIZE[0]
        row = bytes(235 if bar <= x < bar + 8 else 96 for x in range(frame.planes[0].line_size))
        frame.planes[0].update(row * VIDEO_SIZE[1])
        frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
        frame.pts = number
        pictures += [bytes(packet) for packet in encoder.encode(frame)]
    pictures += [bytes(packet) for packet in encoder.encode(None)]
    if len(pictures) != REPLAYED_PICTURES:
        raise BenchError(f"VP8 gave {len(pictures)} pictures for {REPLAYED_PICTURES} frames")
    return tuple(pictures)


def replayed_camera() -> MediaStreamTrack:
    """A pupil's camera for this benchmark: the same VP8 pictures sent again and again at the
    simulated camera's rate (aiortc sends pre-encoded packets as they are). Thirty pupils'
    cameras would otherwise each be encoded in the clients' one process, the largest part of its
    CPU; Janus forwards these bytes as it forwards any."""
    import av
    from aiortc import MediaStreamTrack

    from safeclass.media.simulated import VIDEO_FPS, VIDEO_RATE

    pictures = _encoded_pictures()

    class ReplayedCamera(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self._count = 0
            self._started: float | None = None

        async def recv(self) -> av.Packet[Any]:
            if self._started is None:
                self._started = time.monotonic()
            due = self._started + self._count / VIDEO_FPS
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            packet = av.Packet(pictures[self._count % len(pictures)])
            packet.pts = self._count * (VIDEO_RATE // VIDEO_FPS)
            packet.time_base = fractions.Fraction(1, VIDEO_RATE)
            self._count += 1
            return packet

    return ReplayedCamera()


# --- Readings from /proc -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class Memory:
    rss_kib: int
    pss_kib: int
    peak_rss_kib: int


def memory(pid: int) -> Memory:
    status = _kib_fields(Path(f"/proc/{pid}/status").read_text())
    rollup = _kib_fields(Path(f"/proc/{pid}/smaps_rollup").read_text())
    return Memory(status["VmRSS"], rollup["Pss"], status["VmHWM"])


def _kib_fields(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


@dataclass(frozen=True)
class Processes:
    janus: int
    server: int
    clients: int

    def named(self) -> dict[str, int]:
        return {"Janus": self.janus, "SafeClass server": self.server, "test clients": self.clients}


@dataclass(frozen=True)
class CpuMark:
    at: float
    seconds: dict[str, float]

    @classmethod
    def now(cls, processes: Processes) -> CpuMark:
        return cls(
            time.monotonic(),
            {name: cpu_seconds(pid) for name, pid in processes.named().items()},
        )

    def percent_since(self, earlier: CpuMark) -> dict[str, float]:
        wall = self.at - earlier.at
        return {
            name: 100 * (self.seconds[name] - earlier.seconds[name]) / wall for name in self.seconds
        }


class LagMonitor:
    """How late this process's event loop wakes a task that asked to sleep 10 ms: every arrival
    time the clients note carries about this much delay."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (when, lag in seconds)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lag monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(LAG_EVERY)
            woke = time.monotonic()
            self.samples.append((woke, max(0.0, woke - asked - LAG_EVERY)))

    def between(self, start: float, end: float) -> Samples:
        return Samples([lag for at, lag in self.samples if start <= at <= end])


# --- Samples -------------------------------------------------------------------------------------


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.seconds.append(value)

    def __len__(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)  # nearest rank
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def max(self) -> float:
        return max(self.seconds)


# --- The raw Janus baseline ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoomKeys:
    room_id: int
    pin: str
    secret: str


@dataclass
class Feed:
    feed_id: int
    mids: dict[str, str] = field(default_factory=dict)  # "audio" / "video" -> mid


@dataclass(frozen=True)
class JoinTiming:
    """Seconds from the start of a join: the subscriber's answer sent, its first video packet,
    its first complete keyframe."""

    answered: float
    first_packet: float
    keyframe: float
    ice: float  # ICE connected
    dtls: float  # DTLS done: the connection is up


@dataclass
class ConnectionStates:
    """When a connection's ICE, then its DTLS, came up, as seen by looking every POLL seconds."""

    ice: float | None = None
    dtls: float | None = None

    def look(self, connection: RTCPeerConnection | None) -> None:
        now = time.monotonic()
        if connection is None:
            return
        if self.ice is None and connection.iceConnectionState in ("connected", "completed"):
            self.ice = now
        if self.dtls is None and connection.connectionState == "connected":
            self.dtls = now

    def times(self, started: float) -> tuple[float, float]:
        if self.ice is None or self.dtls is None:
            raise BenchError("a picture came on a connection that was not up")
        return self.ice - started, self.dtls - started


class RawJanus:
    """A Janus application without SafeClass: straight to the API, with the room's pin, a
    publisher's private id (the room has `require_pvtid`) and the room's secret for moderation."""

    def __init__(
        self, client: JanusClient, session: JanusSession, control: JanusHandle, keys: RoomKeys
    ) -> None:
        self.client = client
        self.session = session
        self.control = control
        self.keys = keys
        self.private_id = 0
        self.feeds: dict[str, Feed] = {}  # by display name: SafeClass joins with the pid

    @classmethod
    async def connect(cls, api_url: str, api_secret: str, keys: RoomKeys) -> RawJanus:
        client = await JanusClient.connect(api_url, api_secret=api_secret)
        session = await client.create_session()
        raw = cls(client, session, await session.attach(), keys)
        await raw._join_as_publisher()
        return raw

    async def _join_as_publisher(self) -> None:
        """A place in the room, as any Janus participant has, before any timing: its private id
        lets subscribers join, and its events list every publisher's streams."""
        token = secrets.token_urlsafe(24)
        await self.control.send(
            {
                "request": "allowed",
                "room": self.keys.room_id,
                "secret": self.keys.secret,
                "action": "add",
                "allowed": [token],
            }
        )
        identity = await self.session.attach()
        identity.add_listener(self._on_event)
        reply = await identity.send(
            {
                "request": "join",
                "ptype": "publisher",
                "room": self.keys.room_id,
                "pin": self.keys.pin,
                "token": token,
                "display": "benchmark: raw Janus",
            }
        )
        self.private_id = int(reply.data["private_id"])
        self._note_publishers(reply.data.get("publishers"))

    def _on_event(self, event: HandleEvent) -> None:
        if event.kind != "event":
            return
        self._note_publishers(event.data.get("publishers"))
        for key in ("unpublished", "leaving"):
            gone = event.data.get(key)
            if isinstance(gone, int):
                self.feeds = {k: f for k, f in self.feeds.items() if f.feed_id != gone}

    def _note_publishers(self, publishers: object) -> None:
        for entry in publishers if isinstance(publishers, list) else []:
            feed = Feed(int(entry["id"]))
            for stream in entry.get("streams") or []:
                if not stream.get("disabled"):
                    feed.mids[str(stream["type"])] = str(stream["mid"])
            self.feeds[str(entry.get("display", ""))] = feed

    async def feed(self, display: str, kinds: Iterable[str]) -> Feed:
        wanted = set(kinds)

        def known() -> bool:
            feed = self.feeds.get(display)
            return feed is not None and wanted <= feed.mids.keys()

        await until(known, f"Janus to list the streams of {display}")
        return self.feeds[display]

    async def moderate(self, feed: Feed, kind: str, *, muted: bool) -> None:
        await self.control.send(
            {
                "request": "moderate",
                "room": self.keys.room_id,
                "secret": self.keys.secret,
                "id": feed.feed_id,
                "mid": feed.mids[kind],
                "mute": muted,
            }
        )

    async def join_until_keyframe(self, teacher: Feed) -> JoinTiming:
        """Subscribe to the teacher's feed, as SafeClass subscribes a pupil to it, and wait for the
        first complete keyframe of its video."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        started = time.monotonic()
        handle = await self.session.attach()
        candidates: list[dict[str, Any]] = []
        handle.add_listener(
            lambda event: (
                candidates.append(dict(event.data["candidate"]))
                if event.kind == "trickle" and isinstance(event.data.get("candidate"), dict)
                else None
            )
        )
        connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            reply = await handle.send(
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": self.keys.room_id,
                    "pin": self.keys.pin,
                    "private_id": self.private_id,
                    "streams": [{"feed": teacher.feed_id}],
                }
            )
            if reply.jsep is None:
                raise BenchError("Janus offered no streams to the raw subscriber")
            await connection.setRemoteDescription(
                RTCSessionDescription(str(reply.jsep["sdp"]), "offer")
            )
            await connection.setLocalDescription(await connection.createAnswer())
            answered = time.monotonic()
            await handle.send(
                {"request": "start"},
                jsep={"type": "answer", "sdp": connection.localDescription.sdp},
            )
            added = 0
            adding: set[asyncio.Task[None]] = set()
            video_mid = next(
                str(s["mid"]) for s in reply.data["streams"] if s.get("type") == "video"
            )

            states = ConnectionStates()

            def keyframe() -> bool:
                nonlocal added
                states.look(connection)
                if added < len(candidates):
                    for candidate in candidates[added:]:
                        task = asyncio.create_task(_add_candidate(connection, candidate))
                        adding.add(task)
                        task.add_done_callback(adding.discard)
                    added = len(candidates)
                arrivals = _video_arrivals(connection, video_mid)
                return arrivals is not None and arrivals.keyframe is not None

            await until(keyframe, "the teacher's keyframe at the raw subscriber")
            arrivals = _video_arrivals(connection, video_mid)
            assert arrivals is not None
            assert arrivals.first_packet is not None
            assert arrivals.keyframe is not None
            return JoinTiming(
                answered - started,
                arrivals.first_packet - started,
                arrivals.keyframe - started,
                *states.times(started),
            )
        finally:
            await handle.detach()
            await connection.close()

    async def close(self) -> None:
        await self.session.destroy()
        await self.client.close()


async def _add_candidate(connection: RTCPeerConnection, candidate: dict[str, Any]) -> None:
    from aiortc.sdp import candidate_from_sdp

    if not candidate.get("candidate"):
        return
    parsed = candidate_from_sdp(str(candidate["candidate"]).removeprefix("candidate:"))
    parsed.sdpMid = candidate.get("sdpMid")
    parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
    await connection.addIceCandidate(parsed)


def _video_arrivals(connection: RTCPeerConnection | None, mid: str | None) -> VideoArrivals | None:
    if connection is None or mid is None:
        return None
    for transceiver in connection.getTransceivers():
        if transceiver.mid == mid:
            return VIDEO.get(transceiver.receiver)
    return None


async def until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
    """Look again every POLL seconds until `check()`; returns when it passed."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"no sign of {what} within {timeout:.0f} s")
        await asyncio.sleep(POLL)
    return time.monotonic()


async def within(awaitable: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(awaitable, WAIT)
    except TimeoutError:
        raise BenchError(f"no {what} within {WAIT:.0f} s") from None


# --- The lesson, through SafeClass ---------------------------------------------------------------


class Lesson:
    """The teacher and the pupils in the room, each a SimulatedParticipant on its own WebSocket."""

    def __init__(self, setup: Setup, port: int) -> None:
        self.setup = setup
        self.url = f"ws://{HOST}:{port}/lessons/{setup.lesson_id}/live"
        self.origin = f"http://{HOST}:{port}"
        self.cookie = f"{session_cookie_name(setup.config())}={setup.staff_cookie}"
        self.teacher: SimulatedParticipant | None = None
        self.pupils: list[SimulatedParticipant] = []  # in the room, in the order they came
        self.speakers: list[SimulatedParticipant] = []  # those who publish a microphone

    def participant(self, name: str, *, staff: bool = False) -> SimulatedParticipant:
        from safeclass.media.simulated import SimulatedParticipant

        return SimulatedParticipant(
            url=self.url, origin=self.origin, name=name, cookie=self.cookie if staff else None
        )

    @property
    def host(self) -> SimulatedParticipant:
        assert self.teacher is not None
        return self.teacher

    @property
    def everyone(self) -> list[SimulatedParticipant]:
        return [self.host, *self.pupils]

    async def open(self) -> None:
        """The teacher joins, turns on the microphone and camera, and publishes both."""
        teacher = self.participant("Teacher", staff=True)
        await teacher.connect()
        self.teacher = teacher
        welcome = await teacher.join()
        if welcome["type"] != "welcome":
            raise BenchError(f"the teacher was not let in: {welcome}")
        await teacher.send({"type": "set_mic", "on": True})
        await teacher.send({"type": "set_camera", "on": True})
        await within(teacher.publish_camera(), "answer to the teacher's publication")

    async def come_in(self, index: int) -> SimulatedParticipant:
        """Pupil `index` of the class joins and is admitted (no timing)."""
        pupil_row = self.setup.pupils[index]
        pupil = await self._knock(pupil_row.name, pupil_row.token)
        await self.host.send({"type": "admit", "target": pupil.pid})
        await within(pupil.view_until(_admitted), f"{pupil.name}'s admission")
        self.pupils.append(pupil)
        return pupil

    async def _knock(self, name: str, token: str) -> SimulatedParticipant:
        pupil = self.participant(name)
        await pupil.connect()
        welcome = await pupil.join(token=token, reminder_accepted=True)
        if welcome["type"] != "welcome":
            await pupil.close()
            raise BenchError(f"{name} was not let in: {welcome}")
        pid = pupil.pid
        await within(
            self.host.view_until(
                lambda v: any(w["pid"] == pid and w["can_admit"] for w in v["waiting"])
            ),
            f"{name} on the teacher's waiting list",
        )
        return pupil

    async def join_until_keyframe(self, index: int) -> JoinTiming:
        """Pupil `index` joins; timed from the teacher's `admit` to the first complete keyframe
        of the teacher's video at the pupil. Then the pupil leaves again."""
        pupil_row = self.setup.pupils[index]
        pupil = await self._knock(pupil_row.name, pupil_row.token)
        teacher_pid = self.host.pid
        try:
            started = time.monotonic()
            await self.host.send({"type": "admit", "target": pupil.pid})
            answered: float | None = None

            states = ConnectionStates()

            def keyframe() -> bool:
                nonlocal answered
                states.look(pupil._watching)
                if answered is None and any(m["type"] == "watch_offer" for m in pupil.received):
                    answered = time.monotonic()  # the answer went just before (polled)
                arrivals = _video_arrivals(
                    pupil._watching, _mid_of(pupil, teacher_pid or "", "video")
                )
                return arrivals is not None and arrivals.keyframe is not None

            done = await until(keyframe, "the teacher's keyframe at the joining pupil")
            arrivals = _video_arrivals(pupil._watching, _mid_of(pupil, teacher_pid or "", "video"))
            assert arrivals is not None
            assert arrivals.first_packet is not None
            assert arrivals.keyframe is not None
            timing = JoinTiming(
                (answered or done) - started,
                arrivals.first_packet - started,
                arrivals.keyframe - started,
                *states.times(started),
            )
            await pupil.send({"type": "leave"})
            await pupil.wait_for(lambda m: m["type"] == "closed", timeout=WAIT)
            return timing
        finally:
            await pupil.close()

    async def publish(self, pupil: SimulatedParticipant, *, audio: bool) -> None:
        """A pupil's camera (pictures encoded once, `replayed_camera`), and a microphone if
        `audio`, offered as `publish_camera` offers them."""
        from safeclass.media.simulated import ToneTrack

        await pupil.send({"type": "set_camera", "on": True})
        tracks: list[MediaStreamTrack] = [ToneTrack()] if audio else []
        tracks.append(replayed_camera())
        await within(pupil.publish_raw("camera", tracks), f"{pupil.name}'s answer")

    async def leave(self) -> None:
        """The pupils close their connections, as a class closing its laptops, then the
        teacher."""
        pupils, self.pupils = self.pupils, []
        for pupil in pupils:
            await pupil.close()
        await within(
            self.host.view_until(lambda v: len(v["in_room"]) == 1), "the teacher alone in the room"
        )
        await self.host.close()
        self.teacher = None

    def forget_packets(self) -> float:
        """Start noting arrivals afresh; returns when. Anything the server refused or complained
        about since the last time ends the run."""
        self.check_messages()
        for participant in self.everyone:
            participant.packets.clear()
            participant.received.clear()
        return time.monotonic()

    def ssrcs(self, streams: Iterable[tuple[SimulatedParticipant, str, str]]) -> set[int]:
        """The SSRCs with which Janus sends these (receiver, source pid, kind) streams."""
        found = set()
        for receiver, source, kind in streams:
            mid = _mid_of(receiver, source, kind)
            ssrc = None
            for transceiver in receiver._watching.getTransceivers() if receiver._watching else []:
                if transceiver.mid == mid:
                    ssrc = SSRC_OF.get(transceiver.receiver)
            if ssrc is None:
                raise BenchError(f"{receiver.name} has had no packet of {source}'s {kind}")
            found.add(ssrc)
        return found

    async def check_round(self, server: ServerChild, what: str) -> None:
        """Before a round is counted: nothing was refused or reset, and the server logged no
        error and kept its Janus."""
        self.check_messages()
        await server.check(what)

    def check_messages(self) -> None:
        """Anything refused, a connection closed or the media server reset ends the run."""
        for participant in self.everyone:
            for message in participant.received:
                if message["type"] in (
                    "error",
                    "refused",
                    "media_refused",
                    "media_reset",
                    "media_stopped",
                    "closed",
                ):
                    raise BenchError(f"{participant.name} was sent {message}")
            watching = participant._watching
            if watching is not None and watching.connectionState in ("failed", "closed"):
                raise BenchError(
                    f"{participant.name}'s connection for watching is {watching.connectionState}"
                    f" (ICE {watching.iceConnectionState}; connections whose peer stopped "
                    f"answering ICE consent checks so far: {len(CONSENT_EXPIRED)})"
                )

    async def all_flowing_now(
        self, streams: Sequence[tuple[SimulatedParticipant, str, str]], within: float
    ) -> None:
        """Until each (receiver, source pid, kind) has had a packet in the last `within` seconds:
        a stop is timed only on streams that are flowing when it is sent."""

        def recent() -> bool:
            since = time.monotonic() - within
            return all(
                any(
                    p.at >= since and p.source == source and p.kind == kind
                    for p in receiver.packets
                )
                for receiver, source, kind in streams
            )

        await until(recent, f"all of {len(streams)} streams flowing at once")

    async def flowing(self, streams: Sequence[tuple[SimulatedParticipant, str, str]]) -> None:
        """Until each (receiver, source pid, kind) has had a packet since the last forget."""
        waiting = set(range(len(streams)))

        def all_there() -> bool:
            for index in list(waiting):
                receiver, source, kind = streams[index]
                if any(p.source == source and p.kind == kind for p in receiver.packets):
                    waiting.discard(index)
            return not waiting

        try:
            await until(all_there, f"{len(streams)} stream(s) flowing", timeout=WAIT)
        except BenchError:
            self.check_messages()  # a refusal says more than the timeout
            missing = [streams[index] for index in sorted(waiting)]
            sources = {source for _, source, _ in missing}
            raise BenchError(
                f"{len(missing)} of {len(streams)} streams did not flow within {WAIT:.0f} s: "
                + ", ".join(f"{source}'s {kind} to {r.name}" for r, source, kind in missing[:5])
                + f"; the teacher's view of their sources: {self._as_seen(sources)}"
            ) from None
        self.check_messages()

    def _as_seen(self, pids: set[str]) -> list[dict[str, Any]]:
        return [p for p in self.host.view.get("in_room", []) if p.get("pid") in pids]


def _admitted(view: dict[str, Any]) -> bool:
    return bool(view) and view["you"]["presence"] == "admitted"


def _mid_of(participant: SimulatedParticipant, source: str, kind: str) -> str | None:
    return next(
        (mid for mid, (pid, k) in participant.streams.items() if pid == source and k == kind),
        None,
    )


@dataclass(frozen=True)
class Tail:
    """What still arrived of some streams after a moment: the last arrival at any receiver, and
    the most packets of one stream that one receiver got."""

    last: float | None
    most: int
    streams: int = 0  # how many of the streams had a packet


def tail(
    receivers: Iterable[SimulatedParticipant], sources: set[str], kinds: set[str], since: float
) -> Tail:
    last: float | None = None
    counts: Counter[tuple[int, str | None, str | None]] = Counter()
    for index, receiver in enumerate(receivers):
        for packet in receiver.packets:
            if packet.source in sources and packet.kind in kinds and packet.at >= since:
                counts[index, packet.source, packet.kind] += 1
                last = packet.at if last is None else max(last, packet.at)
    return Tail(last, max(counts.values(), default=0))


# --- The measures --------------------------------------------------------------------------------


@dataclass
class Joins:
    safeclass: list[JoinTiming] = field(default_factory=list)
    raw: list[JoinTiming] = field(default_factory=list)


@dataclass
class Stops:
    """For each way of stopping streams, round by round: from the send to the last packet of them
    that Janus forwarded to any receiver, by the kernel's time on the wire (the measure), and as
    the client handled it (later by the clients' own delays); the most packets of one stream one
    receiver still got; the rounds in which nothing came after the send. Packets still coming at
    the end of the watch end the run. For SafeClass also: when the server asked Janus to stop
    forwarding, when Janus answered, and when the teacher's view showed it done."""

    wire: dict[str, Samples] = field(default_factory=dict)
    handled: dict[str, Samples] = field(default_factory=dict)
    answered: dict[str, Samples] = field(default_factory=dict)  # Janus answered the last moderate
    packets_after: dict[str, list[int]] = field(default_factory=dict)
    nothing_after_send: dict[str, int] = field(default_factory=dict)
    server: dict[str, Samples] = field(default_factory=dict)
    after_ack: int = 0  # SafeClass rounds with a packet on the wire after the teacher saw it done

    def note(self, way: str, sent: float, wire: Tail, handled: Tail, watched: float) -> None:
        if wire.last is not None and wire.last > watched - QUIET:
            raise BenchError(
                f"{way}: Janus still forwarded packets {_ms(wire.last - sent)} ms after the "
                f"send, near the end of the {_ms(watched - sent)} ms watch: the stop did not "
                "stop them"
            )
        self.wire.setdefault(way, Samples()).add(max(0.0, (wire.last or sent) - sent))
        self.handled.setdefault(way, Samples()).add(max(0.0, (handled.last or sent) - sent))
        self.packets_after.setdefault(way, []).append(wire.most)
        self.nothing_after_send.setdefault(way, 0)
        if wire.last is None:
            self.nothing_after_send[way] += 1

    async def note_server(
        self, server: ServerChild, sent: float, acknowledged: float, wire: Tail, watched: float
    ) -> None:
        """The server's `moderate` requests that stopped forwarding, from its own clock."""
        answer = await server.ask("moderations")
        stopping = [
            (asked, answered)
            for asked, answered, muted in answer["moderations"]
            if muted and sent <= asked <= watched
        ]
        if not stopping:
            raise BenchError("the server asked Janus to stop nothing")
        self.sample(ASKED).add(min(asked for asked, _ in stopping) - sent)
        self.answered.setdefault(SAFECLASS, Samples()).add(
            max(answered for _, answered in stopping) - sent
        )
        self.sample(ACKNOWLEDGED).add(acknowledged - sent)
        if wire.last is not None and wire.last > acknowledged:
            self.after_ack += 1

    def sample(self, label: str) -> Samples:
        return self.server.setdefault(label, Samples())


ASKED = "the server asks Janus to stop forwarding (first `moderate`)"
ACKNOWLEDGED = "the teacher's view shows it done"
SAFECLASS = "SafeClass"
RAW_ONE = "raw Janus `moderate`"
RAW_ALL_AT_ONCE = "raw Janus, all `moderate`s at once"
RAW_ONE_BY_ONE = "raw Janus, `moderate`s one after another"


async def measure_joins(lesson: Lesson, raw: RawJanus, joins: int, joiner: int) -> Joins:
    result = Joins()
    teacher = await raw.feed(lesson.host.pid or "", ["video"])
    for number in range(joins):
        # Alternate which goes first, so neither always follows the other's teardown.
        for way in (SAFECLASS, "raw") if number % 2 == 0 else ("raw", SAFECLASS):
            await asyncio.sleep(0.3)  # the last one's teardown settles
            if way == SAFECLASS:
                result.safeclass.append(await lesson.join_until_keyframe(joiner))
            else:
                result.raw.append(await raw.join_until_keyframe(teacher))
        if (number + 1) % 10 == 0:
            _progress(f"  {number + 1} of {joins}")
    return result


async def measure_mutes(
    lesson: Lesson, raw: RawJanus, server: ServerChild, sniffer: SnifferChild, rounds: int
) -> Stops:
    stops = Stops()
    teacher = lesson.host
    for number in range(rounds):
        speaker = lesson.speakers[number % len(lesson.speakers)]
        pid = speaker.pid or ""
        hearers = [p for p in lesson.everyone if p is not speaker]
        streams = [(hearer, pid, "audio") for hearer in hearers]
        feed = await raw.feed(pid, ["audio"])
        for way in (SAFECLASS, RAW_ONE) if number % 2 == 0 else (RAW_ONE, SAFECLASS):
            await _let_speak(lesson, speaker, hearers)
            await asyncio.sleep(QUIET_BEFORE)
            await lesson.all_flowing_now(streams, RECENT_AUDIO)
            ssrcs = lesson.ssrcs(streams)
            await sniffer.seen(ssrcs, time.monotonic() - SEEN)
            sent = lesson.forget_packets()
            if way == SAFECLASS:
                await teacher.send({"type": "mute", "target": pid})
                await within(teacher.view_until(_mic_off(pid)), "the mute on the teacher's view")
            else:
                await raw.moderate(feed, "audio", muted=True)
                stops.answered.setdefault(way, Samples()).add(time.monotonic() - sent)
            done = time.monotonic()
            watched = max(sent + MUTE_SETTLE, done + AFTER_DONE)
            await asyncio.sleep(max(0.0, watched - time.monotonic()))
            wire = await sniffer.tail(ssrcs, sent)
            await lesson.check_round(server, "(b) mute rounds")
            stops.note(way, sent, wire, tail(hearers, {pid}, {"audio"}, sent), watched)
            if way == SAFECLASS:
                await stops.note_server(server, sent, done, wire, watched)
            else:  # SafeClass mutes too, so that its state is as Janus's
                await teacher.send({"type": "mute", "target": pid})
                await within(teacher.view_until(_mic_off(pid)), "the mute on the teacher's view")
        if (number + 1) % 10 == 0:
            _progress(f"  {number + 1} of {rounds}")
    return stops


async def _let_speak(
    lesson: Lesson, speaker: SimulatedParticipant, hearers: list[SimulatedParticipant]
) -> None:
    pid = speaker.pid or ""
    await lesson.host.send({"type": "allow_mic", "target": pid})
    await within(speaker.view_until(lambda v: v["you"]["mic_allowed"]), "mic permission")
    lesson.forget_packets()
    await speaker.send({"type": "set_mic", "on": True})
    await lesson.flowing([(hearer, pid, "audio") for hearer in hearers])


def _mic_off(pid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda view: any(p["pid"] == pid and not p["mic_on"] for p in view["in_room"])


async def measure_suspends(
    lesson: Lesson, raw: RawJanus, server: ServerChild, sniffer: SnifferChild, rounds: int
) -> Stops:
    """Pupils' cameras to the teacher and one pupil's microphone to everyone, stopped at once."""
    stops = Stops()
    teacher = lesson.host
    speaker = lesson.speakers[0]
    pupils = {p.pid or "" for p in lesson.pupils}
    published = [(p.pid or "", "video") for p in lesson.pupils] + [(speaker.pid or "", "audio")]
    feeds = [(await raw.feed(pid, [kind]), kind) for pid, kind in published]
    hearers = [p for p in lesson.everyone if p is not speaker]
    await _let_speak(lesson, speaker, hearers)
    # Every pupil stream that is forwarded: each pupil's camera to the teacher (pupils' video is
    # for staff only), and the one microphone to everyone else.
    streams = [(teacher, p.pid or "", "video") for p in lesson.pupils] + [
        (hearer, speaker.pid or "", "audio") for hearer in hearers
    ]
    ways = [SAFECLASS, RAW_ALL_AT_ONCE, RAW_ONE_BY_ONE]
    for number in range(rounds):
        for way in ways[number % 3 :] + ways[: number % 3]:
            await asyncio.sleep(QUIET_BEFORE)
            await lesson.all_flowing_now(streams, RECENT_VIDEO)
            ssrcs = lesson.ssrcs(streams)
            await sniffer.seen(ssrcs, time.monotonic() - SEEN)
            sent = lesson.forget_packets()
            if way == SAFECLASS:
                await teacher.send({"type": "suspend"})
                await within(
                    teacher.view_until(lambda v: v["lesson"]["suspended"]), "the suspension"
                )
            elif way == RAW_ALL_AT_ONCE:
                await asyncio.gather(*(raw.moderate(f, kind, muted=True) for f, kind in feeds))
                stops.answered.setdefault(way, Samples()).add(time.monotonic() - sent)
            else:
                for f, kind in feeds:
                    await raw.moderate(f, kind, muted=True)
                stops.answered.setdefault(way, Samples()).add(time.monotonic() - sent)
            done = time.monotonic()
            watched = max(sent + SUSPEND_SETTLE, done + AFTER_DONE)
            await asyncio.sleep(max(0.0, watched - time.monotonic()))
            wire = await sniffer.tail(ssrcs, sent)
            await lesson.check_round(server, "(c) suspend rounds")
            handled = tail(lesson.everyone, pupils, {"audio", "video"}, sent)
            stops.note(way, sent, wire, handled, watched)
            if way == SAFECLASS:
                await stops.note_server(server, sent, done, wire, watched)
                await _resume(lesson, speaker)
            else:
                lesson.forget_packets()
                await asyncio.gather(*(raw.moderate(f, kind, muted=False) for f, kind in feeds))
            await lesson.flowing(streams)
        _progress(f"  {number + 1} of {rounds}")
    return stops


async def _resume(lesson: Lesson, speaker: SimulatedParticipant) -> None:
    teacher = lesson.host
    await teacher.send({"type": "resume"})
    await within(teacher.view_until(lambda v: not v["lesson"]["suspended"]), "the resumption")
    await teacher.send({"type": "allow_mic", "target": speaker.pid})
    await within(speaker.view_until(lambda v: v["you"]["mic_allowed"]), "mic permission")
    lesson.forget_packets()
    await asyncio.gather(
        *(pupil.send({"type": "set_camera", "on": True}) for pupil in lesson.pupils),
        speaker.send({"type": "set_mic", "on": True}),
    )
    await lesson.flowing([(pupil, teacher.pid or "", "video") for pupil in lesson.pupils])


@dataclass
class Steady:
    seconds: float
    idle_cpu: dict[str, float]
    idle_memory: dict[str, Memory]
    cpu: dict[str, float]  # over the whole window
    cpu_windows: dict[str, list[float]]  # per SAMPLE_EVERY seconds
    memory_before: dict[str, Memory]
    memory_after: dict[str, Memory]
    packets_per_second: float
    streams: int


async def measure_idle(processes: Processes, seconds: float) -> dict[str, float]:
    before = CpuMark.now(processes)
    await asyncio.sleep(seconds)
    return CpuMark.now(processes).percent_since(before)


async def measure_steady(
    lesson: Lesson,
    processes: Processes,
    seconds: float,
    idle: tuple[dict[str, float], dict[str, Memory]],
) -> Steady:
    named = processes.named()
    lesson.forget_packets()
    memory_before = {name: memory(pid) for name, pid in named.items()}
    marks = [CpuMark.now(processes)]
    started = marks[0].at
    while time.monotonic() < started + seconds:
        await asyncio.sleep(min(SAMPLE_EVERY, started + seconds - time.monotonic()))
        marks.append(CpuMark.now(processes))
    packets = sum(len(p.packets) for p in lesson.everyone)
    streams = sum(len(p.streams) for p in lesson.everyone)
    windows: dict[str, list[float]] = {name: [] for name in named}
    for earlier, later in itertools.pairwise(marks):
        if later.at - earlier.at > SAMPLE_EVERY / 2:
            for name, value in later.percent_since(earlier).items():
                windows[name].append(value)
    return Steady(
        seconds=marks[-1].at - started,
        idle_cpu=idle[0],
        idle_memory=idle[1],
        cpu=marks[-1].percent_since(marks[0]),
        cpu_windows=windows,
        memory_before=memory_before,
        memory_after={name: memory(pid) for name, pid in named.items()},
        packets_per_second=packets / (marks[-1].at - started),
        streams=streams,
    )


# --- The run -------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    started: float
    ended: float
    cpu: dict[str, float]


@dataclass
class Results:
    joins: Joins
    mutes: Stops
    suspends: Stops
    steady: Steady
    phases: list[Phase]
    lag: dict[str, Samples]
    janus_version: str
    speakers: int
    pupils: int
    server_errors: list[tuple[str, str]]  # what the server logged at ERROR, and when
    teacher_sdp: tuple[
        int, int, int
    ]  # the teacher's subscription: offer and answer bytes, sections


class Phases:
    """CPU of each process and the clients' event-loop lag, part by part of the run."""

    def __init__(self, server: ServerChild, processes: Processes, lag: LagMonitor) -> None:
        self.server = server
        self.processes = processes
        self.lag = lag
        self.done: list[Phase] = []

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> Any:
        _progress(name)
        before = CpuMark.now(self.processes)
        yield
        after = CpuMark.now(self.processes)
        self.done.append(Phase(name, before.at, after.at, after.percent_since(before)))
        await self.server.check(name)

    def lags(self) -> dict[str, Samples]:
        return {p.name: self.lag.between(p.started, p.ended) for p in self.done}


async def run(setup: Setup, folder: Path, args: argparse.Namespace) -> Results:
    adapt_aiortc()
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps({**asdict(setup), "janus_folder": str(folder / "janus")}))
    server = ServerChild(plan_file)
    sniffer = SnifferChild()
    lag = LagMonitor()
    lesson = Lesson(setup, 0)
    raw: RawJanus | None = None
    try:
        await server.start()
        await sniffer.start()
        processes = Processes(server.janus_pid, server.pid, os.getpid())
        lesson = Lesson(setup, server.port)
        lag.start()
        phases = Phases(server, processes, lag)
        janus_version = _janus_version()

        async with phases.phase("idle: the server and Janus before anyone joins"):
            idle_cpu = await measure_idle(processes, IDLE_SECONDS)
            idle_memory = {name: memory(pid) for name, pid in processes.named().items()}

        async with phases.phase("(a) joins: the teacher and two pupils in the room"):
            await lesson.open()
            room = await server.ask(f"room {setup.lesson_id}")
            raw = await RawJanus.connect(
                server.info["janus_api"],
                server.info["api_secret"],
                RoomKeys(int(room["room_id"]), str(room["pin"]), str(room["secret"])),
            )
            for index in range(2):
                await lesson.come_in(index)
            joins = await measure_joins(lesson, raw, args.joins, joiner=args.pupils)

        async with phases.phase(f"the class fills up: {args.pupils} pupils in, cameras on"):
            for index in range(2, args.pupils):
                await lesson.come_in(index)
            lesson.speakers = lesson.pupils[:1]
            for pupil in lesson.pupils:
                await lesson.publish(pupil, audio=pupil in lesson.speakers)
            lesson.forget_packets()
            teacher_pid = lesson.host.pid or ""
            await lesson.flowing(
                [(lesson.host, p.pid or "", "video") for p in lesson.pupils]
                + [(p, teacher_pid, "video") for p in lesson.pupils]
            )

        watching = lesson.host._watching
        if watching is None or watching.remoteDescription is None:
            raise BenchError("the teacher watches nothing")
        offer = watching.remoteDescription.sdp
        teacher_sdp = (len(offer), len(watching.localDescription.sdp), offer.count("\nm="))

        async with phases.phase(f"(d) a steady lesson for {args.steady:.0f} s"):
            steady = await measure_steady(lesson, processes, args.steady, (idle_cpu, idle_memory))

        async with phases.phase(f"(b) {args.rounds} mute rounds of each kind"):
            mutes = await measure_mutes(lesson, raw, server, sniffer, args.rounds)

        async with phases.phase(f"(c) {args.suspends} suspend rounds of each kind"):
            suspends = await measure_suspends(lesson, raw, server, sniffer, args.suspends)

        _progress("the class leaves")
        await lesson.leave()
        await asyncio.sleep(1.0)  # the server hangs up their handles
        await server.check("the class leaving at the end")
        return Results(
            joins,
            mutes,
            suspends,
            steady,
            phases.done,
            phases.lags(),
            janus_version,
            len(lesson.speakers),
            args.pupils,
            server.errors,
            teacher_sdp,
        )
    finally:
        await lag.stop()
        if raw is not None:
            await raw.close()
        for participant in reversed(lesson.everyone if lesson.teacher else []):
            await participant.close()
        await server.stop()
        await sniffer.stop()


def _janus_version() -> str:
    janus = shutil.which("janus") or "janus"
    # Our own fixed command; its first line is "Janus version: 1102 (1.1.2)".
    output = subprocess.run(  # noqa: S603
        [janus, "--version"], capture_output=True, text=True, check=False
    ).stdout
    first = output.splitlines()[0] if output else "unknown"
    return first.partition(":")[2].strip() or first


# --- Report --------------------------------------------------------------------------------------


def machine(janus_version: str) -> str:
    versions = ", ".join(f"{name} {_version(name)}" for name in ("aiortc", "av"))
    return f"{lesson_signalling.machine()}; Janus {janus_version}, {versions}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _row(label: str, samples: Samples) -> str:
    return (
        f"| {label} | {len(samples)} | {_ms(samples.median)} | {_ms(samples.p95)} "
        f"| {_ms(samples.max)} |"
    )


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _pupils(count: int) -> str:
    return "one pupil publishes" if count == 1 else f"{count} pupils publish"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes: other work on it shares its CPUs."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(results: Results, args: argparse.Namespace, command: str, load: tuple[str, str]) -> str:
    joins, mutes, suspends, steady = (
        results.joins,
        results.mutes,
        results.suspends,
        results.steady,
    )
    ours = Samples([t.keyframe for t in joins.safeclass])
    base = Samples([t.keyframe for t in joins.raw])
    paired = Samples(
        [a.keyframe - b.keyframe for a, b in zip(joins.safeclass, joins.raw, strict=True)]
    )
    added = ours.median - base.median
    mute = mutes.wire[SAFECLASS]
    suspend = suspends.wire[SAFECLASS]
    pupils = args.pupils
    lines = [
        _paragraph(f"Command: `{command}`"),
        _paragraph(
            f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: "
            f"{machine(results.janus_version)}. Load average (1 / 5 / 15 min) before the run "
            f"{load[0]}, after it {load[1]}: other work shared these CPUs, and every baseline "
            "below ran in the same run, interleaved with SafeClass, under the same load."
        ),
        "| Measure (SafeClass) | samples | p50 ms | p95 ms | max ms | target | result |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| (a) join: `admit` -> first complete keyframe of the teacher's video at the pupil "
        f"| {len(ours)} | {_ms(ours.median)} | {_ms(ours.p95)} | {_ms(ours.max)} "
        f"| at most 50 ms more than raw Janus at p50 ({_ms(base.median)} ms): "
        f"{added * 1000:+.1f} ms | {_met(added <= 0.050)} |",
        f"| (b) `mute` -> last packet of that stream forwarded to any receiver | {len(mute)} "
        f"| {_ms(mute.median)} | {_ms(mute.p95)} | {_ms(mute.max)} | p95 at most 50 ms "
        f"| {_met(mute.p95 <= 0.050)} |",
        f"| (c) `suspend` with {pupils} pupils -> last pupil packet forwarded to any receiver "
        f"| {len(suspend)} | {_ms(suspend.median)} | {_ms(suspend.p95)} | {_ms(suspend.max)} "
        f"| p95 at most 150 ms | {_met(suspend.p95 <= 0.150)} |",
        "",
        *_findings(results),
        *_sdp_sizes(results),
        "### (a) Join: the teacher's `admit` to the teacher's picture at the pupil",
        "",
        _paragraph(
            "The teacher (publishing a microphone and a 160x120 15 fps VP8 camera) and two pupils "
            "are in the room. A third pupil joins, is admitted, and leaves again; each SafeClass "
            "join alternates with a raw Janus join (which of the two goes first alternates too). "
            "Timed from the `admit` (SafeClass) or from attaching a new handle (raw Janus) to the "
            "first complete keyframe of the teacher's video at the new subscriber: its first "
            "packet to the one with the marker bit, none missing. The raw subscriber joins with "
            "the private id of a publisher handle joined before any timing, as the room's "
            "`require_pvtid` asks; SafeClass makes the pupil's publisher handle, adds their "
            "token and subscribes them inside the timed window."
        ),
        "| Join | samples | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        _row("SafeClass: `admit` -> first complete keyframe", ours),
        _row("raw Janus: attach, join, answer, `start` -> first complete keyframe", base),
        _row("SafeClass minus raw Janus, round by round", paired),
        "",
        "| Median ms from the start | answer sent | ICE connected | DTLS done | first video packet "
        "| keyframe complete |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    # Which went first in each pair alternates: even rounds SafeClass, odd rounds raw Janus.
    order = [
        ("SafeClass, first in its pair", joins.safeclass[0::2]),
        ("SafeClass, second in its pair", joins.safeclass[1::2]),
        ("raw Janus, first in its pair", joins.raw[1::2]),
        ("raw Janus, second in its pair", joins.raw[0::2]),
    ]
    for label, timings in (("SafeClass", joins.safeclass), ("raw Janus", joins.raw)):
        slowest = max(timings, key=lambda t: t.keyframe)
        lines += [
            f"| {label}, median of each | {_ms(statistics.median(t.answered for t in timings))} "
            f"| {_ms(statistics.median(t.ice for t in timings))} "
            f"| {_ms(statistics.median(t.dtls for t in timings))} "
            f"| {_ms(statistics.median(t.first_packet for t in timings))} "
            f"| {_ms(statistics.median(t.keyframe for t in timings))} |",
            f"| {label}, its slowest join | {_ms(slowest.answered)} | {_ms(slowest.ice)} "
            f"| {_ms(slowest.dtls)} | {_ms(slowest.first_packet)} | {_ms(slowest.keyframe)} |",
        ]
    lines += [
        "",
        _paragraph(
            'The SafeClass pupil\'s "answer sent" is when the client next looked (every '
            f"{POLL * 1000:.0f} ms) and found the `watch_offer` answered; ICE and DTLS too are "
            "seen when the client looks; packets are noted as they are handled. By order in "
            "each pair (the other join of the pair ended about 0.3 s before the second began):"
        ),
        "| Join | samples | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        *(
            _row(f"{label}: to the keyframe", Samples([t.keyframe for t in timings]))
            for label, timings in order
            if timings
        ),
        "",
        "### (b) Mute: `mute` to the last packet of that microphone anywhere",
        "",
        _paragraph(
            f"All {pupils} pupils in the room with their cameras on; {_pupils(results.speakers)} "
            "a microphone. Each round that pupil is allowed to speak and turns the microphone "
            "on; once every other participant is receiving it, and "
            f"{QUIET_BEFORE * 1000:.0f} ms more, it is stopped: by the teacher's `mute` through "
            "SafeClass, or by a `moderate` request sent straight to Janus. The packets Janus "
            f"sends are watched for {MUTE_SETTLE * 1000:.0f} ms after the send; the latency is "
            "the last packet of that stream forwarded to any participant (0 when none came "
            "after the send: the microphone sends a packet every 20 ms, so the last one may "
            "come just before)."
        ),
        *_stop_table(mutes, [SAFECLASS, RAW_ONE]),
        "### (c) Suspend everything: `suspend` to the last pupil packet anywhere",
        "",
        _paragraph(
            f"Every pupil's camera (to the teacher: pupils' video is for staff only) and one "
            f"pupil's microphone (to everyone) are flowing; {pupils + 1} pupil streams in all. "
            "They are stopped by the teacher's `suspend` through SafeClass, or by `moderate` "
            "requests for every one of those streams straight to Janus, sent all at once or one "
            f"after another, {QUIET_BEFORE * 1000:.0f} ms after the streams were all flowing "
            f"again. Watched for {SUSPEND_SETTLE * 1000:.0f} ms after the send."
        ),
        *_stop_table(suspends, [SAFECLASS, RAW_ALL_AT_ONCE, RAW_ONE_BY_ONE]),
        f"### (d) A {pupils}-pupil lesson: CPU and memory",
        "",
        _paragraph(
            "The teacher's microphone and camera go to every pupil, every pupil's camera to the "
            f"teacher; {_pupils(results.speakers)} a microphone that is off (silenced at "
            "the SFU, so nothing of it is forwarded). Read from /proc over "
            f"{steady.seconds:.0f} s: CPU as % of one core (user + system, every thread), memory "
            "as resident (RSS) and proportional (PSS) set size. The clients received "
            f"{steady.packets_per_second:,.0f} RTP packets a second on {steady.streams} streams. "
            f"Idle: the same processes for {IDLE_SECONDS:.0f} s after the server started, before "
            "anyone joined. The clients' figure is the benchmark's, not a browser's: they "
            "decode nothing, and the pupils' cameras send pictures encoded once (only the "
            "teacher's camera is encoded live). Not in the table: the sniffer, a process of its "
            "own that reads every packet crossing `lo`."
        ),
        f"| Process | idle CPU % | lesson CPU % | min / max of {SAMPLE_EVERY:.0f} s windows "
        "| idle RSS MiB | RSS MiB | PSS MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in steady.cpu:
        windows = steady.cpu_windows[name]
        after = steady.memory_after[name]
        spread = f"{min(windows):.1f} / {max(windows):.1f}" if windows else ""
        lines.append(
            f"| {name} | {steady.idle_cpu[name]:.1f} | {steady.cpu[name]:.1f} | {spread} "
            f"| {_mib(steady.idle_memory[name].rss_kib)} | {_mib(after.rss_kib)} "
            f"| {_mib(after.pss_kib)} | {_mib(after.peak_rss_kib)} |"
        )
    lines += [
        "",
        "### The run, part by part",
        "",
        _paragraph(
            "CPU (% of one core) of each process in each part, and how late the clients' event "
            f"loop woke a task that slept {LAG_EVERY * 1000:.0f} ms (every arrival time above "
            "carries about this much delay)."
        ),
        "| Part | seconds | Janus % | server % | clients % | loop lag p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in results.phases:
        lag = results.lag[phase.name]
        lag_cells = f"{_ms(lag.median)} | {_ms(lag.p95)} | {_ms(lag.max)}" if len(lag) else " | | "
        lines.append(
            f"| {phase.name} | {phase.ended - phase.started:.0f} "
            f"| {phase.cpu['Janus']:.1f} | {phase.cpu['SafeClass server']:.1f} "
            f"| {phase.cpu['test clients']:.1f} | {lag_cells} |"
        )
    return "\n".join(lines) + "\n"


def _findings(results: Results) -> list[str]:
    """What the numbers say about each target, in words made from the numbers."""
    joins = results.joins
    ours = Samples([t.keyframe for t in joins.safeclass])
    base = Samples([t.keyframe for t in joins.raw])
    ice_ours = Samples([t.ice for t in joins.safeclass])
    ice_base = Samples([t.ice for t in joins.raw])
    added = ours.median - base.median

    def slow_dtls(timings: list[JoinTiming]) -> int:
        return sum(1 for t in timings if t.dtls - t.ice > SLOW_DTLS)

    lines = [
        _paragraph(
            f"(a) join: SafeClass {'meets' if added <= 0.050 else 'misses'} its target: the "
            f"first keyframe came {added * 1000:+.1f} ms after raw Janus's at p50 "
            f"({_ms(ours.median)} against {_ms(base.median)} ms; at most +50 ms wanted). Up to "
            "ICE connected, which holds all of SafeClass's own work (the admission, the "
            "pupil's publisher handle and token, the subscription, relaying the offer and the "
            f"answer), p50 {_ms(ice_ours.median)} ms against {_ms(ice_base.median)} ms: "
            f"{(ice_ours.median - ice_base.median) * 1000:+.1f} ms. In "
            f"{slow_dtls(joins.safeclass)} of {len(joins.safeclass)} SafeClass joins and "
            f"{slow_dtls(joins.raw)} of {len(joins.raw)} raw ones DTLS finished more than "
            f"{SLOW_DTLS * 1000:.0f} ms after ICE connected (about a second later, as when the "
            "handshake's first flight is lost and resent on DTLS's 1 s timer), after "
            "SafeClass's part of the join was done: that makes the tail of both."
        )
    ]
    suspends = results.suspends
    one_by_one = suspends.answered[RAW_ONE_BY_ONE].p95
    at_once = suspends.answered[RAW_ALL_AT_ONCE].p95
    for label, stops, target, raw_ways in (
        ("(b) mute", results.mutes, 0.050, [RAW_ONE]),
        ("(c) suspend", results.suspends, 0.150, [RAW_ALL_AT_ONCE, RAW_ONE_BY_ONE]),
    ):
        ours = stops.wire[SAFECLASS]
        answered = stops.answered[SAFECLASS]
        raws = "; ".join(
            f"{way} {_ms(stops.wire[way].p95)} ms (Janus had answered by "
            f"{_ms(stops.answered[way].p95)} ms)"
            for way in raw_ways
        )
        verdict = "meets" if ours.p95 <= target else "misses"
        bound = "also within" if answered.p95 <= target else "not within"
        lines.append(
            _paragraph(
                f"{label}: SafeClass {verdict} its target: p95 {_ms(ours.p95)} ms against "
                f"{_ms(target)} ms. At p95 the server asked Janus to stop "
                f"{_ms(stops.server[ASKED].p95)} ms after the send, and Janus had answered the "
                f"last `moderate` by {_ms(answered.p95)} ms. Raw Janus in the same run, p95: "
                f"{raws}. A last packet is seen only when one comes (sound every 20 ms, pictures "
                "every 67 ms), so a stop may take effect up to one packet later than the last "
                "packet shows; Janus's answer to the last `moderate` bounds it from above, and "
                f"that bound is {bound} the target at p95."
            )
        )
    lines.append(
        _paragraph(
            "The relay sends a suspension's `moderate`s one after another (`relay.py`, "
            f"`_apply`): Janus had answered its last by {_ms(suspends.answered[SAFECLASS].p95)} "
            f"ms at p95, against {_ms(one_by_one)} ms for raw Janus's one after another and "
            f"{_ms(at_once)} ms for raw Janus's all at once: a round trip to Janus for each "
            "pupil stream, one after the other."
        )
    )
    if results.server_errors:
        parts = Counter(during for during, _ in results.server_errors)
        kinds = Counter(_error_kind(error) for _, error in results.server_errors)
        lines.append(
            _paragraph(
                f"**The server logged {len(results.server_errors)} error(s)** during the run ("
                + ", ".join(f"{n} in {during}" for during, n in parts.items())
                + "): "
                + "; ".join(f"{n} x `{kind}`" for kind, n in kinds.most_common())
                + ". Each was the relay giving up part-way through bringing Janus in line with "
                "the lesson (`relay.py`, `_logged_janus_errors`). Rounds still counted only if "
                "every stream was flowing, at the clients and on the wire, right before the "
                "stop was sent, and had stopped by the end of the watch."
            )
        )
    return lines


def _error_kind(error: str) -> str:
    """An error without what changes from one to the next (a stream's mid)."""
    return re.sub(r"mid '[^']*'", "mid '...'", error)


def _sdp_sizes(results: Results) -> list[str]:
    offer, answer, sections = results.teacher_sdp
    answer_limit = MAX_SDP_BYTES + sections * SDP_BYTES_PER_WATCHED_SECTION
    both = 2 * results.pupils
    return [
        _paragraph(
            f"The teacher's subscription to this class had {sections} media sections: Janus's "
            f"offer was {offer:,} bytes ({offer / sections:,.0f} a section) and the clients' "
            f"answer {answer:,} ({answer / sections:,.0f} a section). The lesson protocol takes "
            f"an answer to an offer to watch of up to {MAX_SDP_BYTES:,} bytes plus "
            f"{SDP_BYTES_PER_WATCHED_SECTION:,} a section offered (`media/sdp.py`), here "
            f"{answer_limit:,}. A class of {results.pupils} whose pupils all published a "
            f"microphone and a camera would give the teacher {both} sections; this benchmark "
            "lets one pupil's microphone through, as a class with one pupil speaking at a "
            "time. The test clients decode nothing and describe their connections about as "
            "compactly as a browser does (one DTLS fingerprint, one host candidate): aiortc "
            "otherwise lists three fingerprints and a candidate for each address in every "
            "media section."
        )
    ]


def _stop_table(stops: Stops, ways: list[str]) -> list[str]:
    lines = [
        "| Stopped by | samples | p50 ms | p95 ms | max ms | as the clients handled it: p50 / "
        "p95 / max ms | Janus answered the last `moderate`: p50 / p95 / max ms | packets after "
        "the send: p50 / p95 / max | rounds with none |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for way in ways:
        wire = stops.wire[way]
        handled = stops.handled[way]
        answered = stops.answered[way]
        counts = Samples([float(n) for n in stops.packets_after[way]])
        lines.append(
            f"| {way} | {len(wire)} | {_ms(wire.median)} | {_ms(wire.p95)} | {_ms(wire.max)} "
            f"| {_ms(handled.median)} / {_ms(handled.p95)} / {_ms(handled.max)} "
            f"| {_ms(answered.median)} / {_ms(answered.p95)} / {_ms(answered.max)} "
            f"| {counts.median:g} / {counts.p95:g} / {counts.max:g} "
            f"| {stops.nothing_after_send[way]} |"
        )
    lines += [
        "",
        "| SafeClass, from the send to | samples | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        _row(ASKED, stops.server[ASKED]),
        _row("Janus has answered the last `moderate` (as above)", stops.answered[SAFECLASS]),
        _row("the last packet forwarded (as above)", stops.wire[SAFECLASS]),
        _row(ACKNOWLEDGED, stops.server[ACKNOWLEDGED]),
        "",
        _paragraph(
            "Times are the kernel's, as each packet from Janus reached the receiving client's "
            'socket; "as the clients handled it" is the same last packet when aiortc in the '
            "clients' process got to it (later by that busy process's own delays, which "
            '"The run, part by part" shows). "Packets after the send": the most packets of one '
            "stopped stream that Janus forwarded to one receiver after the send, per round. "
            "SafeClass rounds with a packet forwarded after the teacher's view showed the change: "
            f"{stops.after_ack} of {len(stops.server[ACKNOWLEDGED])}."
        ),
    ]
    return lines


SECTION_TITLE = """## Media (`bench/media.py`)

Media through SafeClass against raw Janus signalling in the same run, with a real server (app,
engine, log, SQLite), a real Janus and aiortc clients, inside the private network namespace of
`scripts/in-test-netns`: join latency, a staff mute and "suspend everything" enforced at the SFU,
and a 30-pupil lesson's CPU and memory. The server (with Janus as its child) and the test clients
run in separate processes, so each process's CPU and memory are its own.
"""


def write_section(body: str) -> None:
    try:
        bench_results.write_section("media.py", SECTION_TITLE, body)
    except bench_results.SectionError as error:
        raise BenchError(str(error)) from error


def why_it_cannot_run() -> str | None:
    if os.environ.get("SAFECLASS_TEST_NETNS") != NETNS_ADDRESS:
        return "run it inside the test network namespace: scripts/in-test-netns .venv/bin/python"
    interfaces = {name for _, name in socket.if_nameindex()}
    if interfaces != NETNS_INTERFACES:
        return f"the network namespace has {sorted(interfaces)}, not only lo, sca and scb"
    if os.geteuid() != 0:
        return "it runs as root (Janus and the namespace)"
    if shutil.which("janus") is None:
        return "Janus is not installed (scripts/install installs Debian's janus package)"
    return None


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        serve(Path(argv[1]))
        return
    if argv[:1] == ["--sniff"]:
        sniff(int(argv[1]), int(argv[2]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=30, help="pupils in the lesson (default 30)")
    parser.add_argument("--joins", type=int, default=40, help="timed joins of each kind (40)")
    parser.add_argument("--rounds", type=int, default=80, help="mute rounds of each kind (80)")
    parser.add_argument("--suspends", type=int, default=30, help="suspends of each kind (30)")
    parser.add_argument("--steady", type=float, default=60.0, help="steady lesson, seconds (60)")
    parser.add_argument(
        "--write", action="store_true", help=f"update this benchmark's section of {RESULTS}"
    )
    args = parser.parse_args(argv)
    if args.pupils < 2 or min(args.joins, args.rounds, args.suspends) < 1 or args.steady < 10:
        parser.error("needs at least 2 pupils, 1 round of each kind and 10 s of steady lesson")
    reason = why_it_cannot_run()
    if reason is not None:
        parser.error(reason)

    command = (
        f"scripts/in-test-netns .venv/bin/python bench/media.py --pupils {args.pupils} "
        f"--joins {args.joins} --rounds {args.rounds} --suspends {args.suspends} "
        f"--steady {args.steady:g}"
    )
    started = time.perf_counter()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="safeclass-bench-media-") as name:
        folder = Path(name)
        _progress(f"a school with {args.pupils} pupils in {folder}")
        # Two more on the list: the pupil who joins again and again for (a), and one who never
        # comes, so the lesson never locks itself as complete.
        setup = build_school(folder, args.pupils + 2)
        results = asyncio.run(run(setup, folder, args))
    body = report(results, args, command, (load_before, load_average()))
    print(body)
    _progress(f"done in {time.perf_counter() - started:.0f} s")
    if args.write:
        write_section(body)
        _progress(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
