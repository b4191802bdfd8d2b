"""Incidents in the actions layer: opened by the server in the transaction that stores a removal
or a chat-check hit (never twice, never blocking the lesson), the form's checks, who sees what,
states and notes with their audit entries, and messages queued for the school's system."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import NotFoundError, access_incident, may_see_incident
from safeclass.actions.incidents import (
    CATEGORY_MISSING,
    DESCRIPTION_MISSING,
    NOT_PLAIN_TEXT,
    NOT_THE_DSL,
    REMOVED_ACTION,
    IncidentFormError,
    add_note,
    change_state,
    check_fields,
    incident_store_hook,
    report_incident,
    update_incident,
    visible_incidents,
)
from safeclass.actions.live import LiveLessons
from safeclass.config import ConfigError
from safeclass.domain.lesson.commands import Admit, Remove, SendChat
from safeclass.domain.lesson.events import AnyEvent
from safeclass.domain.lesson.model import ChatTo, Via
from safeclass.store import event_log
from safeclass.store.models import (
    AuditEntry,
    Incident,
    IncidentNote,
    IncidentSource,
    IncidentState,
    Lesson,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
    WebhookDelivery,
)
from safeclass.webhooks import WebhookSettings
from tests.actions.test_live import Clock, Inbox, live_lessons, pupil_person, run, teacher_person
from tests.web.conftest import (
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
    build_world,
)
from tests.web.test_lesson_socket import _give_consent

SETTINGS = WebhookSettings("https://safeguarding.example/hook", b"s" * 32)


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        world = build_world(session)
        _give_consent(session, world, "Ben")
        return world


@pytest.fixture
def clock(session_factory: sessionmaker[Session], world: World) -> Clock:
    with session_factory() as session:
        return Clock(session.get_one(Lesson, world.oak_lesson_id).starts_at)


def staff_named(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


class Lesson3:
    """A live lesson with its teacher, Amy and Ben let in, incidents hooked in."""

    def __init__(
        self, live: LiveLessons, factory: sessionmaker[Session], lesson_id: int, clock: Clock
    ) -> None:
        self.live, self.factory, self.lesson_id, self.clock = live, factory, lesson_id, clock
        self.inboxes: dict[str, Inbox] = {}
        self.pids: dict[str, str] = {}

    async def start(self) -> None:
        await self._join("teacher", teacher_person(self.factory, self.lesson_id), Via.STAFF_SIGN_IN)
        for name in ("Amy", "Ben"):
            await self._join(name, pupil_person(self.factory, name), Via.PUPIL_LINK)
            await self.live.act(
                self.lesson_id, Admit(actor=self.pids["teacher"], target=self.pids[name])
            )

    async def _join(self, name: str, person: object, via: Via) -> None:
        inbox = Inbox()
        outcome = await self.live.join(
            self.lesson_id,
            person=person,  # type: ignore[arg-type]
            via=via,
            device=f"device:{name}",
            channel=inbox,
            reminder_accepted=True,
        )
        assert outcome.pid is not None, outcome.message
        self.pids[name] = outcome.pid
        self.inboxes[name] = inbox

    async def say(self, name: str, text: str, to: ChatTo = ChatTo.CLASS) -> None:
        await self.live.act(self.lesson_id, SendChat(actor=self.pids[name], to=to, text=text))

    async def remove(self, name: str, reason: str) -> None:
        await self.live.act(
            self.lesson_id,
            Remove(actor=self.pids["teacher"], target=self.pids[name], reason=reason),
        )


def hooked(
    factory: sessionmaker[Session], clock: Clock, webhook: WebhookSettings | None = None
) -> LiveLessons:
    live = live_lessons(factory, clock)
    live.add_store_hook(incident_store_hook(webhook))
    return live


def incidents_of(factory: sessionmaker[Session]) -> list[Incident]:
    with factory() as session:
        found = list(session.scalars(select(Incident).order_by(Incident.id)))
        for incident in found:
            _ = incident.notes  # loaded while the session is open
        return found


def test_a_removal_opens_an_incident_in_the_same_transaction_with_the_chat_around_it(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = hooked(session_factory, clock, SETTINGS)
    lesson = Lesson3(live, session_factory, world.oak_lesson_id, clock)

    async def scenario() -> None:
        await lesson.start()
        await lesson.say("Ben", "good morning everyone")
        clock.now += timedelta(hours=2)
        await lesson.say("Amy", "you are so stupid Ben")
        clock.now += timedelta(minutes=1)
        await lesson.remove("Amy", "Unkind messages to another pupil")

    run(scenario())
    [incident] = incidents_of(session_factory)
    assert incident.source is IncidentSource.REMOVAL
    assert incident.state is IncidentState.NEW
    assert incident.about_name == "Amy Adams"
    assert incident.about_pid == lesson.pids["Amy"]
    assert incident.reported_by_name == "Tess Teacher"
    assert incident.actions_taken == REMOVED_ACTION
    assert "Unkind messages to another pupil" in incident.description
    assert incident.occurred_at == clock.now
    assert [line["text"] for line in incident.chat] == ["you are so stupid Ben"]
    assert any("removed Amy Adams from the lesson" in e["text"] for e in incident.timeline)
    # The removal's own row is the one that opened it, and the snapshot ends there.
    with session_factory() as session:
        rows = event_log.load(session, world.oak_lesson_id)
        assert rows[(incident.source_event_seq or 0) - 1].type == "removed"
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "incident_opened"))
        assert [entry.data["incident_id"] for entry in audit] == [incident.id]
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        assert delivery.payload["incident"]["id"] == incident.id
        assert delivery.payload["incident"]["pupils"] == [{"mis_id": "OAK-1"}]
        assert "Amy" not in str(delivery.payload)


def test_a_failing_incident_hook_never_stops_the_removal(
    session_factory: sessionmaker[Session],
    world: World,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = live_lessons(session_factory, clock)
    written: list[int] = []

    def broken(session: Session, lesson_id: int, events: Sequence[AnyEvent]) -> None:
        session.add(IncidentNote(incident_id=10**9, body="half-written"))
        session.flush()  # the foreign key fails: nothing of this hook may survive
        written.append(lesson_id)

    live.add_store_hook(broken)
    lesson = Lesson3(live, session_factory, world.oak_lesson_id, clock)

    async def scenario() -> None:
        await lesson.start()
        await lesson.remove("Amy", "testing")

    run(scenario())
    assert written == []
    with session_factory() as session:
        assert "removed" in [e.type for e in event_log.load(session, world.oak_lesson_id)]
        assert session.scalar(select(func.count()).select_from(IncidentNote)) == 0
    assert "store hook failed" in caplog.text
    assert lesson.inboxes["Amy"].closed == (1000, "You were removed from the lesson.")


def test_chat_check_hits_make_one_incident_per_pupil_per_lesson_with_every_message(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = hooked(session_factory, clock)
    lesson = Lesson3(live, session_factory, world.oak_lesson_id, clock)

    async def scenario() -> None:
        await lesson.start()
        await lesson.say("Amy", "ring me 07700 900123")
        clock.now += timedelta(minutes=3)
        await lesson.say("Amy", "my email is amy@example.com")
        await lesson.say("Ben", "my number is 07700 900456")

    run(scenario())
    amy, ben = incidents_of(session_factory)
    assert amy.source is ben.source is IncidentSource.CHAT_CHECK
    assert amy.category == "personal_details"
    assert (amy.about_name, ben.about_name) == ("Amy Adams", "Ben Brown")
    assert [line["text"] for line in amy.chat] == [
        "ring me 07700 900123",
        "my email is amy@example.com",
    ]
    assert all(line["blocked"] for line in amy.chat)
    assert len(amy.notes) == 1
    assert amy.notes[0].author_name is None
    assert "an email address" in amy.notes[0].body

    # Once the DSL closes it, the next hit opens a new one rather than reopening it.
    with session_factory() as session:
        dsl = staff_named(session, OAK_DSL)
        incident = session.get_one(Incident, amy.id)
        change_state(session, incident, "closed", actor=dsl, now=clock.now, webhook=None)
        session.commit()
    run(lesson.say("Amy", "07700 900123 again"))
    assert len(incidents_of(session_factory)) == 3


def test_the_form_names_every_problem_and_keeps_nothing() -> None:
    with pytest.raises(IncidentFormError) as refused:
        check_fields(category="nonsense", description="   ", people_involved="", actions_taken="")
    assert refused.value.problems == {
        "category": CATEGORY_MISSING,
        "description": DESCRIPTION_MISSING,
    }
    with pytest.raises(IncidentFormError) as refused:
        check_fields(
            category="behaviour",
            description="fine",
            people_involved="a\x00b",
            actions_taken="x" * 2001,
        )
    assert refused.value.problems["people_involved"] == NOT_PLAIN_TEXT
    assert "at most 2000" in refused.value.problems["actions_taken"]
    fields = check_fields(
        category="wellbeing",
        description="  Line one\r\nLine two  ",
        people_involved=None,
        actions_taken="Told the DSL",
    )
    assert fields.description == "Line one\nLine two"
    assert fields.people_involved == ""


def _report(session: Session, world: World, email: str, now: datetime) -> Incident:
    lesson = session.get_one(Lesson, world.oak_lesson_id)
    fields = check_fields(
        category="behaviour", description="Shouting", people_involved="", actions_taken=""
    )
    return report_incident(
        session,
        lesson,
        fields,
        actor=staff_named(session, email),
        about_pid=None,
        now=now,
        webhook=None,
    )


def test_a_dsl_sees_their_schools_incidents_and_a_teacher_only_their_own(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    with session_factory() as session:
        by_teacher = _report(session, world, OAK_TEACHER, clock.now)
        by_assistant = _report(session, world, OAK_ASSISTANT, clock.now)
        session.commit()
        teacher = staff_named(session, OAK_TEACHER)
        assistant = staff_named(session, OAK_ASSISTANT)
        dsl = staff_named(session, OAK_DSL)
        assert [i.id for i in visible_incidents(session, dsl)] == [by_assistant.id, by_teacher.id]
        assert [i.id for i in visible_incidents(session, teacher)] == [by_teacher.id]
        assert [i.id for i in visible_incidents(session, assistant)] == [by_assistant.id]
        # Admins, a trust admin and another school's teacher are not DSLs: they see none.
        for email in (OAK_ADMIN, TRUST_ADMIN, ELM_TEACHER):
            other = staff_named(session, email)
            assert visible_incidents(session, other) == []
            with pytest.raises(NotFoundError):
                access_incident(session, other, by_teacher.id)
        with pytest.raises(NotFoundError):
            access_incident(session, teacher, by_assistant.id)

        # A DSL across the trust (a trust-wide grant) sees every school of the trust, even one
        # where they hold no other role.
        elm_teacher = staff_named(session, ELM_TEACHER)
        session.add(StaffRoleGrant(staff_id=elm_teacher.id, role=StaffRole.SAFEGUARDING_LEAD))
        session.commit()
        session.refresh(elm_teacher)
        assert {i.id for i in visible_incidents(session, elm_teacher)} == {
            by_teacher.id,
            by_assistant.id,
        }
        assert access_incident(session, elm_teacher, by_teacher.id) is by_teacher


def test_states_and_notes_are_the_dsls_with_an_audit_entry_each(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    with session_factory() as session:
        incident = _report(session, world, OAK_TEACHER, clock.now)
        session.commit()
        teacher = staff_named(session, OAK_TEACHER)
        dsl = staff_named(session, OAK_DSL)
        with pytest.raises(IncidentFormError) as refused:
            change_state(session, incident, "closed", actor=teacher, now=clock.now, webhook=None)
        assert refused.value.problems == {"state": NOT_THE_DSL}
        with pytest.raises(IncidentFormError):
            change_state(session, incident, "archived", actor=dsl, now=clock.now, webhook=None)
        assert change_state(
            session, incident, "in_review", actor=dsl, now=clock.now, webhook=SETTINGS
        )
        assert not change_state(
            session, incident, "in_review", actor=dsl, now=clock.now, webhook=SETTINGS
        )
        add_note(session, incident, "Spoke to the family.", actor=dsl, now=clock.now)
        with pytest.raises(IncidentFormError):
            add_note(session, incident, "   ", actor=teacher, now=clock.now)
        change_state(session, incident, "closed", actor=dsl, now=clock.now, webhook=None)
        fields = check_fields(
            category="other", description="Later", people_involved="", actions_taken=""
        )
        with pytest.raises(IncidentFormError):
            update_incident(session, incident, fields, actor=teacher, now=clock.now)
        assert update_incident(session, incident, fields, actor=dsl, now=clock.now)
        session.commit()
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("incident%"))
                .order_by(AuditEntry.id)
            )
        )
        assert actions == [
            "incident_opened",
            "incident_state_changed",
            "incident_note_added",
            "incident_state_changed",
            "incident_updated",
        ]
        assert incident.closed_at == clock.now
        deliveries = session.scalars(select(WebhookDelivery.event)).all()
        assert list(deliveries) == ["incident.state_changed"]


def test_a_chat_check_incident_is_the_lesson_staffs_to_take_up_until_someone_does(
    session_factory: sessionmaker[Session], world: World, clock: Clock
) -> None:
    live = hooked(session_factory, clock)
    lesson = Lesson3(live, session_factory, world.oak_lesson_id, clock)

    async def scenario() -> None:
        await lesson.start()
        await lesson.say("Amy", "my snap is @amy_rocks_2015 add me")

    run(scenario())
    [flagged] = incidents_of(session_factory)
    assert flagged.reported_by_staff_id is None
    with session_factory() as session:
        incident = session.get_one(Incident, flagged.id)
        teacher = staff_named(session, OAK_TEACHER)
        assistant = staff_named(session, OAK_ASSISTANT)
        assert may_see_incident(assistant, incident)  # on the lesson as its assistant
        assert [i.id for i in visible_incidents(session, assistant)] == [incident.id]
        assert not may_see_incident(staff_named(session, OAK_ADMIN), incident)
        fields = check_fields(
            category="personal_details",
            description="Amy shared her username.",
            people_involved="Amy Adams",
            actions_taken="Reminded the class.",
        )
        assert update_incident(session, incident, fields, actor=teacher, now=clock.now)
        session.commit()
        assert incident.reported_by_name == "Tess Teacher"
        # Taken up: from now on it is the teacher's (and the DSL's), no longer the assistant's.
        assert not may_see_incident(assistant, incident)
        assert visible_incidents(session, assistant) == []
        assert [i.id for i in visible_incidents(session, teacher)] == [incident.id]


def test_the_webhook_settings_are_both_or_neither_encrypted_and_with_a_long_secret() -> None:
    url, secret = "SAFECLASS_INCIDENT_WEBHOOK_URL", "SAFECLASS_INCIDENT_WEBHOOK_SECRET"
    assert WebhookSettings.from_env({}) is None
    good = WebhookSettings.from_env({url: "https://cpoms.example/in", secret: "k" * 32})
    assert good == WebhookSettings("https://cpoms.example/in", b"k" * 32)
    assert "kkkk" not in repr(good)
    local = WebhookSettings.from_env({url: "http://127.0.0.1:9000/in", secret: "k" * 32})
    assert local is not None
    for environ, words in [
        ({url: "https://cpoms.example/in"}, "go together"),
        ({secret: "k" * 32}, "go together"),
        ({url: "http://cpoms.example/in", secret: "k" * 32}, "https://"),
        ({url: "cpoms.example", secret: "k" * 32}, "https://"),
        ({url: "https://cpoms.example/in", secret: "short"}, "at least 32"),
    ]:
        with pytest.raises(ConfigError, match=words):
            WebhookSettings.from_env(environ)


def test_every_kind_of_lesson_event_reads_in_words_on_a_timeline() -> None:
    """The DSL's timeline has words (or, for book-keeping, nothing) for every event there is,
    recordings included."""
    from safeclass.actions.incidents import LessonLog, describe
    from safeclass.domain.lesson.events import RecordingChanged
    from tests.domain.test_lesson_codec import ONE_OF_EACH

    lesson = LessonLog([])
    for event in ONE_OF_EACH:
        words = describe(event, lesson)
        assert words is None or words.strip(), event
    started, stopped = (e for e in ONE_OF_EACH if isinstance(e, RecordingChanged))
    assert describe(started, lesson) == "someone started recording 1."
    assert describe(stopped, lesson) == (
        "Recording 1 stopped by itself: no member of staff was left in the lesson."
    )
