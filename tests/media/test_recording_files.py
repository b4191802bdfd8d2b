"""A lesson recording on disk: its paths, and Janus's raw files made into one WebM
(safeclass.media.recording_files). The media tests record with a real Janus once for the module:
a teacher alone, and two members of staff speaking."""

from __future__ import annotations

import array
import asyncio
import itertools
import json
import logging
import math
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from av.audio.resampler import AudioResampler

from safeclass.domain.lesson.model import Person, Role
from safeclass.media import recording_files
from safeclass.media.recording_files import (
    LONGEST_LEAD_US,
    MIXED_TITLE,
    RawFile,
    RecordingConversionError,
    make_recording,
    output_path,
    raw_base,
    raw_dir,
    recordings_root,
)
from safeclass.media.simulated import VIDEO_SIZE
from tests.media.recording_samples import (
    PIECE_SECONDS,
    SECOND_TEACHER,
    SECOND_TEACHER_TONE_HZ,
    TEACHER,
    TEACHER_TONE_HZ,
    Samples,
    TwoSpeakers,
    mjr_packets,
    record_samples,
    record_two_speakers,
    renumbered,
)

TITLES = {TEACHER: "Ms Rivers"}
STARTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALLOWED_DRIFT = 0.5  # seconds: Janus writes a piece's first packet a moment after it is asked


# --- Paths and names (no Janus) -------------------------------------------------------------------


def test_paths_put_raw_files_per_recording_and_finished_files_beside_them() -> None:
    root = recordings_root(Path("/srv/safeclass"))
    assert root == Path("/srv/safeclass/recordings")
    assert raw_dir(root, 12, 3) == root / "raw" / "lesson-12" / "recording-3"
    assert output_path(root, 12, 3) == root / "lesson-12-recording-3.webm"
    folder = raw_dir(root, 12, 3)
    assert raw_base(folder, Person(Role.STAFF, "4"), "screen", 2) == folder / "staff-4-screen-2"


@pytest.mark.parametrize(
    ("person", "purpose", "piece", "kind", "mid"),
    [
        (Person(Role.STAFF, "3"), "camera", 1, "audio", "0"),
        (Person(Role.PUPIL, "12"), "camera", 10, "video", "1"),
        (Person(Role.PUPIL, "practice-5"), "screen", 2, "video", "0"),  # practice ids have "-"
        (Person(Role.GUEST, "8"), "screen", 1, "audio", "a1"),
    ],
)
def test_the_name_janus_writes_from_raw_base_parses_back(
    person: Person, purpose: str, piece: int, kind: str, mid: str
) -> None:
    name = f"{raw_base(Path('/r'), person, purpose, piece).name}-{kind}-{mid}.mjr"
    assert RawFile.parse(name) == RawFile(person, purpose, piece, kind, mid)


@pytest.mark.parametrize(
    "name",
    [
        "staff-3-camera-1-audio-0.opus",  # not a raw file
        "staff-3-camera-1-audio-0.mjr.tmp",
        "teacher-3-camera-1-audio-0.mjr",  # no such role
        "staff-3-microphone-1-audio-0.mjr",  # no such purpose
        "staff-3-camera-0-audio-0.mjr",  # pieces count from 1
        "staff-3-camera-x-audio-0.mjr",
        "staff-3-camera-1-data-0.mjr",  # no such kind
        "staff--camera-1-audio-0.mjr",  # no id
        "staff-3-camera-1-audio-.mjr",  # no mid
        "L5-r1-p1-camera-1-audio-0.mjr",
    ],
)
def test_other_names_are_not_raw_files(name: str) -> None:
    assert RawFile.parse(name) is None


@pytest.mark.parametrize(
    ("person", "purpose", "piece"),
    [
        (Person(Role.STAFF, "3"), "microphone", 1),
        (Person(Role.STAFF, "3"), "camera", 0),
        (Person(Role.STAFF, "../3"), "camera", 1),
        (Person(Role.STAFF, ".."), "camera", 1),
        (Person(Role.STAFF, ""), "camera", 1),
    ],
)
def test_raw_base_refuses_what_cannot_make_a_safe_file_name(
    person: Person, purpose: str, piece: int
) -> None:
    with pytest.raises(ValueError, match=r"^(Unknown|Recording pieces|A person id)"):
        raw_base(Path("/r"), person, purpose, piece)


