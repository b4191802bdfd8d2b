"""A demo trust to try SafeClass with: two schools, classes from Reception to Year 11, made-up
pupils and parents, consent in every state, staff in every role and a few lessons today.

Loaded only into a database that holds no trust yet. The names are invented and the same on every
run (a fixed random seed); the times of today's lessons are relative to now.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeclass.actions.audit import record_audit
from safeclass.actions.lessons import schedule_lesson
from safeclass.actions.staff import add_staff
from safeclass.domain.consent import ConsentScope
from safeclass.domain.year_groups import RECEPTION
from safeclass.store.models import (
    STAFF_ROLE_NAMES,
    ClassGroup,
    Consent,
    ConsentText,
    LessonStaffRole,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    StaffRole,
    Trust,
)
from safeclass.timeutil import utc_now

DEMO_TRUST_NAME = "Kestrel Valley Learning Trust"
CURRENT_CONSENT_VERSION = "2026-09"
OLDER_CONSENT_VERSION = "2025-09"
_SEED = 20260901
_EMAIL_DOMAIN = "kestrel-valley.example"
_PARENT_EMAIL_DOMAIN = "example.net"

PRIMARY = "kestrel-valley-primary"
SECONDARY = "harrowfield-academy"
_SCHOOLS = {
    PRIMARY: "Kestrel Valley Primary School",
    SECONDARY: "Harrowfield Academy",
}
_CLASSES: dict[str, tuple[tuple[str, int], ...]] = {
    PRIMARY: (
        ("Reception Robins", RECEPTION),
        ("Year 1 Wrens", 1),
        ("Year 2 Finches", 2),
        ("Year 3 Oak", 3),
        ("Year 4 Ash", 4),
        ("Year 5 Willow", 5),
        ("Year 6 Beech", 6),
    ),
    SECONDARY: (("7H", 7), ("8H", 8), ("9H", 9), ("10H", 10), ("11H", 11)),
}


# The secondary school tightens two settings, so the demo shows a school's own choices.
_SCHOOL_OVERRIDES: dict[str, dict[str, Any]] = {
    SECONDARY: {"blur_pupil_default": True, "screen_sharing": "staff"},
}


@dataclass(frozen=True, slots=True)
class _StaffSpec:
    display_name: str
    password: str
    roles: tuple[tuple[StaffRole, str | None], ...]

    @property
    def email(self) -> str:
        return f"{self.display_name.lower().replace(' ', '.')}@{_EMAIL_DOMAIN}"


_STAFF = (
    _StaffSpec("Priya Shah", "priya-demo-2026", ((StaffRole.TRUST_ADMIN, None),)),
    _StaffSpec("Martin Hughes", "martin-demo-2026", ((StaffRole.SCHOOL_ADMIN, PRIMARY),)),
    _StaffSpec(
        "Grace Adeyemi",
        "grace-demo-2026",
        ((StaffRole.TEACHER, PRIMARY), (StaffRole.SAFEGUARDING_LEAD, PRIMARY)),
    ),
    _StaffSpec("Tom Whitfield", "tom-demo-2026", ((StaffRole.TEACHER, PRIMARY),)),
    _StaffSpec("Sophie Clarke", "sophie-demo-2026", ((StaffRole.TEACHING_ASSISTANT, PRIMARY),)),
    _StaffSpec("Rachel Evans", "rachel-demo-2026", ((StaffRole.SCHOOL_ADMIN, SECONDARY),)),
    _StaffSpec("Hannah Okafor", "hannah-demo-2026", ((StaffRole.SAFEGUARDING_LEAD, SECONDARY),)),
    _StaffSpec("Daniel Kowalski", "daniel-demo-2026", ((StaffRole.TEACHER, SECONDARY),)),
    _StaffSpec("Aisha Rahman", "aisha-demo-2026", ((StaffRole.TEACHER, SECONDARY),)),
    _StaffSpec("Liam Murphy", "liam-demo-2026", ((StaffRole.TEACHING_ASSISTANT, SECONDARY),)),
)


@dataclass(frozen=True, slots=True)
class _LessonSpec:
    school: str
    class_name: str
    title: str
    host: str
    assistant: str | None
    starts_in: timedelta
    length: timedelta
    options: tuple[tuple[str, object], ...] = ()


_LESSONS = (
    _LessonSpec(
        PRIMARY,
        "Year 4 Ash",
        "Times tables practice",
        "Tom Whitfield",
        "Sophie Clarke",
        timedelta(minutes=15),
        timedelta(minutes=45),
    ),
    _LessonSpec(
        SECONDARY,
        "8H",
        "Science: solids, liquids and gases",
        "Daniel Kowalski",
        None,
        timedelta(minutes=40),
        timedelta(minutes=50),
    ),
    _LessonSpec(
        PRIMARY,
        "Reception Robins",
        "Story time and phonics",
        "Grace Adeyemi",
        "Sophie Clarke",
        timedelta(hours=2),
        timedelta(minutes=30),
        options=(("class_chat", False),),
    ),
    _LessonSpec(
        SECONDARY,
        "10H",
        "English: poetry revision",
        "Aisha Rahman",
        "Liam Murphy",
        timedelta(hours=4),
        timedelta(hours=1),
    ),
)

_PUPIL_FIRST_NAMES = (
    "Amara", "Ben", "Chloe", "Daniyal", "Ella", "Finn", "Grace", "Harvey", "Isla", "Jacob",
    "Kai", "Layla", "Mason", "Nia", "Oscar", "Poppy", "Rory", "Sana", "Theo", "Ruby",
    "Yusuf", "Zara", "Alfie", "Bella", "Caleb", "Daisy", "Elijah", "Freya", "George", "Hana",
    "Ivy", "Jude", "Keira", "Leo", "Maya", "Noah", "Olivia", "Reuben", "Sienna", "Tomasz",
)  # fmt: skip
_LAST_NAMES = (
    "Ahmed", "Bailey", "Chen", "Davies", "Edwards", "Fraser", "Green", "Hussain", "Jones",
    "Kaur", "Lewis", "Mensah", "Novak", "O'Brien", "Patel", "Quinn", "Roberts", "Singh",
    "Taylor", "Walsh", "Williams", "Wright", "Young", "Zielinski", "Brown", "Clarke",
    "Dobson", "Evans", "Hall", "Khan",
)  # fmt: skip
_MOTHER_NAMES = (
    "Sarah", "Fatima", "Emma", "Joanna", "Aaliyah", "Claire", "Ngozi", "Lucy", "Marta", "Helen",
)  # fmt: skip
_FATHER_NAMES = (
    "James", "Imran", "Mark", "Piotr", "Kwame", "David", "Arjun", "Chris", "Sean", "Paul",
)  # fmt: skip

_LIVE_TEXT_CURRENT = """\
Live online lessons: what you are agreeing to

