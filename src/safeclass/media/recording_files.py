"""A lesson recording on disk: where Janus writes its raw files, and how they become one WebM.

Janus writes one `.mjr` file per recorded stream (`<base>-audio-<mid>.mjr`,
`<base>-video-<mid>.mjr`), every piece of a recording in one folder. `make_recording` converts each
file with `janus-pp-rec`, then stream-copies everything into a single WebM: one track per person,
purpose and kind, each piece placed on the timeline where it happened. Nothing is re-encoded, and
packets go out in time order across tracks straight from the inputs, so memory stays flat however
long the lesson was.

A browser plays only a file's first sound track. So when more than one sound track was recorded
(two members of staff, say), the file also holds "Everyone's sound", the only track that is
re-encoded: every sound track decoded, placed where its copy is on the timeline, mixed and encoded
again as Opus, a second at a time. It comes first among the sound tracks; each person's own sound
follows, copied as before.
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
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TypeAlias

import av
import av.error
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.filter import Graph
from av.filter.context import FilterContext
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
_MJR_MAGIC = b"MJR00002"  # how a raw file Janus writes begins
_HEADER_TYPE = {"a": "audio", "v": "video"}
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
# The mixed track: mono, because each voice comes from one microphone and a mix of voices has no
# left and right to keep; mono also needs half the bits of stereo for the same quality.
MIXED_TITLE = "Everyone's sound"
_MIX_RATE = 48_000  # samples a second: Opus's own rate, what every Opus decoder gives
_MIX_LAYOUT = "mono"
_MIX_WINDOW = _MIX_RATE  # samples: the mix moves on a second at a time, all tracks together
_MIX_BIT_RATE = 48_000  # bits a second: clear speech in mono, and a small file
# Each voice at about -3 dB, so two people speaking at once seldom reach full scale; the sum is
# made in floating point (nothing wraps round) and converting it to 16-bit samples clips it.
_MIX_WEIGHT = 0.7
_SAMPLE = Fraction(1, _MIX_RATE)
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
    left_out: int = 0  # raw files that could not be used (damaged, empty): logged, and counted


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
    lane: int = 0  # 1, 2, ... for a second device's, a third's, recorded at the same time

    @property
    def first_written_us(self) -> int:
        return self.pieces[0].first_written_us


@dataclass(frozen=True, slots=True)
class _Mix:
    """Every sound track mixed into one, for a player that plays only the first."""

    tracks: tuple[_Track, ...]


_Output: TypeAlias = "_Track | _Mix"


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
        pieces, left_out = _convert_all(folder, Path(work))
        if not pieces:
            raise RecordingConversionError("Nothing was recorded.")
        tracks = _with_mix(_order_tracks(_group_tracks(pieces)))
        names = tuple(_output_title(track, titles) for track in tracks)
        started_us = round(started_at.timestamp() * 1_000_000)
        # Place the timeline at the start, or at the earliest packet if Janus wrote one a moment
        # earlier: every track keeps its exact place relative to the others. A file never opens
        # on more than LONGEST_LEAD of nothing (cameras and microphones all off at the start, or
        # a start time from a clock other than the one Janus wrote by).
        first_us = min(track.first_written_us for track in tracks if isinstance(track, _Track))
        timeline_start = max(min(started_us, first_us), first_us - LONGEST_LEAD_US)
        partial = _mux(tracks, names, out.parent, out.stem, timeline_start)
        try:
            duration = _duration_seconds(partial)
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return MadeRecording(
        path=out,
        size_bytes=out.stat().st_size,
        duration_seconds=duration,
        tracks=names,
        left_out=left_out,
    )


def _convert_all(folder: Path, work: Path) -> tuple[list[_Piece], int]:
    """The raw files converted, and how many of them could not be used."""
    pieces: list[_Piece] = []
    left_out = 0
    for source in sorted(folder.iterdir()):
        raw = RawFile.parse(source.name)
        if raw is None:
            log.warning("Recording file %s left out: its name is not a recorded stream's", source)
            left_out += 1
            continue
        piece = _convert(source, raw, work)
        if piece is None:
            left_out += 1
        else:
            pieces.append(piece)
    return pieces, left_out


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
    """(kind, codec, first packet written in microseconds), or None (logged).

    Read straight from the file, as janus-pp-rec --json would print it, without starting a
    program for each file: "MJR00002" (the format Janus writes), the header's length in 2 bytes
    (big-endian), then the header, JSON."""
    try:
        with source.open("rb") as raw:
            start = raw.read(len(_MJR_MAGIC) + 2)
            length = int.from_bytes(start[len(_MJR_MAGIC) :], "big")
            text = raw.read(length)
    except OSError as error:
        log.warning("Recording file %s left out: it cannot be read (%s)", source, error)
        return None
    try:
        if (
            len(start) < len(_MJR_MAGIC) + 2
            or not start.startswith(_MJR_MAGIC)
            or len(text) < length
        ):
            raise ValueError("not a whole raw recording's header")
        header = json.loads(text)
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
    """One track per person, purpose and kind, its pieces one after another. Pieces that overlap
    in time (the same person on two devices, both recorded) go on a track of their own each
    (`lane` 1, 2, ...), so that everything keeps its true place on the timeline."""
    grouped: dict[tuple[Person, str, str], list[_Piece]] = {}
    for piece in pieces:
        key = (piece.raw.person, piece.raw.purpose, piece.raw.kind)
        grouped.setdefault(key, []).append(piece)
    tracks = []
    for (person, purpose, kind), found in grouped.items():
        lanes: list[list[_Piece]] = []
        ends: list[int] = []
        for piece in sorted(found, key=lambda p: (p.first_written_us, p.raw.piece, p.raw.mid)):
            end = piece.first_written_us + _duration_us(piece.converted)
            lane = next(
                (
                    i
                    for i, lane_end in enumerate(ends)
                    if lane_end - _OVERLAP_US <= piece.first_written_us
                ),
                len(lanes),
            )
            if lane == len(lanes):
                lanes.append([])
                ends.append(end)
            lanes[lane].append(piece)
            ends[lane] = max(ends[lane], end)
        tracks += [
            _Track(person, purpose, kind, tuple(lane_pieces), lane=index)
            for index, lane_pieces in enumerate(lanes)
        ]
    return tracks


# Pieces of one source that overlap by less than this are one after the other (Janus closes one
# file and opens the next a moment apart), not two devices at once.
_OVERLAP_US = 500_000


def _duration_us(converted: Path) -> int:
    """How long a converted file lasts, in microseconds (0 when it does not say)."""
    with av.open(str(converted)) as container:
        return int(container.duration or 0)


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


def _with_mix(tracks: list[_Track]) -> list[_Output]:
    """With two or more sound tracks, the mix of them all just before the first: the sound a
    plain player plays. With one, the tracks as they are: nothing is re-encoded."""
    sounds = tuple(track for track in tracks if track.kind == "audio")
    if len(sounds) < 2:
        return list(tracks)
    first = tracks.index(sounds[0])
    return [*tracks[:first], _Mix(sounds), *tracks[first:]]


def _output_title(track: _Output, titles: Mapping[Person, str]) -> str:
    if isinstance(track, _Mix):
        return MIXED_TITLE
    name = titles.get(track.person) or f"{_NEUTRAL_TITLE[track.person.role]} {track.person.id}"
    if track.lane:
        name = f"{name} (device {track.lane + 1})"
    return f"{name}: {_TRACK_LABEL[track.purpose, track.kind]}"


def _mux(
    tracks: list[_Output], names: tuple[str, ...], folder: Path, stem: str, timeline_start: int
) -> Path:
    """Write every track into a new file beside the output; its path once complete."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=f".{stem}-", suffix=".webm.partial")
    os.close(handle)
    partial = Path(name)
    try:
        with contextlib.ExitStack() as stack:
            output = stack.enter_context(av.open(str(partial), "w", format="webm"))
            feeds: list[Generator[_Queued, None, None]] = []
            mixed = any(isinstance(track, _Mix) for track in tracks)
            for index, (track, title) in enumerate(zip(tracks, names, strict=True)):
                if isinstance(track, _Mix):
                    mixed_stream = _add_mixed_stream(output, title)
                    feed = _mixed_packets(track, mixed_stream, index, timeline_start)
                else:
                    stream = _add_stream(output, track, title, default=not mixed)
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