def test_a_folder_without_recorded_streams_raises_and_writes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a recording")
    out = tmp_path / "done" / "lesson-1-recording-1.webm"

    with pytest.raises(RecordingConversionError, match=r"^Nothing was recorded\.$"):
        make_recording(folder, out, started_at=STARTED, titles=TITLES)

    assert list(out.parent.iterdir()) == []
    assert "notes.txt" in caplog.text


def test_the_start_must_say_its_time_zone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_recording(tmp_path, tmp_path / "x.webm", started_at=datetime(2026, 3, 2), titles={})


def test_a_missing_folder_raises_in_plain_words(tmp_path: Path) -> None:
    with pytest.raises(RecordingConversionError, match="could not be found"):
        make_recording(tmp_path / "gone", tmp_path / "x.webm", started_at=STARTED, titles={})
    assert not (tmp_path / "x.webm").exists()


def test_voices_too_loud_together_are_clipped_in_the_mix_never_wrapped_round() -> None:
    mixer = recording_files._Mixer.summing(2)
    loud = array.array("f", [0.9, -0.9, 0.5, 0.0] * 240)  # 960 samples
    for source in mixer.inputs:
        source.push(recording_files._pcm_frame(loud.tobytes(), len(loud), 0))
        source.push(None)

    mixed = array.array("h")
    for frame in mixer.pull(ended=True):
        mixed.frombytes(bytes(frame.planes[0])[: frame.samples * 2])

    assert list(mixed[:4]) == [32767, -32768, round(2 * 0.7 * 0.5 * 32768), 0]
    assert len(mixed) == len(loud)


# --- Real recordings (Janus) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    where = tmp_path_factory.mktemp("recording")
    return asyncio.run(record_samples(where / "raw", where / "janus"))


@pytest.fixture
def folder(samples: Samples, tmp_path: Path) -> Path:
    """A copy of the samples' folder that a test may change."""
    copy = tmp_path / "raw"
    shutil.copytree(samples.folder, copy)
    return copy


def _streams(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as container:
        return [(stream.type, stream.metadata.get("title", "")) for stream in container.streams]


def _first_and_last_seconds(path: Path) -> dict[int, tuple[float, float]]:
    times: dict[int, list[float]] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                times.setdefault(packet.stream.index, []).append(
                    float(packet.pts * packet.time_base)
                )
    return {index: (found[0], found[-1]) for index, found in times.items()}


def _converted_packets(sources: list[Path], work: Path) -> list[bytes]:
    """The packets janus-pp-rec makes of `sources`, one after another."""
    packets: list[bytes] = []
    for source in sources:
        converted = work / f"{source.stem}.opus"
        subprocess.run(["janus-pp-rec", source, converted], check=True, capture_output=True)
        with av.open(str(converted)) as container:
            packets += [bytes(packet) for packet in container.demux(audio=0) if packet.size]
    return packets


def _track_packets(path: Path, index: int) -> list[bytes]:
    with av.open(str(path)) as container:
        return [
            bytes(packet) for packet in container.demux(container.streams[index]) if packet.size
        ]


def _frames(path: Path, index: int) -> Iterator[av.VideoFrame]:
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams[index]):
            assert isinstance(frame, av.VideoFrame)
            yield frame


