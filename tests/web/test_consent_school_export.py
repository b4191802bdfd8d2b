"""The whole school's consent register as CSV: every pupil of the school once (a pupil in two
classes has their classes in one cell), sorted by class then name, for the same staff as a class's
register, with cells a spreadsheet would run as formulas made harmless."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.domain.consent import ConsentScope
from safeclass.store.models import ClassGroup, Consent, Parent, ParentLink, Pupil, School
from safeclass.web.pages import consent as consent_pages
from safeclass.web.wording import school_today
from tests.web.conftest import (
    BIRCH_ADMIN,
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
)
from tests.web.helpers import TestClient, sign_in

HOSTILE_FIRST_NAME = '=HYPERLINK("http://evil.example")'
HOSTILE_LAST_NAME = "-2+3"
HOSTILE_PARENT = "@SUM(A1)"
HEADER = [
    "Pupil first name",
    "Pupil last name",
    "Class",
    "Year group",
    "Scope",
    "Status now",
    "Parent or carer",
    "Text version",
    "Given at",
    "Withdrawn at",
    "Withdrawn by",
]


@pytest.fixture
def more_of_oak(world: World, session_factory: sessionmaker[Session]) -> None:
    """Oak gets a choir (Cara, already in the Kestrels, and Dan), and Eve, in no class. Ben gets a
    name a spreadsheet would run as a formula, as do Eve's surname and Dan's parent's name."""
    given = datetime(2024, 9, 2, 9, 0, tzinfo=UTC)
    with session_factory() as session:
        cara = session.scalars(select(Pupil).where(Pupil.first_name == "Cara")).one()
        ben = session.scalars(select(Pupil).where(Pupil.first_name == "Ben")).one()
        ben.first_name = HOSTILE_FIRST_NAME
        dan = Pupil(
            school_id=world.oak_id, mis_id="OAK-4", first_name="Dan", last_name="Dale", year_group=5
        )
        eve = Pupil(
            school_id=world.oak_id,
            mis_id="OAK-5",
            first_name="Eve",
            last_name=HOSTILE_LAST_NAME,
            year_group=3,
        )
        choir = ClassGroup(school_id=world.oak_id, name="Choir", year_group=None)
        dee = Parent(trust_id=cara.school.trust_id, display_name=HOSTILE_PARENT, email=None)
        session.add_all([dan, eve, choir, dee])
        session.flush()
        choir.pupils.extend([dan, cara])
        session.add_all(
            [
                ParentLink(pupil_id=dan.id, parent_id=dee.id),
                Consent(
                    pupil_id=dan.id,
                    parent_id=dee.id,
                    scope=ConsentScope.LIVE_LESSONS,
                    text_version="v1",
                    given_at=given,
                ),
                # A yes to words older than the trust's current version ("v1").
                Consent(
                    pupil_id=dan.id,
                    parent_id=dee.id,
                    scope=ConsentScope.RECORDING,
                    text_version="v0",
                    given_at=given,
                ),
            ]
        )
        session.commit()


def as_staff(client: TestClient, email: str) -> None:
    client.cookies.clear()
    sign_in(client, email)


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


@pytest.mark.usefixtures("more_of_oak")
def test_the_school_register_has_every_pupil_once_sorted_by_class_then_name(
    client: TestClient, world: World
) -> None:
    as_staff(client, OAK_DSL)
    before = school_today()
    answer = client.get(f"/admin/schools/{world.oak_id}/consent.csv")
    after = school_today()
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"] in {
        f'attachment; filename="consent-oak-{day:%Y-%m-%d}.csv"' for day in (before, after)
    }
    rows = read_csv(answer.content)
    assert rows[0] == HEADER
    assert all(len(row) == len(HEADER) for row in rows)
    body = [
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), bool(r[9])) for r in rows[1:]
    ]
    ben = "'" + HOSTILE_FIRST_NAME
    eve_last = "'" + HOSTILE_LAST_NAME
    dee = "'" + HOSTILE_PARENT
    both = "Choir; Year 4 Kestrels"
    kestrels = "Year 4 Kestrels"
    assert body == [
        # The choir first: Cara (in both classes, once), then Dan.
        ("Cara", "Clark", both, "4", "Live lessons", "withdrawn", "Chris Clark", "v1", True, True),
        ("Cara", "Clark", both, "4", "Recording", "missing", "", "", False, False),
        ("Dan", "Dale", "Choir", "5", "Live lessons", "given", dee, "v1", True, False),
        ("Dan", "Dale", "Choir", "5", "Recording", "outdated", dee, "v0", True, False),
        # Then the Kestrels, by surname.
        ("Amy", "Adams", kestrels, "4", "Live lessons", "given", "Alex Adams", "v1", True, False),
        ("Amy", "Adams", kestrels, "4", "Recording", "missing", "", "", False, False),
        (ben, "Brown", kestrels, "4", "Live lessons", "missing", "", "", False, False),
        (ben, "Brown", kestrels, "4", "Recording", "missing", "", "", False, False),
        # A pupil in no class comes last, with the Class cell empty.
        ("Eve", eve_last, "", "3", "Live lessons", "missing", "", "", False, False),
        ("Eve", eve_last, "", "3", "Recording", "missing", "", "", False, False),
    ]
    # Nobody from another school.
    assert "Rob" not in {row[0] for row in rows}


