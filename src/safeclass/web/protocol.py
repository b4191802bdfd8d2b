"""The lesson's signalling protocol, version 1: every message a client may send, checked field by
field. Wire names live here and only here; `docs/protocol.md` shows each message with an example.

A message is one JSON object with `"v": 1` and a `"type"`. Anything else (not JSON, too big, an
unknown type, a missing or extra field, a field of the wrong kind) is answered with a typed error
and changes nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from safeclass.domain.lesson import commands as c
from safeclass.domain.lesson.model import ChatTo
from safeclass.media.sdp import MAX_SDP_BYTES, MAX_WATCH_SDP_BYTES

VERSION = 1
# A session description may be up to 32 KiB (media/sdp.py); the rest of a message is small.
# The largest message is an answer to an offer to watch a whole class (media/sdp.py); every
# other message is far smaller, and each field has its own limit below.
MAX_MESSAGE_BYTES = MAX_WATCH_SDP_BYTES + 8 * 1024
MAX_SDP_CHARS = MAX_SDP_BYTES
MAX_CHAT_CHARS = 2000  # the engine's own limit is lower and comes with kinder words

ParticipantId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    v: Literal[1]


class Rejoin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    pid: ParticipantId
    token: Annotated[str, Field(min_length=1, max_length=128)]


class JoinMessage(_Message):
    """The first message on a connection. Staff are known by their signed-in session; pupils and
    guests by the token of their personal link."""

    type: Literal["join"]
    token: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    reminder_accepted: bool = False
    parent_present: bool = False
    rejoin: Rejoin | None = None


class PingMessage(_Message):
    type: Literal["ping"]


class _Plain(_Message):
    """A command with no arguments beyond its type."""


class _AtSomeone(_Message):
    target: ParticipantId


class AdmitMessage(_AtSomeone):
    type: Literal["admit"]


class DenyMessage(_AtSomeone):
    type: Literal["deny"]


class MuteMessage(_AtSomeone):
    type: Literal["mute"]


class AllowMicMessage(_AtSomeone):
    type: Literal["allow_mic"]


class StopCameraMessage(_AtSomeone):
    type: Literal["stop_camera"]


class AllowCameraMessage(_AtSomeone):
    type: Literal["allow_camera"]


class LowerHandMessage(_AtSomeone):
    type: Literal["lower_hand"]


class GrantShareMessage(_AtSomeone):
    type: Literal["grant_share"]


class RevokeShareMessage(_AtSomeone):
    type: Literal["revoke_share"]


class RemoveMessage(_AtSomeone):
    type: Literal["remove"]
    reason: Annotated[str, Field(max_length=500)] = ""


class AdmitNextMessage(_Plain):
    type: Literal["admit_next"]


class AdmitAllMessage(_Plain):
    type: Literal["admit_all"]


class LockMessage(_Plain):
    type: Literal["lock"]


class UnlockMessage(_Plain):
    type: Literal["unlock"]


class MuteAllMessage(_Plain):
    type: Literal["mute_all"]


class RaiseHandMessage(_Plain):
    type: Literal["raise_hand"]


class AskToSpeakMessage(_Plain):
    type: Literal["ask_to_speak"]


class StartShareMessage(_Plain):
    type: Literal["start_share"]


class StopShareMessage(_Plain):
    type: Literal["stop_share"]


class SuspendMessage(_Plain):
    type: Literal["suspend"]


class ResumeMessage(_Plain):
    type: Literal["resume"]


class PauseChatMessage(_Plain):
    type: Literal["pause_chat"]


class ResumeChatMessage(_Plain):
    type: Literal["resume_chat"]


class StartRecordingMessage(_Plain):
    type: Literal["start_recording"]


class StopRecordingMessage(_Plain):
    type: Literal["stop_recording"]


class EndLessonMessage(_Plain):
    type: Literal["end_lesson"]


class LeaveMessage(_Plain):
    type: Literal["leave"]


class SetMicMessage(_Message):
    type: Literal["set_mic"]
    on: bool


class SetCameraMessage(_Message):
    type: Literal["set_camera"]
    on: bool


class ChatMessage(_Message):
    type: Literal["chat"]
    to: Literal["class", "staff"]
    text: Annotated[str, Field(max_length=MAX_CHAT_CHARS)]


# --- Media signalling: relayed to the SFU after SafeClass's own checks (safeclass.media) ----------

SessionDescriptionText = Annotated[str, Field(min_length=1, max_length=MAX_SDP_CHARS)]


class PublishMessage(_Message):
    """An offer to send: `camera` (microphone and camera) or `screen` (a screen share)."""

    type: Literal["publish"]
    purpose: Literal["camera", "screen"]
    sdp: SessionDescriptionText


class UnpublishMessage(_Message):
    type: Literal["unpublish"]
    purpose: Literal["camera", "screen"]


class WatchAnswerMessage(_Message):
    """The answer to the server's `watch_offer` of other people's streams. It may be larger than
    an offer to send; the relay holds it to the size of the offer it answers."""

    type: Literal["watch_answer"]
    sdp: Annotated[str, Field(min_length=1, max_length=MAX_WATCH_SDP_BYTES)]


class TrickleMessage(_Message):
    """One ICE candidate (checked in media/sdp.py), for a publication or for watching."""

    type: Literal["trickle"]
    target: Literal["camera", "screen", "watch"]
    candidate: dict[str, str | int | bool | None]


MediaMessage: TypeAlias = PublishMessage | UnpublishMessage | WatchAnswerMessage | TrickleMessage

CommandMessage: TypeAlias = (
    AdmitMessage
    | DenyMessage
    | MuteMessage
    | AllowMicMessage
    | StopCameraMessage
    | AllowCameraMessage
    | LowerHandMessage
    | GrantShareMessage
    | RevokeShareMessage
    | RemoveMessage
    | AdmitNextMessage
    | AdmitAllMessage
    | LockMessage
    | UnlockMessage
    | MuteAllMessage
    | RaiseHandMessage
    | AskToSpeakMessage
    | StartShareMessage
    | StopShareMessage
    | SuspendMessage
    | ResumeMessage
    | PauseChatMessage
    | ResumeChatMessage
    | StartRecordingMessage
    | StopRecordingMessage
    | EndLessonMessage
    | LeaveMessage
    | SetMicMessage
    | SetCameraMessage
    | ChatMessage
)
ClientMessage: TypeAlias = JoinMessage | PingMessage | CommandMessage | MediaMessage

_CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(
    Annotated[ClientMessage, Field(discriminator="type")]
)


def _wire_type(model: type[BaseModel]) -> str:
    wire_type: str = get_args(model.model_fields["type"].annotation)[0]
    return wire_type


MESSAGE_TYPES = frozenset(
    _wire_type(model)
    for model in (JoinMessage, PingMessage, *CommandMessage.__args__, *MediaMessage.__args__)
)

_TARGETED: dict[type[_AtSomeone], type[c.Targeted]] = {
    AdmitMessage: c.Admit,
    DenyMessage: c.Deny,
    MuteMessage: c.MuteMic,
    AllowMicMessage: c.AllowMic,
    StopCameraMessage: c.StopCamera,
    AllowCameraMessage: c.AllowCamera,
    LowerHandMessage: c.LowerHand,
    GrantShareMessage: c.GrantScreenShare,
    RevokeShareMessage: c.RevokeScreenShare,
}
_PLAIN: dict[type[_Plain], type[c.Acting]] = {
    AdmitNextMessage: c.AdmitNext,
    AdmitAllMessage: c.AdmitAll,
    LockMessage: c.Lock,
    UnlockMessage: c.Unlock,
    MuteAllMessage: c.MuteAll,
    RaiseHandMessage: c.RaiseHand,
    AskToSpeakMessage: c.AskToSpeak,
    StartShareMessage: c.StartScreenShare,
    StopShareMessage: c.StopScreenShare,
    SuspendMessage: c.Suspend,
    ResumeMessage: c.Resume,
    PauseChatMessage: c.PauseChat,
    ResumeChatMessage: c.ResumeChat,
    StartRecordingMessage: c.StartRecording,
    StopRecordingMessage: c.StopRecording,
    EndLessonMessage: c.EndLesson,
    LeaveMessage: c.Leave,
}


# The engine names a refused command by its class; clients know it by its wire name.
WIRE_NAMES: dict[str, str] = {
    **{command.__name__: _wire_type(model) for model, command in _TARGETED.items()},
    **{command.__name__: _wire_type(model) for model, command in _PLAIN.items()},
    "Remove": "remove",
    "SetMic": "set_mic",
    "SetCamera": "set_camera",
    "SendChat": "chat",
    "Join": "join",
}


class ProtocolError(Exception):
    """A message we cannot act on. `code` is for programs, `message` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(text: str) -> ClientMessage:
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_big", f"Messages can be at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ProtocolError("not_json", "That message is not JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "A message must be a JSON object.")
    if data.get("v") != VERSION:
        raise ProtocolError("unsupported_version", f"This server speaks version {VERSION}.")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError("unknown_type", "SafeClass does not know that kind of message.")
    try:
        return _CLIENT_MESSAGE.validate_python(data)
    except ValidationError as error:
        fields = sorted({".".join(str(part) for part in e["loc"][1:]) for e in error.errors()})
        raise ProtocolError(
            "bad_message", f"That {kind} message has a problem with: {', '.join(fields)}."
        ) from None


def to_command(message: CommandMessage, actor: str) -> c.Acting:
    """The engine's command for a checked message, acting as the connection's own participant."""
    if isinstance(message, _AtSomeone):
        if isinstance(message, RemoveMessage):
            return c.Remove(actor=actor, target=message.target, reason=message.reason)
        return _TARGETED[type(message)](actor=actor, target=message.target)
    if isinstance(message, SetMicMessage):
        return c.SetMic(actor=actor, on=message.on)
    if isinstance(message, SetCameraMessage):
        return c.SetCamera(actor=actor, on=message.on)
    if isinstance(message, ChatMessage):
        return c.SendChat(actor=actor, to=ChatTo(message.to), text=message.text)
    return _PLAIN[type(message)](actor=actor)