@pytest.mark.media
def test_a_teachers_camera_pieces_and_screen_become_one_file_of_titled_tracks(
    samples: Samples, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "done" / "lesson-1-recording-1.webm"

    made = make_recording(folder, out, started_at=samples.started_at, titles=TITLES)

    expected = [
        ("video", "Ms Rivers: camera"),
        ("audio", "Ms Rivers: sound"),
        ("video", "Ms Rivers: screen"),
    ]
    assert _streams(out) == expected
    assert made.tracks == tuple(title for _, title in expected)
    assert made.path == out
    assert made.size_bytes == out.stat().st_size
    assert samples.stopped_after - ALLOWED_DRIFT < made.duration_seconds
    assert made.duration_seconds < samples.stopped_after + ALLOWED_DRIFT
    assert list(out.parent.iterdir()) == [out]  # no partial file, no conversion folder left
    # One sound track: no mixed track, and the sound is copied exactly as Janus recorded it.
    assert _track_packets(out, 1) == _converted_packets(
        sorted(samples.folder.glob("staff-7-camera-*-audio-*.mjr")), tmp_path
    )

    frames = list(_frames(out, 0))
    assert len(frames) > 2 * PIECE_SECONDS * 10  # two pieces at about 15 frames a second
    assert {(frame.width, frame.height) for frame in frames} == {VIDEO_SIZE}
    assert {(frame.width, frame.height) for frame in _frames(out, 2)} == {VIDEO_SIZE}

    times = _first_and_last_seconds(out)
    camera, sound, screen = times[0], times[1], times[2]
    assert camera[0] < ALLOWED_DRIFT
    assert sound[0] < ALLOWED_DRIFT
    assert samples.screen_after <= screen[0] + 0.05 < samples.screen_after + ALLOWED_DRIFT
    for first, last in times.values():
        assert samples.stopped_after - ALLOWED_DRIFT < last < samples.stopped_after + ALLOWED_DRIFT
        assert first < last

    # The camera's two pieces are one track, with the gap between them where it was.
    camera_times = [float(frame.time or 0) for frame in frames]
    gaps = [(b - a, b) for a, b in itertools.pairwise(camera_times)]
    longest, resumed = max(gaps)
    assert longest > 0.3
    assert samples.camera_again_after <= resumed + 0.05
    assert resumed < samples.camera_again_after + ALLOWED_DRIFT


@pytest.mark.media
def test_video_frames_before_a_pieces_first_keyframe_are_left_out(
    samples: Samples, folder: Path, tmp_path: Path
) -> None:
    # As Janus writes it when a few frames arrive before the keyframe it asked for: the first
    # piece's frames after its keyframe, then the second piece (same stream, later, a keyframe).
    header, first_piece = mjr_packets(folder / "staff-7-camera-1-video-1.mjr")
    _, second_piece = mjr_packets(folder / "staff-7-camera-2-video-1.mjr")
    for old in folder.iterdir():
        old.unlink()
    spliced = folder / "staff-7-camera-1-video-1.mjr"
    # Three frames that are not keyframes (which of the first few are depends on the recording).
    between = [packet for packet in first_piece if not vp8_keyframe(packet[10:])][:3]
    assert len(between) == 3
    assert any(vp8_keyframe(packet[10:]) for packet in second_piece)  # the reader sees them
    spliced.write_bytes(header + renumbered(between + second_piece))
    converted = tmp_path / "converted.webm"
    subprocess.run(["janus-pp-rec", spliced, converted], check=True, capture_output=True)
    with av.open(str(converted)) as container:
        written = [
            (float(packet.pts * packet.time_base), packet.is_keyframe)
            for packet in container.demux(video=0)
            if packet.pts is not None and packet.time_base is not None
        ]
    first_key = next(index for index, (_, key) in enumerate(written) if key)
    assert first_key >= 3  # the case this test is about: frames before the first keyframe
    first_written = json.loads(header[10:])["u"] / 1_000_000
    out = tmp_path / "lesson-1-recording-1.webm"

    make_recording(folder, out, started_at=samples.started_at, titles=TITLES)

    with av.open(str(out)) as container:
        assert next(container.demux(video=0)).is_keyframe
    frames = list(_frames(out, 0))  # decodes without an error
    assert len(frames) == len(written) - first_key
    # The keyframe kept its place on the timeline: time still counts from the first packet.
    expected = first_written - samples.started_at.timestamp() + written[first_key][0]
    assert float(frames[0].time or 0) == pytest.approx(expected, abs=0.002)


def vp8_keyframe(rtp: bytes) -> bool:
    """Whether an RTP packet starts a VP8 keyframe (RFC 7741: the payload descriptor, then the
    payload header, whose lowest bit is 0 for a keyframe)."""
    at = 12 + 4 * (rtp[0] & 0x0F)
    if rtp[0] & 0x10:  # a header extension
        at += 4 + 4 * int.from_bytes(rtp[at + 2 : at + 4], "big")
    descriptor = rtp[at]
    start = bool(descriptor & 0x10) and descriptor & 0x07 == 0
    at += 1
    if descriptor & 0x80:  # extended control bits
        extended = rtp[at]
        at += 1
        if extended & 0x80:  # picture id, one or two bytes
            at += 2 if rtp[at] & 0x80 else 1
        if extended & 0x40:  # TL0PICIDX
            at += 1
        if extended & 0x30:  # TID/KEYIDX
            at += 1
    return start and rtp[at] & 0x01 == 0


@pytest.mark.media
def test_a_file_never_opens_on_more_than_five_minutes_of_nothing(
    samples: Samples, folder: Path, tmp_path: Path
) -> None:
    # A start a day before anything was written (a clock that is wrong, say): the file opens
    # five minutes before the first thing recorded, not a day.
    out = tmp_path / "lesson-1-recording-1.webm"
    long_before = samples.started_at - timedelta(days=1)

    made = make_recording(folder, out, started_at=long_before, titles=TITLES)

    lead = LONGEST_LEAD_US / 1_000_000
    assert lead == 300
    assert lead + samples.stopped_after - ALLOWED_DRIFT < made.duration_seconds
    assert made.duration_seconds < lead + samples.stopped_after + ALLOWED_DRIFT


@pytest.mark.media
def test_staff_lead_the_file_even_when_a_pupil_was_recorded_first(
    samples: Samples, folder: Path, tmp_path: Path
) -> None:
    # The teacher's first camera piece becomes pupil 12's camera: it starts before the rest.
    for source in folder.glob("staff-7-camera-1-*.mjr"):
        source.rename(folder / source.name.replace("staff-7-", "pupil-12-"))
    out = tmp_path / "lesson-1-recording-1.webm"

    made = make_recording(folder, out, started_at=samples.started_at, titles=TITLES)

    assert made.tracks == (
        "Ms Rivers: camera",
        MIXED_TITLE,  # two people's sound: the teacher's and the pupil's
        "Ms Rivers: sound",
        "Ms Rivers: screen",
        "Pupil 12: camera",  # not in `titles`: a neutral title
        "Pupil 12: sound",
    )
    assert [title for _, title in _streams(out)] == list(made.tracks)
    times = _first_and_last_seconds(out)
    assert times[4][0] < ALLOWED_DRIFT  # the pupil's camera kept its place on the timeline
    assert samples.camera_again_after <= times[0][0] + 0.05


@pytest.mark.media
def test_unusable_files_beside_good_ones_are_left_out_and_logged(
    samples: Samples, folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audio = (folder / "staff-7-camera-1-audio-0.mjr").read_bytes()
    header_end = 10 + int.from_bytes(audio[8:10], "big")  # "MJR00002", length, JSON
    unusable = {
        "staff-3-camera-1-video-1.mjr": b"",  # Janus made the file, then nothing came
        "staff-3-camera-1-audio-0.mjr": audio[:header_end],  # a header, no packets
        "pupil-4-camera-1-video-1.mjr": b"MJR00002" + bytes(range(200)),  # garbage
        "guest-2-screen-1-video-0.mjr": audio,  # says video, holds sound
    }
    for name, content in unusable.items():
        (folder / name).write_bytes(content)
    out = tmp_path / "lesson-1-recording-1.webm"

    with caplog.at_level(logging.WARNING, logger=recording_files.__name__):
        made = make_recording(folder, out, started_at=samples.started_at, titles=TITLES)

    assert made.tracks == ("Ms Rivers: camera", "Ms Rivers: sound", "Ms Rivers: screen")
    assert len(_streams(out)) == 3
    assert made.left_out == len(unusable)  # counted, so the lesson's page can say so
    for name in unusable:
        assert any(
            name in record.getMessage() and record.levelno == logging.WARNING
            for record in caplog.records
        ), name


@pytest.mark.media
def test_only_unusable_files_raise_nothing_was_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "staff-3-camera-1-video-1.mjr").write_bytes(b"")
    out = tmp_path / "lesson-1-recording-1.webm"

    with pytest.raises(RecordingConversionError, match=r"^Nothing was recorded\.$"):
        make_recording(folder, out, started_at=STARTED, titles=TITLES)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]