def _add_stream(output: OutputContainer, track: _Track, title: str, *, default: bool) -> Stream:
    with av.open(str(track.pieces[0].converted)) as template:
        source = next(stream for stream in template.streams if stream.type == track.kind)
        stream = output.add_stream_from_template(source)
    stream.metadata["title"] = title
    if track.kind == "audio" and not default:
        # The mixed track is the one a player should pick: no person's own sound is the default.
        stream.disposition &= ~av.stream.Disposition.default
    return stream


def _track_packets(
    track: _Track, stream: Stream, index: int, timeline_start: int
) -> Generator[_Queued, None, None]:
    """(time in microseconds, track index, count, packet) for each packet of the track, in order."""
    count = itertools.count()
    for at, duration, packet in _placed_packets(track, timeline_start):
        packet.stream = stream
        packet.time_base = _MICROSECONDS
        packet.pts = packet.dts = at
        packet.duration = duration
        yield at, index, next(count), packet


def _placed_packets(track: _Track, timeline_start: int) -> Generator[_Timed, None, None]:
    """(microseconds on the timeline, duration in microseconds, packet) for every packet of the
    track, in order, each still its input stream's: each piece starts where Janus wrote its first
    packet, never before the previous piece ended."""
    previous_end = 0
    for piece in track.pieces:
        offset = max(piece.first_written_us - timeline_start, previous_end)
        for at, duration, packet in _piece_packets(piece, track.kind):
            previous_end = max(previous_end, offset + at + duration)
            yield offset + at, duration, packet


