"""Typed entries: from a lesson code and a passcode, typed at `/code`, to the lesson's waiting room.

`TypedCodeDoor` checks what someone typed. A right pair (the lesson's code, and the passcode of a
working link that opens that lesson, or of a guest's invitation to it) earns a short-lived signed
token; `TypedEntries`, the `JoinTokenReader` the lesson's WebSocket asks, turns that token into the
pupil or guest, having checked again that the link or invitation still works. A typed code only
ever leads to the waiting room: who is let in stays the lesson engine's decision, and it arrives
there as `Via.TYPED_CODE`, which the engine never takes for a parent's link (the young year groups
that join with a parent need the parent's own link).

Every wrong pair gets the same answer, whichever part was wrong, and costs the door the same work.
Wrong pairs are counted, in memory, per client address and per lesson code (for codes that belong
to a lesson): `ADDRESS_LIMIT` and `LESSON_LIMIT`. A pause starts when either reaches its limit,
is written to the audit log once, and refuses every pair for that address or lesson code until it
ends, right or wrong, without looking at the passcode, so a pause cannot be used to test guesses.
Attempts for the same address, and for the same lesson code, are checked one at a time, so no
burst of parallel requests gets past a limit. Successful entries do not clear the counts: a pupil
with a passcode of their own could otherwise use it to wipe out their wrong guesses at another's.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass import codes
from safeclass.actions.join_links import link_works
from safeclass.actions.live import PUPILS_EARLY
from safeclass.actions.typed_codes import lesson_by_code, record_lockout, record_typed_entry
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.domain.policy import is_parent_mediated
from safeclass.store.models import GuestInvitation, JoinLink, Lesson
from safeclass.store.queries import lesson_policy
from safeclass.timeutil import utc_now
from safeclass.web.join_tokens import Entrant
from safeclass.web.link_reader import opens_lesson
from safeclass.web.ratelimit import FIFTEEN_MINUTES, FailureTracker, Limit

# Wrong pairs from one client address: 10 within 15 minutes pause typing codes from there for 15
# minutes. IPv6 addresses count by their /64 network, which one household or one attacker holds.
ADDRESS_LIMIT = Limit(max_failures=10, window_seconds=FIFTEEN_MINUTES, lock_seconds=FIFTEEN_MINUTES)
# Wrong passcodes typed with one lesson's code, from anywhere: 10 within 15 minutes pause typing
# codes for that lesson for 15 minutes (personal links still work; a new code ends the pause).
LESSON_LIMIT = Limit(max_failures=10, window_seconds=FIFTEEN_MINUTES, lock_seconds=FIFTEEN_MINUTES)
# Counters kept per scope, the least recently seen forgotten beyond that.
MAX_TRACKED_KEYS = 20_000
IPV6_PREFIX = 64

# The token that carries a right pair to the lesson's WebSocket.
ENTRY_TOKEN_MAX_AGE = timedelta(minutes=10)
ENTRY_TOKEN_SALT = "safeclass.typed-entry"  # noqa: S105 (a salt, not a secret)
MAX_ENTRY_TOKEN_LENGTH = 512  # the protocol's limit for a join token
# Anything longer than this is not a code of ours, with every space and dash someone might add.
MAX_TYPED_LENGTH = 64
_STRIPES = 64


class EntryKind(enum.StrEnum):
    LINK = "link"
    GUEST = "guest"


@dataclass(frozen=True, slots=True)
class TypedEntry:
    """What a typed-entry token says: whose link or invitation, for which lesson."""

    kind: EntryKind
    record_id: int
    lesson_id: int


# --- The token ------------------------------------------------------------------------------------


class TypedEntryTokens:
    """Signed with the server's secret (its own salt, so no other signed value of ours passes
    for one), valid for `ENTRY_TOKEN_MAX_AGE` by `clock`."""

    def __init__(self, secret_key: bytes, clock: Callable[[], datetime] = utc_now) -> None:
        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(secret_key, salt=ENTRY_TOKEN_SALT, signer=_Signer)

    def mint(self, entry: TypedEntry) -> str:
        return self._serializer.dumps(
            {"k": entry.kind.value, "r": entry.record_id, "l": entry.lesson_id}
        )

    def read(self, token: str, lesson_id: int) -> TypedEntry | None:
        """The entry, or None for a token that is not ours, has expired, or is for another
        lesson."""
        if not 0 < len(token) <= MAX_ENTRY_TOKEN_LENGTH:
            return None
        try:
            payload = self._serializer.loads(
                token, max_age=int(ENTRY_TOKEN_MAX_AGE.total_seconds())
            )
        except BadData:
            return None
        if not isinstance(payload, dict):
            return None
        kind, record_id, for_lesson = payload.get("k"), payload.get("r"), payload.get("l")
        if kind not in {k.value for k in EntryKind}:
            return None
        if type(record_id) is not int or type(for_lesson) is not int:
            return None
        if for_lesson != lesson_id:
            return None
        return TypedEntry(EntryKind(kind), record_id, for_lesson)


# --- Whose passcode -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A right pair: the lesson, and the working link or invitation whose passcode it was."""

    lesson: Lesson
    link: JoinLink | None = None
    invitation: GuestInvitation | None = None

    def entry(self) -> TypedEntry:
        if self.link is not None:
            return TypedEntry(EntryKind.LINK, self.link.id, self.lesson.id)
        assert self.invitation is not None
        return TypedEntry(EntryKind.GUEST, self.invitation.id, self.lesson.id)

    @property
    def name(self) -> str:
        """The pupil's first name, or the guest's name as staff wrote it."""
        if self.link is not None:
            return self.link.pupil.first_name
        assert self.invitation is not None
        return self.invitation.display_name


