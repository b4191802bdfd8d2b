"""New join links as documents for the school: a CSV for its mail merge and printable letters.

Both are made from the plain tokens and passcodes in the same request that has them (see
`safeclass.web.pages.join_links`); nothing here stores either. A pupil's letter also says how to
come in with codes when the link will not open: the lesson's code (from the teacher) and the
pupil's own passcode, typed at the server's `/code` page. A parent's or carer's letter has no
passcode: a typed code cannot say that the parent is there. The letters are a PDF, one page per
link, in plain words for a parent and for a nine-year-old. Fonts come from the machine only: DejaVu
Sans where the system has it (most Linux machines do: Debian's `fonts-dejavu-core`), which prints
nearly every European script; otherwise the PDF's built-in Helvetica, which prints only Latin-1, so
other letters in names are spelled without their accents (Łucja -> Lucja) or, where there is no
plain spelling, shown as "?" with a note on the letter that the school's records have the name in
full. The CSV always has the names exactly as recorded.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import TTFFont

from safeclass.codes import shown
from safeclass.domain.year_groups import describe_year_group
from safeclass.store.models import JoinLink
from safeclass.web.wording import SCHOOL_TIMEZONE, format_when

SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR_FONT = "DejaVuSans.ttf"
BOLD_FONT = "DejaVuSans-Bold.ttf"

CSV_HEADER = (
    "Pupil first name",
    "Pupil last name",
    "Class",
    "Link for",
    "Parent or carer",
    "Parent or carer email",
    "Link",
    "Works until",
    "Passcode",
    "Where to type the passcode",
)
# Spreadsheet programs run a cell that starts with one of these as a formula. A name is never a
# formula, so such a cell gets a leading apostrophe (the usual way to say "this is text").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Letters that Unicode does not decompose into a plain letter plus an accent.
_PLAIN_SPELLINGS = {
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "Œ": "OE",
    "œ": "oe",
    "ẞ": "SS",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "…": "...",
}
UNPRINTABLE_NOTE = (
    'Some letters of a name above cannot be printed here, so they are shown as "?". '
    "The school's records have the name in full."
)


@dataclass(frozen=True)
class LinkSheetRow:
    """One new link, with everything a letter or a mail merge needs."""

    pupil_first_name: str
    pupil_last_name: str
    year_group: int
    class_name: str
    school_name: str
    parent_name: str | None
    parent_email: str | None
    url: str
    expires_at: datetime
    lesson_title: str | None
    lesson_starts_at: datetime | None
    # A pupil's link's passcode, and the page where it is typed with the lesson's code.
    passcode: str | None = None
    code_page: str | None = None

    @property
    def for_parent(self) -> bool:
        return self.parent_name is not None

    @property
    def pupil_name(self) -> str:
        return f"{self.pupil_first_name} {self.pupil_last_name}"

    @property
    def passcode_shown(self) -> str:
        """The passcode in groups of four, as printed (ABCD-EFGH-JKLM), or "" for none."""
        return shown(self.passcode) if self.passcode is not None else ""


def sheet_row(
    link: JoinLink,
    token: str,
    join_url_prefix: str,
    *,
    passcode: str | None = None,
    code_page: str | None = None,
) -> LinkSheetRow:
    lesson = link.lesson
    class_group = lesson.class_group if lesson is not None else link.class_group
    assert class_group is not None  # the table's check constraint
    return LinkSheetRow(
        pupil_first_name=link.pupil.first_name,
        pupil_last_name=link.pupil.last_name,
        year_group=link.pupil.year_group,
        class_name=class_group.name,
        school_name=link.school.name,
        parent_name=link.parent.display_name if link.parent is not None else None,
        parent_email=link.parent.email if link.parent is not None else None,
        url=join_url_prefix + token,
        expires_at=link.expires_at,
        lesson_title=lesson.title if lesson is not None else None,
        lesson_starts_at=lesson.starts_at if lesson is not None else None,
        passcode=passcode,
        code_page=code_page if passcode is not None else None,
    )


def format_day(moment: datetime) -> str:
    local = moment.astimezone(SCHOOL_TIMEZONE)
    return f"{local:%A} {local.day} {local:%B %Y}"


def document_name(rows: Sequence[LinkSheetRow], extension: str) -> str:
    """A file name from the class: ASCII only, so every browser and mail program keeps it."""
    class_name = rows[0].class_name if rows else "class"
    plain = unicodedata.normalize("NFKD", class_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "class"
    return f"join-links-{slug}.{extension}"


# --- CSV ---------------------------------------------------------------------------------------


def links_csv(rows: Sequence[LinkSheetRow]) -> bytes:
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
                "Parent or carer" if row.for_parent else "Pupil",
                csv_cell(row.parent_name or ""),
                csv_cell(row.parent_email or ""),
                row.url,
                format_when(row.expires_at),
                row.passcode_shown,
                row.code_page or "",
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def csv_cell(text: str) -> str:
    """A cell as a spreadsheet will not run it: text that starts like a formula gets a quote."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


