"""The checks on browsers' session descriptions and ICE candidates (safeclass.media.sdp)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeclass.media.sdp import (
    MAX_JANUS_SDP_BYTES,
    MAX_SDP_BYTES,
    MAX_SECTIONS,
    SDP_BYTES_PER_WATCHED_SECTION,
    Purpose,
    SdpRefusal,
    SdpRefusedError,
    check_answer,
    check_candidate,
    check_offer,
    parse,
)

HEAD = [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS",
]
AUDIO = [
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:QvWd",
    "a=ice-pwd:p9lVY3m6Y0ZQz8Vx8pT3bD1x",
    "a=fingerprint:sha-256 3A:1F:0C:7B:22:AB:91:5E:63:10:8D:4C:77:9E:21:D0:45:6A:13:B2:"
    "C8:0F:E7:5D:99:31:A4:6B:08:F2:7C:1E",
    "a=setup:actpass",
    "a=mid:0",
    "a=sendonly",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
]
VIDEO = [
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 0.0.0.0",
    "a=mid:1",
    "a=sendonly",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:96 nack pli",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
]


def sdp(*sections: list[str]) -> str:
    return "\r\n".join(HEAD + [line for section in sections for line in section]) + "\r\n"


def with_mid(section: list[str], mid: str, direction: str = "sendonly") -> list[str]:
    changed = []
    for line in section:
        if line.startswith("a=mid:"):
            line = f"a=mid:{mid}"
        elif line in ("a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive"):
            line = f"a={direction}"
        changed.append(line)
    return changed


def refused(reason: SdpRefusal) -> pytest.RaisesExc[SdpRefusedError]:
    return pytest.raises(SdpRefusedError, check=lambda error: error.reason is reason)


def test_a_microphone_and_a_camera_may_be_published() -> None:
    description = check_offer(sdp(AUDIO, VIDEO), Purpose.CAMERA)
    assert [(s.kind, s.mid, s.direction) for s in description.sections] == [
        ("audio", "0", "sendonly"),
        ("video", "1", "sendonly"),
    ]
    assert description.text.endswith("\r\n")


def test_line_endings_are_made_crlf_for_janus() -> None:
    description = parse(sdp(AUDIO).replace("\r\n", "\n"))
    assert "\n" not in description.text.replace("\r\n", "")


def test_a_second_camera_is_refused() -> None:
    with refused(SdpRefusal.SECOND_VIDEO):
        check_offer(sdp(AUDIO, VIDEO, with_mid(VIDEO, "2")), Purpose.CAMERA)


def test_a_second_microphone_is_refused() -> None:
    with refused(SdpRefusal.SECOND_MICROPHONE):
        check_offer(sdp(AUDIO, with_mid(AUDIO, "1")), Purpose.CAMERA)


def test_a_stopped_section_does_not_count() -> None:
    stopped = [line.replace("m=video 9", "m=video 0") for line in with_mid(VIDEO, "2")]
    description = check_offer(sdp(AUDIO, VIDEO, stopped), Purpose.CAMERA)
    assert [section.live for section in description.sections] == [True, True, False]


def test_a_data_channel_is_refused() -> None:
    data = ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=mid:2", "a=sctp-port:5000"]
    with refused(SdpRefusal.DATA_CHANNEL):
        check_offer(sdp(AUDIO, data), Purpose.CAMERA)


def test_a_screen_share_is_one_video_and_nothing_else() -> None:
    assert len(check_offer(sdp(with_mid(VIDEO, "0")), Purpose.SCREEN).sections) == 1
    with refused(SdpRefusal.SCREEN_SHAPE):
        check_offer(sdp(AUDIO, VIDEO), Purpose.SCREEN)
    with refused(SdpRefusal.SCREEN_SHAPE):
        check_offer(sdp(AUDIO), Purpose.SCREEN)


def test_an_offer_that_sends_nothing_is_refused() -> None:
    with refused(SdpRefusal.NOTHING_TO_SEND):
        check_offer(sdp(with_mid(AUDIO, "0", "recvonly")), Purpose.CAMERA)


def test_the_session_level_direction_applies_to_sections_without_their_own() -> None:
    plain_audio = [line for line in AUDIO if line != "a=sendonly"]
    text = sdp(plain_audio).replace("a=extmap-allow-mixed", "a=recvonly")
    assert parse(text).sections[0].direction == "recvonly"


def test_too_many_sections_are_refused() -> None:
    sections = [with_mid(AUDIO, str(n), "inactive") for n in range(MAX_SECTIONS + 1)]
    with refused(SdpRefusal.TOO_MANY_SECTIONS):
        parse(sdp(*sections))


def test_a_huge_description_is_refused_before_it_is_read() -> None:
    with refused(SdpRefusal.TOO_LARGE):
        parse(sdp(AUDIO) + "a=x" * MAX_SDP_BYTES)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v=1\r\no=- 1 1 IN IP4 0.0.0.0\r\n",
        "o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n",
        "v=0\r\ns=-\r\n",  # no origin
        sdp(AUDIO).replace("s=-", "s=\x00"),
        sdp(AUDIO).replace("s=-", "s=caf\u00e9"),
        sdp(AUDIO).replace("a=setup:actpass", "not a line"),
        sdp(AUDIO).replace("m=audio 9", "m=audio 99999"),
        sdp(AUDIO).replace("m=audio 9", "m=text 9"),
        sdp(AUDIO).replace("a=mid:0", "a=mid:<script>"),
        sdp(AUDIO).replace("s=-", "s=" + "x" * 3000),
    ],
)
def test_malformed_descriptions_are_refused(text: str) -> None:
    with refused(SdpRefusal.MALFORMED):
        parse(text)


@pytest.mark.parametrize("value", [None, 7, b"v=0", ["v=0"], {"sdp": "v=0"}])
def test_a_description_must_be_text(value: object) -> None:
    with refused(SdpRefusal.MALFORMED):
        parse(value)


def test_an_answer_receives_and_matches_the_offer() -> None:
    offered = parse(sdp(with_mid(AUDIO, "0", "sendonly"), with_mid(VIDEO, "1", "sendonly")))
    answer = sdp(with_mid(AUDIO, "0", "recvonly"), with_mid(VIDEO, "1", "recvonly"))
    assert len(check_answer(answer, offered).sections) == 2


def test_an_answer_that_sends_is_refused() -> None:
    offered = parse(sdp(with_mid(AUDIO, "0"), with_mid(VIDEO, "1")))
    answer = sdp(with_mid(AUDIO, "0", "sendrecv"), with_mid(VIDEO, "1", "recvonly"))
    with refused(SdpRefusal.SENDS_IN_ANSWER):
        check_answer(answer, offered)


def test_an_answer_with_other_sections_is_refused() -> None:
    offered = parse(sdp(with_mid(AUDIO, "0"), with_mid(VIDEO, "1")))
    with refused(SdpRefusal.SECTIONS_DO_NOT_MATCH):
        check_answer(sdp(with_mid(VIDEO, "0", "recvonly")), offered)


def test_a_browser_candidate_passes() -> None:
    line = "candidate:842163049 1 udp 1677729535 10.77.0.2 50123 typ srflx raddr 0.0.0.0 rport 0"
    assert check_candidate({"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}) == {
        "candidate": line,
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    assert check_candidate({"completed": True}) == {"completed": True}


@pytest.mark.parametrize(
    "candidate",
    [
        "candidate:1 1 udp 1 10.0.0.1 1 typ host",
        {"candidate": "candidate:1 1 udp 1 10.0.0.1 1 typ host"},  # which stream?
        {"candidate": "hello", "sdpMid": "0"},
        {"candidate": "candidate:1\n1", "sdpMid": "0"},
        {"candidate": "candidate:" + "1" * 600, "sdpMid": "0"},
        {"candidate": "candidate:1 1 udp 1 10.0.0.1 1 typ host", "sdpMLineIndex": 128},
        {"candidate": "candidate:1 1 udp 1 10.0.0.1 1 typ host", "sdpMLineIndex": True},
        {"candidate": "candidate:1 1 udp 1 10.0.0.1 1 typ host", "sdpMid": 3},
        {"completed": False},
    ],
)
def test_malformed_candidates_are_refused(candidate: object) -> None:
    with refused(SdpRefusal.MALFORMED):
        check_candidate(candidate)


@given(st.text(max_size=400))
def test_any_text_is_either_read_or_refused_with_a_reason(text: str) -> None:
    try:
        description = parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n" + text)
    except SdpRefusedError as error:
        reason: SdpRefusal | None = error.reason
    else:
        reason = None
        assert len(description.sections) <= MAX_SECTIONS
    assert reason is None or reason in SdpRefusal


@given(
    st.dictionaries(
        st.sampled_from(["candidate", "sdpMid", "sdpMLineIndex", "completed", "other"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=40)),
    )
)
def test_any_candidate_object_is_either_accepted_or_refused_with_a_reason(
    candidate: dict[str, object],
) -> None:
    try:
        checked = check_candidate(candidate)
    except SdpRefusedError as error:
        reason: SdpRefusal | None = error.reason
    else:
        reason = None
        assert set(checked) <= {"candidate", "sdpMid", "sdpMLineIndex", "completed"}
    assert reason in (None, SdpRefusal.MALFORMED)


def _whole_class(direction: str, padding: int = 0) -> str:
    """Sixty sections, as a teacher is offered for a class of 30 each sending sound and video;
    `padding` bytes of harmless attribute lines in each, to reach a browser's size."""
    filler = [f"a=x-pad:{'p' * 100}"] * (padding // 110)
    sections = [
        with_mid(AUDIO if n % 2 == 0 else VIDEO, str(n), direction) + filler for n in range(60)
    ]
    return sdp(*sections)


def test_an_answer_for_a_whole_class_may_be_larger_than_an_offer_to_send() -> None:
    offer = _whole_class("sendonly", padding=900)
    offered = parse(offer, max_sections=256, max_bytes=MAX_JANUS_SDP_BYTES)
    answer = _whole_class("recvonly", padding=900)
    assert len(answer) > MAX_SDP_BYTES
    assert len(check_answer(answer, offered).sections) == 60


def test_an_answer_may_grow_with_the_sections_offered_and_no_further() -> None:
    offered = parse(sdp(with_mid(AUDIO, "0"), with_mid(VIDEO, "1")))
    limit = MAX_SDP_BYTES + 2 * SDP_BYTES_PER_WATCHED_SECTION
    answer = sdp(with_mid(AUDIO, "0", "recvonly"), with_mid(VIDEO, "1", "recvonly"))
    padded = answer + "a=x-pad:" + "p" * (limit - len(answer))
    with refused(SdpRefusal.TOO_LARGE):
        check_answer(padded, offered)