# --- The mixed sound track ------------------------------------------------------------------------


def _add_mixed_stream(output: OutputContainer, title: str) -> AudioStream:
    if "libopus" not in av.codecs_available:
        raise RecordingConversionError(
            "The recording's sound cannot be mixed: this server's PyAV has no Opus encoder."
        )
    stream = output.add_stream("libopus", rate=_MIX_RATE, layout=_MIX_LAYOUT)
    stream.codec_context.bit_rate = _MIX_BIT_RATE
    stream.codec_context.time_base = _SAMPLE
    stream.metadata["title"] = title
    stream.disposition = av.stream.Disposition.default
    return stream


def _mixed_packets(
    mix: _Mix, stream: AudioStream, index: int, timeline_start: int
) -> Generator[_Queued, None, None]:
    """(time in microseconds, track index, count, packet) for the mix of `mix.tracks`, in order.

    Every track is read a window at a time, all of them up to the same moment, through one filter
    graph that sums them (amix); so what is held is a window of sound per track, however long the
    lesson was. Each track is silent before it starts and wherever it had a gap."""
    encoder = stream.codec_context
    count = itertools.count()
    with contextlib.ExitStack() as stack:
        sources: list[Iterator[av.AudioFrame] | None] = [
            stack.enter_context(contextlib.closing(_track_sound(track, timeline_start)))
            for track in mix.tracks
        ]
        mixer = _Mixer.summing(len(sources))
        reached = [0] * len(sources)  # samples given to each input so far
        window_end = 0
        while any(source is not None for source in sources):
            window_end += _MIX_WINDOW
            for number, source in enumerate(sources):
                if source is None:
                    continue
                while reached[number] < window_end:
                    frame = next(source, None)
                    if frame is None:
                        mixer.inputs[number].push(None)  # this track has ended
                        sources[number] = None
                        break
                    mixer.inputs[number].push(frame)
                    reached[number] += frame.samples
            for frame in mixer.pull(ended=False):
                for packet in encoder.encode(frame):
                    yield _mixed_packet(packet, stream, index, next(count))
        for frame in mixer.pull(ended=True):
            for packet in encoder.encode(frame):
                yield _mixed_packet(packet, stream, index, next(count))
    for packet in encoder.encode(None):
        yield _mixed_packet(packet, stream, index, next(count))


