"""Importing a school's roster from its MIS: pupils, their classes and their parents or carers.

The whole file is checked before anything is written. If any row is wrong, nothing is imported and
every problem comes back with its row number, so the school admin can fix the file in one go.

Only the columns SafeClass needs are read (see docs/roster-import.md). Anything else in the export,
such as dates of birth or addresses, is never stored.

Re-importing updates: pupils are matched by the school's own pupil number, parents by email within
the trust (or, without an email, by name among the pupil's existing parents and carers). Pupils who
are not in the file are left as they are, so a school may import one year group at a time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from safeclass.actions.audit import record_audit
from safeclass.domain.year_groups import YearGroupError, parse_year_group
from safeclass.store.models import (
    ClassGroup,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    class_members,
)

MAX_ROWS = 20_000
MAX_CONTACTS = 4
_LOOKUP_CHUNK = 500

# The longest value each column may hold: the size of the database column it goes into.
MAX_PUPIL_ID = 64
MAX_PUPIL_NAME = 100
MAX_CLASS_NAME = 100
MAX_CONTACT_NAME = 200
MAX_EMAIL = 254
MAX_RELATIONSHIP = 60

PUPIL_ID = "pupil_id"
FIRST_NAME = "first_name"
LAST_NAME = "last_name"
YEAR_GROUP = "year_group"
CLASSES = "classes"
REQUIRED_COLUMNS = (PUPIL_ID, FIRST_NAME, LAST_NAME, YEAR_GROUP)

_ALIASES = {
    PUPIL_ID: (
        "pupil_id",
        "pupil_number",
        "pupil_no",
        "upn",
        "admission_number",
        "admission_no",
        "adno",
        "mis_id",
    ),
    FIRST_NAME: ("first_name", "firstname", "forename", "legal_forename", "given_name"),
    LAST_NAME: ("last_name", "lastname", "surname", "legal_surname", "family_name"),
    YEAR_GROUP: ("year_group", "yeargroup", "year", "nc_year", "national_curriculum_year"),
    CLASSES: ("classes", "class", "reg_group", "registration_group", "form", "form_group"),
}
_COLUMN_FOR_HEADER = {alias: column for column, aliases in _ALIASES.items() for alias in aliases}
_CONTACT_HEADER = re.compile(r"^contact_?([1-9])_?(name|email|e_mail|relationship|relation)$")
_CONTACT_PART = {
    "name": "name",
    "email": "email",
    "e_mail": "email",
    "relationship": "relationship",
    "relation": "relationship",
}
_SEPARATORS = re.compile(r"[\s_\-]+")
# Simple on purpose: it catches typing mistakes, not every address the standards allow.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
# Tabs, line breaks, NUL and other invisible control characters, which a name never needs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class RosterError:
    """One problem in the file. `row` counts the header as row 1, like a spreadsheet does; it is
    None for a problem with the whole file."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"Row {self.row}")
        if self.column is not None:
            where.append(f'column "{self.column}"')
        return f"{', '.join(where)}: {self.message}" if where else self.message


class RosterImportError(Exception):
    """The file was refused. Nothing was imported."""

    def __init__(self, errors: Sequence[RosterError]) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        super().__init__(
            f"The roster was not imported: {count} problem{'s' if count != 1 else ''} found."
        )


@dataclass(frozen=True, slots=True)
class ImportResult:
    pupils_created: int
    pupils_updated: int
    pupils_unchanged: int
    parents_created: int
    classes_created: int
    ignored_columns: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.pupils_created or self.pupils_updated or self.classes_created)


@dataclass(frozen=True, slots=True)
class _Contact:
    name: str
    email: str | None
    relationship: str


@dataclass(frozen=True, slots=True)
class _PupilRow:
    row: int
    pupil_id: str
    first_name: str
    last_name: str
    year_group: int
    classes: tuple[str, ...]
    contacts: tuple[_Contact, ...]