def find_match(
    session: Session, lesson: Lesson | None, passcode: str, key: bytes, now: datetime
) -> Match | None:
    """The link or invitation that this passcode (normalised) opens `lesson` for, or None.
    Both tables are always asked, whether or not there is a lesson, so that an unknown lesson
    code costs the same work as a known one."""
    digest = codes.passcode_hmac(key, passcode)
    link = session.scalar(select(JoinLink).where(JoinLink.passcode_hmac == digest))
    invitation = session.scalar(
        select(GuestInvitation).where(GuestInvitation.passcode_hmac == digest)
    )
    if lesson is None:
        return None
    if link is not None and link_lets_in(session, link, lesson, now):
        return Match(lesson, link=link)
    if invitation is not None and invitation_lets_in(invitation, lesson, now):
        return Match(lesson, invitation=invitation)
    return None


def link_lets_in(session: Session, link: JoinLink, lesson: Lesson, now: datetime) -> bool:
    """The link opens this lesson and still works (not revoked or expired, its pupil still in
    the class). Each condition on its own line; the one that needs no query first, so that a
    passcode for another lesson costs no more than one that exists nowhere."""
    if not opens_lesson(link, lesson):
        return False
    return link_works(session, link, now)


def invitation_lets_in(invitation: GuestInvitation, lesson: Lesson, now: datetime) -> bool:
    """The invitation is for this lesson, and neither withdrawn nor expired."""
    if invitation.lesson_id != lesson.id:
        return False
    if invitation.school_id != lesson.school_id:
        return False
    return invitation.is_active(now)


# --- The lesson's door reads the token ------------------------------------------------------------


class TypedEntries:
    """The `JoinTokenReader` for typed-entry tokens: None for anything else, for an expired token
    or one for another lesson, and for a link or invitation that stopped working since."""

    def __init__(self, secret_key: bytes, clock: Callable[[], datetime] = utc_now) -> None:
        self._tokens = TypedEntryTokens(secret_key, clock)
        self._clock = clock

    def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
        entry = self._tokens.read(token, lesson_id)
        if entry is None:
            return None
        lesson = session.get(Lesson, lesson_id)
        if lesson is None:
            return None
        now = self._clock()
        if entry.kind is EntryKind.LINK:
            link = session.get(JoinLink, entry.record_id)
            if link is None or not link_lets_in(session, link, lesson, now):
                return None
            # The same device name as the link itself: the link and its passcode are one
            # person, so a second device on either is flagged in the waiting room.
            return Entrant(
                Person(Role.PUPIL, str(link.pupil_id)), Via.TYPED_CODE, f"link:{link.id}"
            )
        invitation = session.get(GuestInvitation, entry.record_id)
        if invitation is None or not invitation_lets_in(invitation, lesson, now):
            return None
        return Entrant(
            Person(Role.GUEST, str(invitation.id)), Via.TYPED_CODE, f"guest:{invitation.id}"
        )


