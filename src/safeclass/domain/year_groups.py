"""Year groups in English schools, as numbers: Nursery -1, Reception 0, Year 1 to Year 13."""

from __future__ import annotations

import re

NURSERY = -1
RECEPTION = 0
YEAR_13 = 13

_NAMED = {
    "n": NURSERY,
    "nursery": NURSERY,
    "r": RECEPTION,
    "rec": RECEPTION,
    "yr": RECEPTION,
    "reception": RECEPTION,
    "year r": RECEPTION,
}
_NUMBERED = re.compile(r"^(?:y|yr|year)?\s*(\d{1,2})$")


class YearGroupError(ValueError):
    pass


def parse_year_group(raw: str) -> int:
    text = raw.strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    match = _NUMBERED.match(text)
    if match is not None:
        number = int(match.group(1))
        if 1 <= number <= YEAR_13:
            return number
    raise YearGroupError(
        f'"{raw}" is not a year group. Use Nursery, Reception, or a year from 1 to 13.'
    )


def describe_year_group(year_group: int) -> str:
    if year_group == NURSERY:
        return "Nursery"
    if year_group == RECEPTION:
        return "Reception"
    return f"Year {year_group}"
