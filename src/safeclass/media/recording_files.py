"""A lesson recording on disk: where Janus writes its raw files, and how they become one WebM.

Janus writes one `.mjr` file per recorded stream (`<base>-audio-<mid>.mjr`,
`<base>-video-<mid>.mjr`), every piece of a recording in one folder. `make_recording` converts each
file with `janus-pp-rec`, then stream-copies everything into a single WebM: one track per person,
purpose and kind, each piece placed on the timeline where it happened. Nothing is re-encoded, and
packets go out in time order across tracks straight from the inputs, so memory stays flat however
long the lesson was.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TypeAlias

import av
import av.error
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.stream import Stream

from safeclass.domain.lesson.model import Person, Role

log = logging.getLogger(__name__)

# (microseconds from a piece's first packet, duration in microseconds, packet)
_Timed: TypeAlias = "tuple[int, int, Packet[Stream]]"
# (microseconds on the timeline, track index, count within the track, packet): merge order
_Queued: TypeAlias = "tuple[int, int, int, Packet[Stream]]"

PURPOSES = ("camera", "screen")
KINDS = ("audio", "video")
# The only codecs our rooms allow, and what janus-pp-rec turns each into.
_CONVERTED_SUFFIX = {("audio", "opus"): ".opus", ("video", "vp8"): ".webm"}
_HEADER_TYPE = {"a": "audio", "v": "video"}
HEADER_TIMEOUT = 30.0  # seconds: reading a header is instant
CONVERT_TIMEOUT = 900.0  # seconds: an hour of video converts in well under a minute here
_MICROSECONDS = Fraction(1, 1_000_000)
_ROLE_ORDER = {Role.STAFF: 0, Role.PUPIL: 1, Role.GUEST: 2}
_KIND_ORDER = {"video": 0, "audio": 1}
_NEUTRAL_TITLE = {Role.STAFF: "Staff member", Role.PUPIL: "Pupil", Role.GUEST: "Guest"}
_TRACK_LABEL = {
    ("camera", "video"): "camera",
    ("camera", "audio"): "sound",
    ("screen", "video"): "screen",
    ("screen", "audio"): "screen sound",
}
_RAW_NAME = re.compile(
    r"(?P<role>staff|pupil|guest)-(?P<id>.+)-(?P<purpose>camera|screen)-(?P<piece>[1-9][0-9]*)"
    r"-(?P<kind>audio|video)-(?P<mid>[A-Za-z0-9_]+)\.mjr"
)


# --- Paths ----------------------------------------------------------------------------------------


def recordings_root(data_dir: Path) -> Path:
    return data_dir / "recordings"


def raw_dir(root: Path, lesson_id: int, number: int) -> Path:
    """The folder Janus writes one recording's raw files into."""
    return root / "raw" / f"lesson-{lesson_id}" / f"recording-{number}"


def raw_base(folder: Path, person: Person, purpose: str, piece: int) -> Path:
    """The `filename` Janus is given for one publisher's recording; it adds `-<kind>-<mid>.mjr`.
    `piece` counts 1, 2, ... each time the same publisher starts again within one recording."""
    if purpose not in PURPOSES:
        raise ValueError(f'Unknown recording purpose "{purpose}"')
    if piece < 1:
        raise ValueError(f"Recording pieces count from 1, not {piece}")
    if not person.id or "/" in person.id or "\0" in person.id or person.id.startswith("."):
        raise ValueError(f'A person id "{person.id}" cannot be part of a file name')
    return folder / f"{person.role.value}-{person.id}-{purpose}-{piece}"


def output_path(root: Path, lesson_id: int, number: int) -> Path:
    return root / f"lesson-{lesson_id}-recording-{number}.webm"


@dataclass(frozen=True, slots=True)
class RawFile:
    """What a raw file's name says: whose stream it is, and which piece of which track."""

    person: Person
    purpose: str  # "camera" or "screen"
    piece: int
    kind: str  # "audio" or "video"
    mid: str

    @classmethod
    def parse(cls, name: str) -> RawFile | None:
        """The parts of `<role>-<id>-<purpose>-<piece>-<kind>-<mid>.mjr`; None for another name."""
        match = _RAW_NAME.fullmatch(name)
        if match is None:
            return None
        return cls(
            person=Person(Role(match["role"]), match["id"]),
            purpose=match["purpose"],
            piece=int(match["piece"]),
            kind=match["kind"],
            mid=match["mid"],
        )