@dataclass(frozen=True, slots=True)
class RosterFile:
    """A checked file: its pupils, and which optional columns it has."""

    rows: tuple[_PupilRow, ...]
    has_classes: bool
    has_contacts: bool
    ignored_columns: tuple[str, ...]


@dataclass(slots=True)
class _Header:
    columns: dict[str, int]
    column_titles: dict[str, str]
    contacts: dict[int, dict[str, int]]
    ignored: list[str] = field(default_factory=list)

    def title(self, column: str) -> str:
        return self.column_titles.get(column, column)


# --- Reading and checking the file. Nothing here touches the database.


def decode_roster(data: bytes) -> str:
    """CSV bytes as text. Excel's "CSV UTF-8" adds a byte-order mark; it is dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = data.count(b"\n", 0, error.start) + 1
        raise RosterImportError(
            [
                RosterError(
                    row,
                    None,
                    "The file is not saved as UTF-8 text, so some letters cannot be read. In "
                    'Excel, use "Save As" and choose "CSV UTF-8".',
                )
            ]
        ) from None


def read_roster(csv_text: str | bytes) -> RosterFile:
    """Every pupil row of the file, checked; or RosterImportError listing every problem."""
    text = decode_roster(csv_text) if isinstance(csv_text, bytes) else csv_text
    text = text.removeprefix("\ufeff")
    _refuse_unstorable_text(text)
    if not text.strip():
        raise RosterImportError([RosterError(None, None, "The file is empty.")])
    records = _records(text)
    header = _read_header(next(records)[1])
    errors: list[RosterError] = []
    rows: list[_PupilRow] = []
    first_row_of_pupil: dict[str, int] = {}
    data_rows = 0
    for row_number, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise RosterImportError(
                [
                    RosterError(
                        None,
                        None,
                        f"The file has more than {MAX_ROWS:,} pupils. Split it into smaller "
                        "files, for example one per year group.",
                    )
                ]
            )
        pupil, row_errors = _read_row(header, row_number, cells)
        errors.extend(row_errors)
        pupil_id = _cell(header, cells, PUPIL_ID)
        first = first_row_of_pupil.setdefault(pupil_id, row_number) if pupil_id else row_number
        if first != row_number:
            errors.append(
                RosterError(
                    row_number,
                    header.title(PUPIL_ID),
                    f'Pupil ID "{pupil_id}" is also on row {first}. Each pupil may appear '
                    "only once.",
                )
            )
        elif pupil is not None:
            rows.append(pupil)
    if data_rows == 0 and not errors:
        errors.append(RosterError(None, None, "The file has a header row but no pupils."))
    if errors:
        raise RosterImportError(errors)
    return RosterFile(
        rows=tuple(rows),
        has_classes=CLASSES in header.columns,
        has_contacts=bool(header.contacts),
        ignored_columns=tuple(header.ignored),
    )


def _refuse_unstorable_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        row = text.count("\n", 0, error.start) + 1
        raise RosterImportError(
            [RosterError(row, None, "The file holds characters that cannot be read as text.")]
        ) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each record. A quoted value may span lines; it is still one row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row_number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise RosterImportError(
                [
                    RosterError(
                        row_number + 1,
                        None,
                        f"This row cannot be read as CSV ({error}). Check its quote marks.",
                    )
                ]
            ) from None
        row_number += 1
        yield row_number, cells


def normalise_header(raw: str) -> str:
    return _SEPARATORS.sub("_", raw.strip().lower()).strip("_")


def _read_header(cells: list[str]) -> _Header:
    header = _Header(columns={}, column_titles={}, contacts={})
    errors: list[RosterError] = []
    for index, raw in enumerate(cells):
        name = normalise_header(raw)
        column = _COLUMN_FOR_HEADER.get(name)
        contact = _CONTACT_HEADER.match(name)
        if contact is not None and int(contact.group(1)) <= MAX_CONTACTS:
            column = f"contact{contact.group(1)}_{_CONTACT_PART[contact.group(2)]}"
        if column is None:
            if raw.strip():
                header.ignored.append(raw.strip())
            continue
        if column in header.columns:
            errors.append(
                RosterError(
                    1,
                    raw.strip(),
                    f'Two columns both give {_describe_column(column)}: "{header.title(column)}" '
                    f'and "{raw.strip()}". Remove one of them.',
                )
            )
            continue
        header.columns[column] = index
        header.column_titles[column] = raw.strip()
    missing = [column for column in REQUIRED_COLUMNS if column not in header.columns]
    for column in missing:
        aliases = ", ".join(f'"{alias}"' for alias in _ALIASES[column][1:4])
        errors.append(
            RosterError(
                1,
                None,
                f'The file has no "{column}" column ({_describe_column(column)}). '
                f"It may also be called {aliases}.",
            )
        )
    if errors:
        raise RosterImportError(errors)
    for column, index in header.columns.items():
        if column.startswith("contact"):
            number, part = column.removeprefix("contact").split("_", 1)
            header.contacts.setdefault(int(number), {})[part] = index
    return header


def _describe_column(column: str) -> str:
    words = {
        PUPIL_ID: "the school's pupil number",
        FIRST_NAME: "the pupil's first name",
        LAST_NAME: "the pupil's last name",
        YEAR_GROUP: "the pupil's year group",
        CLASSES: "the pupil's classes",
    }
    if column in words:
        return words[column]
    number, part = column.removeprefix("contact").split("_", 1)
    return f"contact {number}'s {part}"


def _cell(header: _Header, cells: list[str], column: str) -> str:
    """The value in that column, blank if the row is short, with runs of spaces made one."""
    index = header.columns.get(column)
    raw = cells[index] if index is not None and index < len(cells) else ""
    return " ".join(raw.split())


def _read_row(
    header: _Header, row_number: int, cells: list[str]
) -> tuple[_PupilRow | None, list[RosterError]]:
    errors: list[RosterError] = []

    def value(column: str, *, limit: int, required: bool) -> str:
        text = _cell(header, cells, column)
        shown = header.title(column)
        if required and not text:
            errors.append(RosterError(row_number, shown, "This value is missing."))
        elif len(text) > limit:
            errors.append(
                RosterError(
                    row_number, shown, f"This value is too long (at most {limit} characters)."
                )
            )
        elif _CONTROL.search(text):
            errors.append(
                RosterError(row_number, shown, "This value holds a hidden control character.")
            )
        return text

    pupil_id = value(PUPIL_ID, limit=MAX_PUPIL_ID, required=True)
    first_name = value(FIRST_NAME, limit=MAX_PUPIL_NAME, required=True)
    last_name = value(LAST_NAME, limit=MAX_PUPIL_NAME, required=True)
    year_text = value(YEAR_GROUP, limit=20, required=True)
    year_group: int | None = None
    if year_text:
        try:
            year_group = parse_year_group(year_text)
        except YearGroupError as error:
            errors.append(RosterError(row_number, header.title(YEAR_GROUP), str(error)))
    classes = _read_classes(
        value(CLASSES, limit=10 * MAX_CLASS_NAME, required=False),
        row_number,
        header.title(CLASSES),
        errors,
    )
    contacts = []
    for number in sorted(header.contacts):
        name = value(f"contact{number}_name", limit=MAX_CONTACT_NAME, required=False)
        email = value(f"contact{number}_email", limit=MAX_EMAIL, required=False).lower()
        relationship = value(
            f"contact{number}_relationship", limit=MAX_RELATIONSHIP, required=False
        )
        if not name and (email or relationship):
            errors.append(
                RosterError(
                    row_number,
                    header.title(f"contact{number}_name"),
                    f"Contact {number} has an email address or relationship but no name.",
                )
            )
            continue
        if email and not _EMAIL.match(email):
            errors.append(
                RosterError(
                    row_number,
                    header.title(f"contact{number}_email"),
                    f'"{email}" is not an email address.',
                )
            )
            continue
        if name:
            contacts.append(_Contact(name=name, email=email or None, relationship=relationship))
    if errors or year_group is None:
        return None, errors
    return (
        _PupilRow(
            row=row_number,
            pupil_id=pupil_id,
            first_name=first_name,
            last_name=last_name,
            year_group=year_group,
            classes=classes,
            contacts=tuple(contacts),
        ),
        errors,
    )


def _read_classes(
    text: str, row_number: int, title: str, errors: list[RosterError]
) -> tuple[str, ...]:
    names: dict[str, str] = {}
    for part in text.split(";"):
        name = part.strip()
        if not name:
            continue
        if len(name) > MAX_CLASS_NAME:
            errors.append(
                RosterError(
                    row_number,
                    title,
                    f"A class name is too long (at most {MAX_CLASS_NAME} characters).",
                )
            )
            continue
        names.setdefault(name.casefold(), name)
    return tuple(names.values())


# --- Writing: only once the whole file is known to be right.


def import_roster(
    session: Session, *, school: School, csv_text: str | bytes, actor: StaffMember | None
) -> ImportResult:
    """Check the whole file, then bring the school's records in line with it.

    Raises RosterImportError (having written nothing) if any row is wrong. The caller commits.
    """
    roster = read_roster(csv_text)
    result = _RosterWriter(session, school).write(roster)
    if result.changed:
        record_audit(
            session,
            "roster_imported",
            actor=actor,
            school_id=school.id,
            data={
                "pupils_in_file": len(roster.rows),
                "pupils_created": result.pupils_created,
                "pupils_updated": result.pupils_updated,
                "parents_created": result.parents_created,
                "classes_created": result.classes_created,
            },
        )
    session.flush()
    return result


class _RosterWriter:
    def __init__(self, session: Session, school: School) -> None:
        self.session = session
        self.school = school
        self.classes_created = 0
        self.parents_created = 0

    def write(self, roster: RosterFile) -> ImportResult:
        rows = roster.rows
        pupils = self._existing_pupils()
        classes = self._existing_classes()
        parents_by_email = self._parents_by_email(
            {contact.email for row in rows for contact in row.contacts if contact.email}
        )
        created = updated = unchanged = 0
        touched_classes: set[str] = set()
        for row in rows:
            pupil = pupils.get(row.pupil_id)
            is_new = pupil is None
            if pupil is None:
                pupil = Pupil(
                    school_id=self.school.id,
                    mis_id=row.pupil_id,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    year_group=row.year_group,
                    class_groups=[],
                    parent_links=[],
                )
                self.session.add(pupil)
                pupils[row.pupil_id] = pupil
            changed = self._update_details(pupil, row)
            if roster.has_classes:
                wanted = [self._class_named(classes, name) for name in row.classes]
                touched_classes.update(name.casefold() for name in row.classes)
                touched_classes.update(group.name.casefold() for group in pupil.class_groups)
                if {group.name for group in pupil.class_groups} != {g.name for g in wanted}:
                    pupil.class_groups = wanted
                    changed = True
            if roster.has_contacts:
                changed = self._update_parents(pupil, row, parents_by_email) or changed
            if is_new:
                created += 1
            elif changed:
                updated += 1
            else:
                unchanged += 1
        self.session.flush()
        self._set_class_year_groups(
            [classes[name] for name in sorted(touched_classes) if name in classes]
        )
        return ImportResult(
            pupils_created=created,
            pupils_updated=updated,
            pupils_unchanged=unchanged,
            parents_created=self.parents_created,
            classes_created=self.classes_created,
            ignored_columns=roster.ignored_columns,
        )

    def _existing_pupils(self) -> dict[str, Pupil]:
        query = (
            select(Pupil)
            .where(Pupil.school_id == self.school.id)
            .options(
                selectinload(Pupil.class_groups),
                selectinload(Pupil.parent_links).selectinload(ParentLink.parent),
            )
        )
        return {pupil.mis_id: pupil for pupil in self.session.scalars(query)}

    def _existing_classes(self) -> dict[str, ClassGroup]:
        query = select(ClassGroup).where(ClassGroup.school_id == self.school.id)
        return {group.name.casefold(): group for group in self.session.scalars(query)}

    def _parents_by_email(self, emails: Iterable[str]) -> dict[str, Parent]:
        wanted = sorted(emails)
        found: dict[str, Parent] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            query = (
                select(Parent)
                .where(Parent.trust_id == self.school.trust_id)
                .where(Parent.email.in_(wanted[start : start + _LOOKUP_CHUNK]))
                .order_by(Parent.id)
            )
            for parent in self.session.scalars(query):
                if parent.email is not None:
                    found.setdefault(parent.email, parent)
        return found

    @staticmethod
    def _update_details(pupil: Pupil, row: _PupilRow) -> bool:
        changed = False
        if pupil.first_name != row.first_name:
            pupil.first_name = row.first_name
            changed = True
        if pupil.last_name != row.last_name:
            pupil.last_name = row.last_name
            changed = True
        if pupil.year_group != row.year_group:
            pupil.year_group = row.year_group
            changed = True
        return changed

    def _class_named(self, classes: dict[str, ClassGroup], name: str) -> ClassGroup:
        group = classes.get(name.casefold())
        if group is None:
            group = ClassGroup(school_id=self.school.id, name=name)
            self.session.add(group)
            classes[name.casefold()] = group
            self.classes_created += 1
        return group

    def _update_parents(
        self, pupil: Pupil, row: _PupilRow, parents_by_email: dict[str, Parent]
    ) -> bool:
        """Make the pupil's parents and carers those the file lists: the school's MIS is the
        record of who may act for a child, so a contact the school removed loses the link."""
        changed = False
        links_by_parent = {id(link.parent): link for link in pupil.parent_links}
        kept: dict[int, ParentLink] = {}
        for contact in row.contacts:
            parent = self._find_or_create_parent(pupil, contact, parents_by_email)
            if id(parent) in kept:
                continue
            link = links_by_parent.get(id(parent))
            if link is None:
                link = ParentLink(parent=parent, relationship_to_pupil=contact.relationship)
                changed = True
            elif link.relationship_to_pupil != contact.relationship:
                link.relationship_to_pupil = contact.relationship
                changed = True
            kept[id(parent)] = link
        if len(kept) != len(pupil.parent_links) or changed:
            pupil.parent_links = list(kept.values())
            changed = True
        return changed

    def _find_or_create_parent(
        self, pupil: Pupil, contact: _Contact, parents_by_email: dict[str, Parent]
    ) -> Parent:
        if contact.email is not None:
            parent = parents_by_email.get(contact.email)
            if parent is None:
                parent = self._new_parent(contact)
                parents_by_email[contact.email] = parent
            elif parent.display_name != contact.name:
                parent.display_name = contact.name
            return parent
        for link in pupil.parent_links:
            if link.parent.display_name.casefold() == contact.name.casefold():
                return link.parent
        return self._new_parent(contact)

    def _new_parent(self, contact: _Contact) -> Parent:
        parent = Parent(
            trust_id=self.school.trust_id, display_name=contact.name, email=contact.email
        )
        self.session.add(parent)
        self.parents_created += 1
        return parent

    def _set_class_year_groups(self, groups: Sequence[ClassGroup]) -> None:
        """A class takes its pupils' year group when they all share one (mixed classes: none)."""
        if not groups:
            return
        years: dict[int, set[int]] = {group.id: set() for group in groups}
        ids = sorted(years)
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            query = (
                select(class_members.c.class_group_id, Pupil.year_group)
                .join(Pupil, Pupil.id == class_members.c.pupil_id)
                .where(class_members.c.class_group_id.in_(ids[start : start + _LOOKUP_CHUNK]))
            )
            for class_group_id, year_group in self.session.execute(query):
                years[class_group_id].add(year_group)
        for group in groups:
            shared = years[group.id]
            year_group = next(iter(shared)) if len(shared) == 1 else None
            if group.year_group != year_group:
                group.year_group = year_group