@dataclass(slots=True)
class _Mixer:
    """A filter graph summing mono 48 kHz tracks into one, as 16-bit samples for the encoder."""

    graph: Graph  # its filters hold it only weakly: this keeps it while the mix is made
    inputs: list[FilterContext]
    output: FilterContext
    pulled: int = 0  # samples mixed so far

    @classmethod
    def summing(cls, inputs: int) -> _Mixer:
        graph = Graph()
        sources = [
            graph.add_abuffer(
                format="flt", sample_rate=_MIX_RATE, layout=_MIX_LAYOUT, time_base=_SAMPLE
            )
            for _ in range(inputs)
        ]
        weights = " ".join([str(_MIX_WEIGHT)] * inputs)
        # normalize=0: each voice keeps its level whoever else was recorded (amix would otherwise
        # divide by the number of tracks: one speaker in a lesson of three a third as loud).
        mix = graph.add(
            "amix",
            f"inputs={inputs}:duration=longest:dropout_transition=0:normalize=0:weights={weights}",
        )
        # Converting the floating-point sum to 16-bit samples clips it at full scale.
        to_16_bit = graph.add(
            "aformat", f"sample_fmts=s16:channel_layouts={_MIX_LAYOUT}:sample_rates={_MIX_RATE}"
        )
        sink = graph.add("abuffersink")
        for number, source in enumerate(sources):
            source.link_to(mix, 0, number)
        mix.link_to(to_16_bit)
        to_16_bit.link_to(sink)
        graph.configure()
        return cls(graph, sources, sink)

    def pull(self, *, ended: bool) -> Generator[av.AudioFrame, None, None]:
        """The mixed frames ready now; once every input has `ended`, all that are left. Each
        is timed by the samples before it (amix leaves some frames untimed once an input has
        ended): every input runs without a break from time 0, and so does the mix."""
        while True:
            try:
                frame = self.output.pull()
            except av.error.BlockingIOError:
                if ended:
                    raise  # every input has ended: the graph owes its last frames
                return
            except av.error.EOFError:
                return
            assert isinstance(frame, av.AudioFrame)
            frame.pts = self.pulled
            frame.time_base = _SAMPLE
            self.pulled += frame.samples
            yield frame


def _mixed_packet(packet: Packet[Stream], stream: Stream, index: int, count: int) -> _Queued:
    if packet.pts is None or packet.time_base is None:
        raise RecordingConversionError("The mixed sound could not be encoded.")
    at = round(packet.pts * packet.time_base / _MICROSECONDS)
    duration = round((packet.duration or 0) * packet.time_base / _MICROSECONDS)
    packet.stream = stream
    packet.time_base = _MICROSECONDS
    packet.pts = packet.dts = at
    packet.duration = duration
    return at, index, count, packet


def _track_sound(track: _Track, timeline_start: int) -> Generator[av.AudioFrame, None, None]:
    """One sound track as mono 48 kHz frames without a break from time 0 to its end: silence
    before it starts and in its gaps, each packet's sound where its copy is on the timeline."""
    written = 0  # samples on the timeline so far
    resampler: AudioResampler | None = None
    decoding: Stream | None = None
    damaged = 0
    for at, _, packet in _placed_packets(track, timeline_start):
        if packet.stream is not decoding:  # a new piece: its own decoder, perhaps another layout
            decoding = packet.stream
            # Opus always decodes at 48 kHz, so the resampler only makes mono floats and holds
            # nothing back between calls: there is nothing to flush at a piece's end.
            resampler = AudioResampler(format="flt", layout=_MIX_LAYOUT, rate=_MIX_RATE)
        assert resampler is not None
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:
            damaged += 1  # silence in the mix; the person's own track still has the packet
            continue
        position = round(at * _MICROSECONDS / _SAMPLE)
        for frame in decoded:
            assert isinstance(frame, av.AudioFrame)
            frame.pts = position
            frame.time_base = _SAMPLE
            position += frame.samples
            for mono in resampler.resample(frame):
                placed = _placed_frame(mono, written)
                if placed is None:
                    continue
                start, placed_frame = placed
                yield from _silence(written, start)
                yield placed_frame
                written = start + placed_frame.samples
    if damaged:
        log.warning(
            "%s packets of %s %s %s's sound could not be decoded: silent in the mixed track",
            damaged,
            track.person.role.value,
            track.person.id,
            track.purpose,
        )