# --- Making one file ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MadeRecording:
    path: Path
    size_bytes: int
    duration_seconds: float
    tracks: tuple[str, ...]  # track titles, in file order


LONGEST_LEAD_US = 5 * 60 * 1_000_000  # microseconds


class RecordingConversionError(Exception):
    """The recording could not be made; str() is a plain sentence for staff and admins."""


@dataclass(frozen=True, slots=True)
class _Piece:
    """One converted raw file, ready to be copied into the output."""

    raw: RawFile
    source: Path  # the .mjr file
    converted: Path  # the .opus or .webm janus-pp-rec made
    first_written_us: int  # Janus's `u`: first packet written, microseconds since the epoch


@dataclass(frozen=True, slots=True)
class _Track:
    person: Person
    purpose: str
    kind: str
    pieces: tuple[_Piece, ...]  # in time order

    @property
    def first_written_us(self) -> int:
        return self.pieces[0].first_written_us


def make_recording(
    folder: Path, out: Path, *, started_at: datetime, titles: Mapping[Person, str]
) -> MadeRecording:
    """Convert and mux the raw files of one recording in `folder` into one WebM at `out`.

    Blocking (run it in a thread). `started_at` (timezone-aware) is time 0 of the file. Files that
    cannot be used are left out and logged; `out` appears only complete, replacing any file there.
    Raises RecordingConversionError when nothing usable was recorded or the file cannot be written.
    """
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    if not folder.is_dir():
        raise RecordingConversionError("The recording's files could not be found.")
    try:
        return _make(folder, out, started_at=started_at, titles=titles)
    except OSError as error:  # the disk: full, read-only, ...
        log.error("Making the recording %s failed: %s", out, error)
        raise RecordingConversionError(
            "The recording could not be saved on the server's disk."
        ) from error


def _make(
    folder: Path, out: Path, *, started_at: datetime, titles: Mapping[Person, str]
) -> MadeRecording:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-converting-") as work:
        pieces = _convert_all(folder, Path(work))
        if not pieces:
            raise RecordingConversionError("Nothing was recorded.")
        tracks = _order_tracks(_group_tracks(pieces))
        names = tuple(_track_title(track, titles) for track in tracks)
        started_us = round(started_at.timestamp() * 1_000_000)
        # Place the timeline at the start, or at the earliest packet if Janus wrote one a moment
        # earlier: every track keeps its exact place relative to the others. A file never opens
        # on more than LONGEST_LEAD of nothing (cameras and microphones all off at the start, or
        # a start time from a clock other than the one Janus wrote by).
        first_us = min(track.first_written_us for track in tracks)
        timeline_start = max(min(started_us, first_us), first_us - LONGEST_LEAD_US)
        partial = _mux(tracks, names, out.parent, out.stem, timeline_start)
        try:
            duration = _duration_seconds(partial)
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return MadeRecording(
        path=out, size_bytes=out.stat().st_size, duration_seconds=duration, tracks=names
    )


def _convert_all(folder: Path, work: Path) -> list[_Piece]:
    pieces: list[_Piece] = []
    for source in sorted(folder.iterdir()):
        raw = RawFile.parse(source.name)
        if raw is None:
            log.warning("Recording file %s left out: its name is not a recorded stream's", source)
            continue
        piece = _convert(source, raw, work)
        if piece is not None:
            pieces.append(piece)
    return pieces


def _convert(source: Path, raw: RawFile, work: Path) -> _Piece | None:
    """The file converted, or None (logged) when it cannot be used."""
    header = _read_header(source)
    if header is None:
        return None
    kind, codec, first_written_us = header
    suffix = _CONVERTED_SUFFIX.get((kind, codec))
    if kind != raw.kind or suffix is None:
        log.warning(
            "Recording file %s left out: it holds %s %s, expected %s", source, kind, codec, raw.kind
        )
        return None
    converted = work / (source.stem + suffix)
    finished = _run_janus_pp_rec([str(source), str(converted)], source, CONVERT_TIMEOUT)
    if finished is None:
        return None
    if not _has_packets(converted, kind):
        log.warning(
            "Recording file %s left out: no media could be read from it (%s)",
            source,
            _last_line(finished.stdout + finished.stderr),
        )
        return None
    return _Piece(raw=raw, source=source, converted=converted, first_written_us=first_written_us)


