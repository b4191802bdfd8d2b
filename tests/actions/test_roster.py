"""Roster import: every bad row reported with its number and nothing written; good files upsert."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.roster import (
    MAX_ROWS,
    ImportResult,
    RosterError,
    RosterImportError,
    import_roster,
)
from safeclass.store.db import transaction
from safeclass.store.models import AuditEntry, ClassGroup, Parent, Pupil, School, Trust

FIXTURES = Path(__file__).parent.parent / "fixtures"
TABLES = ("pupils", "parents", "parent_links", "class_groups", "class_members", "audit_entries")


def make_school(factory: sessionmaker[Session], slug: str = "oakfield") -> int:
    with transaction(factory) as session:
        trust = Trust(name="Test Trust")
        school = School(trust=trust, name="Oakfield Primary", slug=slug)
        session.add(school)
        session.flush()
        return school.id


def run_import(factory: sessionmaker[Session], school_id: int, data: str | bytes) -> ImportResult:
    with transaction(factory) as session:
        school = session.get_one(School, school_id)
        return import_roster(session, school=school, csv_text=data, actor=None)


def refused(factory: sessionmaker[Session], school_id: int, data: str | bytes) -> list[RosterError]:
    with pytest.raises(RosterImportError) as caught:
        run_import(factory, school_id, data)
    return list(caught.value.errors)


def snapshot(factory: sessionmaker[Session]) -> dict[str, list[Any]]:
    with factory() as session:
        return {
            table: sorted(
                (tuple(row) for row in session.execute(text(f"SELECT * FROM {table}"))),  # noqa: S608
                key=repr,
            )
            for table in TABLES
        }


def good_csv() -> str:
    return (FIXTURES / "roster_good.csv").read_text(encoding="utf-8")


def pupils_by_id(session: Session) -> dict[str, Pupil]:
    return {pupil.mis_id: pupil for pupil in session.scalars(select(Pupil))}


def test_good_file_creates_pupils_classes_and_parents(any_session_factory: Any) -> None:
    school_id = make_school(any_session_factory)

    result = run_import(any_session_factory, school_id, good_csv())

    assert (result.pupils_created, result.pupils_updated) == (4, 0)
    assert result.classes_created == 3
    assert result.parents_created == 5
    assert result.ignored_columns == ("Date of Birth",)
    with any_session_factory() as session:
        pupils = pupils_by_id(session)
        assert pupils["A101"].year_group == 0
        assert [group.name for group in pupils["A103"].class_groups] == ["3S", "Maths Set 1"]
        classes = {group.name: group for group in session.scalars(select(ClassGroup))}
        assert {name: group.year_group for name, group in classes.items()} == {
            "3S": 3,
            "Maths Set 1": 3,
            "RB": 0,
        }
        jo = session.scalars(select(Parent).where(Parent.email == "jo.stone@example.net")).one()
        assert sorted(link.pupil.mis_id for link in jo.pupil_links) == ["A100", "A101"]
        sam = [link.parent for link in pupils["A101"].parent_links if link.parent.email is None]
        assert [(parent.display_name,) for parent in sam] == [("Sam Stone",)]
        audit = session.scalars(select(AuditEntry)).one()
        assert audit.action == "roster_imported"
        assert audit.school_id == school_id
        assert audit.data["pupils_created"] == 4
        assert "Stone" not in repr(audit.data)


def test_columns_not_in_the_format_are_never_stored(session_factory: Any) -> None:
    school_id = make_school(session_factory)
    run_import(session_factory, school_id, good_csv())

    stored = repr(snapshot(session_factory))

    assert "2017-05-02" not in stored


def test_bad_rows_are_all_reported_with_row_numbers_and_nothing_is_written(
    any_session_factory: Any,
) -> None:
    school_id = make_school(any_session_factory)
    run_import(any_session_factory, school_id, good_csv())
    before = snapshot(any_session_factory)

    errors = refused(
        any_session_factory, school_id, (FIXTURES / "roster_bad.csv").read_text(encoding="utf-8")
    )

    assert [(error.row, error.column) for error in errors] == [
        (2, "Year group"),
        (3, "First name"),
        (4, "Contact1 Name"),
        (5, "Contact1 Email"),
        (7, "Pupil ID"),
    ]
    assert "not a year group" in errors[0].message
    assert errors[1].message == "This value is missing."
    assert "no name" in errors[2].message
    assert '"not-an-email" is not an email address.' in errors[3].message
    assert "also on row 2" in errors[4].message
    assert str(errors[0]).startswith('Row 2, column "Year group": ')
    assert snapshot(any_session_factory) == before


def test_one_bad_row_stops_the_good_rows_too(any_session_factory: Any) -> None:
    school_id = make_school(any_session_factory)
    run_import(any_session_factory, school_id, good_csv())
    before = snapshot(any_session_factory)
    changed = good_csv().replace("Amelia", "Amy") + "A104,Zed,Quill,Y99,3S,,,,,,,\n"

    errors = refused(any_session_factory, school_id, changed)

    assert [(error.row, error.column) for error in errors] == [(6, "NC Year")]
    assert snapshot(any_session_factory) == before


def test_reimport_updates_rather_than_duplicates(any_session_factory: Any) -> None:
    school_id = make_school(any_session_factory)
    run_import(any_session_factory, school_id, good_csv())
    header, *rows = good_csv().splitlines()
    rows[0] = rows[0].replace("Amelia", "Amy")
    rows[1] = "A101,Ben,Stone,Reception,RB,2020-01-10,Jo Stone,jo.stone@example.net,Mother,,,"
    rows[2] = rows[2].replace(",3,3S,", ",4,4N,")
    rows.append("A104,Eli,Stone,Y1,1W,2019-03-03,Jo Stone,jo.stone@example.net,Mother,,,")

    result = run_import(any_session_factory, school_id, "\n".join([header, *rows]) + "\n")

    assert result.pupils_created == 1
    assert result.pupils_updated == 3
    assert result.pupils_unchanged == 1
    assert result.parents_created == 0
    assert result.classes_created == 2
    with any_session_factory() as session:
        pupils = pupils_by_id(session)
        assert sorted(pupils) == ["A100", "A101", "A102", "A103", "A104"]
        assert pupils["A100"].first_name == "Amy"
        assert [link.parent.display_name for link in pupils["A101"].parent_links] == ["Jo Stone"]
        assert [group.name for group in pupils["A102"].class_groups] == ["4N"]
        assert pupils["A102"].year_group == 4
        classes = {group.name: group for group in session.scalars(select(ClassGroup))}
        assert sorted(pupil.mis_id for pupil in classes["3S"].pupils) == ["A100", "A103"]
        assert classes["4N"].year_group == 4
        assert len(session.scalars(select(Parent)).all()) == 5
        assert len(session.scalars(select(AuditEntry)).all()) == 2


def test_reimporting_the_same_file_changes_nothing_and_writes_no_audit_entry(
    session_factory: Any,
) -> None:
    school_id = make_school(session_factory)
    run_import(session_factory, school_id, good_csv())
    before = snapshot(session_factory)

    result = run_import(session_factory, school_id, good_csv().encode("utf-8-sig"))

    assert (result.pupils_created, result.pupils_updated, result.pupils_unchanged) == (0, 0, 4)
    assert not result.changed
    assert snapshot(session_factory) == before


def test_a_file_without_classes_or_contacts_leaves_them_alone(session_factory: Any) -> None:
    school_id = make_school(session_factory)
    run_import(session_factory, school_id, good_csv())

    result = run_import(
        session_factory, school_id, "Pupil ID,First Name,Last Name,Year Group\nA100,Amy,Stone,3\n"
    )

    assert result.pupils_updated == 1
    with session_factory() as session:
        amy = pupils_by_id(session)["A100"]
        assert [group.name for group in amy.class_groups] == ["3S", "Maths Set 1"]
        assert [link.parent.display_name for link in amy.parent_links] == ["Jo Stone"]


def test_mixed_year_class_has_no_year_group(session_factory: Any) -> None:
    school_id = make_school(session_factory)

    run_import(
        session_factory,
        school_id,
        "pupil_id,first_name,last_name,year_group,classes\n"
        "1,Ann,Ash,Y5,Choir\n2,Bob,Birch,Y6,Choir\n",
    )

    with session_factory() as session:
        choir = session.scalars(select(ClassGroup)).one()
        assert choir.year_group is None


def test_parent_is_matched_by_email_across_schools_of_the_trust(session_factory: Any) -> None:
    first = make_school(session_factory)
    with transaction(session_factory) as session:
        trust_id = session.get_one(School, first).trust_id
        second = School(trust_id=trust_id, name="Oakfield High", slug="oakfield-high")
        session.add(second)
        session.flush()
        second_id = second.id
    run_import(session_factory, first, good_csv())

    result = run_import(
        session_factory,
        second_id,
        "UPN,Forename,Surname,Year,Contact 1 Name,Contact 1 Email\n"
        "H1,Hal,Stone,Y8,Jo Stone,jo.stone@example.net\n",
    )

    assert result.parents_created == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("", "The file is empty."),
        ("   \n\n", "The file is empty."),
        ("pupil_id,first_name,last_name,year_group\n", "The file has a header row but no pupils."),
        (
            "pupil_id,first_name,last_name\n1,A,B\n",
            'The file has no "year_group" column (the pupil\'s year group).',
        ),
        ("UPN,pupil id,first_name,last_name,year_group\n", "Two columns both give"),
        ('pupil_id,first_name,last_name,year_group\n1,"A,B,3\n', "cannot be read as CSV"),
    ],
)
def test_problems_with_the_whole_file(session_factory: Any, data: str, expected: str) -> None:
    school_id = make_school(session_factory)

    errors = refused(session_factory, school_id, data)

    assert any(expected in error.message for error in errors), errors


def test_file_not_saved_as_utf8_is_refused_with_a_hint(session_factory: Any) -> None:
    school_id = make_school(session_factory)

    errors = refused(session_factory, school_id, (FIXTURES / "roster_latin1.csv").read_bytes())

    assert errors[0].row == 2
    assert "CSV UTF-8" in errors[0].message


def test_too_many_rows_is_refused(session_factory: Any) -> None:
    school_id = make_school(session_factory)
    rows = "".join(f"{n},A,B,3\n" for n in range(MAX_ROWS + 1))
    errors = refused(
        session_factory, school_id, "pupil_id,first_name,last_name,year_group\n" + rows
    )

    assert "more than 20,000 pupils" in errors[0].message


def test_over_long_and_control_character_values_are_refused(session_factory: Any) -> None:
    school_id = make_school(session_factory)

    errors = refused(
        session_factory,
        school_id,
        f"pupil_id,first_name,last_name,year_group\n1,{'A' * 101},B,3\n2,A\x00n,B,3\n",
    )

    assert [(error.row, error.column) for error in errors] == [
        (2, "first_name"),
        (3, "first_name"),
    ]
    assert "too long (at most 100 characters)" in errors[0].message
    assert "control character" in errors[1].message


# --- Whatever the file holds, the import either works or says why: never another exception.

_HEADERS = [
    "pupil_id",
    "UPN",
    "Forename",
    "first name",
    "Surname",
    "last-name",
    "Year",
    "NC Year",
    "classes",
    "Reg Group",
    "contact1_name",
    "Contact1 Email",
    "contact1_relationship",
    "contact2_name",
    "contact2_email",
    "Date of birth",
]
_CELLS = st.one_of(
    st.sampled_from(
        ["", "R", "N", "Y3", "Year 13", "14", "a@b.co", "A@B.CO", "x@", "3S;4T", "3s", ";;", "é"]
    ),
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=120),
)


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    required = ["pupil_id", "first_name", "last_name", "year_group"]
    extras = draw(st.lists(st.one_of(st.sampled_from(_HEADERS), st.text(max_size=10)), max_size=10))
    header = draw(st.permutations(required + extras)) if draw(st.booleans()) else extras
    rows = draw(st.lists(st.lists(_CELLS, max_size=14), max_size=6))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@st.composite
def plausible_csv_files(draw: st.DrawFn) -> str:
    """Mostly-right files, so the writing half of the import is exercised too."""
    names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéß' -", min_size=1, max_size=12)
    header = [
        "UPN", "Forename", "Surname", "Year", "Classes",
        "Contact1 Name", "Contact1 Email", "Contact2 Name", "Contact2 Email",
    ]  # fmt: skip
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["1", "2", "3", "A1", "a1"]),
                names,
                names,
                st.sampled_from(["R", "N", "1", "Y6", "Year 11", "Y14"]),
                st.sampled_from(["", "3S", "3s;Choir", "Choir; choir", "Art"]),
                st.sampled_from(["", "Jo Stone", "jo stone", "Sam"]),
                st.sampled_from(["", "jo@example.net", "JO@example.net", "sam@example.net"]),
                st.sampled_from(["", "Jo Stone", "Kim"]),
                st.sampled_from(["", "jo@example.net", "kim@example.net"]),
            ),
            min_size=1,
            max_size=6,
        )
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        csv_files(), plausible_csv_files(), st.text(max_size=300), st.binary(max_size=300)
    )
)
def test_any_file_either_imports_or_is_refused_with_reasons(
    any_session_factory: Any, data: str | bytes
) -> None:
    with any_session_factory() as session:
        school = session.scalars(select(School)).first()
        if school is None:
            school = School(trust=Trust(name="Fuzz Trust"), name="Fuzz School", slug="fuzz")
            session.add(school)
            session.commit()
        problems: tuple[RosterError, ...] = ()
        try:
            result = import_roster(session, school=school, csv_text=data, actor=None)
        except RosterImportError as error:
            problems = error.errors
        else:
            assert result.pupils_created + result.pupils_updated + result.pupils_unchanged > 0
        finally:
            session.rollback()
        assert all(problem.message for problem in problems)
