"""Consent links as a parent or carer receives them (a printed letter, or an email), and the
consent register as a CSV for the school.

Letters and emails are made from the plain tokens in the request that has them
(`web.pages.consent`); nothing here stores a token. An email is recorded (`actions.consent`) with
its link's token blanked out by `without_token`. The CSV escapes cells a spreadsheet would run as
formulas, exactly as the join links' CSV does (`web.link_letters`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from safeclass.domain.consent import ConsentScope, ConsentStatus
from safeclass.web.link_letters import LetterFonts, Letters, csv_cell, format_day
from safeclass.web.wording import format_when

TOKEN_BLANKED = "[personal link: shown only when it was made, never stored]"  # noqa: S105

SCOPE_WORDS = {
    ConsentScope.LIVE_LESSONS: "Live lessons",
    ConsentScope.RECORDING: "Recording",
}
STATUS_WORDS = {
    ConsentStatus.GIVEN: "given",
    ConsentStatus.MISSING: "missing",
    ConsentStatus.WITHDRAWN: "withdrawn",
    ConsentStatus.OUTDATED: "outdated",
}


@dataclass(frozen=True)
class ConsentLetter:
    """One new consent link, with what a letter or an email needs."""

    parent_name: str
    parent_email: str | None
    school_name: str
    children: tuple[str, ...]  # first names
    url: str
    expires_at: datetime

    @property
    def children_words(self) -> str:
        names = list(self.children)
        if len(names) == 1:
            return names[0]
        return ", ".join(names[:-1]) + " and " + names[-1]


# --- Email ---------------------------------------------------------------------------------------


def email_subject(letter: ConsentLetter) -> str:
    return f"{letter.school_name}: your permission for live lessons"


def email_body(letter: ConsentLetter) -> str:
    return "\n".join(
        [
            f"Dear {letter.parent_name},",
            "",
            f"{letter.school_name} teaches some lessons live online, with SafeClass. Before "
            f"{letter.children_words} can join a live lesson, we need your permission.",
            "",
            "Please open your personal link, read what live lessons involve, and choose:",
            "",
            letter.url,
            "",
            "The same link lets you withdraw your permission at any time. It works until "
            f"{format_day(letter.expires_at)}.",
            "",
            "This link is only for you. Please do not forward it or share it: anyone who has it "
            "could give or withdraw permission in your name. If you think someone else has it, "
            "tell the school and we will make you a new one.",
            "",
            f"If you have any questions, please contact {letter.school_name}.",
        ]
    )


def without_token(text: str, token: str) -> str:
    """The text as it is stored: the link's token blanked out."""
    return text.replace(token, TOKEN_BLANKED)


# --- Letters -------------------------------------------------------------------------------------


def consent_letters_pdf(
    letters: Sequence[ConsentLetter], fonts: LetterFonts | None = None
) -> bytes:
    """One page per parent or carer."""
    pdf = _ConsentLetters(fonts if fonts is not None else LetterFonts.find())
    pdf.pdf.set_title("Consent links")
    for letter in letters:
        pdf.consent_letter(letter)
    return pdf.output()


class _ConsentLetters(Letters):
    def consent_letter(self, letter: ConsentLetter) -> None:
        self.lost = False
        self.pdf.add_page()
        self._para(letter.school_name, size=10, after=4)
        self._para("Your permission for live lessons", size=18, bold=True, after=2)
        self._para(f"For {letter.parent_name}", size=10, after=4)
        self._para(f"Dear {letter.parent_name},")
        self._para(
            f"{letter.school_name} teaches some lessons live online, with SafeClass. Before "
            f"{letter.children_words} can join a live lesson, we need your permission."
        )
        self._heading("Your personal link")
        self._link_box(letter.url)
        self._heading("What to do")
        self._items(
            [
                "Open the link in a web browser, or type it in exactly as it is written above.",
                "Read what live lessons involve, and the risks.",
                "Choose yes or no for each child: for live lessons, and for recording.",
            ],
            numbered=True,
        )
        self._para(
            "You can change your mind at any time: open the same link and withdraw your "
            "permission. It takes effect straight away."
        )
        self._heading("Please keep it private")
        self._para(
            "This link is only for you. Anyone who has it could give or withdraw permission in "
            "your name. If you think someone else has it, tell the school and we will make you a "
            "new one; the old one will stop working at once."
        )
        self._para(f"This link works until {format_day(letter.expires_at)}.", bold=True)
        self._para(f"If you have any questions, please contact {letter.school_name}.")
        if self.lost:
            self.pdf.ln(2)
            self._para(
                'Some letters of a name above cannot be printed here, so they are shown as "?". '
                "The school's records have the name in full.",
                size=9,
            )


# --- The consent register as CSV -----------------------------------------------------------------

CSV_HEADER = (
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
)


@dataclass(frozen=True)
class RegisterRow:
    """One consent record of one pupil (or, with no record, the pupil alone), with the pupil's
    status now for that scope."""

    pupil_first_name: str
    pupil_last_name: str
    class_name: str
    year_group: int
    scope: ConsentScope
    status: ConsentStatus
    parent_name: str = ""
    text_version: str = ""
    given_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdrawn_by: str = ""  # the parent or carer who withdrew it, when not the one who gave it


def consent_csv(rows: Sequence[RegisterRow]) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read accents correctly."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            [
                csv_cell(row.pupil_first_name),
                csv_cell(row.pupil_last_name),
                csv_cell(row.class_name),
                str(row.year_group),
                SCOPE_WORDS[row.scope],
                STATUS_WORDS[row.status],
                csv_cell(row.parent_name),
                csv_cell(row.text_version),
                format_when(row.given_at) if row.given_at is not None else "",
                format_when(row.withdrawn_at) if row.withdrawn_at is not None else "",
                csv_cell(row.withdrawn_by),
            ]
        )
    return out.getvalue().encode("utf-8-sig")
