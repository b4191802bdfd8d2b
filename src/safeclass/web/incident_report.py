"""One incident as a PDF report, for the DSL's files or a referral.

Everything the incident holds: its details, what was written about it, the lesson's timeline and
chat around the moment (the incident's own copy), and every note. Fonts come from the machine as
for the join-link letters (`safeclass.web.link_letters`): DejaVu Sans where it is installed, else
the PDF's built-in Helvetica, with letters it cannot print spelled plainly or shown as "?".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from safeclass.actions.incidents import CATEGORIES, NOT_CHOSEN, SOURCE_WORDS, STATE_WORDS
from safeclass.store.models import Incident
from safeclass.web.link_letters import LetterFonts, printable
from safeclass.web.wording import format_time, format_when

LOST_LETTERS_NOTE = (
    'Some letters above cannot be printed with the fonts on this server and are shown as "?". '
    "SafeClass has the incident in full."
)
TO_WORDS = {"class": "to the class", "staff": "to staff"}


def incident_pdf(
    incident: Incident, *, made_for: str, at: datetime, fonts: LetterFonts | None = None
) -> bytes:
    report = _Report(fonts if fonts is not None else LetterFonts.find())
    report.write(incident, made_for=made_for, at=at)
    return report.output()


class _Report:
    LINE = 5.5

    def __init__(self, fonts: LetterFonts) -> None:
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_margins(18, 16, 18)
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_creator("SafeClass")
        pdf.set_title("Safeguarding incident report")
        self.pdf = pdf
        self.family = "Helvetica"
        self.can_print: Callable[[str], bool] = lambda char: ord(char) < 256
        self.lost = False
        if fonts.regular is not None and fonts.bold is not None:
            pdf.add_font("DejaVu", "", str(fonts.regular))
            pdf.add_font("DejaVu", "B", str(fonts.bold))
            font = pdf.fonts.get("dejavu")
            if isinstance(font, TTFFont):
                cmap = set(font.cmap)
                self.can_print = lambda char: ord(char) in cmap or char in "\n\t"
                self.family = "DejaVu"
        pdf.add_page()

    def output(self) -> bytes:
        return bytes(self.pdf.output())

    def _text(self, text: str) -> str:
        shown, lost = printable(text, self.can_print)
        self.lost = self.lost or lost
        return shown

    def _para(self, text: str, *, size: float = 10, bold: bool = False, after: float = 1.5) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, self.LINE, self._text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(after)

    def _heading(self, text: str) -> None:
        self.pdf.ln(2)
        self._para(text, size=12, bold=True, after=1)

    def _field(self, label: str, value: str) -> None:
        self._para(f"{label}: {value or '-'}", after=0.5)

    def write(self, incident: Incident, *, made_for: str, at: datetime) -> None:
        self._para("Safeguarding incident report", size=16, bold=True, after=1)
        self._para(f"Confidential. Made by SafeClass for {made_for} on {format_when(at)}.", size=9)
        self._heading("The incident")
        self._field("Incident number", str(incident.id))
        self._field("School", incident.school.name)
        self._field("Lesson", incident.lesson_title)
        self._field("Happened at", format_when(incident.occurred_at))
        self._field(
            "Opened", f"{format_when(incident.opened_at)} ({SOURCE_WORDS[incident.source]})"
        )
        self._field("Category", CATEGORIES.get(incident.category or "", NOT_CHOSEN))
        self._field("State", STATE_WORDS[incident.state])
        if incident.closed_at is not None:
            self._field("Closed", format_when(incident.closed_at))
        self._field("About", incident.about_name or "")
        self._field("Reported by", incident.reported_by_name)
        self._heading("What happened")
        self._para(incident.description or "-")
        self._heading("People involved")
        self._para(incident.people_involved or "-")
        self._heading("Actions taken")
        self._para(incident.actions_taken or "-")
        self._heading("The lesson's timeline around that time")
        if not incident.timeline:
            self._para("Nothing was recorded in the lesson around that time.")
        for entry in incident.timeline:
            self._para(f"{format_time(datetime.fromisoformat(entry['at']))}  {entry['text']}")
        self._heading("The chat around that time")
        if not incident.chat:
            self._para("Nobody wrote in the chat around that time.")
        for line in incident.chat:
            when = format_time(datetime.fromisoformat(line["at"]))
            to = TO_WORDS.get(line["to"], line["to"])
            marks = []
            if line.get("blocked"):
                marks.append("stopped by the chat check, seen only by staff")
            elif line.get("kinds"):
                marks.append("flagged by the chat check")
            mark = f" [{'; '.join(marks)}]" if marks else ""
            self._para(f"{when}  {line['name']} ({line['role']}, {to}){mark}: {line['text']}")
        if incident.log_hash:
            self._para(
                f"Copied from the lesson's record; newest entry read: {incident.log_hash[:16]}.",
                size=8,
            )
        self._heading("Notes")
        if not incident.notes:
            self._para("No notes yet.")
        for note in incident.notes:
            author = note.author_name or "SafeClass"
            self._para(f"{format_when(note.at)}, {author}:", bold=True, after=0)
            self._para(note.body)
        if self.lost:
            self._para(LOST_LETTERS_NOTE, size=9)
