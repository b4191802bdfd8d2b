"""What the SFU must forward, and the changes between two states (safeclass.media.forwarding)."""

from __future__ import annotations

from safeclass.domain.lesson.commands import (
    AllowMic,
    Disconnect,
    MuteMic,
    Remove,
    Resume,
    SetCamera,
    SetMic,
    StopCamera,
    Suspend,
)
from safeclass.domain.lesson.media import MediaKind
from safeclass.domain.policy import PupilVideoVisibility
from safeclass.media.forwarding import Forwarding, changes, may_ever_receive
from tests.domain.test_lesson_engine import ELLA, Lesson, class_in_session

AUDIO, VIDEO = MediaKind.AUDIO, MediaKind.VIDEO


def on_air(lesson: Lesson, *pids: str) -> None:
    """Microphones and cameras on; pupils' microphones first allowed by the host (by default a
    pupil needs permission to speak)."""
    for pid in pids:
        if not lesson.p(pid).is_staff:
            lesson.do(AllowMic(actor="host", target=pid))
        lesson.do(SetMic(actor=pid, on=True))
        lesson.do(SetCamera(actor=pid, on=True))


def test_in_a_running_lesson_everyone_hears_everyone_and_pupils_see_only_staff() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy", "ben")
    forwarding = Forwarding.of(lesson.state)

    assert forwarding.in_room == {"host", "amy", "ben"}
    assert forwarding.published == {
        (pid, kind) for pid in ("host", "amy", "ben") for kind in (AUDIO, VIDEO)
    }
    assert ("amy", "host", VIDEO) in forwarding.received
    assert ("host", "amy", VIDEO) in forwarding.received
    assert ("ben", "amy", AUDIO) in forwarding.received
    assert ("ben", "amy", VIDEO) not in forwarding.received
    assert ("amy", "ben", VIDEO) not in forwarding.received


def test_pupils_never_hold_a_subscription_to_each_others_cameras_when_video_is_for_staff() -> None:
    lesson = class_in_session()
    amy, ben, host = (lesson.p(pid) for pid in ("amy", "ben", "host"))
    rules = lesson.state.rules
    assert rules.pupil_video is PupilVideoVisibility.STAFF_ONLY
    assert not may_ever_receive(rules, amy, ben, VIDEO)
    assert may_ever_receive(rules, amy, ben, AUDIO)
    assert may_ever_receive(rules, host, amy, VIDEO)
    assert may_ever_receive(rules, amy, host, VIDEO)
    assert not may_ever_receive(rules, amy, amy, AUDIO)

    everyone = class_in_session(pupil_video=PupilVideoVisibility.EVERYONE)
    assert may_ever_receive(everyone.state.rules, everyone.p("amy"), everyone.p("ben"), VIDEO)


def test_everything_received_is_something_that_may_ever_be_received() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy", "ben")
    for viewer, source, kind in Forwarding.of(lesson.state).received:
        assert may_ever_receive(lesson.state.rules, lesson.p(viewer), lesson.p(source), kind)


def test_a_staff_mute_silences_one_publication_and_nothing_else() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy", "ben")
    before = Forwarding.of(lesson.state)
    lesson.do(MuteMic(actor="host", target="amy"))
    change = changes(before, Forwarding.of(lesson.state))

    assert change.silence == {("amy", AUDIO)}
    assert change.pause == {("host", "amy", AUDIO), ("ben", "amy", AUDIO)}
    assert not change.hang_up
    assert not change.resume
    assert not change.unsilence


def test_stop_camera_silences_the_camera() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy")
    before = Forwarding.of(lesson.state)
    lesson.do(StopCamera(actor="host", target="amy"))
    assert changes(before, Forwarding.of(lesson.state)).silence == {("amy", VIDEO)}


def test_suspending_silences_every_pupil_and_resuming_brings_them_back() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy", "ben")
    running = Forwarding.of(lesson.state)
    lesson.do(Suspend(actor="host"))
    suspended = Forwarding.of(lesson.state)

    stop = changes(running, suspended)
    assert stop.silence == {(pid, kind) for pid in ("amy", "ben") for kind in (AUDIO, VIDEO)}
    assert all(
        viewer in ("amy", "ben") or source in ("amy", "ben") for viewer, source, _ in stop.pause
    )
    assert not any(viewer in ("amy", "ben") for viewer, _, _ in suspended.received)
    assert not stop.unsilence
    assert not stop.resume

    # Suspending also switched pupils' microphones and cameras off: resuming brings back what
    # they receive, and their own streams only when they switch them on again (with permission).
    lesson.do(Resume(actor="host"))
    restart = changes(suspended, Forwarding.of(lesson.state))
    assert restart.resume == {
        (pid, "host", kind) for pid in ("amy", "ben") for kind in (AUDIO, VIDEO)
    }
    assert not restart.unsilence
    on_air(lesson, "amy")
    assert changes(suspended, Forwarding.of(lesson.state)).unsilence == {
        ("amy", AUDIO),
        ("amy", VIDEO),
    }


def test_when_the_last_member_of_staff_goes_pupils_receive_and_send_nothing() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy", "ben")
    before = Forwarding.of(lesson.state)
    lesson.do(Disconnect(pid="host"))
    after = Forwarding.of(lesson.state)

    assert after.published == frozenset()
    assert after.received == frozenset()
    change = changes(before, after)
    assert "host" in change.hang_up
    assert change.silence == {(pid, kind) for pid in ("amy", "ben") for kind in (AUDIO, VIDEO)}


def test_one_to_one_holds_the_pupil() -> None:
    lesson = Lesson()
    lesson.staff_in()
    lesson.pupil_in(ELLA)
    on_air(lesson, "host", "ella")
    assert Forwarding.of(lesson.state).received == frozenset()
    assert Forwarding.of(lesson.state).published == {("host", AUDIO), ("host", VIDEO)}


def test_someone_removed_is_hung_up_whole() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy", "ben")
    before = Forwarding.of(lesson.state)
    lesson.do(Remove(actor="host", target="ben"))
    change = changes(before, Forwarding.of(lesson.state))

    assert change.hang_up == {"ben"}
    assert not any(pid == "ben" for pid, _ in change.silence)
    assert not any("ben" in (viewer, source) for viewer, source, _ in change.pause)


def test_no_change_is_empty() -> None:
    lesson = class_in_session()
    on_air(lesson, "host", "amy")
    forwarding = Forwarding.of(lesson.state)
    assert changes(forwarding, forwarding).empty
    assert not changes(Forwarding.nothing(), forwarding).empty
