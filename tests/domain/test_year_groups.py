"""Year groups as schools write them: Nursery, Reception, Year 1 to Year 13."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeclass.domain.year_groups import YearGroupError, describe_year_group, parse_year_group


@pytest.mark.parametrize(
    ("raw", "year_group"),
    [
        ("N", -1),
        ("n", -1),
        ("Nursery", -1),
        ("R", 0),
        ("Reception", 0),
        (" reception ", 0),
        ("Rec", 0),
        ("YR", 0),
        ("Year R", 0),
        ("Y3", 3),
        ("y3", 3),
        ("Yr3", 3),
        ("Year 3", 3),
        ("year3", 3),
        ("YEAR  3", 3),
        ("3", 3),
        (" 3 ", 3),
        ("1", 1),
        ("Y13", 13),
        ("Year 13", 13),
        ("07", 7),
    ],
)
def test_year_groups_are_read_as_schools_write_them(raw: str, year_group: int) -> None:
    assert parse_year_group(raw) == year_group


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "0",
        "Year 0",
        "Y14",
        "14",
        "-1",
        "Year",
        "Y",
        "three",
        "Year 3a",
        "3.5",
        "Rr",
        "100",
    ],
)
def test_anything_else_is_refused_in_plain_words(raw: str) -> None:
    with pytest.raises(YearGroupError) as refused:
        parse_year_group(raw)

    assert str(refused.value) == (
        f'"{raw}" is not a year group. Use Nursery, Reception, or a year from 1 to 13.'
    )


@pytest.mark.parametrize(
    ("year_group", "words"),
    [(-1, "Nursery"), (0, "Reception"), (1, "Year 1"), (13, "Year 13")],
)
def test_year_groups_are_described_as_schools_say_them(year_group: int, words: str) -> None:
    assert describe_year_group(year_group) == words


@given(year_group=st.integers(-1, 13))
def test_the_description_of_a_year_group_reads_back_as_the_same_year_group(
    year_group: int,
) -> None:
    assert parse_year_group(describe_year_group(year_group)) == year_group


@given(raw=st.text(max_size=12))
def test_any_text_is_a_year_group_or_refused_never_crashes(raw: str) -> None:
    try:
        year_group = parse_year_group(raw)
    except YearGroupError:
        return
    assert -1 <= year_group <= 13