# --- Counting wrong pairs -------------------------------------------------------------------------


def address_key(host: str) -> str:
    """What a client address counts as: itself, or for IPv6 its /64 network."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


@dataclass(frozen=True)
class PausesStarted:
    address: bool
    lesson: bool


class TypedCodeLimiter:
    """Wrong pairs per client address and per lesson code, in memory, with a clock the tests
    control (seconds, like `time.monotonic`)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        per_address: Limit = ADDRESS_LIMIT,
        per_lesson: Limit = LESSON_LIMIT,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.clock = clock
        self.per_address = per_address
        self.per_lesson = per_lesson
        self._lock = threading.Lock()
        self._addresses = FailureTracker(per_address, max_keys)
        self._lessons = FailureTracker(per_lesson, max_keys)

    def address_wait(self, address: str) -> int:
        """Whole seconds until typing codes from this address may start again (0: now)."""
        with self._lock:
            return _seconds(self._addresses.retry_after(address, self.clock()))

    def lesson_wait(self, lesson_code: str) -> int:
        """Whole seconds until typing this lesson's code may start again (0: now)."""
        with self._lock:
            return _seconds(self._lessons.retry_after(lesson_code, self.clock()))

    def record_failure(self, address: str, lesson_code: str | None) -> PausesStarted:
        """Count a wrong pair against the address and, for a lesson's code, against the lesson."""
        with self._lock:
            now = self.clock()
            address_paused = self._addresses.record_failure(address, now)
            lesson_paused = lesson_code is not None and self._lessons.record_failure(
                lesson_code, now
            )
        return PausesStarted(address_paused, lesson_paused)

    def tracked(self) -> tuple[int, int]:
        """How many addresses and lesson codes are being counted."""
        with self._lock:
            return len(self._addresses), len(self._lessons)


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait)) if wait > 0 else 0


# --- The door -------------------------------------------------------------------------------------


class Answer(enum.StrEnum):
    MISSING = "missing"  # a field left empty
    MALFORMED = "malformed"  # cannot be one of our codes: wrong length or letters
    ADDRESS_PAUSED = "address_paused"
    LESSON_PAUSED = "lesson_paused"
    NO_MATCH = "no_match"  # every kind of wrong pair
    # Only once both codes are right:
    NOT_OPEN_YET = "not_open_yet"
    FINISHED = "finished"
    PARENT_NEEDED = "parent_needed"
    WAITING_ROOM = "waiting_room"


@dataclass(frozen=True)
class LessonFacts:
    """What the pages say about the lesson, once both codes are right."""

    id: int
    title: str
    school_name: str
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    year_group: int | None  # the pupil's, for "joins with a parent"

    @classmethod
    def of(cls, match: Match) -> LessonFacts:
        lesson = match.lesson
        return cls(
            id=lesson.id,
            title=lesson.title,
            school_name=lesson.school.name,
            starts_at=lesson.starts_at,
            ends_at=lesson.ends_at,
            opens_at=lesson.starts_at - PUPILS_EARLY,
            year_group=match.link.pupil.year_group if match.link is not None else None,
        )


@dataclass(frozen=True)
class DoorAnswer:
    answer: Answer
    retry_after_seconds: int = 0
    token: str | None = None
    lesson: LessonFacts | None = None
    name: str | None = None
    guest: bool = False

    @property
    def codes_matched(self) -> bool:
        return self.lesson is not None


def read_codes(typed_code: str | None, typed_passcode: str | None) -> tuple[str, str] | Answer:
    """The lesson code and passcode as stored, or why they cannot be: left empty, or not the
    shape of our codes. Typed the wrong way round (the passcode in the lesson code's box) is
    put right, since the lengths tell them apart."""
    code_text = (typed_code or "").strip()
    passcode_text = (typed_passcode or "").strip()
    if not code_text or not passcode_text:
        return Answer.MISSING
    if len(code_text) > MAX_TYPED_LENGTH or len(passcode_text) > MAX_TYPED_LENGTH:
        return Answer.MALFORMED
    code = codes.normalise(code_text)
    passcode = codes.normalise(passcode_text)
    if code is None or passcode is None:
        return Answer.MALFORMED
    if len(code) == codes.PASSCODE_LENGTH and len(passcode) == codes.LESSON_CODE_LENGTH:
        code, passcode = passcode, code
    if len(code) != codes.LESSON_CODE_LENGTH or len(passcode) != codes.PASSCODE_LENGTH:
        return Answer.MALFORMED
    return code, passcode