# --- Letters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterFonts:
    """DejaVu Sans from the system where it is there, else None (the built-in Helvetica)."""

    regular: Path | None
    bold: Path | None

    @classmethod
    def find(cls, folder: Path = SYSTEM_FONT_DIR) -> LetterFonts:
        regular, bold = folder / REGULAR_FONT, folder / BOLD_FONT
        if regular.is_file() and bold.is_file():
            return cls(regular, bold)
        return cls(None, None)

    @classmethod
    def built_in(cls) -> LetterFonts:
        return cls(None, None)


def links_pdf(rows: Sequence[LinkSheetRow], fonts: LetterFonts | None = None) -> bytes:
    """One page per link."""
    letters = Letters(fonts if fonts is not None else LetterFonts.find())
    for row in rows:
        if row.for_parent:
            letters.parent_letter(row)
        else:
            letters.pupil_letter(row)
    return letters.output()


def printable(text: str, can_print: Callable[[str], bool]) -> tuple[str, bool]:
    """The text as the font can print it, and whether any letter had to become "?"."""
    out: list[str] = []
    lost = False
    for char in text:
        if can_print(char):
            out.append(char)
            continue
        plain = _PLAIN_SPELLINGS.get(char)
        if plain is None:
            decomposed = unicodedata.normalize("NFKD", char)
            kept = "".join(c for c in decomposed if not unicodedata.combining(c))
            plain = kept if kept and all(can_print(c) for c in kept) else None
        if plain is None:
            out.append("?")
            lost = True
        else:
            out.append(plain)
    return "".join(out), lost


def _latin1(char: str) -> bool:
    return ord(char) < 256  # Latin-1: the first 256 code points


