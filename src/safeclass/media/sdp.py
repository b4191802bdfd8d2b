"""Checks on the session descriptions (SDP) and ICE candidates that browsers send, before any of it
reaches Janus.

Janus would accept an offer with ten video sections or a data channel; SafeClass decides what each
person may publish, so an offer is read here first and refused unless its shape is one the lesson
allows: a camera publication carries at most one microphone and one camera, a screen share is one
video section and nothing else, and an answer to a subscription sends nothing back. Only the
structure is read (lines, media sections, directions, mids): codecs, ICE and DTLS are Janus's job.
Anything that is not plainly well-formed is refused with a reason, never guessed at.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

MAX_SDP_BYTES = 32 * 1024  # an offer to send: a few sections at most
MAX_LINE_LENGTH = 2048
MAX_SECTIONS = 4  # what one participant may offer to send
# What one participant may be offered to watch: every other participant's microphone, the staff's
# cameras and a screen share, for a full class.
MAX_WATCHED_SECTIONS = 128
# An answer to an offer to watch grows with the streams offered (a browser writes about 600 to
# 900 bytes a section): a teacher watching a class of 30, each with a microphone and a camera,
# answers for some 60 sections.
SDP_BYTES_PER_WATCHED_SECTION = 2048
MAX_WATCH_SDP_BYTES = MAX_SDP_BYTES + MAX_WATCHED_SECTIONS * SDP_BYTES_PER_WATCHED_SECTION
# Janus's own offers are not a client's input; the bound only stops a runaway.
MAX_JANUS_SDP_BYTES = 1024 * 1024
MAX_CANDIDATE_LENGTH = 512
MAX_MID_LENGTH = 32

_LINE = re.compile(r"[a-z]=[\x20-\x7e]*")
_MEDIA_LINE = re.compile(
    r"m=(audio|video|application) (\d{1,5})(?:/\d{1,3})? ([A-Za-z0-9/]+)( .+)?"
)
_MID = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


class Purpose(enum.StrEnum):
    """What a session description is for, which decides the shapes allowed."""

    CAMERA = "camera"  # a participant's own microphone and camera
    SCREEN = "screen"  # a screen share: its own publication, under a standing grant
    SUBSCRIPTION_ANSWER = "subscription_answer"  # the answer to Janus's offer of others' streams


class SdpRefusal(enum.StrEnum):
    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    TOO_MANY_SECTIONS = "too_many_sections"
    NOTHING_TO_SEND = "nothing_to_send"
    SECOND_MICROPHONE = "second_microphone"
    SECOND_VIDEO = "second_video"
    DATA_CHANNEL = "data_channel"
    SCREEN_SHAPE = "screen_shape"
    SENDS_IN_ANSWER = "sends_in_answer"
    SECTIONS_DO_NOT_MATCH = "sections_do_not_match"


class SdpRefusedError(ValueError):
    """The description was refused; `reason` says why, for the log and the client."""

    def __init__(self, reason: SdpRefusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MediaSection:
    kind: str  # audio, video or application
    port: int  # 0: the section is rejected (a stopped transceiver) and carries nothing
    direction: str
    mid: str | None

    @property
    def live(self) -> bool:
        return self.port != 0 and self.direction != "inactive"

    @property
    def sends(self) -> bool:
        return self.live and self.direction in ("sendrecv", "sendonly")


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """An SDP that passed the checks: the text to hand to Janus, and its media sections."""

    text: str
    sections: tuple[MediaSection, ...]


def parse(
    text: object, *, max_sections: int = MAX_SECTIONS, max_bytes: int = MAX_SDP_BYTES
) -> SessionDescription:
    """The media sections of a well-formed SDP, or SdpRefusedError. Only printable ASCII is
    accepted: browsers write nothing else, and the rest has no business here."""
    if not isinstance(text, str):
        raise SdpRefusedError(SdpRefusal.MALFORMED, "A session description must be text.")
    if len(text) > max_bytes:
        raise SdpRefusedError(
            SdpRefusal.TOO_LARGE, f"A session description may be at most {max_bytes} bytes."
        )
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise SdpRefusedError(SdpRefusal.MALFORMED, 'A session description starts with "v=0".')
    session_direction = "sendrecv"
    sections: list[MediaSection] = []
    current: dict[str, Any] | None = None
    seen_origin = False
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_LENGTH or not _LINE.fullmatch(line):
            raise SdpRefusedError(SdpRefusal.MALFORMED, f"Line {number} is not a valid SDP line.")
        if line.startswith("o="):
            seen_origin = True
        elif line.startswith("m="):
            if current is not None:
                sections.append(_section(current))
            if len(sections) >= max_sections:
                raise SdpRefusedError(
                    SdpRefusal.TOO_MANY_SECTIONS,
                    f"A session description may hold at most {max_sections} media sections.",
                )
            current = _media_line(line, number, session_direction)
        elif line.startswith("a="):
            attribute = line[2:]
            if attribute in _DIRECTIONS:
                if current is None:
                    session_direction = attribute
                else:
                    current["direction"] = attribute
            elif attribute.startswith("mid:") and current is not None:
                mid = attribute[4:]
                if not _MID.fullmatch(mid):
                    raise SdpRefusedError(SdpRefusal.MALFORMED, f"Line {number}: a bad mid.")
                current["mid"] = mid
    if current is not None:
        sections.append(_section(current))
    if not seen_origin:
        raise SdpRefusedError(SdpRefusal.MALFORMED, 'A session description needs an "o=" line.')
    return SessionDescription("\r\n".join(lines) + "\r\n", tuple(sections))


def check_offer(text: object, purpose: Purpose) -> SessionDescription:
    """An offer to publish, checked against what this kind of publication may carry."""
    description = parse(text)
    live = [section for section in description.sections if section.live]
    if any(section.kind == "application" for section in live):
        raise SdpRefusedError(SdpRefusal.DATA_CHANNEL, "Data channels are not used in lessons.")
    audio = sum(1 for section in live if section.kind == "audio")
    video = sum(1 for section in live if section.kind == "video")
    if purpose is Purpose.SCREEN:
        if audio != 0 or video != 1:
            raise SdpRefusedError(
                SdpRefusal.SCREEN_SHAPE, "A screen share is one video stream and nothing else."
            )
    elif purpose is Purpose.CAMERA:
        if audio > 1:
            raise SdpRefusedError(SdpRefusal.SECOND_MICROPHONE, "Only one microphone at a time.")
        if video > 1:
            raise SdpRefusedError(SdpRefusal.SECOND_VIDEO, "Only one camera at a time.")
    else:
        raise SdpRefusedError(SdpRefusal.MALFORMED, f'An offer cannot be for "{purpose}".')
    if not any(section.sends for section in live):
        raise SdpRefusedError(SdpRefusal.NOTHING_TO_SEND, "The offer sends nothing.")
    return description


def check_answer(text: object, offered: SessionDescription) -> SessionDescription:
    """A participant's answer to Janus's offer of other people's streams: the same sections, in
    the same order, and nothing sent back through them. Its size may grow with the sections
    offered, and no further."""
    max_bytes = MAX_SDP_BYTES + len(offered.sections) * SDP_BYTES_PER_WATCHED_SECTION
    description = parse(text, max_sections=MAX_WATCHED_SECTIONS, max_bytes=max_bytes)
    if [section.kind for section in description.sections] != [
        section.kind for section in offered.sections
    ]:
        raise SdpRefusedError(
            SdpRefusal.SECTIONS_DO_NOT_MATCH, "The answer does not match the streams offered."
        )
    if any(section.sends for section in description.sections):
        raise SdpRefusedError(
            SdpRefusal.SENDS_IN_ANSWER, "Watching others' streams cannot send anything back."
        )
    return description


def check_candidate(candidate: object) -> dict[str, Any]:
    """One trickled ICE candidate, in the browser's RTCIceCandidateInit shape, or the end of
    candidates ({"completed": true}); returned as the dict to send to Janus."""
    if not isinstance(candidate, dict):
        raise SdpRefusedError(SdpRefusal.MALFORMED, "An ICE candidate must be an object.")
    if candidate == {"completed": True}:
        return {"completed": True}
    text = candidate.get("candidate")
    mid = candidate.get("sdpMid")
    index = candidate.get("sdpMLineIndex")
    if not isinstance(text, str) or len(text) > MAX_CANDIDATE_LENGTH:
        raise SdpRefusedError(SdpRefusal.MALFORMED, "An ICE candidate needs its candidate line.")
    if text and not (text.startswith("candidate:") and _LINE.fullmatch("a=" + text)):
        raise SdpRefusedError(SdpRefusal.MALFORMED, "That is not an ICE candidate line.")
    checked: dict[str, Any] = {"candidate": text}
    if mid is not None:
        if not isinstance(mid, str) or not _MID.fullmatch(mid):
            raise SdpRefusedError(SdpRefusal.MALFORMED, "An ICE candidate has a bad sdpMid.")
        checked["sdpMid"] = mid
    if index is not None:
        if type(index) is not int or not 0 <= index < MAX_WATCHED_SECTIONS:
            raise SdpRefusedError(SdpRefusal.MALFORMED, "An ICE candidate has a bad sdpMLineIndex.")
        checked["sdpMLineIndex"] = index
    if mid is None and index is None:
        raise SdpRefusedError(SdpRefusal.MALFORMED, "An ICE candidate must say which stream.")
    return checked


def _media_line(line: str, number: int, direction: str) -> dict[str, Any]:
    match = _MEDIA_LINE.fullmatch(line)
    if match is None:
        raise SdpRefusedError(SdpRefusal.MALFORMED, f"Line {number} is not a valid media line.")
    port = int(match.group(2))
    if port > 65535:
        raise SdpRefusedError(SdpRefusal.MALFORMED, f"Line {number} has a bad port.")
    return {"kind": match.group(1), "port": port, "direction": direction, "mid": None}


def _section(fields: dict[str, Any]) -> MediaSection:
    return MediaSection(
        kind=fields["kind"], port=fields["port"], direction=fields["direction"], mid=fields["mid"]
    )