Sometimes your child's class will be taught live over the internet. Your child sees and hears
their teacher, and can talk and write to the class. Before your child can join, we need your
permission. You can change your mind at any time.

How we keep live lessons safe
- Only pupils on the class list, and school staff, can join. Everyone waits in a waiting room
  until a member of staff lets them in, one at a time.
- There are no one-to-one lessons. A lesson always has at least two pupils, or two members of
  staff.
- A member of staff is there the whole time. If staff lose their connection, pupils go back to
  the waiting room until they return.
- Pupils join with their microphone and camera off. Only staff see pupils' cameras.
- Pupils cannot send each other private messages. Staff see every message in the lesson.
- Younger children (below Year 3) join through your link, with you there.

The risks you are accepting
- Other people in the lesson may see and hear your child, and what is behind them at home.
  Please choose a quiet spot with a plain background. Background blur is available.
- Someone could photograph or screenshot their screen. We ask everyone not to, and we show each
  viewer's name over the video to put people off, but we cannot stop it completely.
- Anything your child types or says can be seen or heard by the class and staff.

What we keep
A record of who joined each lesson and what happened in it, kept for safeguarding and deleted on
the school's retention schedule. We do not record lessons unless you give separate permission.

To withdraw permission, tell the school office. Your child will then not be able to join live
lessons until you give permission again.
"""

_LIVE_TEXT_OLDER = """\
Live online lessons