class Letters:
    WIDTH = 0  # the whole width between the margins
    LINE = 6.0

    def __init__(self, fonts: LetterFonts) -> None:
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_margins(20, 18, 20)
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_creator("SafeClass")
        pdf.set_title("Join links")
        self.can_print: Callable[[str], bool] = _latin1
        self.family = "Helvetica"
        if fonts.regular is not None and fonts.bold is not None:
            pdf.add_font("DejaVu", "", str(fonts.regular))
            pdf.add_font("DejaVu", "B", str(fonts.bold))
            font = pdf.fonts.get("dejavu")
            if isinstance(font, TTFFont):
                cmap = set(font.cmap)
                self.can_print = lambda char: ord(char) in cmap
                self.family = "DejaVu"
        self.pdf = pdf
        self.lost = False

    def output(self) -> bytes:
        return bytes(self.pdf.output())

    # --- Building blocks ---

    def _text(self, text: str) -> str:
        shown, lost = printable(text, self.can_print)
        self.lost = self.lost or lost
        return shown

    def _para(self, text: str, *, size: float = 11, bold: bool = False, after: float = 2) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(
            self.WIDTH,
            size * 0.5,
            self._text(text),
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.pdf.ln(after)

    def _heading(self, text: str) -> None:
        self.pdf.ln(2)
        self._para(text, size=13, bold=True, after=1)

    def _items(self, items: Sequence[str], *, numbered: bool) -> None:
        for number, item in enumerate(items, start=1):
            marker = f"{number}." if numbered else "-"
            self._para(f"{marker}  {item}", after=1)
        self.pdf.ln(1)

    def _link_box(self, url: str) -> None:
        self.pdf.set_font("Courier", "B", 10)
        self.pdf.set_fill_color(238, 242, 247)
        self.pdf.multi_cell(
            self.WIDTH,
            8,
            url,
            border=1,
            fill=True,
            align=Align.L,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.pdf.ln(3)

    def _start(self, row: LinkSheetRow, title: str, for_line: str) -> None:
        self.lost = False
        self.pdf.add_page()
        self._para(row.school_name, size=10, after=4)
        self._para(title, size=18, bold=True, after=2)
        self._para(for_line, size=10, after=4)

    def _finish(self, row: LinkSheetRow, contact: str) -> None:
        self._para(f"This link works until {format_day(row.expires_at)}.", bold=True)
        self._para(contact)
        if self.lost:
            self.pdf.ln(2)
            self._para(UNPRINTABLE_NOTE, size=9)

    def _which_lessons(self, row: LinkSheetRow, whose: str) -> str:
        if row.lesson_title is not None and row.lesson_starts_at is not None:
            return (
                f"It is for one lesson only: {row.lesson_title}, on "
                f"{format_when(row.lesson_starts_at)}."
            )
        return f"It works for every live lesson of {whose} class, {row.class_name}."

    # --- The letters ---

    def pupil_letter(self, row: LinkSheetRow) -> None:
        first = row.pupil_first_name
        self._start(row, "Your link for live lessons", f"For {row.pupil_name}, {row.class_name}")
        self._para(f"Hello {first},")
        self._para(
            "This is your own link for joining live lessons on SafeClass. Your school made it "
            f"just for you. {self._which_lessons(row, 'your')}"
        )
        self._heading("Your link")
        self._link_box(row.url)
        self._heading("Keep it secret")
        self._items(
            [
                "This link is only for you. Do not give it to anyone else, not even a friend "
                "in your class.",
                "Do not post it online or send it in a message.",
                "If you think someone else has it, tell your teacher. They will give you a new "
                "one, and the old one will stop working.",
            ],
            numbered=False,
        )
        self._heading("How to join a lesson")
        self._items(
            [
                "At lesson time, ask a grown-up at home to help you.",
                "Open the link in a web browser, or type it in exactly as it is written above.",
                "Read the short reminder about keeping your personal details private, and say OK.",
                "Wait in the waiting room until your teacher lets you in.",
            ],
            numbered=True,
        )
        if row.passcode is not None and row.code_page is not None:
            self._codes(row)
        self._heading("The waiting room")
        self._para(
            "Your teacher lets people in one at a time. While you wait, nobody can see or hear "
            "you. If your teacher is not there yet, you wait until they arrive: nobody is in a "
            "lesson without a teacher."
        )
        self._finish(row, "If anything goes wrong, ask your teacher or the school office.")

    def _codes(self, row: LinkSheetRow) -> None:
        self._heading("If your link will not open")
        self._para(
            f"Go to {row.code_page} and type the lesson code your teacher gives you, and this "
            "passcode:"
        )
        self._link_box(row.passcode_shown)
        self._para(
            "Your passcode is only for you, just like your link. Keep it secret. It works for as "
            "long as your link does, and stops working when your link does."
        )

    def parent_letter(self, row: LinkSheetRow) -> None:
        first = row.pupil_first_name
        whose = f"{first}'s"
        year = describe_year_group(row.year_group)
        self._start(
            row,
            f"Your link to join {first}'s live lessons",
            f"For {row.parent_name}, parent or carer of {row.pupil_name}, {row.class_name}",
        )
        self._para(f"Dear {row.parent_name},")
        self._para(
            f"{row.school_name} teaches some lessons live online with SafeClass. Children in "
            f"{year} join these lessons with a parent or carer, so this link is for you, to "
            f"use together with {first}. {first} does not have a separate link. "
            f"{self._which_lessons(row, whose)}"
        )
        self._heading("Your link")
        self._link_box(row.url)
        self._heading("Please keep it private")
        self._items(
            [
                f"This link lets you and {first} into {whose} lessons. Please do not share "
                f"it or post it anywhere: anyone who has it could try to join as {first}.",
                "If you think someone else has it, tell the school. We will make you a new "
                "one, and the old one will stop working at once.",
            ],
            numbered=False,
        )
        self._heading("How to join a lesson")
        self._items(
            [
                f"At lesson time, sit with {first} at the device you will use.",
                "Open the link in a web browser, or type it in exactly as it is written above.",
                "Read the short reminder about keeping personal details private, and confirm "
                f"that you are with {first}.",
                f"Wait in the waiting room until the teacher lets you in. Please stay with "
                f"{first} for the whole lesson.",
            ],
            numbered=True,
        )
        self._para(
            "Please always use this link. Children who join lessons with a parent or carer "
            "cannot come in by typing codes, because a code cannot tell the teacher that you "
            f"are there with {first}."
        )
        self._heading("The waiting room")
        self._para(
            "The teacher lets people in one at a time. While you wait, nobody can see or hear "
            "you. Nobody is in a lesson without a member of staff: if the teacher is not there "
            "yet, you wait until they arrive."
        )
        self._finish(row, f"If you have any questions, please contact {row.school_name}.")