@pytest.mark.media
def test_a_failure_while_writing_leaves_no_half_written_file(
    samples: Samples, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "lesson-1-recording-1.webm"
    out.write_bytes(b"an earlier file")
    real_demux = recording_files._demux_from_zero

    def demux_then_fail(*arguments: Any) -> Iterator[Any]:
        for count, packet in enumerate(real_demux(*arguments)):
            if count == 10:
                raise OSError(28, "No space left on device")
            yield packet

    monkeypatch.setattr(recording_files, "_demux_from_zero", demux_then_fail)

    with pytest.raises(RecordingConversionError, match="could not be put together"):
        make_recording(folder, out, started_at=samples.started_at, titles=TITLES)

    assert out.read_bytes() == b"an earlier file"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lesson-1-recording-1.webm", "raw"]


# --- Two people speaking: the mixed track ---------------------------------------------------------

TWO_TITLES = {TEACHER: "Ms Rivers", SECOND_TEACHER: "Mr Khan"}
HEARD = 0.04  # a tone's amplitude (full scale 1) in the mix: each is about 0.085 there
NOT_HEARD = 0.005


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory: pytest.TempPathFactory) -> TwoSpeakers:
    where = tmp_path_factory.mktemp("two-speakers")
    return asyncio.run(record_two_speakers(where / "raw", where / "janus"))