@pytest.mark.usefixtures("more_of_oak")
def test_the_school_register_is_the_class_registers_rows_put_together(
    client: TestClient, world: World
) -> None:
    """Apart from the Class cell, a class's pupils have the same rows in both files."""
    as_staff(client, OAK_ADMIN)
    school_rows = read_csv(client.get(f"/admin/schools/{world.oak_id}/consent.csv").content)
    class_rows = read_csv(client.get(f"/admin/classes/{world.kestrels_id}/consent.csv").content)
    assert class_rows[0] == school_rows[0]

    def without_class(rows: list[list[str]]) -> list[list[str]]:
        return [row[:2] + row[3:] for row in rows]

    kestrels = [row for row in school_rows[1:] if "Year 4 Kestrels" in row[2]]
    assert len(kestrels) == len(class_rows) - 1
    assert without_class(kestrels) != []
    assert sorted(without_class(kestrels)) == sorted(without_class(class_rows[1:]))


@pytest.mark.parametrize("email", [OAK_DSL, OAK_ADMIN, TRUST_ADMIN])
def test_those_who_may_download_a_class_register_may_download_the_schools(
    client: TestClient, world: World, email: str
) -> None:
    as_staff(client, email)
    page = client.get(f"/admin/classes/{world.kestrels_id}/consent")
    link = f'href="/admin/schools/{world.oak_id}/consent.csv"'
    assert link in page.text
    assert client.get(f"/admin/schools/{world.oak_id}/consent.csv").status_code == 200


@pytest.mark.parametrize("email", [OAK_TEACHER, ELM_TEACHER, BIRCH_ADMIN])
def test_other_staff_get_not_found(client: TestClient, world: World, email: str) -> None:
    """A teacher of the school (who may not see a class's register either), a teacher of another
    school of the trust, and another trust's admin: the same answer as for no school at all."""
    as_staff(client, email)
    answer = client.get(f"/admin/schools/{world.oak_id}/consent.csv")
    assert answer.status_code == 404
    assert "Amy" not in answer.text
    assert client.get(f"/admin/classes/{world.kestrels_id}/consent.csv").status_code == 404


def test_an_unknown_school_and_a_signed_out_visitor_get_nothing(
    client: TestClient, world: World
) -> None:
    signed_out = client.get(f"/admin/schools/{world.oak_id}/consent.csv")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/signin"
    as_staff(client, TRUST_ADMIN)
    assert client.get(f"/admin/schools/{world.birch_id + 100}/consent.csv").status_code == 404


def test_the_file_name_is_plain_ascii_with_the_day_where_the_school_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consent_pages, "SCHOOL_TIMEZONE", ZoneInfo("Europe/London"))
    school = School(trust_id=1, name="St Mary's", slug='St Mary\'s "Église"\r\n')
    # 23:30 in UTC on 30 June is already 1 July in London.
    late = datetime(2024, 6, 30, 23, 30, tzinfo=UTC)
    assert (
        consent_pages.school_register_file_name(school, late)
        == "consent-st-mary-s-eglise-2024-07-01.csv"
    )
    assert (
        consent_pages.school_register_file_name(School(trust_id=1, name="?", slug="???"), late)
        == "consent-school-2024-07-01.csv"
    )
