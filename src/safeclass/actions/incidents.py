"""Incidents: safeguarding records for the school's designated safeguarding lead (DSL).

An incident is opened three ways:

- **Removal.** When staff remove someone from a lesson, the server opens an incident in the very
  transaction that stores the removal (`incident_store_hook`, called by `LiveLessons` while it
  writes the lesson's log). It exists as surely as the removal does, even if the teacher closes
  the tab. The form the console opens after "remove" edits that incident; it never makes a second.
- **A staff report**, through the form.
- **The chat check.** Every message the check catches (stopped or let through) is recorded in the
  lesson's log. The first one from a person in a lesson opens an incident about them; later ones
  from the same person in the same lesson are added to that incident (a note and the message)
  while it is open, so the DSL gets one record per child per lesson with every caught message in
  it: nothing is missed, and a lesson where one child keeps trying gives one record, not twenty.
  Staff can also open a report from a chat alert: the form finds that incident and edits it.

Each incident keeps its own copy (a snapshot) of the lesson's timeline, in words, and of the chat,
from `WINDOW_BEFORE` before the moment it is about to `WINDOW_AFTER` after it (as far as the log
went when the snapshot was taken), with the hash of the newest log row read. The lesson's log is
deleted on its own schedule; the incident keeps its copy until the incident's own time is up.

Who sees what: the school's DSLs (and a DSL across the trust) see every incident of their schools
and may move them between states and add notes; the member of staff who reported an incident (for
a removal: whoever removed) sees their own, may edit it until a DSL has closed it, and may add
notes. Nobody else sees incidents: not the class's other teachers, not school or trust admins
without the DSL role (safeguarding records are for those who need to know).

Every change writes an audit entry in the same transaction, holding ids and field names, never
the incident's words. When the school has a safeguarding system's webhook set up, each new
incident and each change of state also queues a message for it (`safeclass.webhooks`).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from safeclass.access import NotFoundError, dsl_school_ids, is_dsl_for, may_see_incident
from safeclass.actions.audit import record_audit
from safeclass.domain.chat_checks import ChatCheckKind
from safeclass.domain.lesson.events import (
    SYSTEM,
    Admitted,
    AnyEvent,
    CameraChanged,
    ChatFlagged,
    ChatPauseChanged,
    ChatSent,
    CommandRefused,
    Denied,
    Disconnected,
    HandChanged,
    Joined,
    JoinRefused,
    Left,
    LessonPrepared,
    LockChanged,
    MediaRefused,
    MicChanged,
    PhaseChanged,
    Reconnected,
    RecordingChanged,
    Removed,
    RosterUpdated,
    ScreenShareChanged,
    ScreenShareGrantChanged,
    SuspendChanged,
)
from safeclass.domain.lesson.model import Person, Phase, Presence, Role
from safeclass.store import event_log
from safeclass.store.event_log import LoggedEvent
from safeclass.store.models import (
    Incident,
    IncidentNote,
    IncidentSource,
    IncidentState,
    Lesson,
    Pupil,
    StaffMember,
)
from safeclass.webhooks import WebhookSettings, queue_incident_message

log = logging.getLogger(__name__)

WINDOW_BEFORE = timedelta(minutes=15)
WINDOW_AFTER = timedelta(minutes=5)

CATEGORIES: dict[str, str] = {
    "behaviour": "Unkind, unsafe or inappropriate behaviour",
    "personal_details": "Personal details shared (phone, address, email, username)",
    "language": "Bad language",
    "content": "Inappropriate pictures, links or screen sharing",
    "unknown_person": "Someone who should not have been there",
    "wellbeing": "A worry about a pupil's safety or wellbeing (including something a pupil told)",
    "staff_conduct": "A concern about an adult's conduct",
    "other": "Something else",
}
STATE_WORDS = {
    IncidentState.NEW: "New",
    IncidentState.IN_REVIEW: "In review",
    IncidentState.CLOSED: "Closed",
}
SOURCE_WORDS = {
    IncidentSource.REMOVAL: "Removed from a lesson",
    IncidentSource.STAFF_REPORT: "Reported by staff",
    IncidentSource.CHAT_CHECK: "Chat check",
}
NOT_CHOSEN = "Not chosen yet"
KIND_WORDS = {
    ChatCheckKind.PHONE_NUMBER: "a phone number",
    ChatCheckKind.EMAIL_ADDRESS: "an email address",
    ChatCheckKind.POSTCODE: "a postcode",
    ChatCheckKind.STREET_ADDRESS: "an address",
    ChatCheckKind.SOCIAL_MEDIA: "a social media username",
    ChatCheckKind.LINK: "a link",
    ChatCheckKind.PROFANITY: "bad language",
}
SAFECLASS = "SafeClass"
REMOVED_ACTION = "Removed from the lesson."

MAX_DESCRIPTION = 5000
MAX_PEOPLE = 2000
MAX_ACTIONS = 2000
MAX_NOTE = 5000

CATEGORY_MISSING = "Choose what kind of incident this is from the list."
DESCRIPTION_MISSING = "Say what happened. A few sentences are enough."
TOO_LONG = "This can be at most {limit} characters; it has {length}."
NOT_PLAIN_TEXT = (
    "This has characters that cannot be kept (invisible control characters). Type it again "
    "rather than pasting it."
)
NOTE_MISSING = "Write the note before adding it."
BAD_STATE = "Choose the incident's state from the list."
PRACTICE_NOT_REPORTED = (
    "This is a practice room, so nothing was reported: its pupils are simulated. In a real "
    "lesson, this form goes to your designated safeguarding lead."
)
CLOSED_FOR_EDITS = (
    "This incident has been closed by the safeguarding lead, so it cannot be changed. You can "
    "still add a note."
)
NOT_THE_DSL = "Only the school's designated safeguarding lead can change an incident's state."

OPENED = "incident_opened"
UPDATED = "incident_updated"
STATE_CHANGED = "incident_state_changed"
NOTE_ADDED = "incident_note_added"
CHAT_CHECK_ADDED = "incident_chat_check_added"
EXPORTED = "incidents_exported"


class IncidentFormError(ValueError):
    """A form that cannot be saved: `problems` maps each field to plain words for staff."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {words}" for name, words in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class IncidentFields:
    """What staff write on the form, checked (`check_fields`)."""

    category: str
    description: str
    people_involved: str
    actions_taken: str


