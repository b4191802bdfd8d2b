"""The pages a pupil, a parent or a guest reads before joining say whether the teacher may record
the lesson, and on what terms: only where the lesson's policy allows recording."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.guests import invite_guest
from safeclass.actions.join_links import Holder, LinkScope, issue_link
from safeclass.codes import passcode_key
from safeclass.config import Config
from safeclass.store.models import Lesson, Pupil, School, StaffMember
from safeclass.web.context import WebContext
from tests.web.conftest import OAK_TEACHER, World
from tests.web.helpers import TestClient

MAY_BE_RECORDED = "This lesson may be recorded"
STAFF_ONLY = "Only the teachers' video and sound and shared screens are kept."
WAITS = "not let in while a recording is running"


def an_hour_before_the_lesson(
    web: WebContext, world: World, session_factory: sessionmaker[Session]
) -> datetime:
    with session_factory() as session:
        now = session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(hours=1)
    web.now = lambda: now
    return now


def school_policy(session_factory: sessionmaker[Session], world: World, **values: object) -> None:
    with session_factory() as session:
        school = session.get_one(School, world.oak_id)
        school.policy_overrides = {**(school.policy_overrides or {}), **values}
        session.commit()


def lesson_options(session_factory: sessionmaker[Session], world: World, **values: object) -> None:
    with session_factory() as session:
        session.get_one(Lesson, world.oak_lesson_id).options = values
        session.commit()


def teacher(session: Session) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()


def amys_link(
    session_factory: sessionmaker[Session], world: World, config: Config, now: datetime
) -> str:
    with session_factory() as session:
        amy = session.scalars(select(Pupil).where(Pupil.first_name == "Amy")).one()
        issued = issue_link(
            session,
            LinkScope.for_lesson(session.get_one(Lesson, world.oak_lesson_id)),
            Holder(amy),
            actor=teacher(session),
            now=now,
            passcode_key=passcode_key(config.secret_key()),
        )
        session.commit()
        return f"/join/{issued.token}"


def test_a_pupils_link_says_the_lesson_may_be_recorded_only_when_it_may(
    client: TestClient,
    web: WebContext,
    world: World,
    config: Config,
    session_factory: sessionmaker[Session],
) -> None:
    now = an_hour_before_the_lesson(web, world, session_factory)
    link = amys_link(session_factory, world, config, now)
    # Recording is off unless the policy allows it.
    page = client.get(link).text
    assert "Fractions together" in page
    assert MAY_BE_RECORDED not in page
    assert "recording" not in page.lower()

    school_policy(session_factory, world, recording_allowed=True, retention_recordings_days=14)
    page = client.get(link).text
    assert MAY_BE_RECORDED in page
    assert STAFF_ONLY in page
    assert "Pupils' cameras and microphones are not recorded." in page
    assert WAITS in page
    assert "Recordings are kept for 14 days, then deleted." in page

    # A lesson may turn recording off for itself, and then the page says nothing about it.
    lesson_options(session_factory, world, recording_allowed=False)
    page = client.get(link).text
    assert "Fractions together" in page
    assert MAY_BE_RECORDED not in page


def test_a_guests_invitation_says_the_lesson_may_be_recorded_only_when_it_may(
    client: TestClient,
    web: WebContext,
    world: World,
    config: Config,
    session_factory: sessionmaker[Session],
) -> None:
    now = an_hour_before_the_lesson(web, world, session_factory)
    school_policy(session_factory, world, named_guests=True)
    with session_factory() as session:
        invited = invite_guest(
            session,
            session.get_one(Lesson, world.oak_lesson_id),
            "Dr Priya Shah",
            actor=teacher(session),
            now=now,
            passcode_key=passcode_key(config.secret_key()),
        )
        session.commit()
    page = client.get(f"/guest/{invited.token}").text
    assert "Welcome, Dr Priya Shah" in page
    assert MAY_BE_RECORDED not in page

    school_policy(session_factory, world, recording_allowed=True)
    page = client.get(f"/guest/{invited.token}").text
    assert MAY_BE_RECORDED in page
    assert STAFF_ONLY in page
    assert WAITS in page
    assert "Recordings are kept for 30 days, then deleted." in page