class TypedCodeDoor:
    """Checks typed codes, counts wrong ones, and issues typed-entry tokens for right ones."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        secret_key: bytes,
        now: Callable[[], datetime] = utc_now,
        running: Callable[[int], bool] = lambda _lesson_id: False,
        limiter: TypedCodeLimiter | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._passcode_key = codes.passcode_key(secret_key)
        self._now = now
        self._running = running
        self.tokens = TypedEntryTokens(secret_key, clock=now)
        self.limiter = limiter if limiter is not None else TypedCodeLimiter()
        self._address_stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._code_stripes = [threading.Lock() for _ in range(_STRIPES)]

    def attempt(
        self, address: str, typed_code: str | None, typed_passcode: str | None
    ) -> DoorAnswer:
        """One try at the door from a client address. Blocking (it reads the database): the web
        page calls it in a worker thread."""
        read = read_codes(typed_code, typed_passcode)
        if isinstance(read, Answer):
            return DoorAnswer(read)
        lesson_code, passcode = read
        key = address_key(address)
        # Address first, then code, always: two locks taken in one order cannot deadlock.
        with _held(self._address_stripes, key), _held(self._code_stripes, lesson_code):
            return self._attempt(key, lesson_code, passcode)

    def lesson_pause(self, lesson_code: str | None) -> int:
        """Seconds until typing this lesson's code works again (0: it works now)."""
        return self.limiter.lesson_wait(lesson_code) if lesson_code is not None else 0

    def _attempt(self, address: str, lesson_code: str, passcode: str) -> DoorAnswer:
        wait = self.limiter.address_wait(address)
        if wait:
            return DoorAnswer(Answer.ADDRESS_PAUSED, retry_after_seconds=wait)
        with self._session_factory() as session:
            lesson = lesson_by_code(session, lesson_code)
            if lesson is not None:
                wait = self.limiter.lesson_wait(lesson_code)
                if wait:
                    return DoorAnswer(Answer.LESSON_PAUSED, retry_after_seconds=wait)
            now = self._now()
            match = find_match(session, lesson, passcode, self._passcode_key, now)
            if match is None:
                self._count_failure(session, address, lesson_code, lesson)
                return DoorAnswer(Answer.NO_MATCH)
            return self._matched(session, address, match, now)

    def _count_failure(
        self, session: Session, address: str, lesson_code: str, lesson: Lesson | None
    ) -> None:
        started = self.limiter.record_failure(address, lesson_code if lesson else None)
        if started.address:
            minutes = _minutes(self.limiter.per_address)
            record_lockout(session, by="address", address=address, minutes=minutes)
        if started.lesson:
            minutes = _minutes(self.limiter.per_lesson)
            record_lockout(session, by="lesson", address=address, minutes=minutes, lesson=lesson)
        if started.address or started.lesson:
            session.commit()

    def _matched(self, session: Session, address: str, match: Match, now: datetime) -> DoorAnswer:
        lesson = match.lesson
        facts = LessonFacts.of(match)
        link = match.link
        # The engine would turn them away at the door; saying so now saves a wasted trip (and
        # comes first, so nobody is told to come back later for a door that will not open).
        if link is not None and is_parent_mediated(lesson_policy(lesson), link.pupil.year_group):
            return DoorAnswer(Answer.PARENT_NEEDED, lesson=facts, name=match.name)
        if now < facts.opens_at:
            return DoorAnswer(Answer.NOT_OPEN_YET, lesson=facts, name=match.name)
        if now > lesson.ends_at and not self._running(lesson.id):
            return DoorAnswer(Answer.FINISHED, lesson=facts, name=match.name)
        token = self.tokens.mint(match.entry())
        record_typed_entry(session, lesson, address=address, link=link, invitation=match.invitation)
        session.commit()
        return DoorAnswer(
            Answer.WAITING_ROOM,
            token=token,
            lesson=facts,
            name=match.name,
            guest=match.invitation is not None,
        )


def _minutes(limit: Limit) -> int:
    return math.ceil(limit.lock_seconds / 60)


@contextmanager
def _held(stripes: list[threading.Lock], key: str) -> Iterator[None]:
    with stripes[hash(key) % len(stripes)]:
        yield