@dataclass
class Draft:
    """The form's starting values for a new report, from the lesson's log."""

    about_pid: str | None = None
    about_name: str | None = None
    category: str | None = None
    description: str = ""
    people_involved: str = ""
    actions_taken: str = ""
    occurred_at: datetime | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    chat: list[dict[str, Any]] = field(default_factory=list)


# --- Reading the lesson's log ---------------------------------------------------------------------


@dataclass
class _Who:
    person: Person
    name: str
    presence: Presence | None = None


class LessonLog:
    """A lesson's log as read for an incident: the events with their positions, and who each
    participant id was."""

    def __init__(self, rows: Sequence[LoggedEvent]) -> None:
        self.rows = list(rows)
        self.people: dict[str, _Who] = {}
        for row in self.rows:
            event = row.event
            if isinstance(event, Joined):
                self.people[event.pid] = _Who(event.person, event.display_name, event.presence)
            elif isinstance(event, Removed) and event.pid in self.people:
                self.people[event.pid].presence = Presence.REMOVED

    @classmethod
    def read(cls, session: Session, lesson_id: int) -> LessonLog:
        """Chat deleted on schedule (`actions.retention`) is left out: it is no longer known."""
        return cls(event_log.load_rows(session, lesson_id))

    def name(self, pid: str) -> str:
        if pid == SYSTEM:
            return SAFECLASS
        who = self.people.get(pid)
        return who.name if who is not None else "someone"

    def last_at(self) -> datetime | None:
        return self.rows[-1].event.at if self.rows else None

    def snapshot(self, around: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        """The timeline in words and the chat from `WINDOW_BEFORE` before `around` to
        `WINDOW_AFTER` after it, and the hash of the newest row read."""
        start, end = around - WINDOW_BEFORE, around + WINDOW_AFTER
        timeline: list[dict[str, Any]] = []
        chat: list[dict[str, Any]] = []
        flagged_sent: dict[int, list[str]] = {}
        for row in self.rows:
            event = row.event
            if not start <= event.at <= end:
                continue
            text = describe(event, self)
            if text is not None:
                timeline.append({"seq": row.seq, "at": event.at.isoformat(), "text": text})
            if isinstance(event, ChatFlagged):
                kinds = [kind.value for kind in event.kinds]
                if event.blocked:
                    chat.append(_chat_line(row.seq, event, kinds=kinds, blocked=True))
                elif event.message_id is not None:
                    flagged_sent[event.message_id] = kinds
            elif isinstance(event, ChatSent):
                chat.append(_chat_line(row.seq, event, kinds=[], blocked=False))
        for line in chat:
            if line["message_id"] in flagged_sent:
                line["kinds"] = flagged_sent[line["message_id"]]
        return timeline, chat, self.rows[-1].hash if self.rows else ""


def _chat_line(
    seq: int, event: ChatSent | ChatFlagged, *, kinds: list[str], blocked: bool
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": event.at.isoformat(),
        "name": event.display_name,
        "role": event.person.role.value,
        "to": event.to.value,
        "text": event.text,
        "kinds": kinds,
        "blocked": blocked,
        "message_id": event.message_id,
    }


def kinds_words(kinds: Iterable[str]) -> str:
    words = [KIND_WORDS[ChatCheckKind(kind)] for kind in kinds]
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _on_off(on: bool) -> str:
    return "on" if on else "off"


def describe(event: AnyEvent, lesson: LessonLog) -> str | None:
    """One event in plain words for the DSL, or None for book-keeping nobody needs to read."""
    name = lesson.name
    match event:
        case LessonPrepared() | RosterUpdated():
            return None
        case Joined():
            where = "came in" if event.presence is Presence.ADMITTED else "came to the waiting room"
            return f"{event.display_name} ({event.person.role.value}) {where}."
        case JoinRefused():
            return f"{event.display_name} was turned away at the door: {event.message}"
        case Admitted():
            return f"{name(event.by)} let {name(event.pid)} in."
        case Denied():
            return f"{name(event.by)} did not let {name(event.pid)} in."
        case Left():
            return f"{name(event.pid)} left."
        case Disconnected():
            return f"{name(event.pid)}'s connection dropped."
        case Reconnected():
            return f"{name(event.pid)} came back after a dropped connection."
        case Removed():
            reason = f' Reason given: "{event.reason}"' if event.reason else " No reason given."
            return f"{name(event.by)} removed {name(event.pid)} from the lesson.{reason}"
        case LockChanged():
            how = "automatically" if event.automatic else f"by {name(event.by)}"
            return f"The lesson was {'locked' if event.locked else 'unlocked'} {how}."
        case MicChanged():
            return f"{name(event.pid)}'s microphone: {_on_off(event.on)} ({name(event.by)})."
        case CameraChanged():
            return f"{name(event.pid)}'s camera: {_on_off(event.on)} ({name(event.by)})."
        case HandChanged():
            action = "raised a hand" if event.raised else "lowered their hand"
            return f"{name(event.pid)} {action}."
        case ScreenShareGrantChanged():
            verb = "let" if event.granted else "stopped letting"
            return f"{name(event.by)} {verb} {name(event.pid)} share their screen."
        case ScreenShareChanged():
            verb = "started" if event.sharing else "stopped"
            return f"{name(event.pid)} {verb} sharing their screen."
        case SuspendChanged():
            verb = "suspended everything" if event.suspended else "lifted the suspension"
            return f"{name(event.by)} {verb}."
        case ChatSent():
            return f"{event.display_name} wrote to the {event.to.value}."
        case ChatFlagged():
            outcome = "stopped" if event.blocked else "let through, and staff were told about"
            found = kinds_words(kind.value for kind in event.kinds)
            return f"The chat check {outcome} a message from {event.display_name} ({found})."
        case MediaRefused():
            return f"{name(event.pid)} asked to {event.request}: refused ({event.message})"
        case ChatPauseChanged():
            verb = "paused" if event.paused else "restarted"
            return f"{name(event.by)} {verb} the chat."
        case RecordingChanged():
            return _recording_words(event, name)
        case PhaseChanged():
            return _phase_words(event)
        case CommandRefused():
            return f"{name(event.actor)} tried to {event.command}: refused ({event.message})"


_RECORDING_STOPPED_BECAUSE = {
    "lesson_ended": "the lesson ended",
    "no_staff": "no member of staff was left in the lesson",
    "consent_withdrawn": "a parent or carer withdrew their yes to recording",
}


def _recording_words(event: RecordingChanged, name: Callable[[str], str]) -> str:
    if event.recording:
        return f"{name(event.by)} started recording {event.number}."
    because = _RECORDING_STOPPED_BECAUSE.get(event.reason)
    if because is None:
        return f"{name(event.by)} stopped recording {event.number}."
    return f"Recording {event.number} stopped by itself: {because}."


def _phase_words(event: PhaseChanged) -> str:
    if event.phase is Phase.OPEN:
        return "The lesson opened."
    if event.phase is Phase.HELD:
        return f"The lesson was held: {event.reason}."
    if event.phase is Phase.ENDED:
        return f"The lesson ended ({event.reason})."
    return f"The lesson is {event.phase.value}."


# --- Opened by the server, in the transaction that stores the lesson's events ---------------------


StoreHook = Callable[[Session, int, Sequence[AnyEvent]], None]


def incident_store_hook(webhook: WebhookSettings | None) -> StoreHook:
    """The `LiveLessons` store hook: opens (or adds to) incidents for removals and chat-check
    hits among the events just appended, in the same transaction."""

    def hook(session: Session, lesson_id: int, events: Sequence[AnyEvent]) -> None:
        if not any(isinstance(event, Removed | ChatFlagged) for event in events):
            return
        record_lesson_events(session, lesson_id, events, webhook=webhook)

    return hook


def record_lesson_events(
    session: Session,
    lesson_id: int,
    events: Sequence[AnyEvent],
    *,
    webhook: WebhookSettings | None,
) -> list[Incident]:
    """Incidents for the removals and chat-check hits among `events`, which are the newest rows
    of the lesson's log (already added to this session)."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        return []
    if lesson.practice:
        # A practice room's pupils are simulated (`actions.practice`): removing one, or the chat
        # check stopping one, is rehearsal, never a safeguarding record for the DSL.
        return []
    session.flush()
    lesson_log = LessonLog.read(session, lesson_id)
    first_seq = lesson_log.rows[-1].seq - len(events) + 1
    touched: list[Incident] = []
    for offset, event in enumerate(events):
        seq = first_seq + offset
        if isinstance(event, Removed):
            touched.append(_open_for_removal(session, lesson, lesson_log, seq, event, webhook))
        elif isinstance(event, ChatFlagged):
            touched.append(_record_chat_check(session, lesson, lesson_log, seq, event, webhook))
    return touched


def _staff_of(session: Session, lesson_log: LessonLog, pid: str) -> StaffMember | None:
    who = lesson_log.people.get(pid)
    if who is None or who.person.role is not Role.STAFF or not who.person.id.isdigit():
        return None
    return session.get(StaffMember, int(who.person.id))


def _about(lesson_log: LessonLog, pid: str) -> dict[str, Any]:
    who = lesson_log.people.get(pid)
    if who is None:
        return {"about_pid": pid, "about_role": None, "about_ref": None, "about_name": None}
    return {
        "about_pid": pid,
        "about_role": who.person.role.value,
        "about_ref": who.person.id,
        "about_name": who.name,
    }


def _open_for_removal(
    session: Session,
    lesson: Lesson,
    lesson_log: LessonLog,
    seq: int,
    event: Removed,
    webhook: WebhookSettings | None,
) -> Incident:
    existing = session.scalar(
        select(Incident).where(Incident.lesson_id == lesson.id, Incident.source_event_seq == seq)
    )
    if existing is not None:
        return existing
    remover = _staff_of(session, lesson_log, event.by)
    about = _about(lesson_log, event.pid)
    incident = _opened_by_server(
        lesson,
        lesson_log,
        seq,
        event.at,
        source=IncidentSource.REMOVAL,
        category=None,
        description=f'Reason given when removing: "{event.reason}"' if event.reason else "",
        people_involved=about["about_name"] or "",
        actions_taken=REMOVED_ACTION,
        reported_by_staff_id=remover.id if remover is not None else None,
        reported_by_name=remover.display_name if remover is not None else SAFECLASS,
        **about,
    )
    _open(session, incident, remover, webhook)
    return incident


def _record_chat_check(
    session: Session,
    lesson: Lesson,
    lesson_log: LessonLog,
    seq: int,
    event: ChatFlagged,
    webhook: WebhookSettings | None,
) -> Incident:
    open_one = session.scalar(
        select(Incident)
        .where(
            Incident.lesson_id == lesson.id,
            Incident.source == IncidentSource.CHAT_CHECK,
            Incident.about_role == event.person.role.value,
            Incident.about_ref == event.person.id,
            Incident.state != IncidentState.CLOSED,
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    kinds = [kind.value for kind in event.kinds]
    outcome = "stopped" if event.blocked else "let through (staff were told)"
    if open_one is not None:
        line = _chat_line(seq, event, kinds=kinds, blocked=event.blocked)
        open_one.chat = [*open_one.chat, line]
        open_one.updated_at = event.at
        session.add(
            IncidentNote(
                incident_id=open_one.id,
                author_staff_id=None,
                author_name=None,
                at=event.at,
                body=(
                    f"The chat check caught another message from {event.display_name} "
                    f"({kinds_words(kinds)}); it was {outcome}. It is in the chat below."
                ),
            )
        )
        _audit(session, CHAT_CHECK_ADDED, open_one, None, {"seq": seq})
        return open_one
    only_language = all(kind is ChatCheckKind.PROFANITY for kind in event.kinds)
    incident = _opened_by_server(
        lesson,
        lesson_log,
        seq,
        event.at,
        source=IncidentSource.CHAT_CHECK,
        category="language" if only_language else "personal_details",
        description=(
            f"The chat check found {kinds_words(kinds)} in a message from "
            f"{event.display_name} to the {event.to.value}."
        ),
        people_involved=event.display_name,
        actions_taken=(
            f"The message was stopped and {event.display_name} was given a kind reminder."
            if event.blocked
            else "The message was sent, and staff in the lesson were told."
        ),
        reported_by_staff_id=None,
        reported_by_name=SAFECLASS,
        **_about(lesson_log, event.pid),
    )
    _open(session, incident, None, webhook)
    return incident


def _opened_by_server(
    lesson: Lesson, lesson_log: LessonLog, seq: int, at: datetime, **fields: Any
) -> Incident:
    """A new incident about the lesson event at `seq`, with the timeline and the chat around it."""
    timeline, chat, log_hash = lesson_log.snapshot(at)
    return Incident(
        school_id=lesson.school_id,
        lesson_id=lesson.id,
        lesson_title=lesson.title,
        source_event_seq=seq,
        state=IncidentState.NEW,
        occurred_at=at,
        opened_at=at,
        updated_at=at,
        timeline=timeline,
        chat=chat,
        log_hash=log_hash,
        **fields,
    )


def _open(
    session: Session,
    incident: Incident,
    actor: StaffMember | None,
    webhook: WebhookSettings | None,
) -> None:
    """Store a new incident with its audit entry, and queue its message to the school's
    safeguarding system, all in the caller's transaction."""
    session.add(incident)
    session.flush()
    _audit(session, OPENED, incident, actor, {"source": incident.source.value})
    queue_incident_message(session, incident, "incident.opened", webhook)


def _audit(
    session: Session,
    action: str,
    incident: Incident,
    actor: StaffMember | None,
    extra: dict[str, Any] | None = None,
) -> None:
    record_audit(
        session,
        action,
        actor=actor,
        school_id=incident.school_id,
        data={"incident_id": incident.id, "lesson_id": incident.lesson_id, **(extra or {})},
    )


# --- The form after "remove", from a chat alert, or a report --------------------------------------


def incident_about(session: Session, lesson: Lesson, pid: str) -> Incident | None:
    """The incident the server already opened about this participant in this lesson (their
    removal first, else an open chat-check incident), if any."""
    lesson_log = LessonLog.read(session, lesson.id)
    who = lesson_log.people.get(pid)
    if who is None:
        return None
    removal = session.scalar(
        select(Incident)
        .where(
            Incident.lesson_id == lesson.id,
            Incident.source == IncidentSource.REMOVAL,
            Incident.about_pid == pid,
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    if removal is not None:
        return removal
    return session.scalar(
        select(Incident)
        .where(
            Incident.lesson_id == lesson.id,
            Incident.source == IncidentSource.CHAT_CHECK,
            Incident.about_role == who.person.role.value,
            Incident.about_ref == who.person.id,
            Incident.state != IncidentState.CLOSED,
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )


def draft_for(session: Session, lesson: Lesson, about_pid: str | None, now: datetime) -> Draft:
    """Starting values for a new report: the person (when the form names a participant of this
    lesson), and the timeline and chat around now (or the lesson's last moment, after it)."""
    lesson_log = LessonLog.read(session, lesson.id)
    around = _moment(lesson_log, now)
    timeline, chat, _ = lesson_log.snapshot(around)
    draft = Draft(occurred_at=around, timeline=timeline, chat=chat)
    who = lesson_log.people.get(about_pid) if about_pid else None
    if who is not None:
        draft.about_pid = about_pid
        draft.about_name = who.name
        draft.people_involved = who.name
        if who.presence is Presence.REMOVED:
            draft.actions_taken = REMOVED_ACTION
    return draft


def _moment(lesson_log: LessonLog, now: datetime) -> datetime:
    last = lesson_log.last_at()
    ended = any(
        isinstance(row.event, PhaseChanged) and row.event.phase is Phase.ENDED
        for row in lesson_log.rows
    )
    if last is not None and ended and last < now:
        return last
    return now


def _clean_text(raw: str | None, name: str, limit: int, problems: dict[str, str]) -> str:
    text = unicodedata.normalize("NFC", (raw or "").replace("\r\n", "\n").replace("\r", "\n"))
    text = text.strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        problems[name] = NOT_PLAIN_TEXT
    elif len(text) > limit:
        problems[name] = TOO_LONG.format(limit=limit, length=len(text))
    return text


def check_fields(
    *,
    category: str | None,
    description: str | None,
    people_involved: str | None,
    actions_taken: str | None,
) -> IncidentFields:
    """The form's values, checked. Raises IncidentFormError naming every field that will not do."""
    problems: dict[str, str] = {}
    if category not in CATEGORIES:
        problems["category"] = CATEGORY_MISSING
    text = _clean_text(description, "description", MAX_DESCRIPTION, problems)
    if not text and "description" not in problems:
        problems["description"] = DESCRIPTION_MISSING
    people = _clean_text(people_involved, "people_involved", MAX_PEOPLE, problems)
    actions = _clean_text(actions_taken, "actions_taken", MAX_ACTIONS, problems)
    if problems:
        raise IncidentFormError(problems)
    assert category is not None
    return IncidentFields(category, text, people, actions)


def report_incident(
    session: Session,
    lesson: Lesson,
    fields: IncidentFields,
    *,
    actor: StaffMember,
    about_pid: str | None,
    now: datetime,
    webhook: WebhookSettings | None,
) -> Incident:
    """A member of staff's report about this lesson. The caller has checked the actor may see the
    lesson (`access_lesson`) and that no incident exists yet about `about_pid` (`incident_about`).
    """
    if lesson.practice:
        # Practice rooms (`actions.practice`): staff rehearse the form, nothing reaches the DSL.
        raise IncidentFormError({"form": PRACTICE_NOT_REPORTED})
    lesson_log = LessonLog.read(session, lesson.id)
    around = _moment(lesson_log, now)
    timeline, chat, log_hash = lesson_log.snapshot(around)
    about = (
        _about(lesson_log, about_pid)
        if about_pid and about_pid in lesson_log.people
        else {"about_pid": None, "about_role": None, "about_ref": None, "about_name": None}
    )
    incident = Incident(
        school_id=lesson.school_id,
        lesson_id=lesson.id,
        lesson_title=lesson.title,
        source=IncidentSource.STAFF_REPORT,
        source_event_seq=None,
        state=IncidentState.NEW,
        category=fields.category,
        description=fields.description,
        people_involved=fields.people_involved,
        actions_taken=fields.actions_taken,
        reported_by_staff_id=actor.id,
        reported_by_name=actor.display_name,
        occurred_at=around,
        opened_at=now,
        updated_at=now,
        timeline=timeline,
        chat=chat,
        log_hash=log_hash,
        **about,
    )
    _open(session, incident, actor, webhook)
    return incident


def may_edit(staff: StaffMember, incident: Incident) -> bool:
    """The school's DSL always; the reporter (or, for one nobody has taken up, the lesson's own
    staff) until it is closed. Each condition on its own line."""
    if not may_see_incident(staff, incident):
        return False
    if is_dsl_for(staff, incident.school):
        return True
    # Not yet taken up by anyone (the chat check opened it): `may_see_incident` let only the
    # lesson's own staff this far.
    if incident.reported_by_staff_id not in (None, staff.id):
        return False
    return incident.state is not IncidentState.CLOSED


def update_incident(
    session: Session,
    incident: Incident,
    fields: IncidentFields,
    *,
    actor: StaffMember,
    now: datetime,
) -> bool:
    """Save the form over the incident. False (nothing written) when nothing changed."""
    if not may_see_incident(actor, incident):
        raise NotFoundError(f"Incident {incident.id}")
    if not may_edit(actor, incident):
        raise IncidentFormError({"form": CLOSED_FOR_EDITS})
    changed = [
        name
        for name in ("category", "description", "people_involved", "actions_taken")
        if getattr(incident, name) != getattr(fields, name)
    ]
    if not changed:
        return False
    for name in changed:
        setattr(incident, name, getattr(fields, name))
    incident.updated_at = now
    if incident.reported_by_staff_id is None and not is_dsl_for(actor, incident.school):
        # The server opened it; whoever first fills the form in is its reporter from then on.
        incident.reported_by_staff_id = actor.id
        incident.reported_by_name = actor.display_name
    _audit(session, UPDATED, incident, actor, {"fields": changed})
    return True


def change_state(
    session: Session,
    incident: Incident,
    state: str | None,
    *,
    actor: StaffMember,
    now: datetime,
    webhook: WebhookSettings | None,
) -> bool:
    """A DSL moves the incident between new, in review and closed. False when unchanged."""
    if not may_see_incident(actor, incident):
        raise NotFoundError(f"Incident {incident.id}")
    if not is_dsl_for(actor, incident.school):
        raise IncidentFormError({"state": NOT_THE_DSL})
    try:
        new_state = IncidentState(state or "")
    except ValueError:
        raise IncidentFormError({"state": BAD_STATE}) from None
    if new_state is incident.state:
        return False
    before = incident.state
    incident.state = new_state
    incident.updated_at = now
    incident.closed_at = now if new_state is IncidentState.CLOSED else None
    _audit(session, STATE_CHANGED, incident, actor, {"from": before.value, "to": new_state.value})
    queue_incident_message(session, incident, "incident.state_changed", webhook)
    return True


def add_note(
    session: Session, incident: Incident, body: str | None, *, actor: StaffMember, now: datetime
) -> IncidentNote:
    """Anyone who may see the incident may add a note; notes are never changed or deleted."""
    if not may_see_incident(actor, incident):
        raise NotFoundError(f"Incident {incident.id}")
    problems: dict[str, str] = {}
    text = _clean_text(body, "note", MAX_NOTE, problems)
    if not text and "note" not in problems:
        problems["note"] = NOTE_MISSING
    if problems:
        raise IncidentFormError(problems)
    note = IncidentNote(
        incident_id=incident.id,
        author_staff_id=actor.id,
        author_name=actor.display_name,
        at=now,
        body=text,
    )
    session.add(note)
    incident.updated_at = now
    session.flush()
    _audit(session, NOTE_ADDED, incident, actor, {"note_id": note.id})
    return note


def record_export(
    session: Session, incidents: Sequence[Incident], *, actor: StaffMember, kind: str
) -> None:
    """Exports of safeguarding records are themselves recorded (which, by whom, in what form)."""
    schools = sorted({incident.school_id for incident in incidents})
    record_audit(
        session,
        EXPORTED,
        actor=actor,
        school_id=schools[0] if len(schools) == 1 else None,
        data={"incident_ids": [incident.id for incident in incidents], "format": kind},
    )


# --- Lists ----------------------------------------------------------------------------------------


def visible_incidents(
    session: Session, staff: StaffMember, *, state: IncidentState | None = None
) -> list[Incident]:
    """The DSL's inbox: every incident of the schools they lead; for other staff, the incidents
    they reported, and those of their lessons that the chat check opened and nobody has taken up
    yet. Newest first."""
    if not staff.active:
        return []
    schools = dsl_school_ids(session, staff)
    query = select(Incident).where(
        or_(
            Incident.school_id.in_(schools),
            Incident.reported_by_staff_id == staff.id,
            # Not taken up yet: the lesson's own staff see it (`may_see_incident` decides).
            and_(
                Incident.reported_by_staff_id.is_(None),
                Incident.school_id.in_(staff.school_ids()),
            ),
        )
    )
    if state is not None:
        query = query.where(Incident.state == state)
    found = session.scalars(query.order_by(Incident.opened_at.desc(), Incident.id.desc()))
    return [incident for incident in found if may_see_incident(staff, incident)]


def pupil_numbers(session: Session, incident: Incident) -> list[str]:
    """The school's own number (MIS id) of the pupil the incident is about, if it is a pupil."""
    if incident.about_role != Role.PUPIL.value or not (incident.about_ref or "").isdigit():
        return []
    pupil = session.get(Pupil, int(incident.about_ref or "0"))
    if pupil is None or pupil.school_id != incident.school_id:
        return []
    return [pupil.mis_id]
