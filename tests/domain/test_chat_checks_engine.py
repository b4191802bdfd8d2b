"""The chat checks in the lesson engine: by policy a pupil's message holding personal details or
bad language is stopped with a kind reminder, or let through; either way staff in the room are
alerted, and no other pupil ever hears of it. Messages to staff are never stopped, and staff's
own messages are not checked.

Lessons are driven through `decide` and `evolve` with the engine tests' `Lesson`, which checks
after every command that the log replays to the same state.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from safeclass.domain.chat_checks import ChatCheckKind, Finding
from safeclass.domain.decisions import ReasonCode
from safeclass.domain.lesson.codec import event_from_json, event_to_json
from safeclass.domain.lesson.commands import Leave, PauseChat, SendChat
from safeclass.domain.lesson.events import AnyEvent, ChatFlagged, ChatSent, LessonPrepared
from safeclass.domain.lesson.media import chat_recipients
from safeclass.domain.lesson.model import ChatTo, LessonRules
from safeclass.domain.lesson.view import chat_flag_messages, view_for
from safeclass.domain.policy import ChatCheckAction, TrustPolicy, resolve
from tests.domain.test_lesson_engine import (
    ASSISTANT,
    T0,
    VISITOR,
    Lesson,
    class_in_session,
    types,
)

BLOCK = ChatCheckAction.BLOCK
WARN = ChatCheckAction.WARN
PHONE_MESSAGE = "ring me 07700 900123"


def send(lesson: Lesson, pid: str, text: str, to: ChatTo = ChatTo.CLASS) -> list[AnyEvent]:
    return lesson.do(SendChat(actor=pid, to=to, text=text))


def flag_of(events: list[AnyEvent]) -> ChatFlagged:
    (flagged,) = [event for event in events if isinstance(event, ChatFlagged)]
    return flagged


def taught_with_assistant(**rules: Any) -> Lesson:
    """The host and an assistant teaching Amy and Ben."""
    lesson = class_in_session(**rules)
    lesson.staff_in(ASSISTANT)
    return lesson


def test_a_phone_number_is_stopped_with_a_kind_reminder_and_staff_are_alerted() -> None:
    lesson = taught_with_assistant()
    events = send(lesson, "amy", f"  {PHONE_MESSAGE}  ")
    assert types(events) == ["chat_flagged"]
    flagged = flag_of(events)
    assert flagged.blocked
    assert flagged.message_id is None
    assert flagged.text == PHONE_MESSAGE
    assert flagged.findings == (Finding(ChatCheckKind.PHONE_NUMBER, 8, 20),)
    assert flagged.kinds == (ChatCheckKind.PHONE_NUMBER,)
    assert (flagged.pid, flagged.display_name, flagged.to) == ("amy", "Amy Adams", ChatTo.CLASS)
    assert flagged.reminder is not None
    assert "a phone number" in flagged.reminder
    # The message never went out: it took no message number, and the next one is number 1.
    assert lesson.state.chat_count == 0
    (sent,) = send(lesson, "ben", "hello")
    assert isinstance(sent, ChatSent)
    assert sent.message_id == 1

    messages = chat_flag_messages(lesson.state, flagged)
    assert set(messages) == {"host", "assistant", "amy"}
    alert = messages["host"]
    assert alert == messages["assistant"]
    assert alert["type"] == "chat_alert"
    assert alert["alert"] == {
        "from": "amy",
        "name": "Amy Adams",
        "role": "pupil",
        "to": "class",
        "text": PHONE_MESSAGE,
        "kinds": ["phone_number"],
        "found": [{"kind": "phone_number", "start": 8, "end": 20}],
        "blocked": True,
        "message_id": None,
        "at": T0.isoformat(),
    }
    assert messages["amy"] == {
        "type": "chat_not_sent",
        "text": PHONE_MESSAGE,
        "kinds": ["phone_number"],
        "message": flagged.reminder,
    }


def test_warn_lets_the_message_through_and_alerts_staff_only() -> None:
    lesson = taught_with_assistant(chat_check_personal_info=WARN)
    events = send(lesson, "amy", PHONE_MESSAGE)
    assert types(events) == ["chat_sent", "chat_flagged"]
    sent, flagged = events
    assert isinstance(sent, ChatSent)
    assert isinstance(flagged, ChatFlagged)
    assert chat_recipients(lesson.state, sent) == {"host", "assistant", "amy", "ben"}
    assert not flagged.blocked
    assert flagged.message_id == sent.message_id == 1
    assert flagged.reminder is None
    # Staff are told which message it was; the pupil is not told anything more.
    messages = chat_flag_messages(lesson.state, flagged)
    assert set(messages) == {"host", "assistant"}
    assert messages["host"]["alert"]["message_id"] == 1


# Each row: the two policy settings, a message, and whether it is stopped.
POLICIES = [
    pytest.param(BLOCK, BLOCK, "hello everyone", None, id="a clean message just goes"),
    pytest.param(BLOCK, BLOCK, "this is shit", True, id="bad language, block"),
    pytest.param(BLOCK, WARN, "this is shit", False, id="bad language, warn"),
    pytest.param(WARN, BLOCK, "this is shit", True, id="bad language blocked, details warned"),
    pytest.param(WARN, BLOCK, PHONE_MESSAGE, False, id="details warned, bad language blocked"),
    pytest.param(BLOCK, WARN, "my email is amy99@gmail.com", True, id="email, block"),
    pytest.param(BLOCK, WARN, "i live at 12 acacia avenue", True, id="address, block"),
    pytest.param(BLOCK, WARN, "my postcode is ls6 2ab", True, id="postcode, block"),
    pytest.param(BLOCK, WARN, "my insta is amy.rose09", True, id="social media, block"),
    pytest.param(BLOCK, WARN, "go on www.poki.com", True, id="link, block"),
    pytest.param(WARN, WARN, f"shit {PHONE_MESSAGE}", False, id="both found, both warn"),
    pytest.param(WARN, BLOCK, f"shit {PHONE_MESSAGE}", True, id="both found, one blocks"),
    pytest.param(BLOCK, BLOCK, "07 + 11 = 18 page 107", None, id="a sum and a page pass"),
]


@pytest.mark.parametrize(("personal", "profanity", "text", "stopped"), POLICIES)
def test_what_happens_follows_the_policy_for_each_kind(
    personal: ChatCheckAction, profanity: ChatCheckAction, text: str, stopped: bool | None
) -> None:
    lesson = class_in_session(chat_check_personal_info=personal, chat_check_profanity=profanity)
    events = send(lesson, "ben", text)
    if stopped is None:
        assert types(events) == ["chat_sent"]
    elif stopped:
        assert types(events) == ["chat_flagged"]
    else:
        assert types(events) == ["chat_sent", "chat_flagged"]


def test_a_message_to_staff_is_never_stopped_but_staff_are_alerted() -> None:
    # A child telling staff about a worry, or repeating what someone said to them, must get
    # through, even when it holds words or details that would be stopped in the class chat.
    lesson = taught_with_assistant()
    text = f"a boy in year 6 keeps saying fuck off to me and gave me his number {PHONE_MESSAGE}"
    events = send(lesson, "amy", text, to=ChatTo.STAFF)
    assert types(events) == ["chat_sent", "chat_flagged"]
    sent, flagged = events
    assert isinstance(sent, ChatSent)
    assert isinstance(flagged, ChatFlagged)
    assert chat_recipients(lesson.state, sent) == {"host", "assistant", "amy"}
    assert not flagged.blocked
    assert flagged.kinds == (ChatCheckKind.PHONE_NUMBER, ChatCheckKind.PROFANITY)
    assert set(chat_flag_messages(lesson.state, flagged)) == {"host", "assistant"}


def test_staff_messages_are_not_checked() -> None:
    lesson = taught_with_assistant()
    text = "Ring the office on 0161 496 0123 or see www.oakwood.sch.uk/homework"
    assert types(send(lesson, "host", text)) == ["chat_sent"]
    assert types(
        send(lesson, "assistant", "Ben's mum's email is mum@example.co.uk", ChatTo.STAFF)
    ) == ["chat_sent"]


def test_guests_are_checked_like_pupils() -> None:
    lesson = class_in_session(named_guests=True)
    lesson.pupil_in(VISITOR)
    events = send(lesson, "visitor", "follow me on insta @real.visitor_1")
    assert types(events) == ["chat_flagged"]
    assert set(chat_flag_messages(lesson.state, flag_of(events))) == {"host", "visitor"}


def test_the_schools_own_words_are_checked_too() -> None:
    assert types(send(class_in_session(), "amy", "ben is a plonker")) == ["chat_sent"]
    lesson = class_in_session(chat_extra_words=("plonker",))
    events = send(lesson, "amy", "ben is a plonker")
    assert types(events) == ["chat_flagged"]
    assert flag_of(events).kinds == (ChatCheckKind.PROFANITY,)


def test_the_reminder_points_to_staff_only_where_pupils_may_write_to_them() -> None:
    with_staff_chat = flag_of(send(class_in_session(), "amy", PHONE_MESSAGE)).reminder
    without = flag_of(send(class_in_session(pupil_to_staff_chat=False), "amy", PHONE_MESSAGE))
    assert with_staff_chat is not None
    assert "send it to the staff" in with_staff_chat
    assert without.reminder is not None
    assert "staff" not in without.reminder


def test_the_lesson_rules_come_first_and_a_refused_message_is_not_checked() -> None:
    lesson = class_in_session()
    lesson.do(PauseChat(actor="host"))
    assert lesson.refused(SendChat(actor="amy", to=ChatTo.CLASS, text=PHONE_MESSAGE)) is (
        ReasonCode.CHAT_PAUSED
    )


def test_no_other_pupil_ever_sees_a_flagged_message() -> None:
    lesson = taught_with_assistant()
    flagged = flag_of(send(lesson, "amy", "my snap is amy_rose09"))
    assert "ben" not in chat_flag_messages(lesson.state, flagged)
    assert "amy_rose09" not in json.dumps(view_for(lesson.state, "ben"))
    # Nor does a member of staff who has left the room.
    lesson.do(Leave(actor="assistant"))
    assert set(chat_flag_messages(lesson.state, flagged)) == {"host", "amy"}


def test_the_rules_are_read_from_the_policy() -> None:
    default = LessonRules.from_policy(resolve(TrustPolicy.defaults()))
    assert (default.chat_check_personal_info, default.chat_check_profanity) == (BLOCK, BLOCK)
    school = {"chat_check_personal_info": WARN, "chat_check_profanity": WARN}
    warned = LessonRules.from_policy(resolve(TrustPolicy.defaults(), school))
    assert (warned.chat_check_personal_info, warned.chat_check_profanity) == (WARN, WARN)
    lesson = {"chat_check_profanity": BLOCK}
    tightened = LessonRules.from_policy(resolve(TrustPolicy.defaults(), school, lesson))
    assert (tightened.chat_check_personal_info, tightened.chat_check_profanity) == (WARN, BLOCK)
    assert default.chat_extra_words == ()


def test_a_log_written_before_the_chat_checks_reads_back_with_the_policy_defaults() -> None:
    prepared = LessonPrepared(
        at=T0,
        lesson_id="L1",
        rules=LessonRules(chat_check_profanity=WARN, chat_extra_words=("plonker",)),
        pupils={},
        staff={},
        guests={},
    )
    stored = json.loads(json.dumps(event_to_json(prepared)))
    assert event_from_json(stored) == prepared
    for key in ("chat_check_personal_info", "chat_check_profanity", "chat_extra_words"):
        del stored["rules"][key]
    old = event_from_json(stored)
    assert isinstance(old, LessonPrepared)
    assert old.rules == LessonRules()
    assert old.rules.chat_check_profanity is BLOCK
