"""An incident's page says whether its lesson was being recorded when it happened, with the
recording of that moment first and the lesson's others after it; "Watch" and "Download" only for
those the recording's own pages would let in, and nothing of another school's recordings. Rows
are made directly with the models; the page is read through the real app."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.recordings import recording_covers
from safeclass.config import Config
from safeclass.media.recording_files import recordings_root
from safeclass.store.models import (
    Incident,
    IncidentSource,
    IncidentState,
    Lesson,
    Recording,
    RecordingState,
    School,
    StaffMember,
    StaffRole,
    StaffRoleGrant,
)
from tests.web.conftest import BIRCH_ADMIN, OAK_ADMIN, OAK_DSL, World, password_hash
from tests.web.helpers import TestClient, sign_in

NOT_RECORDED = "This lesson was not being recorded when this happened."
WAS_RECORDED = "The lesson was being recorded when this happened."
ELM_DSL = "dsl@elm.example"


def _recording(
    factory: sessionmaker[Session],
    lesson_id: int,
    number: int,
    *,
    start_minute: int,
    end_minute: int | None,
    state: RecordingState = RecordingState.READY,
) -> int:
    """A recording of the lesson from `start_minute` to `end_minute` after it starts (None:
    still going)."""
    with factory() as session:
        lesson = session.get_one(Lesson, lesson_id)
        recording = Recording(
            lesson_id=lesson_id,
            school_id=lesson.school_id,
            number=number,
            state=state,
            started_at=lesson.starts_at + timedelta(minutes=start_minute),
            ended_at=(
                lesson.starts_at + timedelta(minutes=end_minute) if end_minute is not None else None
            ),
            started_by_staff_id=lesson.host_id,
            file_name=(
                f"lesson-{lesson_id}-recording-{number}.webm"
                if state is RecordingState.READY
                else None
            ),
        )
        session.add(recording)
        session.commit()
        return recording.id


def _file(config: Config, lesson_id: int, number: int) -> None:
    path = recordings_root(config.data_dir) / f"lesson-{lesson_id}-recording-{number}.webm"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"webm")


def _incident(
    factory: sessionmaker[Session], world: World, *, minute: int, reporter: str = OAK_DSL
) -> int:
    """A staff report about the Oak lesson, `minute` minutes after it started."""
    with factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        staff = session.scalars(select(StaffMember).where(StaffMember.email == reporter)).one()
        at = lesson.starts_at + timedelta(minutes=minute)
        incident = Incident(
            school_id=lesson.school_id,
            lesson_id=lesson.id,
            lesson_title=lesson.title,
            source=IncidentSource.STAFF_REPORT,
            state=IncidentState.NEW,
            category="behaviour",
            description="Amy called Ben names.",
            reported_by_staff_id=staff.id,
            reported_by_name=staff.display_name,
            occurred_at=at,
            opened_at=at,
            updated_at=at,
        )
        session.add(incident)
        session.commit()
        return incident.id


def _allow_recording(factory: sessionmaker[Session], world: World) -> None:
    with factory() as session:
        school = session.get_one(School, world.oak_id)
        school.policy_overrides = {**(school.policy_overrides or {}), "recording_allowed": True}
        session.commit()


def _page(app: FastAPI, email: str, incident_id: int) -> str:
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, email)
        response = client.get(f"/admin/incidents/{incident_id}")
        assert response.status_code == 200
        text: str = response.text
        return text


def test_the_dsl_sees_the_recording_of_the_moment_first_and_can_watch_it(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    _allow_recording(session_factory, world)
    during = _recording(session_factory, world.oak_lesson_id, 1, start_minute=5, end_minute=30)
    later = _recording(session_factory, world.oak_lesson_id, 2, start_minute=40, end_minute=50)
    _file(config, world.oak_lesson_id, 1)
    incident_id = _incident(session_factory, world, minute=20)

    with TestClient(app, follow_redirects=False) as dsl:
        sign_in(dsl, OAK_DSL)
        page = dsl.get(f"/admin/incidents/{incident_id}").text
        # The link goes where it says: the watch page, not "page not found".
        watched = dsl.get(f"/admin/recordings/{during}")

    assert WAS_RECORDED in page
    assert NOT_RECORDED not in page
    assert f'<a href="/admin/recordings/{during}">Watch</a>' in page
    assert f'href="/admin/recordings/{during}/download"' in page
    assert f'<a href="/admin/recordings/{later}">Watch</a>' in page
    # The moment's recording, then the others.
    assert page.index(WAS_RECORDED) < page.index("Recording 1") < page.index("Other recordings")
    assert page.index("Other recordings") < page.index("Recording 2")
    assert watched.status_code == 200


@pytest.mark.parametrize(
    ("start", "end", "going"),
    [(20, 30, True), (5, 20, True), (21, 30, False), (5, 19, False), (5, None, True)],
)
def test_a_recording_covers_the_moment_from_its_start_to_its_end_both_included(
    session_factory: sessionmaker[Session],
    world: World,
    start: int,
    end: int | None,
    going: bool,
) -> None:
    recording_id = _recording(
        session_factory, world.oak_lesson_id, 1, start_minute=start, end_minute=end
    )
    with session_factory() as session:
        recording = session.get_one(Recording, recording_id)
        at: datetime = recording.lesson.starts_at + timedelta(minutes=20)

        assert recording_covers(recording, at) is going


def test_a_recording_still_going_is_the_moments_but_has_no_links_yet(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    # The app is already running (`client`): one starting now would take the row for one its
    # last run left unfinished, and prepare it.
    _allow_recording(session_factory, world)
    going = _recording(
        session_factory,
        world.oak_lesson_id,
        1,
        start_minute=5,
        end_minute=None,
        state=RecordingState.RECORDING,
    )
    incident_id = _incident(session_factory, world, minute=20)
    sign_in(client, OAK_DSL)

    page = client.get(f"/admin/incidents/{incident_id}").text

    assert WAS_RECORDED in page
    assert "Still recording" in page
    assert "Recording now" in page
    assert f"/admin/recordings/{going}" not in page


def test_staff_who_see_the_incident_but_may_not_watch_get_no_links(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    # A school admin who reported it sees the incident; recordings are for the lesson's staff
    # and the DSLs, so the admin would get "page not found" from the links.
    recording_id = _recording(
        session_factory, world.oak_lesson_id, 1, start_minute=5, end_minute=30
    )
    _file(config, world.oak_lesson_id, 1)
    incident_id = _incident(session_factory, world, minute=20, reporter=OAK_ADMIN)

    with TestClient(app, follow_redirects=False) as admin:
        sign_in(admin, OAK_ADMIN)
        page = admin.get(f"/admin/incidents/{incident_id}").text
        assert admin.get(f"/admin/recordings/{recording_id}").status_code == 404

    assert WAS_RECORDED in page
    assert "Recording 1" in page
    assert "Ready" in page
    assert f"/admin/recordings/{recording_id}" not in page
    assert ">Watch</a>" not in page
    assert ">Download</a>" not in page


def test_another_schools_dsl_sees_neither_the_incident_nor_its_recordings(
    app: FastAPI, config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        oak = session.get_one(School, world.oak_id)
        elm_dsl = StaffMember(
            trust_id=oak.trust_id,
            email=ELM_DSL,
            display_name="Elle Lead",
            password_hash=password_hash(),
        )
        session.add(elm_dsl)
        session.flush()
        session.add(
            StaffRoleGrant(
                staff_id=elm_dsl.id, role=StaffRole.SAFEGUARDING_LEAD, school_id=world.elm_id
            )
        )
        session.commit()
    recording_id = _recording(
        session_factory, world.oak_lesson_id, 1, start_minute=5, end_minute=30
    )
    _file(config, world.oak_lesson_id, 1)
    incident_id = _incident(session_factory, world, minute=20)

    for email in (ELM_DSL, BIRCH_ADMIN):
        with TestClient(app, follow_redirects=False) as other:
            sign_in(other, email)
            response = other.get(f"/admin/incidents/{incident_id}")

            assert response.status_code == 404
            assert f"/admin/recordings/{recording_id}" not in response.text
            assert "Recording 1" not in response.text


def test_another_lessons_recording_at_the_same_time_is_not_shown(
    app: FastAPI, session_factory: sessionmaker[Session], world: World
) -> None:
    _allow_recording(session_factory, world)
    with session_factory() as session:
        oak = session.get_one(Lesson, world.oak_lesson_id)
        birch = session.get_one(Lesson, world.birch_lesson_id)
        # Birch's lesson recorded across the very minute of Oak's incident.
        offset = int((oak.starts_at - birch.starts_at).total_seconds() // 60)
    birch_recording = _recording(
        session_factory,
        world.birch_lesson_id,
        1,
        start_minute=offset + 5,
        end_minute=offset + 30,
    )
    incident_id = _incident(session_factory, world, minute=20)

    page = _page(app, OAK_DSL, incident_id)

    assert NOT_RECORDED in page
    assert "Recording 1" not in page
    assert f"/admin/recordings/{birch_recording}" not in page


def test_a_lesson_not_recorded_at_that_moment_says_so_and_lists_its_others(
    app: FastAPI, session_factory: sessionmaker[Session], world: World
) -> None:
    _allow_recording(session_factory, world)
    earlier = _recording(session_factory, world.oak_lesson_id, 1, start_minute=0, end_minute=10)
    incident_id = _incident(session_factory, world, minute=20)

    page = _page(app, OAK_DSL, incident_id)

    assert NOT_RECORDED in page
    assert WAS_RECORDED not in page
    assert "Other recordings of this lesson" in page
    assert f'<a href="/admin/recordings/{earlier}">Watch</a>' in page


def test_a_lesson_that_may_be_recorded_but_was_not_says_so(
    app: FastAPI, session_factory: sessionmaker[Session], world: World
) -> None:
    _allow_recording(session_factory, world)
    incident_id = _incident(session_factory, world, minute=20)

    page = _page(app, OAK_DSL, incident_id)

    assert NOT_RECORDED in page
    assert "Other recordings" not in page


def test_no_part_when_recording_is_off_and_there_are_none(
    app: FastAPI, session_factory: sessionmaker[Session], world: World
) -> None:
    incident_id = _incident(session_factory, world, minute=20)

    page = _page(app, OAK_DSL, incident_id)

    assert 'id="recordings"' not in page
    assert ">Recordings</h2>" not in page
    assert NOT_RECORDED not in page
