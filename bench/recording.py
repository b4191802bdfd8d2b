"""How long SafeClass takes to make a lesson's recording into its one file, and the memory it takes,
against janus-pp-rec alone converting the same raw files (what any Janus deployment must do anyway).

    scripts/in-test-netns .venv/bin/python bench/recording.py [--minutes 5,30,60]
        [--record-seconds 6] [--repeats 3] [--write]

About a minute or two with the defaults; `--minutes 1,2 --record-seconds 3` checks that it works in
well under a minute.

It must run as root inside the private network namespace that `scripts/in-test-netns` makes, as the
media tests do: the sample is recorded by a real Janus.

1. Records a few seconds for real: a teacher's camera (a steady tone and 640x480 video at 30
   frames a second, the size the console asks the browser for) and a shared screen (1280x720 at
   10 frames a second), published to a real Janus by aiortc and recorded by Janus's VideoRoom into
   the files a lesson's recording writes (`raw_base`). The camera's picture is a scene panning
   sideways with a patch of fine detail moving across it, so its encoder sends about 1.2 Mbit/s,
   as for a webcam; the screen's is a slide of small squares, a new one every 3 seconds, with a
   pointer band moving down it (about 0.5 Mbit/s). The table gives the bitrates recorded.
2. For each length asked (`--minutes`), makes a recording of that length from those packets: each
   raw file's packets are repeated, from the video's first keyframe, with new sequence numbers,
   RTP times and arrival times (audio packets 20 ms apart at 48 kHz, video frames as far apart as
   they were recorded), written in Janus's own format with the recorded file's header.
3. Times each, and takes its peak memory, alternating the two `--repeats` times for each length:
   - **baseline**: `janus-pp-rec in.mjr out.opus|out.webm` for each raw file, one after another,
     each started by a small launcher (`LAUNCHER`) that takes its peak from the kernel (`wait4`);
   - **SafeClass**: `make_recording` (safeclass.media.recording_files) in a fresh Python process
     (`bench/recording.py --make ...`), which reads each file's header from the file, converts
     each file, checks it, and stream-copies every track into the one WebM. That process reports
     its time (and where it went) and its own peak while making (VmHWM, reset just before); the
     janus-pp-rec it runs are the baseline's program on the same files.

The made file must hold every track and last as long as the recording; a file left out, a warning
logged while making, or a janus-pp-rec that fails ends the run with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import itertools
import json
import logging
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.media (the Janus helpers and the .mjr reader)

import av  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCPeerConnection,
)
from tests.media.helpers import janus_options, running_janus, why_media_cannot_run  # noqa: E402
from tests.media.recording_samples import mjr_packets, publish  # noqa: E402

import results as bench_results  # noqa: E402
from safeclass.domain.lesson.model import Person, Role  # noqa: E402
from safeclass.media import recording_files  # noqa: E402
from safeclass.media.janus_client import (  # noqa: E402
    JanusClient,
    JanusHandle,
)
from safeclass.media.recording_files import RawFile, make_recording, raw_base  # noqa: E402
from safeclass.media.simulated import ToneTrack  # noqa: E402

RESULTS = bench_results.RESULTS
TEACHER = Person(Role.STAFF, "1")
TITLES = {TEACHER: "Tess Teacher"}
ROOM = 4343
ROOM_SECRET = secrets.token_hex(16)
VIDEO_RATE = 90000
CAMERA = (640, 480, 30)  # width, height, frames a second
CAMERA_DETAIL = (160, 120)  # width, height of the camera's patch of fine detail
SCREEN = (1280, 720, 10)
SLIDE_SECONDS = 3
AUDIO_RATE = 48000
AUDIO_TICKS = 960  # 20 ms at 48 kHz
AUDIO_MS = 20
MEMORY_TARGET_MIB = 20.0  # the longest recording's peak within this of the shortest's
TIME_TARGET = 3.0  # the whole making at most this many times the baseline's time
DURATION_SLACK = 2.0  # seconds: the made file's length against the recording's
MIB = 1024 * 1024


class BenchError(Exception):
    """The run cannot measure what it says it measures."""


def _progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


# --- 1. A few seconds recorded by a real Janus ---------------------------------------------------


class _Picture(MediaStreamTrack):
    """Pictures of one size at one rate, in real time; `_luma` draws each."""

    kind = "video"

    def __init__(self, size: tuple[int, int, int]) -> None:
        super().__init__()
        self._width, self._height, self._fps = size
        self._count = 0
        self._started: float | None = None

    def _luma(self) -> bytes:
        raise NotImplementedError

    async def recv(self) -> av.VideoFrame:
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._count / self._fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = av.VideoFrame(self._width, self._height, "yuv420p")
        frame.planes[0].update(self._luma())
        frame.planes[1].update(bytes([100]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([150]) * frame.planes[2].buffer_size)
        frame.pts = self._count * (VIDEO_RATE // self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        self._count += 1
        return frame


def _blocks(width: int, height: int, block: int) -> bytes:
    """A picture of random flat squares, `block` pixels a side."""
    rows = []
    for _ in range(height // block):
        row = bytes(value for value in os.urandom(width // block) for _ in range(block))
        rows.extend([row] * block)
    return b"".join(rows)


class _CameraPicture(_Picture):
    """A scene panning sideways with a patch of fine detail moving across it: a webcam's picture
    as an encoder sees it, always changing (about 1.2 Mbit/s from aiortc's VP8 encoder)."""

    def __init__(self) -> None:
        super().__init__(CAMERA)
        scene = _blocks(self._width * 2, self._height, 16)
        self._rows = [
            scene[r * self._width * 2 : (r + 1) * self._width * 2] for r in range(self._height)
        ]
        self._detail = os.urandom(self._width * self._height)

    def _luma(self) -> bytes:
        width, height, count = self._width, self._height, self._count
        shift = (count * 3) % width
        picture = bytearray(b"".join(row[shift : shift + width] for row in self._rows))
        patch_width, patch_height = CAMERA_DETAIL
        left = (count * 5) % (width - patch_width)
        top = (count * 3) % (height - patch_height)
        for line in range(patch_height):
            at = (top + line) * width + left
            start = (count * 131 + line * patch_width) % (len(self._detail) - patch_width)
            picture[at : at + patch_width] = self._detail[start : start + patch_width]
        return bytes(picture)


class _ScreenPicture(_Picture):
    """Slides of small flat squares, a new one every SLIDE_SECONDS, with a pointer band moving down
    them: a shared screen (about 0.5 Mbit/s from aiortc's VP8 encoder)."""

    def __init__(self) -> None:
        super().__init__(SCREEN)
        self._slides = [_blocks(self._width, self._height, 8) for _ in range(4)]

    def _luma(self) -> bytes:
        slide = self._count // (self._fps * SLIDE_SECONDS)
        picture = bytearray(self._slides[slide % len(self._slides)])
        row = (self._count * 8) % (self._height - 16)
        picture[row * self._width : (row + 16) * self._width] = b"\xeb" * (16 * self._width)
        return bytes(picture)


async def record_sample(folder: Path, janus_folder: Path, seconds: float) -> datetime:
    """Record the teacher's camera and screen for `seconds` into `folder`; when recording began."""
    folder.mkdir(parents=True)
    async with running_janus(janus_options(janus_folder)) as janus:
        if janus.endpoint is None:
            raise BenchError("Janus started without an endpoint")
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
            camera = await publish(session, connections, [ToneTrack(), _CameraPicture()], room=ROOM)
            screen = await publish(session, connections, [_ScreenPicture()], room=ROOM)
            await asyncio.sleep(1.0)  # the encoders settle on their bitrate
            started_at = datetime.now(UTC)
            await _configure(
                camera, {"record": True, "filename": str(raw_base(folder, TEACHER, "camera", 1))}
            )
            await _configure(
                screen, {"record": True, "filename": str(raw_base(folder, TEACHER, "screen", 1))}
            )
            await asyncio.sleep(seconds)
            await _configure(camera, {"record": False})
            await _configure(screen, {"record": False})
            await asyncio.sleep(0.5)  # Janus closes its files
        finally:
            for connection in connections:
                await connection.close()
            await client.close()
    return started_at


async def _configure(handle: JanusHandle, body: dict[str, Any]) -> None:
    await handle.send({"request": "configure", "secret": ROOM_SECRET, **body})


# --- 2. Longer recordings from the sample ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One recorded raw file, as frames to repeat (from the video's first keyframe)."""

    name: str
    kind: str  # "audio" or "video"
    header: bytes
    frames: tuple[tuple[bytes, ...], ...]  # RTP packets, grouped by frame (one each for audio)
    ticks: tuple[int, ...]  # RTP ticks from each frame to the next
    gaps_ms: tuple[int, ...]  # milliseconds from each frame's arrival to the next's
    seconds: float  # how long the repeated frames last
    recorded_bytes: int  # RTP bytes of the repeated frames

    @property
    def arrival_seconds(self) -> float:
        return sum(self.gaps_ms) / 1000

    @property
    def packets(self) -> int:
        return sum(len(frame) for frame in self.frames)


def load_sample(path: Path) -> Sample:
    raw = RawFile.parse(path.name)
    if raw is None:
        raise BenchError(f"Janus wrote a file named unlike a recorded stream: {path.name}")
    header, packets = mjr_packets(path)
    seen: set[int] = set()
    frames: list[list[bytes]] = []
    stamps: list[tuple[int, int]] = []  # (RTP time, arrival ms) of each frame
    for packet in packets:
        arrival = int.from_bytes(packet[4:8], "big")
        rtp = packet[10:]
        sequence = int.from_bytes(rtp[2:4], "big")
        if sequence in seen:
            continue  # a retransmission
        seen.add(sequence)
        stamp = int.from_bytes(rtp[4:8], "big")
        if raw.kind == "video" and stamps and stamps[-1][0] == stamp:
            frames[-1].append(rtp)
        else:
            frames.append([rtp])
            stamps.append((stamp, arrival))
    if raw.kind == "video":
        first = next((i for i, f in enumerate(frames) if _is_vp8_keyframe(f[0])), None)
        if first is None:
            raise BenchError(f"{path.name} holds no keyframe")
        frames, stamps = frames[first:], stamps[first:]
        ticks = [(b[0] - a[0]) % 2**32 for a, b in itertools.pairwise(stamps)]
        gaps = [max(0, b[1] - a[1]) for a, b in itertools.pairwise(stamps)]
        ticks.append(round(statistics.median(ticks)))
        gaps.append(round(statistics.median(gaps)))
        seconds = sum(ticks) / VIDEO_RATE
    else:
        ticks = [AUDIO_TICKS] * len(frames)
        gaps = [AUDIO_MS] * len(frames)
        seconds = len(frames) * AUDIO_TICKS / AUDIO_RATE
    if len(frames) < 10:
        raise BenchError(f"{path.name} holds only {len(frames)} frames")
    return Sample(
        name=path.name,
        kind=raw.kind,
        header=header,
        frames=tuple(tuple(frame) for frame in frames),
        ticks=tuple(ticks),
        gaps_ms=tuple(gaps),
        seconds=seconds,
        recorded_bytes=sum(len(rtp) for frame in frames for rtp in frame),
    )


def _is_vp8_keyframe(rtp: bytes) -> bool:
    """Whether an RTP packet starts a VP8 keyframe (RFC 7741: the descriptor, then the P bit)."""
    at = 12 + 4 * (rtp[0] & 0x0F)
    if rtp[0] & 0x10:  # header extension
        at += 4 + 4 * int.from_bytes(rtp[at + 2 : at + 4], "big")
    descriptor = rtp[at]
    starts_partition = descriptor & 0x10 and descriptor & 0x07 == 0
    at += 1
    if descriptor & 0x80:
        extension = rtp[at]
        at += 1
        if extension & 0x80:
            at += 2 if rtp[at] & 0x80 else 1
        if extension & 0x40:
            at += 1
        if extension & 0x30:
            at += 1
    return bool(starts_partition) and rtp[at] & 0x01 == 0


def write_long(sample: Sample, path: Path, seconds: float) -> int:
    """`sample`'s frames repeated to `seconds` of media time in `path`, numbered as Janus numbers a
    recording; the number of packets written."""
    rate = VIDEO_RATE if sample.kind == "video" else AUDIO_RATE
    limit = round(seconds * rate)
    sequence = 0
    stamp = 0
    arrival = 0
    chunk = bytearray()
    with path.open("wb") as out:
        out.write(sample.header)
        while stamp < limit:
            for frame, ticks, gap in zip(sample.frames, sample.ticks, sample.gaps_ms, strict=True):
                for rtp in frame:
                    sequence += 1
                    packet = bytearray(rtp)
                    packet[2:4] = (sequence & 0xFFFF).to_bytes(2, "big")
                    packet[4:8] = (stamp & 0xFFFFFFFF).to_bytes(4, "big")
                    chunk += b"MEET" + arrival.to_bytes(4, "big") + len(packet).to_bytes(2, "big")
                    chunk += packet
                stamp += ticks
                arrival += gap
                if stamp >= limit:
                    break
                if len(chunk) >= MIB:
                    out.write(chunk)
                    chunk.clear()
        out.write(chunk)
    return sequence


# --- 3. Measuring ---------------------------------------------------------------------------------

# Runs one program and reports its wall time and peak memory. It is a small Python of its own so
# that the kernel's count is the program's: a process started from this big one (vfork) is charged
# this one's peak, and one forked from it this one's resident pages. Forked from this small
# launcher, a program is charged the launcher's few resident pages at most (see `floor`).
LAUNCHER = """
import json, os, sys, time
log, program, *arguments = sys.argv[1:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.execv(program, [program, *arguments])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "code": os.waitstatus_to_exitcode(status), "peak_kib": usage.ru_maxrss}))
"""


@dataclass(frozen=True, slots=True)
class Launched:
    seconds: float
    peak_kib: int


def launch(program: str, arguments: list[str], log: Path) -> Launched:
    finished = subprocess.run(  # noqa: S603 - this Python, a fixed script, a list of arguments
        [sys.executable, "-I", "-S", "-c", LAUNCHER, str(log), program, *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise BenchError(f"the launcher failed: {finished.stderr.strip()}")
    result = json.loads(finished.stdout)
    if result["code"] != 0:
        output = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise BenchError(f"{Path(program).name} {arguments} failed ({result['code']}): {output}")
    return Launched(seconds=result["seconds"], peak_kib=result["peak_kib"])


def floor(scratch: Path) -> int:
    """The peak a program that does nothing is charged through `launch`, in KiB."""
    program = shutil.which("true")
    if program is None:
        raise BenchError("no `true` program to measure the launcher with")
    return min(launch(program, [], scratch / "true.log").peak_kib for _ in range(3))


def _janus_pp_rec() -> str:
    program = shutil.which("janus-pp-rec")
    if program is None:
        raise BenchError("janus-pp-rec is not installed (scripts/install installs janus-tools)")
    return program


@dataclass(frozen=True, slots=True)
class Baseline:
    seconds: float  # the conversions' wall times added up
    peak_kib: int  # the largest janus-pp-rec


def baseline(folder: Path, scratch: Path) -> Baseline:
    """janus-pp-rec alone converting each raw file, one after another."""
    program = _janus_pp_rec()
    scratch.mkdir()
    runs: list[Launched] = []
    for source in sorted(folder.glob("*.mjr")):
        converted = scratch / (source.stem + (".opus" if "-audio-" in source.name else ".webm"))
        arguments = ["--disable-colors", str(source), str(converted)]
        runs.append(launch(program, arguments, scratch / f"{source.stem}.log"))
        if not converted.exists() or converted.stat().st_size == 0:
            raise BenchError(f"janus-pp-rec wrote nothing for {source.name}")
    shutil.rmtree(scratch)
    return Baseline(seconds=sum(r.seconds for r in runs), peak_kib=max(r.peak_kib for r in runs))


@dataclass(frozen=True, slots=True)
class Made:
    seconds: float  # make_recording, timed in its process
    child_seconds: float  # the whole child: starting Python and importing too
    converting_seconds: float | None  # of `seconds`: converting the raw files
    muxing_seconds: float | None  # of `seconds`: writing the one file
    fsync_seconds: float  # of `muxing_seconds`: forcing it to the disk
    before_kib: int  # the process's resident memory just before make_recording
    peak_kib: int  # its peak while make_recording ran (VmHWM, reset just before)
    size_bytes: int
    duration_seconds: float
    tracks: tuple[str, ...]


def safeclass(folder: Path, out: Path, started_at: datetime) -> Made:
    """make_recording in a fresh Python process (`--make`)."""
    report = out.with_suffix(".json")
    log_file = out.with_suffix(".log")
    command = [sys.executable, str(THIS), "--make", str(folder), str(out), started_at.isoformat()]
    with log_file.open("wb") as output:
        started = time.perf_counter()
        finished = subprocess.run(  # noqa: S603 - this script, a list of arguments
            [*command, str(report)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            check=False,
        )
        child_seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise BenchError(f"make_recording failed: {log_file.read_text()[-2000:]}")
    made = json.loads(report.read_text())
    out.unlink()
    return Made(child_seconds=child_seconds, tracks=tuple(made.pop("tracks")), **made)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise BenchError(f"/proc/self/status has no {field}")


def make(folder: Path, out: Path, started_at: datetime, report: Path) -> None:
    """The child: make_recording once, then its time and memory as JSON in `report`."""
    warnings = _Warnings()
    logging.getLogger().addHandler(warnings)
    spent: dict[str, float] = {}
    for name, part in (("_convert_all", "converting"), ("_mux", "muxing")):
        # Where the time goes, while the module still has these two steps (it may change; the
        # total never depends on them).
        step = getattr(recording_files, name, None)
        if callable(step):
            setattr(recording_files, name, _timed(step, part, spent))
    os.fsync = _timed(os.fsync, "fsync", spent)  # this child only: the file forced to the disk
    # The peak from here on: "5" sets this process's high-water mark to what it holds now.
    Path("/proc/self/clear_refs").write_text("5")
    before_kib = _status_kib("VmRSS")
    started = time.perf_counter()
    made = make_recording(folder, out, started_at=started_at, titles=TITLES)
    seconds = time.perf_counter() - started
    peak_kib = _status_kib("VmHWM")
    if warnings.messages:
        raise BenchError(f"make_recording warned: {warnings.messages}")
    report.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "converting_seconds": spent.get("converting"),
                "muxing_seconds": spent.get("muxing"),
                "fsync_seconds": spent.get("fsync", 0.0),
                "before_kib": before_kib,
                "peak_kib": peak_kib,
                "size_bytes": made.size_bytes,
                "duration_seconds": made.duration_seconds,
                "tracks": list(made.tracks),
            }
        )
    )


def _timed(step: Any, part: str, spent: dict[str, float]) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            spent[part] = spent.get(part, 0.0) + time.perf_counter() - started

    return timed


@dataclass(frozen=True, slots=True)
class Length:
    minutes: float
    raw_bytes: int
    packets: int
    writing_seconds: float
    baselines: tuple[Baseline, ...]
    made: tuple[Made, ...]


def measure(
    samples: list[Sample], started_at: datetime, minutes: float, repeats: int, work: Path
) -> Length:
    folder = work / f"raw-{minutes:g}"
    folder.mkdir()
    started = time.perf_counter()
    packets = sum(write_long(s, folder / s.name, minutes * 60) for s in samples)
    writing = time.perf_counter() - started
    raw_bytes = sum(path.stat().st_size for path in folder.iterdir())
    _progress(f"{minutes:g} minutes: {raw_bytes / MIB:.0f} MiB of raw files in {writing:.1f} s")
    baselines: list[Baseline] = []
    made: list[Made] = []
    for repeat in range(repeats):
        # Alternate which goes first, so neither always finds the files fresher in the page cache.
        order = ("baseline", "safeclass") if repeat % 2 == 0 else ("safeclass", "baseline")
        for which in order:
            if which == "baseline":
                base = baseline(folder, work / f"baseline-{minutes:g}-{repeat}")
                baselines.append(base)
                seconds, peak_kib = base.seconds, base.peak_kib
            else:
                one = safeclass(folder, work / f"made-{minutes:g}-{repeat}.webm", started_at)
                _check_made(one, minutes, len(samples))
                made.append(one)
                seconds, peak_kib = one.seconds, one.peak_kib
            _progress(f"{minutes:g} min, {which}: {seconds:.2f} s, peak {_mib(peak_kib)} MiB")
    shutil.rmtree(folder)
    return Length(minutes, raw_bytes, packets, writing, tuple(baselines), tuple(made))


def _check_made(made: Made, minutes: float, streams: int) -> None:
    if len(made.tracks) != streams:
        raise BenchError(f"the made file has {len(made.tracks)} tracks, not {streams}")
    if abs(made.duration_seconds - minutes * 60) > DURATION_SLACK:
        raise BenchError(
            f"the made file lasts {made.duration_seconds:.1f} s, not {minutes * 60:g} s"
        )


# --- Report ---------------------------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _janus_pp_rec_version() -> str:
    output = subprocess.run(  # noqa: S603
        [shutil.which("janus-pp-rec") or "janus-pp-rec", "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in output.splitlines():
        if line.startswith("Janus version"):
            return line.partition("(")[2].rstrip(")") or line
    return "unknown"


def _filesystem(path: Path) -> str:
    best = ("", "unknown")
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, kind, *_ = line.split()
        if str(path).startswith(mount) and len(mount) > len(best[0]):
            best = (mount, kind)
    return best[1]


def machine(work: Path) -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    libavformat = ".".join(str(part) for part in av.library_versions["libavformat"][:2])
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({cpu}), {int(memory) // 1024} MiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}; janus-pp-rec "
        f"{_janus_pp_rec_version()}, PyAV {_version('av')} (libavformat {libavformat}), "
        f"aiortc {_version('aiortc')}; "
        f"files in {work.parent} ({_filesystem(work)})"
    )


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes: other work on it shares its CPUs."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def _paragraph(text: str) -> str:
    """Wrapped like the rest of the docs, with the blank line after it."""
    return textwrap.fill(text, width=100, break_on_hyphens=False) + "\n"


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def report(
    samples: list[Sample],
    lengths: list[Length],
    floor_kib: int,
    command: str,
    when: datetime,
    where: str,
    loads: tuple[str, str],
    took: float,
) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        _paragraph(
            f"Run on {when:%Y-%m-%d %H:%M} UTC. Machine: {where}. Load average (1, 5, 15 "
            f"minutes) before the run {loads[0]}, after it {loads[1]}; the run took {took:.0f} s."
        ),
        "The sample recorded by Janus, then repeated from the video's first keyframe:",
        "",
        "| Raw file | what | seconds (RTP time) | seconds (arrival) | packets | packets/s "
        "| kbit/s (RTP) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    what = {
        "camera-1-audio": "teacher's sound (Opus, a steady tone)",
        "camera-1-video": f"teacher's camera (VP8, {CAMERA[0]}x{CAMERA[1]}, {CAMERA[2]} fps)",
        "screen-1-video": f"shared screen (VP8, {SCREEN[0]}x{SCREEN[1]}, {SCREEN[2]} fps)",
    }
    for sample in samples:
        label = next((v for k, v in what.items() if k in sample.name), sample.kind)
        lines.append(
            f"| `{sample.name}` | {label} | {sample.seconds:.2f} | {sample.arrival_seconds:.2f} | "
            f"{sample.packets} | "
            f"{sample.packets / sample.seconds:.0f} | "
            f"{sample.recorded_bytes * 8 / sample.seconds / 1000:.0f} |"
        )
    lines += [
        "",
        _paragraph(
            "Time in seconds, the median of the runs. Baseline: janus-pp-rec converting the three "
            "raw files, one after another. SafeClass: `make_recording`, timed in its own process: "
            "reading each file's header, the same three conversions, checking "
            "each result, and stream-copying the three tracks into one WebM (fsynced); in brackets "
            "the whole child process, starting Python and importing PyAV included."
        ),
        "| Lesson | raw files MiB | packets | runs | baseline s | SafeClass s "
        "| of which converting | of which the one file (fsync) | SafeClass / baseline "
        "| made file MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for length in lengths:
        base = _median([b.seconds for b in length.baselines])
        made = _median([m.seconds for m in length.made])
        child = _median([m.child_seconds for m in length.made])
        lines.append(
            f"| {length.minutes:g} min | {length.raw_bytes / MIB:.0f} | {length.packets:,} | "
            f"{len(length.made)} | {base:.2f} | {made:.2f} ({child:.2f}) | "
            f"{_part(length.made, 'converting_seconds')} | "
            f"{_part(length.made, 'muxing_seconds')} "
            f"({_part(length.made, 'fsync_seconds')}) | "
            f"{made / base:.2f}x | {length.made[0].size_bytes / MIB:.0f} |"
        )
    lines += [
        "",
        _paragraph(
            "Peak memory (resident, MiB; the largest of the runs). janus-pp-rec's is the kernel's "
            "count for each conversion (`wait4`), started from a small launcher whose own pages it "
            f"is charged with at fork: a program that does nothing measures {_mib(floor_kib)} MiB "
            "this way. SafeClass's process: its resident memory just before `make_recording`, and "
            "its peak while it ran (VmHWM, reset just before). That process runs the same "
            "janus-pp-rec on the same files, one at a time, waiting for each: its own peak and the "
            "largest janus-pp-rec's added up bound the whole making's."
        ),
        "| Lesson | janus-pp-rec (baseline) | SafeClass process before | SafeClass process peak "
        "| added while making | whole making at most |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for length in lengths:
        converter = max(b.peak_kib for b in length.baselines)
        before = max(m.before_kib for m in length.made)
        peak = max(m.peak_kib for m in length.made)
        added = max(m.peak_kib - m.before_kib for m in length.made)
        lines.append(
            f"| {length.minutes:g} min | {_mib(converter)} | {_mib(before)} | {_mib(peak)} | "
            f"{_mib(added)} | {_mib(peak + converter)} |"
        )
    lines.append("")
    lines += targets(lengths)
    lines.append(NOTES)
    return "\n".join(lines)


def _part(made: Sequence[Made], name: str) -> str:
    values = [getattr(m, name) for m in made]
    if any(v is None for v in values):
        return "-"
    return f"{_median(values):.2f}"


def targets(lengths: list[Length]) -> list[str]:
    shortest = min(lengths, key=lambda length: length.minutes)
    longest = max(lengths, key=lambda length: length.minutes)

    def peak(length: Length) -> float:
        return max(m.peak_kib for m in length.made) / 1024

    def whole(length: Length) -> float:
        return peak(length) + max(b.peak_kib for b in length.baselines) / 1024

    ratio = _median([m.seconds for m in longest.made]) / _median(
        [b.seconds for b in longest.baselines]
    )
    short, long = f"{shortest.minutes:g}", f"{longest.minutes:g}"
    return [
        "| Target | measured | |",
        "|---|---|---|",
        f"| Memory does not grow with length: SafeClass's process at {long} minutes within "
        f"{MEMORY_TARGET_MIB:g} MiB of its peak at {short} | {peak(longest):.1f} against "
        f"{peak(shortest):.1f} MiB ({peak(longest) - peak(shortest):+.1f}) | "
        f"{_met(peak(longest) - peak(shortest) <= MEMORY_TARGET_MIB)} |",
        f"| The same for the whole making, janus-pp-rec included (the bound above) | "
        f"{whole(longest):.1f} against {whole(shortest):.1f} MiB "
        f"({whole(longest) - whole(shortest):+.1f}) | "
        f"{_met(whole(longest) - whole(shortest) <= MEMORY_TARGET_MIB)} |",
        f"| The whole making at most {TIME_TARGET:g}x the baseline's time at {long} minutes | "
        f"{ratio:.2f}x | {_met(ratio <= TIME_TARGET)} |",
        "",
    ]


NOTES = """What the figures say, and what they do not. The baseline's conversions are the same work
SafeClass does first, so SafeClass's extra time is the rest: reading each file's header, checking
each converted file, and mostly writing the one file, which reads every converted packet back
through PyAV and writes it out again, one packet at a time, then forces the file to the disk (the
baseline forces nothing; forcing took little time on this machine's disk). The raw files are written
just before each length is measured, so both read them from the page cache rather than the disk.
janus-pp-rec's own memory grows with the length of the file it converts, as it first reads every
packet into an ordered list in memory (`janus_pp_frame_packet`), then writes them out; any Janus
deployment pays that. SafeClass's own process does not grow. The sample's sound is a steady tone at
aiortc's Opus bitrate, more than a browser sends for speech; its pictures are made to cost a
webcam's and a slide show's bitrate (see the script's docstring). A real lesson's camera and
microphone go on and off, leaving several pieces per track: that costs one more conversion per
piece, and the same packets in all.
"""


SECTION_TITLE = """## Making a recording's file (`bench/recording.py`)

How long SafeClass takes to turn a lesson's Janus recording (a teacher's camera, sound and video,
and a shared screen) into its one WebM, and the memory that takes, for lessons of several lengths,
against janus-pp-rec alone converting the same raw files in the same run (what any Janus deployment
must do anyway). The raw files repeat a few seconds recorded by a real Janus, renumbered as Janus
numbers a long recording. Targets: memory does not grow with length (the longest lesson's peak
within 20 MiB of the shortest's), and the whole making takes at most 3 times the baseline's time
at 60 minutes.
"""


def write_section(body: str) -> None:
    try:
        bench_results.write_section("recording.py", SECTION_TITLE, body)
    except bench_results.SectionError as error:
        raise BenchError(str(error)) from error


def _minutes(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of minutes: {text}") from error
    if not values or min(values) <= 0 or max(values) > 180:
        raise argparse.ArgumentTypeError("minutes between 0 and 180, like 5,30,60")
    return sorted(set(values))


def why_it_cannot_run() -> str | None:
    reason = why_media_cannot_run()
    if reason is not None:
        return f"{reason} (scripts/in-test-netns .venv/bin/python bench/recording.py)"
    return None


def run(args: argparse.Namespace, work: Path) -> tuple[list[Sample], list[Length], int]:
    _progress(f"recording {args.record_seconds:g} s with Janus in {work}")
    started_at = asyncio.run(record_sample(work / "sample", work / "janus", args.record_seconds))
    samples = [load_sample(path) for path in sorted((work / "sample").glob("*.mjr"))]
    if len(samples) != 3:
        raise BenchError(
            f"Janus wrote {len(samples)} raw files, not 3: {[s.name for s in samples]}"
        )
    floor_kib = floor(work)
    lengths = [measure(samples, started_at, m, args.repeats, work) for m in args.minutes]
    return samples, lengths, floor_kib


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--make"]:
        folder, out, started, report_path = argv[1:5]
        make(Path(folder), Path(out), datetime.fromisoformat(started), Path(report_path))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--minutes",
        type=_minutes,
        default=[5.0, 30.0, 60.0],
        help="lesson lengths, comma-separated (default 5,30,60)",
    )
    parser.add_argument(
        "--record-seconds", type=float, default=6.0, help="seconds recorded with Janus (default 6)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each kind for each length (default 3)"
    )
    parser.add_argument(
        "--write", action="store_true", help=f"update this benchmark's section of {RESULTS}"
    )
    args = parser.parse_args(argv)
    if args.record_seconds < 2 or args.repeats < 1:
        parser.error("needs at least 2 seconds recorded and 1 run of each kind")
    reason = why_it_cannot_run()
    if reason is not None:
        parser.error(reason)
    command = (
        "scripts/in-test-netns .venv/bin/python bench/recording.py --minutes "
        f"{','.join(f'{m:g}' for m in args.minutes)} --record-seconds {args.record_seconds:g} "
        f"--repeats {args.repeats}"
    )
    started = time.perf_counter()
    when = datetime.now(UTC)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="safeclass-bench-recording-") as name:
        work = Path(name)
        samples, lengths, floor_kib = run(args, work)
        loads = (load_before, load_average())
        took = time.perf_counter() - started
        body = report(samples, lengths, floor_kib, command, when, machine(work), loads, took)
    print(body)
    _progress(f"done in {time.perf_counter() - started:.0f} s")
    if args.write:
        write_section(body)
        _progress(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.exit(f"bench/recording.py: {error}")