Your child's class may sometimes be taught live online. A member of staff is always present,
pupils wait to be let in, and pupils cannot message each other privately. Other people in the
lesson may see and hear your child and their surroundings. Tell the school office if you change
your mind.
"""

_RECORDING_TEXT = """\
Recording live lessons: what you are agreeing to

Sometimes a teacher may record a live lesson, for example so pupils who were ill can watch it
later. A lesson can only be recorded if every pupil in it has a parent's permission.

What a recording holds
- The teacher's video and voice, and anything shared on screen.
- Your child's voice if they speak, and their name if it is said or shown.
- Never your child's camera: pupils' video is left out of recordings.

Who sees it, and for how long
Only pupils in the class and school staff can watch a recording. It is deleted automatically
after 30 days, unless the school's safeguarding lead needs to keep it.

The risk you are accepting
Someone watching could copy or film the recording. We ask everyone not to, but we cannot stop it
completely.

Saying no does not stop your child joining live lessons. To withdraw permission, tell the school
office.
"""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    email: str
    password: str
    display_name: str
    roles: tuple[str, ...]
    schools: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """`created` is False when the database already held a trust; `accounts` then lists the demo
    accounts only if that trust is the demo one (they exist and their passwords still apply)."""

    created: bool
    trust_name: str | None
    accounts: tuple[DemoAccount, ...]
    pupils: int = 0
    parents: int = 0
    lessons: int = 0


def load_demo(session: Session) -> DemoSummary:
    """Fill an empty database with the demo trust. The caller commits."""
    existing = session.scalars(select(Trust).order_by(Trust.id).limit(1)).first()
    if existing is not None:
        return _existing_summary(session, existing)
    rng = random.Random(_SEED)  # noqa: S311 - made-up names, repeatable on purpose
    return _DemoBuilder(session, rng, utc_now()).build()


def demo_accounts() -> tuple[DemoAccount, ...]:
    return tuple(
        DemoAccount(
            email=spec.email,
            password=spec.password,
            display_name=spec.display_name,
            roles=tuple(STAFF_ROLE_NAMES[role] for role, _ in spec.roles),
            schools=tuple(
                dict.fromkeys(_SCHOOLS[slug] if slug else "whole trust" for _, slug in spec.roles)
            ),
        )
        for spec in _STAFF
    )


def _existing_summary(session: Session, trust: Trust) -> DemoSummary:
    if trust.name != DEMO_TRUST_NAME:
        return DemoSummary(created=False, trust_name=trust.name, accounts=())
    emails = set(session.scalars(select(StaffMember.email).where(StaffMember.trust_id == trust.id)))
    return DemoSummary(
        created=False,
        trust_name=trust.name,
        accounts=tuple(account for account in demo_accounts() if account.email in emails),
    )


@dataclass(slots=True)
class _Family:
    last_name: str
    parents: list[tuple[Parent, str]]
    first_names: set[str]
    classes: set[str]


class _DemoBuilder:
    def __init__(self, session: Session, rng: random.Random, now: datetime) -> None:
        self.session = session
        self.rng = rng
        self.now = now.replace(second=0, microsecond=0)
        self.parent_emails: set[str] = set()
        self.parent_count = 0

    def build(self) -> DemoSummary:
        trust = Trust(name=DEMO_TRUST_NAME)
        self.session.add(trust)
        schools = {
            slug: School(
                trust=trust, name=name, slug=slug, policy_overrides=_SCHOOL_OVERRIDES.get(slug, {})
            )
            for slug, name in _SCHOOLS.items()
        }
        self.session.add_all(schools.values())
        self.session.flush()
        self._publish_consent_texts(trust)
        classes = self._classes(schools)
        pupils = self._pupils(trust, schools, classes)
        self._consents(pupils)
        staff = self._staff(trust, schools)
        self.session.flush()
        lessons = self._lessons(schools, classes, staff)
        record_audit(
            self.session,
            "demo_loaded",
            actor=None,
            data={"pupils": len(pupils), "staff": len(staff), "lessons": lessons},
        )
        self.session.flush()
        return DemoSummary(
            created=True,
            trust_name=trust.name,
            accounts=demo_accounts(),
            pupils=len(pupils),
            parents=self.parent_count,
            lessons=lessons,
        )

    @property
    def current_published_at(self) -> datetime:
        return self.now - timedelta(days=80)

    @property
    def older_published_at(self) -> datetime:
        return self.now - timedelta(days=445)

    def _publish_consent_texts(self, trust: Trust) -> None:
        self.session.add_all(
            [
                ConsentText(
                    trust_id=trust.id,
                    scope=ConsentScope.LIVE_LESSONS,
                    version=OLDER_CONSENT_VERSION,
                    body=_LIVE_TEXT_OLDER,
                    published_at=self.older_published_at,
                ),
                ConsentText(
                    trust_id=trust.id,
                    scope=ConsentScope.LIVE_LESSONS,
                    version=CURRENT_CONSENT_VERSION,
                    body=_LIVE_TEXT_CURRENT,
                    published_at=self.current_published_at,
                ),
                ConsentText(
                    trust_id=trust.id,
                    scope=ConsentScope.RECORDING,
                    version=CURRENT_CONSENT_VERSION,
                    body=_RECORDING_TEXT,
                    published_at=self.current_published_at,
                ),
            ]
        )

    def _classes(self, schools: dict[str, School]) -> dict[str, ClassGroup]:
        classes = {}
        for slug, specs in _CLASSES.items():
            for name, year_group in specs:
                classes[name] = ClassGroup(school=schools[slug], name=name, year_group=year_group)
        self.session.add_all(classes.values())
        return classes

    def _pupils(
        self, trust: Trust, schools: dict[str, School], classes: dict[str, ClassGroup]
    ) -> list[Pupil]:
        families: list[_Family] = []
        pupils: list[Pupil] = []
        for slug, specs in _CLASSES.items():
            for name, year_group in specs:
                for _ in range(self.rng.randint(6, 8)):
                    family = self._family_for_new_pupil(trust, families, name)
                    first_name = self.rng.choice(
                        [n for n in _PUPIL_FIRST_NAMES if n not in family.first_names]
                    )
                    family.first_names.add(first_name)
                    family.classes.add(name)
                    pupil = Pupil(
                        school=schools[slug],
                        mis_id=f"{slug[0].upper()}{len(pupils) + 1:04d}",
                        first_name=first_name,
                        last_name=family.last_name,
                        year_group=year_group,
                        class_groups=[classes[name]],
                        parent_links=[
                            ParentLink(parent=parent, relationship_to_pupil=relationship)
                            for parent, relationship in family.parents
                        ],
                    )
                    self.session.add(pupil)
                    pupils.append(pupil)
        return pupils

    def _family_for_new_pupil(
        self, trust: Trust, families: list[_Family], class_name: str
    ) -> _Family:
        """About one pupil in five is a younger or older sibling of a pupil already made: they
        share a last name and their parents (sometimes across the two schools)."""
        elsewhere = [family for family in families if class_name not in family.classes]
        if elsewhere and self.rng.random() < 0.2:
            return self.rng.choice(elsewhere)
        last_name = self.rng.choice(_LAST_NAMES)
        parents = [self._parent(trust, last_name, mother=self.rng.random() < 0.6)]
        if self.rng.random() < 0.45:
            mother = parents[0][1] != "Mother"
            parents.append(self._parent(trust, last_name, mother=mother))
        family = _Family(last_name=last_name, parents=parents, first_names=set(), classes=set())
        families.append(family)
        return family

    def _parent(self, trust: Trust, last_name: str, *, mother: bool) -> tuple[Parent, str]:
        first_name = self.rng.choice(_MOTHER_NAMES if mother else _FATHER_NAMES)
        if self.rng.random() < 0.15:
            last_name = self.rng.choice(_LAST_NAMES)
        relationship = "Mother" if mother else "Father"
        if self.rng.random() < 0.08:
            relationship = "Grandparent" if self.rng.random() < 0.5 else "Carer"
        email: str | None = None
        if self.rng.random() < 0.9:
            local = f"{first_name}.{last_name}".lower().replace("'", "")
            email = f"{local}@{_PARENT_EMAIL_DOMAIN}"
            suffix = 2
            while email in self.parent_emails:
                email = f"{local}{suffix}@{_PARENT_EMAIL_DOMAIN}"
                suffix += 1
            self.parent_emails.add(email)
        parent = Parent(trust_id=trust.id, display_name=f"{first_name} {last_name}", email=email)
        self.session.add(parent)
        self.parent_count += 1
        return parent, relationship

    def _consents(self, pupils: list[Pupil]) -> None:
        """Most parents said yes on the current form; some have not answered, a few withdrew,
        and a few said yes on last year's form and need asking again. Recording: fewer yeses."""
        total = len(pupils)
        withdrawn = max(2, total // 14)
        outdated = max(2, total // 10)
        missing = max(3, total // 8)
        states = (
            ["withdrawn"] * withdrawn
            + ["outdated"] * outdated
            + ["missing"] * missing
            + ["given"] * (total - withdrawn - outdated - missing)
        )
        self.rng.shuffle(states)
        for pupil, state in zip(pupils, states, strict=True):
            parent = pupil.parent_links[0].parent
            if state == "missing":
                continue
            if state == "outdated":
                self._consent(pupil, parent, ConsentScope.LIVE_LESSONS, OLDER_CONSENT_VERSION)
                continue
            record = self._consent(
                pupil, parent, ConsentScope.LIVE_LESSONS, CURRENT_CONSENT_VERSION
            )
            if state == "withdrawn":
                record.withdrawn_at = record.given_at + timedelta(days=self.rng.randint(3, 20))
            elif self.rng.random() < 0.4:
                self._consent(pupil, parent, ConsentScope.RECORDING, CURRENT_CONSENT_VERSION)

    def _consent(self, pupil: Pupil, parent: Parent, scope: ConsentScope, version: str) -> Consent:
        published = (
            self.current_published_at
            if version == CURRENT_CONSENT_VERSION
            else self.older_published_at
        )
        record = Consent(
            pupil=pupil,
            parent=parent,
            scope=scope,
            text_version=version,
            given_at=published + timedelta(days=self.rng.randint(1, 50), hours=19),
        )
        self.session.add(record)
        return record

    def _staff(self, trust: Trust, schools: dict[str, School]) -> dict[str, StaffMember]:
        return {
            spec.display_name: add_staff(
                self.session,
                trust=trust,
                email=spec.email,
                display_name=spec.display_name,
                password=spec.password,
                roles=[(role, schools[slug] if slug else None) for role, slug in spec.roles],
                actor=None,
            )
            for spec in _STAFF
        }

    def _lessons(
        self,
        schools: dict[str, School],
        classes: dict[str, ClassGroup],
        staff: dict[str, StaffMember],
    ) -> int:
        """Today's lessons, booked through the same checks as a teacher's booking: every demo
        class has enough pupils, so none is refused."""
        start = self.now + timedelta(minutes=5 - self.now.minute % 5)
        for spec in _LESSONS:
            starts_at = start + spec.starts_in
            assistants = (
                [(staff[spec.assistant], LessonStaffRole.TEACHING_ASSISTANT)]
                if spec.assistant
                else []
            )
            schedule_lesson(
                self.session,
                school=schools[spec.school],
                class_group=classes[spec.class_name],
                host=staff[spec.host],
                title=spec.title,
                starts_at=starts_at,
                ends_at=starts_at + spec.length,
                other_staff=assistants,
                options=dict(spec.options),
                actor=None,
            )
        return len(_LESSONS)