def _placed_frame(frame: av.AudioFrame, written: int) -> tuple[int, av.AudioFrame] | None:
    """(where it starts, the frame) with any samples before `written` cut off, or None when
    nothing is left: sound that overlaps what is already there is left out, as the copy does."""
    start = frame.pts if frame.pts is not None else written
    if start >= written:
        return start, frame
    skip = written - start
    if skip >= frame.samples:
        return None
    data = bytes(frame.planes[0])[skip * 4 : frame.samples * 4]  # packed 32-bit float
    return written, _pcm_frame(data, frame.samples - skip, written)


def _silence(start: int, end: int) -> Generator[av.AudioFrame, None, None]:
    """Silent frames from sample `start` to `end`, a window at most each."""
    while start < end:
        samples = min(end - start, _MIX_WINDOW)
        yield _pcm_frame(bytes(samples * 4), samples, start)
        start += samples


def _pcm_frame(data: bytes, samples: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="flt", layout=_MIX_LAYOUT, samples=samples)
    frame.planes[0].update(data)
    frame.sample_rate = _MIX_RATE
    frame.pts = pts
    frame.time_base = _SAMPLE
    return frame


def _piece_packets(piece: _Piece, kind: str) -> Generator[_Timed, None, None]:
    """(microseconds from the piece's first packet, duration in microseconds, packet)."""
    with av.open(str(piece.converted)) as container:
        yield from _demux_from_zero(container, piece, kind)


def _demux_from_zero(
    container: InputContainer, piece: _Piece, kind: str
) -> Generator[_Timed, None, None]:
    stream = next(stream for stream in container.streams if stream.type == kind)
    # Every packet demuxed from a stream is in that stream's time base: read it once, not for each
    # of the hundreds of thousands of packets a lesson has.
    time_base = stream.time_base
    if time_base is None:
        return  # nothing in it can be placed in time
    per_tick = time_base / _MICROSECONDS  # microseconds in one tick, exactly
    numerator, denominator = per_tick.numerator, per_tick.denominator
    first: int | None = None
    last = -1
    # Janus may write a few video frames before the keyframe it asked for: nothing can show them,
    # and a player's decoder may give up on them. Time still counts from the first packet.
    waiting_for_keyframe = kind == "video"
    try:
        for packet in container.demux(stream):
            pts = packet.pts
            if pts is None or packet.size == 0:
                continue
            at = _microseconds(pts, numerator, denominator)
            if first is None:
                first = at
            at -= first
            if waiting_for_keyframe and not packet.is_keyframe:
                continue
            waiting_for_keyframe = False
            if at < last:
                continue  # out of order within one file: the muxer needs time to go forwards
            last = at
            duration = _microseconds(packet.duration or 0, numerator, denominator)
            yield at, max(duration, 0), packet
    except av.error.FFmpegError as error:  # only reading the next packet raises this
        # A file cut short (the server stopped mid-write) still gives everything before the cut.
        log.warning(
            "Recording file %s is damaged after %s microseconds: %s", piece.source, last, error
        )


def _microseconds(ticks: int, numerator: int, denominator: int) -> int:
    """`ticks` of numerator/denominator microseconds in whole microseconds, rounded half to even:
    exactly round(ticks * time_base / _MICROSECONDS), in integers. Making three Fractions for every
    packet was most of the time spent copying a long lesson's packets."""
    if denominator == 1:  # whole microseconds a tick (WebM's milliseconds): nothing to round
        return ticks * numerator
    whole, rest = divmod(ticks * numerator, denominator)
    if rest * 2 > denominator or (rest * 2 == denominator and whole % 2 == 1):
        whole += 1
    return whole


def _duration_seconds(path: Path) -> float:
    try:
        with av.open(str(path)) as container:
            if container.duration is None:
                raise RecordingConversionError("The recording file has no length.")
            return float(container.duration / 1_000_000)
    except av.error.FFmpegError as error:
        raise RecordingConversionError("The finished recording file cannot be read.") from error