def _read_header(source: Path) -> tuple[str, str, int] | None:
    """(kind, codec, first packet written in microseconds), or None (logged)."""
    finished = _run_janus_pp_rec(["--json", str(source)], source, HEADER_TIMEOUT)
    if finished is None:
        return None
    try:
        header = json.loads(finished.stdout)
        kind = _HEADER_TYPE[header["t"]]
        codec = str(header["c"])
        first_written_us = int(header["u"])
    except (ValueError, KeyError, TypeError):
        log.warning("Recording file %s left out: its header cannot be read", source)
        return None
    return kind, codec, first_written_us


def _run_janus_pp_rec(
    arguments: list[str], source: Path, timeout: float
) -> subprocess.CompletedProcess[str] | None:
    """janus-pp-rec's result, or None (logged) when it failed or took too long."""
    program = shutil.which("janus-pp-rec")
    if program is None:
        raise RecordingConversionError(
            "The recording cannot be converted: the program janus-pp-rec is not installed."
        )
    try:
        # A fixed program with a list of arguments, no shell: nothing in a file name is run.
        finished = subprocess.run(  # noqa: S603
            [program, "--disable-colors", *arguments],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("Recording file %s left out: janus-pp-rec took over %s s", source, timeout)
        return None
    if finished.returncode != 0:
        log.warning(
            "Recording file %s left out: janus-pp-rec failed with code %s (%s)",
            source,
            finished.returncode,
            _last_line(finished.stdout + finished.stderr),
        )
        return None
    return finished


def _last_line(output: str) -> str:
    """janus-pp-rec's last error or warning, else its last line, for the log."""
    lines = [line.strip() for line in output.splitlines() if line.strip() not in ("", "Bye!")]
    problems = [line for line in lines if "[ERR]" in line or "[WARN]" in line]
    return (problems or lines or ["no output"])[-1]


def _has_packets(converted: Path, kind: str) -> bool:
    """Whether the converted file opens and holds a packet of the expected kind, a keyframe for
    video (janus-pp-rec exits 0 even when it wrote nothing, or a file with headers only)."""
    if not converted.exists():
        return False
    try:
        with av.open(str(converted)) as container:
            streams = [stream for stream in container.streams if stream.type == kind]
            if len(streams) != 1:
                return False
            return any(
                packet.pts is not None and (kind == "audio" or packet.is_keyframe)
                for packet in container.demux(streams[0])
            )
    except av.error.FFmpegError:
        return False


def _group_tracks(pieces: list[_Piece]) -> list[_Track]:
    grouped: dict[tuple[Person, str, str], list[_Piece]] = {}
    for piece in pieces:
        key = (piece.raw.person, piece.raw.purpose, piece.raw.kind)
        grouped.setdefault(key, []).append(piece)
    return [
        _Track(
            person,
            purpose,
            kind,
            tuple(sorted(found, key=lambda p: (p.first_written_us, p.raw.piece, p.raw.mid))),
        )
        for (person, purpose, kind), found in grouped.items()
    ]


def _order_tracks(tracks: list[_Track]) -> list[_Track]:
    """Staff first, cameras before screens, people in the order they started; then the first video
    and the first sound lead, because a plain player (a browser's <video>) plays only those."""
    person_start: dict[Person, int] = {}
    for track in tracks:
        start = person_start.get(track.person, track.first_written_us)
        person_start[track.person] = min(start, track.first_written_us)
    ordered = sorted(
        tracks,
        key=lambda t: (
            _ROLE_ORDER[t.person.role],
            PURPOSES.index(t.purpose),
            person_start[t.person],
            t.person.id,
            _KIND_ORDER[t.kind],
        ),
    )
    leading: list[_Track] = []
    for kind in ("video", "audio"):
        first = next((track for track in ordered if track.kind == kind), None)
        if first is not None:
            leading.append(first)
    return leading + [track for track in ordered if track not in leading]


def _track_title(track: _Track, titles: Mapping[Person, str]) -> str:
    name = titles.get(track.person) or f"{_NEUTRAL_TITLE[track.person.role]} {track.person.id}"
    return f"{name}: {_TRACK_LABEL[track.purpose, track.kind]}"


def _mux(
    tracks: list[_Track], names: tuple[str, ...], folder: Path, stem: str, timeline_start: int
) -> Path:
    """Write every track into a new file beside the output; its path once complete."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=f".{stem}-", suffix=".webm.partial")
    os.close(handle)
    partial = Path(name)
    try:
        with contextlib.ExitStack() as stack:
            output = stack.enter_context(av.open(str(partial), "w", format="webm"))
            feeds: list[Generator[_Queued, None, None]] = []
            for index, (track, title) in enumerate(zip(tracks, names, strict=True)):
                stream = _add_stream(output, track, title)
                feed = _track_packets(track, stream, index, timeline_start)
                feeds.append(stack.enter_context(contextlib.closing(feed)))
            for _, _, _, packet in heapq.merge(*feeds):
                output.mux(packet)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
    except (av.error.FFmpegError, OSError) as error:  # a broken input, a full disk
        partial.unlink(missing_ok=True)
        log.error("Muxing the recording into %s failed: %s", partial, error)
        raise RecordingConversionError(
            "The recording could not be put together into one file."
        ) from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial


def _add_stream(output: OutputContainer, track: _Track, title: str) -> Stream:
    with av.open(str(track.pieces[0].converted)) as template:
        source = next(stream for stream in template.streams if stream.type == track.kind)
        stream = output.add_stream_from_template(source)
    stream.metadata["title"] = title
    return stream


def _track_packets(
    track: _Track, stream: Stream, index: int, timeline_start: int
) -> Generator[_Queued, None, None]:
    """(time in microseconds, track index, count, packet) for every packet of the track, in order:
    each piece starts where Janus wrote its first packet, never before the previous piece ended."""
    previous_end = 0
    count = itertools.count()
    for piece in track.pieces:
        offset = max(piece.first_written_us - timeline_start, previous_end)
        for at, duration, packet in _piece_packets(piece, track.kind):
            packet.stream = stream
            packet.time_base = _MICROSECONDS
            packet.pts = packet.dts = offset + at
            packet.duration = duration
            previous_end = max(previous_end, offset + at + duration)
            yield offset + at, index, next(count), packet


def _piece_packets(piece: _Piece, kind: str) -> Generator[_Timed, None, None]:
    """(microseconds from the piece's first packet, duration in microseconds, packet)."""
    with av.open(str(piece.converted)) as container:
        yield from _demux_from_zero(container, piece, kind)


def _demux_from_zero(
    container: InputContainer, piece: _Piece, kind: str
) -> Generator[_Timed, None, None]:
    stream = next(stream for stream in container.streams if stream.type == kind)
    first: int | None = None
    last = -1
    # Janus may write a few video frames before the keyframe it asked for: nothing can show them,
    # and a player's decoder may give up on them. Time still counts from the first packet.
    waiting_for_keyframe = kind == "video"
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as error:
            # A file cut short (the server stopped mid-write) still gives everything before the cut.
            log.warning(
                "Recording file %s is damaged after %s microseconds: %s", piece.source, last, error
            )
            return
        if packet.pts is None or packet.size == 0 or packet.time_base is None:
            continue
        at = round(packet.pts * packet.time_base / _MICROSECONDS)
        if first is None:
            first = at
        at -= first
        if waiting_for_keyframe and not packet.is_keyframe:
            continue
        waiting_for_keyframe = False
        if at < last:
            continue  # out of order within one file: the muxer needs time to go forwards
        last = at
        duration = round((packet.duration or 0) * packet.time_base / _MICROSECONDS)
        yield at, max(duration, 0), packet


def _duration_seconds(path: Path) -> float:
    try:
        with av.open(str(path)) as container:
            if container.duration is None:
                raise RecordingConversionError("The recording file has no length.")
            return float(container.duration / 1_000_000)
    except av.error.FFmpegError as error:
        raise RecordingConversionError("The finished recording file cannot be read.") from error
