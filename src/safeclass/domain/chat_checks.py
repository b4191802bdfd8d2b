"""Chat checks: what in a message looks like personal details or bad language.

`check_chat(text)` returns typed findings (what kind, and where in the text); the lesson engine
decides from the school's policy what happens to the message. Pure and fast: regular expressions
and set look-ups, no I/O, no model.

Built for children's writing: lower case, no punctuation, typos, text speak, and the ways children
get round a filter (digits spelt out or written with an o for a zero, "at" and "dot" for @ and .,
s p a c e d letters, sh!t and f**k). Just as much care goes into what must pass: sums
("07 + 11 = 18"), times ("at 10:30", "3pm"), page and question numbers, years, scores, decimals,
"@ home", "me at school", "vitamin b12", "3 in a row", "Scunthorpe", "the owl and the pussy cat".

What is found:
- phone numbers: UK mobiles and landlines (07, 01, 02, 03, 08, 09; +44 and 0044; spaces, dashes,
  dots, brackets; digits one by one; digits spelt out in words, "double" and "triple");
- email addresses, also written "name at gmail dot com", "name(at)gmail(dot)com", "name@gmail";
- UK postcodes: full ones anywhere (checked against the real postcode areas), the first half
  alone only where the message says it is a postcode or where someone lives ("i live in ls6");
- street addresses: a house number and a street ("12 acacia avenue", "flat 3, 5 high st"), or
  a street where someone lives ("i live on maple drive");
- social media: @handles that look like usernames, an app or game named with an account name
  ("my insta is amy.rose09", "add me on roblox my username is coolkid2013"), Discord tags;
- links: any web address, with or without http or www;
- bad language: the reviewed list in `chat_words`, plus the words a school adds.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from safeclass.domain.chat_words import WORD_LIST


class ChatCheckKind(enum.StrEnum):
    PHONE_NUMBER = "phone_number"
    EMAIL_ADDRESS = "email_address"
    POSTCODE = "postcode"
    STREET_ADDRESS = "street_address"
    SOCIAL_MEDIA = "social_media"
    LINK = "link"
    PROFANITY = "profanity"

    @property
    def personal(self) -> bool:
        """Personal details (the policy's "personal details in chat"), not bad language."""
        return self is not ChatCheckKind.PROFANITY


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the check found: `text[start:end]` is the part of the message that holds it."""

    kind: ChatCheckKind
    start: int
    end: int


def check_chat(text: str, extra_words: Iterable[str] = ()) -> tuple[Finding, ...]:
    """Everything the checks find in `text`, in the order it appears. Never raises."""
    return chat_checker(tuple(extra_words)).check(text)


@functools.lru_cache(maxsize=64)
def chat_checker(extra_words: tuple[str, ...] = ()) -> ChatChecker:
    """One checker per word list, built once: building compiles the word list's patterns."""
    return ChatChecker(extra_words)


# --- Reading past disguises -------------------------------------------------------------------

_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
# Letters from other alphabets that look like Latin ones, as used to slip past a filter.
_LOOKALIKES = {
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "і": "i",
    "ј": "j",
    "ѕ": "s",
    "ԁ": "d",
    "ո": "n",
    "ı": "i",
    "α": "a",
    "ε": "e",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
}


@functools.lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    """One character as the checks read it: lower case, accents off, full-width and look-alike
    letters as plain ones. May be empty (an invisible character) or, rarely, longer (a ligature)."""
    if char in _INVISIBLE:
        return ""
    lookalike = _LOOKALIKES.get(char.lower())
    if lookalike is not None:
        return lookalike
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass(frozen=True, slots=True)
class _Folded:
    text: str
    # Where each character of `text` came from in the original, when the two differ in length.
    origins: tuple[int, ...] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.origins is None:
            return start, end
        return self.origins[start], self.origins[end - 1] + 1


def _fold_text(text: str) -> _Folded:
    if text.isascii():
        return _Folded(text.lower(), None)
    chars: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        folded = _fold(char)
        chars.append(folded)
        origins.extend([index] * len(folded))
    return _Folded("".join(chars), tuple(origins))


# --- Words that are never names ---------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Everyday words that follow "my snap is", "my gmail is" or come before ".it": "my roblox is
# broken" and "yes.it was good" name no account and no website.
COMMON_WORDS = _words(
    """
    a about above actually add after again ago all almost already also always am amazing an and
    annoying another any anymore anyone anything are around as ask asked at away awesome awful
    back bad banned be because been before being best better big blocked bored boring both
    broken busy but by bye called came can cant care closed come coming cool could cringe cute
    dad dead deleted did didnt different do does doesnt doing done dont down easy else empty
    epic even ever every everyone everything fake fast fine finished first for free friend
    friends from full fun funny give go gone good got great hacked had hard has hate have he
    hello help her here hers hey hi him his how i if im in into is isnt it its just kind know
    lagging laggy later let like literally live locked lol long look lost lot lots love made
    make me mine miss more most mr mrs ms much mum my name named nan need never new next nice
    no not nothing now of off ok okay old on one only open or other our out over please pls
    private public quite rated really rubbish sad safe said same school see she show sick slow
    so some someone something soon sorry still stupid such sure teacher tell than thanks that
    thats the their them then there these they thing things think this tho those though through
    to today tomorrow too trash tried try ugh under up us very want was wasnt way we weird well
    went were what when where which who why will with wont working worse worst would yeah yes
    yesterday yet you your yours
    """
)


# --- Phone numbers ----------------------------------------------------------------------------

_SPELT_DIGITS = {
    "zero": "0",
    "nought": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_REPEATS = {"double": 2, "triple": 3}
# Digit groups (an o inside a group is read as a zero: "o77oo"), and digits spelt out.
_PHONE_TOKEN = re.compile(
    r"(?<![a-z0-9])(?:[0-9o]*[0-9][0-9o]*|zero|nought|oh|o|one|two|three|four|five|six|seven"
    r"|eight|nine|double|triple)(?![a-z0-9])"
)
# What may stand between the groups of one number: spaces, dashes, dots, brackets, slashes.
_PHONE_GAP = re.compile(r"[ \t\-.()/]{1,3}")
_MAX_PHONE_DIGITS = 15
_ZERO_ZERO = frozenset({"00", "004", "0044"})


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    digits: str
    spelt: bool


def _phone_runs(text: str) -> Iterator[list[_Piece]]:
    """Runs of digit groups and spelt digits that could make one number."""
    run: list[_Piece] = []
    pending: tuple[int, int] | None = None  # "double" or "triple", waiting for its digit
    previous_end = -1
    previous_text = ""
    for match in _PHONE_TOKEN.finditer(text):
        word = match.group()
        gap = text[previous_end : match.start()]
        joined = previous_end >= 0 and _PHONE_GAP.fullmatch(gap) is not None
        if joined and gap == "." and previous_text == "0":
            joined = False  # a decimal such as 0.5, never a phone number
        if not joined:
            if run:
                yield run
            run, pending = [], None
        previous_end, previous_text = match.end(), word
        if word in _REPEATS:
            pending = (match.start(), _REPEATS[word])
            continue
        spelt = word in _SPELT_DIGITS
        digits = _SPELT_DIGITS[word] if spelt else word.replace("o", "0")
        start = match.start()
        if pending is not None:
            start = pending[0]
            digits = digits[0] * pending[1] + digits[1:]
            spelt = True
            pending = None
        run.append(_Piece(start, match.end(), digits, spelt))
    if run:
        yield run


def _looks_like_phone_grouping(pieces: list[_Piece]) -> bool:
    """How people group the digits of a phone number, unlike lists of small numbers (lottery
    numbers, a sequence, question numbers): one block, digits one by one, or a few groups with
    at least one of three digits or more, or a lone 0 and then groups of one size."""
    if any(piece.spelt for piece in pieces):
        return True
    sizes = [len(piece.digits) for piece in pieces]
    if len(pieces) >= 3 and _counts_up(pieces):
        return False
    if len(sizes) == 1 or max(sizes) == 1 or (len(sizes) <= 5 and max(sizes) >= 3):
        return True
    # A lone 0, then groups of one size ("0 77 00 90 03 21"); a list such as "0 1 1 2 3 5 8 13"
    # has groups of different sizes.
    return pieces[0].digits == "0" and len(set(sizes[1:])) == 1


def _counts_up(pieces: list[_Piece]) -> bool:
    """Numbers in steps of the same size: "0 10 20 30 40 50", "0 100 200 300"."""
    numbers = [int(piece.digits) for piece in pieces]
    steps = {b - a for a, b in itertools.pairwise(numbers)}
    return len(steps) == 1


def _is_uk_phone_number(digits: str, *, plus: bool, spelt: bool) -> bool:
    if digits.startswith("0044"):
        digits, plus = digits[2:], True
    if plus or (digits.startswith("44") and len(digits) == 12):
        if not digits.startswith("44"):
            return False
        rest = digits[2:]
        rest = rest[1:] if rest.startswith("0") else rest  # +44 (0) 7700 ...
        return len(rest) in (9, 10) and rest[0] in "1235789"
    if digits.startswith("0"):
        return len(digits) in (10, 11) and digits[1] in "1235789"
    # A mobile number spelt out without its first zero: "seven seven zero zero ...".
    return spelt and len(digits) == 10 and digits[0] == "7"


def _phone_numbers(text: str) -> Iterator[tuple[int, int]]:
    for run in _phone_runs(text):
        first = 0
        while first < len(run):
            found = _phone_number_from(text, run, first)
            if found is None:
                first += 1
            else:
                start, end, first = found
                yield start, end


def _phone_number_from(text: str, run: list[_Piece], first: int) -> tuple[int, int, int] | None:
    """The longest phone number starting at `run[first]`: its span, and the piece after it."""
    head = run[first]
    if head.digits[0] not in "047":
        return None  # every UK number starts 0, 44 (+44, 0044) or, spelt out, 7
    opening = head.start > 0 and text[head.start - 1] in "+("
    plus = opening and text[head.start - 1] == "+"
    valid = []
    digits = ""
    spelt = False
    for last in range(first, len(run)):
        digits += run[last].digits
        if len(digits) > _MAX_PHONE_DIGITS or (digits[:2] == "00" and digits[:4] not in _ZERO_ZERO):
            break  # too long, or 00 that is not 0044
        spelt = spelt or run[last].spelt
        if _is_uk_phone_number(digits, plus=plus, spelt=spelt):
            valid.append(last)
    for last in reversed(valid):
        if _looks_like_phone_grouping(run[first : last + 1]):
            return (head.start - 1 if opening else head.start), run[last].end, last + 1
    return None


# --- Email addresses --------------------------------------------------------------------------

_AT = r"(?:\s*@\s*|\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+)"
_LOCAL_DOT = r"(?:\.|\s+dot\s+|\s*[(\[{<]\s*dot\s*[)\]}>]\s*)"
_DOMAIN_DOT = r"(?:\s*\.\s*|\s+dot\s+|\s*[(\[{<]\s*dot\s*[)\]}>]\s*)"
_EMAIL = re.compile(
    rf"(?<![a-z0-9._%+-])(?P<local>[a-z0-9_%+-]+(?:{_LOCAL_DOT}[a-z0-9_%+-]+)*)"
    rf"(?P<at>{_AT})(?P<domain>[a-z0-9-]+(?:{_DOMAIN_DOT}[a-z0-9-]+)*)"
)
_DOMAIN_DOT_SPLIT = re.compile(_DOMAIN_DOT)
_EMAIL_PROVIDERS = _words(
    "gmail googlemail hotmail outlook yahoo icloud aol btinternet protonmail proton msn "
    "talktalk virginmedia ymail"
)
_EMAIL_TLDS = _words("com net org uk edu gov io info biz me")
_MENTIONS_EMAIL = re.compile(r"\be[ -]?mails?\b|\bemials?\b")
# "my gmail is leojones2014": the address is the name with the provider's domain.
_PROVIDER_NAME = re.compile(
    r"\b(?:gmail|googlemail|hotmail|outlook|yahoo|icloud)\s+(?:address\s+|name\s+)?"
    r"(?:is|=|:)\s*(?P<name>[a-z0-9._-]{3,30})"
)


def _has_username_marks(word: str) -> bool:
    """Digits, underscores, dots or a # inside a word with letters: how usernames look."""
    return (
        any(c.isalpha() for c in word)
        and any(c.isdigit() or c in "_.#" for c in word.strip("."))
        and _ORDINAL_OR_TIME.fullmatch(word) is None
    )


_ORDINAL_OR_TIME = re.compile(r"\d+(?:st|nd|rd|th|am|pm|p|k|m|s|x|yrs?|kg|g|cm|mm|km)?")


def _email_addresses(text: str) -> Iterator[tuple[int, int]]:
    position = 0
    while (match := _EMAIL.search(text, position)) is not None:
        if _is_email(text, match):
            yield match.start(), match.end()
            position = match.end()
        else:
            # The local part alone is not an address: look again just after it, so that "look
            # at amy@gmail.com" still finds amy@gmail.com.
            position = match.end("local")
    for match in _PROVIDER_NAME.finditer(text):
        name = match["name"].strip(".")
        if _has_username_marks(name) or (len(name) >= 3 and name not in COMMON_WORDS):
            yield match.start(), match.start("name") + len(name)


def _is_email(text: str, match: re.Match[str]) -> bool:
    labels = _DOMAIN_DOT_SPLIT.split(match["domain"])
    tld = labels[-1]
    provider = labels[0] in _EMAIL_PROVIDERS
    known_tld = len(labels) >= 2 and tld in _EMAIL_TLDS
    if "@" in match["at"]:
        plain = match["at"] == "@" and len(labels) >= 2 and tld.isalpha() and len(tld) >= 2
        return plain or known_tld or provider
    if known_tld:
        return True  # "sam at gmail dot com", "noah(at)gmail(dot)com"
    # "leo2015 at gmail": only with a username-like name, or where the message is about email,
    # so that "look at gmail" passes.
    local = match["local"]
    return (
        provider
        and len(labels) == 1
        and (_has_username_marks(local) or _MENTIONS_EMAIL.search(text) is not None)
    )


# --- Links ------------------------------------------------------------------------------------

_URL = re.compile(r"(?<![a-z0-9@])(?:https?://|www\.)[^\s<>\"']+")
_BARE_DOMAIN = re.compile(
    r"(?<![a-z0-9@._-])(?P<host>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?P<tld>[a-z]{2,6}))"
    r"(?![a-z0-9-])(?P<path>/[^\s<>\"']*)?"
)
# Endings that are web addresses whatever comes before them.
_LINK_TLDS = _words("com net org uk io gg tv ly xyz info edu gov biz dev app")
# Country endings that are also short words ("yes.it", "tell.me"): a web address only with a
# path, or after a name that is not an everyday word ("kahoot.it").
_SHORT_TLDS = _words(
    "it me be co to fm ai us ca ie de fr es nl eu au nz cc ws sh gl is so la live online site club"
)
_TRAILING = ".,!?;:)]}'\""


def _links(text: str) -> Iterator[tuple[int, int]]:
    for match in _URL.finditer(text):
        end = match.start() + len(match.group().rstrip(_TRAILING))
        yield match.start(), end
    for match in _BARE_DOMAIN.finditer(text):
        labels = match["host"].split(".")
        tld = match["tld"]
        path = (match["path"] or "").rstrip(_TRAILING)
        if tld in _LINK_TLDS:
            ok = True
        elif path not in ("", "/"):
            ok = tld.isalpha()
        else:
            before = labels[-2]
            ok = tld in _SHORT_TLDS and len(before) >= 3 and before not in COMMON_WORDS
        if ok:
            yield match.start(), match.end("host") + len(path)


# --- Social media -----------------------------------------------------------------------------

_PLATFORMS = (
    r"insta(?:gram)?|ig|snap(?:chat)?|sc|tik\s?tok|discord|whats\s?app|watsapp|roblox|fortnite"
    r"|xbox|psn|playstation|steam|twitch|youtube|yt|facebook|fb|twitter|kik|telegram|minecraft"
    r"|threads|pinterest|bereal|epic(?:\s?games)?|gamer\s?tag|user\s?name"
)
_PLATFORM = re.compile(rf"\b(?:{_PLATFORMS})\b")
# Whose account it is, just before the app's name: "my insta", "add me on snap".
_OWNER = re.compile(
    r"\b(?:my|ur|your|his|her|their|mine|me\s+on|im\s+on|i'm\s+on|on\s+my)"
    r"(?:\s+(?:new|other|main|second|2nd|old))?\s+$"
)
_AFTER_PLATFORM = re.compile(r"[^\s,!?;]+")
# Words that may come between the app and the name: "my roblox username is ...".
_FILLERS = _words(
    "is iz its it's it called name names name's username user handle id account acc tag gamertag "
    "gamer channel my me mine mines mine's on add im i'm i am at as"
)
_LINKING = _words(
    "is iz its it's called name name's username user handle id tag gamertag im i'm am as mines "
    "mine's"
)
_USERNAME = re.compile(r"@?[a-z0-9_.#-]{3,30}")
_USER_BEFORE_PLATFORM = re.compile(
    rf"\b(?P<verb>im|i'm|i\s+am|its|it's|add|follow)\s+(?P<user>@?[a-z0-9_.#-]{{3,30}})\s+on\s+"
    rf"(?:{_PLATFORMS})\b"
)
_DISCORD_TAG = re.compile(r"(?<![a-z0-9_.])[a-z][a-z0-9_.]{1,31}#\d{4}\b")
_HANDLE = re.compile(r"(?<![a-z0-9_.@/])@(?P<name>[a-z0-9_](?:[a-z0-9_.]*[a-z0-9_])?)")
# @ used for "at" or to call someone in the room: "@ home", "@miss", "@everyone", "@3pm".
_NOT_HANDLES = _words(
    "everyone all here channel teacher teachers miss mrs mr ms sir home school lunch break "
    "playtime class staff"
)
_ABOUT_ACCOUNTS = re.compile(rf"\b(?:{_PLATFORMS}|follow|add|username|handle|dm)\b")


def _social_media(text: str) -> Iterator[tuple[int, int]]:
    for match in _PLATFORM.finditer(text):
        end = _account_after(text, match)
        if end is not None:
            yield match.start(), end
    for match in _USER_BEFORE_PLATFORM.finditer(text) if " on " in text else ():
        user = match["user"]
        # "add jakeb on snap": after add or follow, any name that is not an everyday word.
        asked = match["verb"] in ("add", "follow") and user not in COMMON_WORDS
        if user.startswith("@") or _has_username_marks(user) or asked:
            yield match.start("user"), match.end()
    for match in _DISCORD_TAG.finditer(text) if "#" in text else ():
        yield match.start(), match.end()
    about_accounts: bool | None = None
    for match in _HANDLE.finditer(text) if "@" in text else ():
        name = match["name"]
        if name in _NOT_HANDLES or _ORDINAL_OR_TIME.fullmatch(name) or name.isdigit():
            continue
        if not _has_username_marks(name):
            # A bare "@amy" is how children call a classmate: a username only when the message
            # is about accounts ("follow me @amyrose").
            if about_accounts is None:
                about_accounts = _ABOUT_ACCOUNTS.search(text) is not None
            if not about_accounts or len(name) < 3:
                continue
        yield match.start(), match.end()


def _account_after(text: str, platform: re.Match[str]) -> int | None:
    """Where the account name after an app's name ends, or None when none is given."""
    owned = _OWNER.search(text, max(0, platform.start() - 30), platform.start()) is not None
    linked = explicit = False
    after = platform.end()
    for count, token in enumerate(_AFTER_PLATFORM.finditer(text, after, after + 80)):
        if count >= 7:
            break
        word = token.group()
        if word[-1] in ":=":
            linked = explicit = True
            word = word.rstrip(":=")
        if word in ("", "-"):
            continue
        if word in _FILLERS:
            if linked and word not in _LINKING:
                return None  # "my snapchat is on my mums phone"
            linked = linked or word in _LINKING
            continue
        name = word.rstrip(".'\")")
        if _USERNAME.fullmatch(name) is None:
            return None
        if name.startswith("@") and len(name) > 2:
            return token.start() + len(name)
        if _has_username_marks(name):
            return token.start() + len(name)
        if (explicit or (linked and owned)) and name not in COMMON_WORDS and name[0].isalpha():
            return token.start() + len(name)
        return None
    return None


# --- Postcodes --------------------------------------------------------------------------------

_POSTCODE_AREAS = _words(
    """
    ab al b ba bb bd bh bl bn br bs bt ca cb cf ch cm co cr ct cv cw da dd de dg dh dl dn dt dy
    e ec eh en ex fk fy g gl gu gy ha hd hg hp hr hs hu hx ig im ip iv je ka kt kw ky l la ld
    le ll ln ls lu m me mk ml n ne ng nn np nr nw ol ox pa pe ph pl po pr rg rh rm s sa se sg
    sk sl sm sn so sp sr ss st sw sy ta td tf tn tq tr ts tw ub w wa wc wd wf wn wr ws wv yo ze
    """
)
_OUTWARD = r"(?P<area>[a-z]{1,2})[0-9][a-z0-9]?"
_FULL_POSTCODE = re.compile(rf"\b{_OUTWARD}\s?[0-9][abd-hjlnp-uw-z]{{2}}\b")
_POSTCODE_SAID = re.compile(
    r"\b(?:post\s?codes?|postcod|postal\s+code)\b[^a-z0-9]{0,3}"
    r"(?:(?:is|its|it's|=|starts\s+with|begins\s+with)\s*)*"
    rf"(?P<outward>{_OUTWARD})\b"
)
_LIVES_IN = re.compile(
    rf"\b(?:live|lives|living|moved|move)\s+(?:in|near|at|to)\s+(?P<outward>{_OUTWARD})\b"
)


def _postcodes(text: str) -> Iterator[tuple[int, int]]:
    for match in _FULL_POSTCODE.finditer(text):
        if match["area"] in _POSTCODE_AREAS:
            yield match.start(), match.end()
    for pattern in (_POSTCODE_SAID, _LIVES_IN):
        for match in pattern.finditer(text):
            if match["area"] in _POSTCODE_AREAS:
                yield match.start("outward"), match.end("outward")


# --- Street addresses -------------------------------------------------------------------------

_STREETS = (
    r"street|st|road|rd|avenue|ave|lane|ln|close|drive|dr|way|crescent|cres|court|ct|place|pl"
    r"|gardens|gdns|grove|terrace|tce|hill|view|walk|mews|row|square|sq|green|rise|parade|park"
    r"|croft|meadow|meadows|vale|boulevard|gate|wharf|fields|mount|cottages|crest|yard|chase"
    r"|approach|circle|quay|heights|promenade|embankment|esplanade|walkway"
)
# Street words that are also everyday words ("a 5 minute drive", "10 free park passes"): an
# address only at the end of the message or before an everyday word ("27 elm close thats my
# house").
_EVERYDAY_STREET_WORDS = _words(
    "close drive dr way court ct place pl hill view walk row green rise park gate mount yard "
    "chase fields meadow crest approach circle heights"
)
# Words that never make the name of a street: "3 in a row", "a 10 minute walk", "2 way street".
_NOT_STREET_NAMES = _words(
    """
    a an the in on at of to and or by for with from into onto up down more most less big little
    small long short main busy quiet different other same whole full half way ways minute minutes
    min mins hour hours hr hrs mile miles metre metres meter meters km kilometre kilometres
    second seconds day days week weeks month months year years time times lane lanes car cars bus
    buses tennis football netball cricket rugby cycle bike swimming fast slow country nature
    school steep tall very really is are was were it its they we you i my your our their his her
    this that these those there here no not got have has had get went go going came lol about
    like out over under across along round around through past near next behind people kids
    children points point sided storey story lap laps yards foot feet inch inches step steps
    player players part parts piece pieces free extra best first last fun
    """
)
# A number right after these words is not a house number: "year 6 nature walk", "page 12".
_NOT_HOUSE_NUMBER_AFTER = _words(
    """
    year yr y class page pg p question q chapter ch level lvl stage room table team bus ks grade
    set group step lesson test times x top under over aged age episode ep season series book
    section exercise ex task activity slide line week day term bay platform seat score scored
    got get won lost than only just about nearly almost
    """
)
# One to three words, or "the" alone ("19 the green", "4 the mews").
_STREET_NAME = r"(?P<name>(?:[a-z][a-z'’-]*\s+){1,3}?)"
_NUMBERED_ADDRESS = re.compile(
    r"(?<![a-z0-9:./£$-])(?P<lead>(?:(?:flat|apartment|apt|unit)\s*\d{1,4}[a-z]?\s*,?\s*)?"
    r"(?:(?:number|no\.?|num)\s*)?)"
    rf"(?P<number>\d{{1,4}}[a-z]?)\b\s*,?\s+{_STREET_NAME}(?P<street>{_STREETS})\b"
)
_NUMBER_ON_STREET = re.compile(
    r"\b(?:number|house)\s+(?:is\s+)?(?P<number>\d{1,4}[a-z]?)\s+(?:on|in)\s+"
    rf"{_STREET_NAME}(?P<street>{_STREETS})\b"
)
# Streets named in one word: "23 kingsway", "4 broadway", "10 southgate".
_ONE_WORD_STREET = re.compile(
    r"(?<![a-z0-9:./£$-])(?P<number>\d{1,4}[a-z]?)\s+(?P<street>(?:kings|queens|broad|park|fair"
    r"|high|south|north|east|west|moor|bishops|bridge|church|castle|mill|green|old|new)"
    r"(?:way|gate))\b"
)
_LIVES_ON_STREET = re.compile(
    r"\b(?:live|lives|living|moved|move|stay|staying|house\s+is|home\s+is)\s+(?:on|in|at|to)\s+"
    rf"{_STREET_NAME}(?P<street>{_STREETS})\b"
)
_LAST_WORD = re.compile(r"([a-z]+)[^a-z0-9]*$")
_NEXT_WORD = re.compile(r"[^a-z0-9]*([a-z0-9']+)")


def _street_addresses(text: str, has_digit: bool) -> Iterator[tuple[int, int]]:
    if has_digit:
        yield from _numbered_addresses(text)
    for match in _LIVES_ON_STREET.finditer(text):
        if _is_street(text, match, numbered=False):
            yield match.start(), match.end()


def _numbered_addresses(text: str) -> Iterator[tuple[int, int]]:
    position = 0
    while (found := _NUMBERED_ADDRESS.search(text, position)) is not None:
        if _house_number_here(text, found.start()) and _is_street(text, found, numbered=True):
            yield found.start(), found.end()
            position = found.end()
        else:
            position = found.start("number") + 1
    for match in _ONE_WORD_STREET.finditer(text):
        if _house_number_here(text, match.start()) and _ends_the_phrase(text, match.end()):
            yield match.start(), match.end()
    for match in _NUMBER_ON_STREET.finditer(text):
        if _is_street(text, match, numbered=False):
            yield match.start(), match.end()


def _house_number_here(text: str, start: int) -> bool:
    before = _LAST_WORD.search(text, max(0, start - 20), start)
    return before is None or before.group(1) not in _NOT_HOUSE_NUMBER_AFTER


def _is_street(text: str, match: re.Match[str], *, numbered: bool) -> bool:
    names = match["name"].split()
    the_street = numbered and names == ["the"]  # "19 the green"
    if not the_street and any(word in _NOT_STREET_NAMES for word in names):
        return False
    return match["street"] not in _EVERYDAY_STREET_WORDS or _ends_the_phrase(text, match.end())


def _ends_the_phrase(text: str, end: int) -> bool:
    """Nothing after, or an everyday word: "27 elm close thats my house", not "a 5 minute drive
    away" or "10 free park passes"."""
    following = _NEXT_WORD.match(text, end)
    return following is None or following.group(1) in COMMON_WORDS


# --- Bad language -----------------------------------------------------------------------------

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
_LEET_SYMBOLS = str.maketrans({"@": "a", "$": "s", "!": "i", "|": "l", "€": "e"})
_WORD_TOKEN = re.compile(r"[a-z0-9$@!*|€]+")
_SPACED_LETTERS = re.compile(r"(?<![a-z0-9])(?:[a-z0-9$@!][ .\-_]){3,}[a-z0-9$@!](?![a-z0-9])")
_DOUBLED = re.compile(r"(.)\1")
_RUNS_OF_TWO_OR_MORE = re.compile(r"(.)\1+")
_RUNS_OF_THREE_OR_MORE = re.compile(r"(.)\1{2,}")
_SUFFIXES = ("s", "ed", "er", "ers", "ing", "in", "y", "ty", "ting", "head", "face", "hole")
_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class WordList:
    """A word list read from the format in `chat_words`."""

    words: frozenset[str]
    prefixes: tuple[str, ...]
    infixes: tuple[str, ...]
    phrases: tuple[str, ...]
    allowed_phrases: tuple[str, ...]
    exceptions: frozenset[str]

    @classmethod
    def parse(cls, lines: Iterable[str]) -> WordList:
        words: set[str] = set()
        prefixes: list[str] = []
        infixes: list[str] = []
        phrases: list[str] = []
        allowed: list[str] = []
        exceptions: set[str] = set()
        for raw in lines:
            line = " ".join(_fold_text(raw).text.split())
            if not line or line.startswith("#"):
                continue
            core = line.lstrip("!~").strip("*").strip()
            if sum(c.isalpha() for c in core) < 2:
                continue  # a stray symbol or a single letter would match far too much
            if line.startswith("!"):
                allowed.append(core)
            elif line.startswith("~"):
                exceptions.add(core)
            elif " " in core:
                phrases.append(core)
            elif line.startswith("*") and line.endswith("*"):
                infixes.append(core)
            elif line.endswith("*"):
                prefixes.append(core)
            else:
                words.add(core)
        return cls(
            frozenset(words),
            tuple(prefixes),
            tuple(infixes),
            tuple(phrases),
            tuple(allowed),
            frozenset(exceptions),
        )

    def __add__(self, other: WordList) -> WordList:
        return WordList(
            self.words | other.words,
            self.prefixes + other.prefixes,
            self.infixes + other.infixes,
            self.phrases + other.phrases,
            self.allowed_phrases + other.allowed_phrases,
            self.exceptions | other.exceptions,
        )


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """Words of a phrase may be parted by spaces or hyphens: "knob head" also finds "knob-head"."""
    parts = sorted(
        {r"[\s-]+".join(re.escape(word) for word in phrase.split()) for phrase in phrases},
        key=len,
        reverse=True,
    )
    if not parts:
        return _NEVER
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")


BASE_WORDS = WordList.parse(WORD_LIST.splitlines())


class _BadLanguage:
    def __init__(self, word_list: WordList) -> None:
        self._words = word_list.words
        self._word_lengths = sorted({len(word) for word in self._words if len(word) >= 4})
        self._exceptions = word_list.exceptions
        self._prefixes = word_list.prefixes
        self._infixes = word_list.infixes
        self._phrases = _phrase_pattern(word_list.phrases)
        self._allowed = _phrase_pattern(word_list.allowed_phrases)
        # What a masked word ("f**k", "c**t") may stand for, by length.
        stems = (*word_list.prefixes, *word_list.infixes)
        examples = set(word_list.words) | set(stems)
        examples |= {stem + suffix for stem in stems for suffix in _SUFFIXES}
        self._by_length: dict[int, list[str]] = {}
        for example in examples:
            self._by_length.setdefault(len(example), []).append(example)

    def is_bad(self, word: str) -> bool:
        if word in self._words:
            return True
        if word in self._exceptions:
            return False
        return word.startswith(self._prefixes) or any(infix in word for infix in self._infixes)

    def _is_bad_spelling(self, word: str) -> bool:
        """The word, also with its repeated letters squeezed ("fuuuck", "shiiit")."""
        if self.is_bad(word):
            return True
        if _DOUBLED.search(word) is None:
            return False
        return self.is_bad(_RUNS_OF_TWO_OR_MORE.sub(r"\1", word)) or self.is_bad(
            _RUNS_OF_THREE_OR_MORE.sub(r"\1\1", word)
        )

    def _is_bad_token(self, token: str) -> bool:
        core = token.strip("!")
        if not core or core.isdigit():
            return False
        if core.isalpha():
            return self._is_bad_spelling(core)
        if "*" in core:
            return self._is_masked(core)
        readings = {core.translate(_LEET).translate(_LEET_SYMBOLS)}
        if core.startswith("@"):
            readings.add(core[1:].translate(_LEET).translate(_LEET_SYMBOLS))
        return any(self._is_bad_spelling(reading) for reading in readings)

    def _is_masked(self, core: str) -> bool:
        """ "f**k", "sh*t", "c**t": starred letters in a word from the list."""
        letters = core.replace("*", "")
        if not letters or not letters.isalpha() or len(core) < 3:
            return False
        pattern = re.compile("".join("[a-z]" if c == "*" else re.escape(c) for c in core))
        return any(pattern.fullmatch(w) for w in self._by_length.get(len(core), ()))

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        allowed = [m.span() for m in self._allowed.finditer(text)]
        found: list[tuple[int, int]] = []
        for match in _WORD_TOKEN.finditer(text):
            if self._is_bad_token(match.group()):
                found.append(match.span())
        for match in _SPACED_LETTERS.finditer(text):
            letters = match.group()[::2].translate(_LEET).translate(_LEET_SYMBOLS)
            if self._holds_bad_word(letters):
                found.append(match.span())
        found.extend(m.span() for m in self._phrases.finditer(text))
        for start, end in found:
            if not any(a_start <= start and end <= a_end for a_start, a_end in allowed):
                yield start, end

    def _holds_bad_word(self, letters: str) -> bool:
        """Spaced letters ("f u c k off", "s.h.i.t"): four or more of them in a row that make a
        word from the list."""
        if any(infix in letters for infix in self._infixes):
            return True
        for i in range(len(letters) - 3):
            if letters.startswith(self._prefixes, i):
                return True
            if any(letters[i : i + n] in self._words for n in self._word_lengths):
                return True
        return False


# --- The checker ------------------------------------------------------------------------------

_KIND_ORDER = {kind: index for index, kind in enumerate(ChatCheckKind)}
_DIGIT = re.compile(r"[0-9]")
_EMAIL_HINT = re.compile(r"@|\bat\b|\b(?:gmail|googlemail|hotmail|outlook|yahoo|icloud)\b")


class ChatChecker:
    """The checks, with the reviewed word list (`base`) and a school's own words."""

    def __init__(self, extra_words: Iterable[str] = (), *, base: WordList = BASE_WORDS) -> None:
        self.extra_words = tuple(extra_words)
        self._bad_language = _BadLanguage(base + WordList.parse(self.extra_words))

    def check(self, text: str) -> tuple[Finding, ...]:
        folded = _fold_text(text)
        spans = self._spans(folded.text)
        findings = {Finding(kind, *folded.span(start, end)) for kind, start, end in _merge(spans)}
        return tuple(sorted(findings, key=lambda f: (f.start, _KIND_ORDER[f.kind], f.end)))

    def _spans(self, text: str) -> list[tuple[ChatCheckKind, int, int]]:
        # Cheap tests first: most messages hold no digit, no @ and no dot, and the checks that
        # need one are skipped.
        has_digit = _DIGIT.search(text) is not None
        emails = list(_email_addresses(text)) if _EMAIL_HINT.search(text) else []
        links = [span for span in _links(text) if not _inside(span, emails)] if "." in text else []
        taken = emails + links
        spans = [(ChatCheckKind.EMAIL_ADDRESS, s, e) for s, e in emails]
        spans += [(ChatCheckKind.LINK, s, e) for s, e in links]
        spans += [
            (ChatCheckKind.SOCIAL_MEDIA, s, e)
            for s, e in _social_media(text)
            if not _inside((s, e), taken)
        ]
        spans += [
            (ChatCheckKind.PHONE_NUMBER, s, e)
            for s, e in _phone_numbers(text)
            if not _inside((s, e), taken)
        ]
        if has_digit:
            spans += [
                (ChatCheckKind.POSTCODE, s, e)
                for s, e in _postcodes(text)
                if not _inside((s, e), taken)
            ]
        spans += [
            (ChatCheckKind.STREET_ADDRESS, s, e) for s, e in _street_addresses(text, has_digit)
        ]
        spans += [(ChatCheckKind.PROFANITY, s, e) for s, e in self._bad_language.find(text)]
        return spans


def _inside(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    start, end = span
    return any(o_start < end and start < o_end for o_start, o_end in others)


def _merge(
    spans: list[tuple[ChatCheckKind, int, int]],
) -> Iterator[tuple[ChatCheckKind, int, int]]:
    """Overlapping finds of one kind as one finding."""
    by_kind: dict[ChatCheckKind, list[tuple[int, int]]] = {}
    for kind, start, end in spans:
        by_kind.setdefault(kind, []).append((start, end))
    for kind, kind_spans in by_kind.items():
        kind_spans.sort()
        current_start, current_end = kind_spans[0]
        for start, end in kind_spans[1:]:
            if start < current_end:
                current_end = max(current_end, end)
            else:
                yield kind, current_start, current_end
                current_start, current_end = start, end
        yield kind, current_start, current_end


# --- What a pupil is told when a message is stopped ------------------------------------------

_WHAT_WAS_FOUND = {
    ChatCheckKind.PHONE_NUMBER: "a phone number",
    ChatCheckKind.EMAIL_ADDRESS: "an email address",
    ChatCheckKind.POSTCODE: "a postcode",
    ChatCheckKind.STREET_ADDRESS: "an address",
    ChatCheckKind.SOCIAL_MEDIA: "a username for an app or a game",
    ChatCheckKind.LINK: "a link to a website",
    ChatCheckKind.PROFANITY: "a word we don't use in class",
}


def reminder(kinds: Iterable[ChatCheckKind], *, can_write_to_staff: bool) -> str:
    """Kind words for a pupil whose message was stopped, for a nine-year-old to follow: what
    not to share and why, without blaming them (the check may be wrong: "it looks like")."""
    found = [kind for kind in ChatCheckKind if kind in set(kinds)]
    things = [_WHAT_WAS_FOUND[kind] for kind in found]
    listed = things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]
    words = [f"Your message has not been sent. It looks like it has {listed} in it."]
    private = [kind for kind in found if kind.personal and kind is not ChatCheckKind.LINK]
    if private:
        words.append(
            "Phone numbers, addresses, emails and usernames are private: they could help "
            "someone find you or contact you. We keep them out of the chat to keep everyone safe."
        )
    if ChatCheckKind.LINK in found:
        words.append(
            "Links can lead to places online that are not safe, so only your teacher shares "
            "links in a lesson."
        )
    if found == [ChatCheckKind.PROFANITY]:
        words.append("We keep the chat kind and friendly. You can say it in a different way.")
    else:
        words.append("You can write your message again without it.")
    if can_write_to_staff:
        words.append(
            "If you need to tell your teacher something, you can send it to the staff. Only "
            "staff will see it."
        )
    return " ".join(words)