def _sound_seconds(path: Path, index: int) -> list[float]:
    """When each packet of a sound track starts, in seconds."""
    with av.open(str(path)) as container:
        return [
            float(packet.pts * packet.time_base)
            for packet in container.demux(container.streams[index])
            if packet.pts is not None and packet.time_base is not None
        ]


def _decoded_sound(path: Path, index: int) -> tuple[array.array[float], list[tuple[float, float]]]:
    """A sound track decoded as mono 48 kHz samples, and each decoded frame's (start, end)."""
    samples: array.array[float] = array.array("f")
    frames: list[tuple[float, float]] = []
    to_mono = AudioResampler(format="flt", layout="mono", rate=48_000)
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams[index]):
            assert isinstance(frame, av.AudioFrame)
            start = float(frame.time or 0)
            frames.append((start, start + frame.samples / frame.sample_rate))
            for mono in to_mono.resample(frame):
                samples.frombytes(bytes(mono.planes[0])[: mono.samples * 4])
    return samples, frames


def _tone_level(samples: Sequence[float], frequency: int, rate: int = 48_000) -> float:
    """The amplitude of one frequency in `samples` (the Goertzel algorithm)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before_previous = 0.0
    for sample in samples:
        previous, before_previous = sample + coefficient * previous - before_previous, previous
    power = previous**2 + before_previous**2 - coefficient * previous * before_previous
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


@pytest.mark.media
def test_two_speakers_are_mixed_into_a_first_sound_track_that_everyone_hears(
    two_speakers: TwoSpeakers, tmp_path: Path
) -> None:
    folder = tmp_path / "raw"
    shutil.copytree(two_speakers.folder, folder)
    out = tmp_path / "lesson-1-recording-1.webm"

    made = make_recording(folder, out, started_at=two_speakers.started_at, titles=TWO_TITLES)

    expected = [
        ("video", "Ms Rivers: camera"),
        ("audio", MIXED_TITLE),  # the first sound track: the one a browser plays
        ("audio", "Ms Rivers: sound"),
        ("audio", "Mr Khan: sound"),
    ]
    assert _streams(out) == expected
    assert made.tracks == tuple(title for _, title in expected)
    with av.open(str(out)) as container:
        defaults = [
            bool(stream.disposition & av.stream.Disposition.default)
            for stream in container.streams.audio
        ]
    assert defaults == [True, False, False]
    # Each person's own sound is still copied exactly as Janus recorded it.
    assert _track_packets(out, 2) == _converted_packets(
        sorted(folder.glob("staff-7-camera-*-audio-*.mjr")), tmp_path
    )
    assert _track_packets(out, 3) == _converted_packets(
        sorted(folder.glob("staff-8-camera-*-audio-*.mjr")), tmp_path
    )

    # When each spoke, from their own tracks in the same file.
    teacher = _sound_seconds(out, 2)
    second = _sound_seconds(out, 3)
    gap, second_again = max((b - a, b) for a, b in itertools.pairwise(second))
    assert gap > 0.4  # the second microphone's two pieces
    second_off = second_again - gap
    assert second[0] > teacher[0] + 0.5
    assert second_again < teacher[-1] < second[-1] - 0.5

    # The mix decodes without a break from the start to the end of the last sound.
    mixed, frames = _decoded_sound(out, 1)
    assert frames[0][0] == pytest.approx(0.0, abs=0.001)
    for (_, end), (start, _) in itertools.pairwise(frames):
        assert start == pytest.approx(end, abs=0.001)
    assert frames[-1][1] == pytest.approx(max(teacher[-1], second[-1]) + 0.02, abs=0.03)
    assert len(mixed) / 48_000 == pytest.approx(frames[-1][1], abs=0.01)

    def levels(start: float, end: float) -> tuple[float, float]:
        """Both tones' levels in the middle of `start` to `end` (seconds), away from the edges."""
        middle = (start + end) / 2
        window = mixed[round((middle - 0.1) * 48_000) : round((middle + 0.1) * 48_000)]
        return (
            _tone_level(window, TEACHER_TONE_HZ),
            _tone_level(window, SECOND_TEACHER_TONE_HZ),
        )

    # (the teacher's tone heard, the second's heard) in each stretch: silence where one was not on
    heard = {
        "the teacher alone": ((True, False), levels(teacher[0], second[0])),
        "both": ((True, True), levels(second[0], second_off)),
        "the teacher, the second microphone off": ((True, False), levels(second_off, second_again)),
        "both again": ((True, True), levels(second_again, teacher[-1])),
        "the second alone": ((False, True), levels(teacher[-1], second[-1])),
    }
    for when, (expected_heard, found) in heard.items():
        assert tuple(level > HEARD for level in found) == expected_heard, (when, found)
        assert all(level < NOT_HEARD for level in found if level <= HEARD), (when, found)


@pytest.mark.media
def test_the_same_person_on_two_devices_at_once_gets_a_track_for_each(
    samples: Samples, folder: Path, tmp_path: Path
) -> None:
    # The teacher's first camera piece again, as from a second device at the same time.
    for source in folder.glob("staff-7-camera-1-*.mjr"):
        shutil.copy(source, folder / source.name.replace("-camera-1-", "-camera-9-"))
    out = tmp_path / "lesson-1-recording-1.webm"

    made = make_recording(folder, out, started_at=samples.started_at, titles=TITLES)

    assert "Ms Rivers (device 2): camera" in made.tracks
    assert "Ms Rivers (device 2): sound" in made.tracks
    assert "Ms Rivers: camera" in made.tracks
    # The second device's pictures start where they were recorded, not after the first's.
    index = [title for _, title in _streams(out)].index("Ms Rivers (device 2): camera")
    first_picture = next(iter(_frames(out, index)))
    assert float(first_picture.time or 0) < ALLOWED_DRIFT
