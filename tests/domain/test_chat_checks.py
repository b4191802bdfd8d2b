"""The chat checks, kind by kind: what each finds in children's writing (and exactly where), what
must pass (sums, times, page numbers, "@ home", words that hold a swear word), and that nothing a
client sends makes the check raise or point outside the message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeclass.domain.chat_checks import (
    BASE_WORDS,
    COMMON_WORDS,
    ChatChecker,
    ChatCheckKind,
    Finding,
    WordList,
    chat_checker,
    check_chat,
    reminder,
)
from safeclass.domain.chat_words import WORD_LIST

PHONE = ChatCheckKind.PHONE_NUMBER
EMAIL = ChatCheckKind.EMAIL_ADDRESS
POSTCODE = ChatCheckKind.POSTCODE
ADDRESS = ChatCheckKind.STREET_ADDRESS
SOCIAL = ChatCheckKind.SOCIAL_MEDIA
LINK = ChatCheckKind.LINK
PROFANITY = ChatCheckKind.PROFANITY


def found(text: str, extra_words: tuple[str, ...] = ()) -> list[tuple[ChatCheckKind, str]]:
    """What the check finds, as (kind, the part of the text it points at)."""
    return [(f.kind, text[f.start : f.end]) for f in check_chat(text, extra_words)]


# Each row: a message, and exactly what must be found in it. Phone numbers are from Ofcom's
# ranges kept for drama, so none is anyone's.
FINDS = [
    # Phone numbers
    ("my number is 07700 900123 text me", [(PHONE, "07700 900123")]),
    ("call me 07700900461", [(PHONE, "07700900461")]),
    ("ring me on 07700-900-782 after school", [(PHONE, "07700-900-782")]),
    ("my home number is 0161 496 0123", [(PHONE, "0161 496 0123")]),
    ("our house phone 020 7946 0781", [(PHONE, "020 7946 0781")]),
    ("+44 7700 900876 is my dads", [(PHONE, "+44 7700 900876")]),
    ("+447700900120", [(PHONE, "+447700900120")]),
    ("0044 7700 900 654", [(PHONE, "0044 7700 900 654")]),
    ("+44 (0)7700 900 321", [(PHONE, "+44 (0)7700 900 321")]),
    ("44 7700 900321 is mine", [(PHONE, "44 7700 900321")]),
    ("(0161) 496 0123", [(PHONE, "(0161) 496 0123")]),
    ("07700.900.432", [(PHONE, "07700.900.432")]),
    ("07700/900345", [(PHONE, "07700/900345")]),
    ("my numbr is 0 7 7 0 0 9 0 0 3 3 3", [(PHONE, "0 7 7 0 0 9 0 0 3 3 3")]),
    ("0 7 7 0 0 - 9 0 0 - 2 2 2", [(PHONE, "0 7 7 0 0 - 9 0 0 - 2 2 2")]),
    ("heres my number 0 77 00 90 03 21", [(PHONE, "0 77 00 90 03 21")]),
    ("o77oo 9oo 123 is my phone", [(PHONE, "o77oo 9oo 123")]),
    ("my num is 0770090o456", [(PHONE, "0770090o456")]),
    (
        "zero seven seven zero zero nine zero zero one two three",
        [(PHONE, "zero seven seven zero zero nine zero zero one two three")],
    ),
    (
        "oh seven seven double oh nine triple oh four five",
        [(PHONE, "oh seven seven double oh nine triple oh four five")],
    ),
    (
        "seven seven zero zero nine zero zero one one one",
        [(PHONE, "seven seven zero zero nine zero zero one one one")],
    ),
    (
        "my number is 07700 900 123 and my sisters is 07700 900 124",
        [(PHONE, "07700 900 123"), (PHONE, "07700 900 124")],
    ),
    ("07700900123 07700900124", [(PHONE, "07700900123"), (PHONE, "07700900124")]),
    ("call 0800 157 0123", [(PHONE, "0800 157 0123")]),
    # Email addresses
    ("my email is amy.rose2014@gmail.com", [(EMAIL, "amy.rose2014@gmail.com")]),
    ("email me jakeb@hotmail.co.uk", [(EMAIL, "jakeb@hotmail.co.uk")]),
    ("sam123 at gmail dot com", [(EMAIL, "sam123 at gmail dot com")]),
    ("its ben dot smith at hotmail dot com", [(EMAIL, "ben dot smith at hotmail dot com")]),
    ("my email is noah(at)gmail(dot)com", [(EMAIL, "noah(at)gmail(dot)com")]),
    ("contact me lucas.b[at]gmail[dot]com", [(EMAIL, "lucas.b[at]gmail[dot]com")]),
    ("email me at olivia99 @ gmail . com", [(EMAIL, "olivia99 @ gmail . com")]),
    ("my email is oscar123@gmail", [(EMAIL, "oscar123@gmail")]),
    ("freddie_b @ hotmail.com", [(EMAIL, "freddie_b @ hotmail.com")]),
    ("add me its leo2015 at gmail", [(EMAIL, "leo2015 at gmail")]),
    ("my email is henry at gmail", [(EMAIL, "henry at gmail")]),
    ("my gmail is leojones2014", [(EMAIL, "gmail is leojones2014")]),
    ("emial me at tom_w@gmail.com", [(EMAIL, "tom_w@gmail.com")]),
    ("look at amy@gmail.com", [(EMAIL, "amy@gmail.com")]),
    ("amy@home.lol", [(EMAIL, "amy@home.lol")]),
    ("EMAIL ME JACKSON.T@GMAIL.COM", [(EMAIL, "JACKSON.T@GMAIL.COM")]),
    # Postcodes: full anywhere, the first half only when the message says what it is
    ("my postcode is M20 4RT", [(POSTCODE, "M20 4RT")]),
    ("LS29 8JD", [(POSTCODE, "LS29 8JD")]),
    ("my postcode dn551pt", [(POSTCODE, "dn551pt")]),
    ("its b33 8th", [(POSTCODE, "b33 8th")]),
    ("i live in bs3 lol", [(POSTCODE, "bs3")]),
    ("my postcode starts with m14", [(POSTCODE, "m14")]),
    ("my postcode is se15", [(POSTCODE, "se15")]),
    ("we moved to sw1a", [(POSTCODE, "sw1a")]),
    # Street addresses
    ("i live at 12 acacia avenue", [(ADDRESS, "12 acacia avenue")]),
    ("my address is flat 3, 5 high st", [(ADDRESS, "flat 3, 5 high st")]),
    ("2 cherry tree avenue is my house", [(ADDRESS, "2 cherry tree avenue")]),
    ("i live at number 9 park view", [(ADDRESS, "number 9 park view")]),
    ("27 elm close thats my house", [(ADDRESS, "27 elm close")]),
    ("my house is 19 the green", [(ADDRESS, "19 the green")]),
    ("im at my dads 23 kingsway", [(ADDRESS, "23 kingsway")]),
    ("my house number is 45 on chester road", [(ADDRESS, "number is 45 on chester road")]),
    ("i live on maple drive", [(ADDRESS, "live on maple drive")]),
    ("My Address Is 7 Elm Close", [(ADDRESS, "7 Elm Close")]),
    (
        "i live at 10 rose lane ls6 1ab",
        [(ADDRESS, "10 rose lane"), (POSTCODE, "ls6 1ab")],
    ),
    # Social media
    ("my insta is amy.rose09", [(SOCIAL, "insta is amy.rose09")]),
    ("add me on snap its jakeyboy", [(SOCIAL, "snap its jakeyboy")]),
    ("whats ur snap mine is poppyxoxo", [(SOCIAL, "snap mine is poppyxoxo")]),
    ("whats ur insta mines millie_x", [(SOCIAL, "insta mines millie_x")]),
    ("snap: ben_the_best", [(SOCIAL, "snap: ben_the_best")]),
    ("my tiktok is @ellas_vids", [(SOCIAL, "tiktok is @ellas_vids")]),
    ("my facebook is freddie smith", [(SOCIAL, "facebook is freddie")]),
    (
        "add me on roblox my username is coolkid2013",
        [(SOCIAL, "roblox my username is coolkid2013")],
    ),
    ("my gamertag: sniper_wolf", [(SOCIAL, "gamertag: sniper_wolf")]),
    ("im on roblox as coolkid2013", [(SOCIAL, "roblox as coolkid2013")]),
    ("im ninja_kid_77 on roblox add me", [(SOCIAL, "ninja_kid_77 on roblox")]),
    ("follow amyrose on insta", [(SOCIAL, "amyrose on insta")]),
    ("follow @noah_gamer12", [(SOCIAL, "@noah_gamer12")]),
    ("follow me @jakeyboy", [(SOCIAL, "@jakeyboy")]),
    ("my discord is harry#4821", [(SOCIAL, "discord is harry#4821")]),
    ("harry#4821", [(SOCIAL, "harry#4821")]),
    # Links
    (
        "look https://www.youtube.com/watch?v=abc123.",
        [(LINK, "https://www.youtube.com/watch?v=abc123")],
    ),
    ("go on www.coolmathgames.com", [(LINK, "www.coolmathgames.com")]),
    ("join my server discord.gg/abc123", [(LINK, "discord.gg/abc123")]),
    ("watch youtu.be/dQw4w9WgXcQ", [(LINK, "youtu.be/dQw4w9WgXcQ")]),
    ("join here kahoot.it", [(LINK, "kahoot.it")]),
    ("my website is ellasworld.co.uk", [(LINK, "ellasworld.co.uk")]),
    # A link to an account is a link, not a second finding.
    ("check out tiktok.com/@mia_dances", [(LINK, "tiktok.com/@mia_dances")]),
    # Bad language, and the ways round a word list
    ("this is shit", [(PROFANITY, "shit")]),
    ("Fuck!", [(PROFANITY, "Fuck!")]),
    ("fuckin hell", [(PROFANITY, "fuckin")]),
    ("absofuckinglutely", [(PROFANITY, "absofuckinglutely")]),
    ("ur a dickhead", [(PROFANITY, "dickhead")]),
    ("what the f*ck", [(PROFANITY, "f*ck")]),
    ("c**t", [(PROFANITY, "c**t")]),
    ("sh*tty", [(PROFANITY, "sh*tty")]),
    ("sh1t i missed it", [(PROFANITY, "sh1t")]),
    ("a$$hole", [(PROFANITY, "a$$hole")]),
    ("@ss", [(PROFANITY, "@ss")]),
    ("fuuuuuck", [(PROFANITY, "fuuuuuck")]),
    ("assss", [(PROFANITY, "assss")]),
    ("f u c k off", [(PROFANITY, "f u c k")]),
    ("s.h.i.t", [(PROFANITY, "s.h.i.t")]),
    ("c o c k", [(PROFANITY, "c o c k")]),
    ("go kill yourself", [(PROFANITY, "kill yourself")]),
    ("f off", [(PROFANITY, "f off")]),
    ("ｆｕｃｋ", [(PROFANITY, "ｆｕｃｋ")]),  # full-width letters
    ("fück", [(PROFANITY, "fück")]),  # an accent
    ("f\u200buck", [(PROFANITY, "f\u200buck")]),  # an invisible space
    ("сunt", [(PROFANITY, "сunt")]),  # a Cyrillic letter that looks like c
    # Two kinds in one message, in the order they appear
    (
        "fuck off my number is 07700 900 111",
        [(PROFANITY, "fuck"), (PHONE, "07700 900 111")],
    ),
    (
        "my snap is milly_b and my email is milly.b@gmail.com",
        [(SOCIAL, "snap is milly_b"), (EMAIL, "milly.b@gmail.com")],
    ),
]

# Messages that must pass: they look like the ones above on the surface.
PASSES = [
    # Sums, times, pages, years, scores, measurements, sequences, decimals
    "07 + 11 = 18",
    "page 107, question 12",
    "at 10:30 we have break",
    "see you at 3pm",
    "i was born in 2014",
    "1914 1918 1939 1945",
    "we won 3-0",
    "it weighs 250g",
    "0.125 0.25 0.5 1",
    "0.1 0.01 0.001 0.0001",
    "0 1 1 2 3 5 8 13 21 34",
    "i got 07 11 18 22 35 in the lottery game",
    "01 02 03 04 05",
    "0 10 20 30 40 50 60 70 80 90 100",
    "0 100 200 300 400 500",
    "its 01/02/2015",
    "the population is 67 000 000",
    "8 billion is 8000000000",
    "0 0 0 0 0 0 0 0 0 0 0 0",
    "double maths then triple science",
    "3 o'clock",
    "my cousin in moscow is +7 495 123 4567",  # UK numbers only
    # @ and "at"
    "see you @ home",
    "@miss can you help",
    "@everyone be quiet",
    "@amy did you get 12",
    "@amy and @ben well done",
    "@10:30 we have pe",
    "@3pm",
    "@12",
    "@a b",
    "me at school",
    "look at gmail its so slow",
    "i was at swimming dot dot dot",
    "2 @ 5p each",
    "my gmail is full",
    # Apps named without an account
    "do you have snapchat",
    "roblox is better than minecraft",
    "my roblox is broken",
    "my snapchat is on my mums phone",
    "my tiktok is so funny",
    "add me on roblox",
    "im playing on roblox",
    "my snap streak is 20",
    "my roblox is 2nd best",
    "snapchat lilyp",
    "snap add add add add add add add jake_1",
    # Street words without an address
    "3 in a row",
    "its a 5 minute drive",
    "i have 3 close friends",
    "its a 2 way street",
    "the year 6 nature walk",
    "we got 10 free park passes",
    "i got 5 anyway",
    "we saw 2 broadway shows",
    "year 6 kingsway trip",
    "we were number 5 in a row",
    "my house is 3 on the hill",
    "i live on the high street",
    # Letters and numbers that are not postcodes
    "vitamin b12",
    "the m1 is closed",
    "c u l8r",
    "ks2 sats are hard",
    "r2d2 is my favourite",
    "sw19 is where wimbledon is",
    "my postcode is a1",
    "q1 2ab is not a real postcode",
    # Dots that are not links
    "e.g. this one",
    "yes.it was good",
    "tell.me",
    "save it as homework.pdf",
    "3.14 is pi",
    "mr.smith said so",
    # Words holding a swear word, lessons, nursery rhymes
    "scunthorpe is a town",
    "we went to penistone",
    "assassins creed",
    "cocktail sausages",
    "the cockerel crowed",
    "we read dick whittington",
    "the owl and the pussy cat",
    "shiitake and shitake mushrooms",
    "a shitzu puppy",
    "offa's dyke is a wall",
    "sleeping beauty will prick her finger",
    "penis and vagina are body parts",
    "the letters are f u n",
    "*sigh*",
    "****",
    "a**b",
    "sh sh sh be quiet",
    "",
    "   ",
]


@pytest.mark.parametrize(("text", "expected"), FINDS, ids=[row[0] for row in FINDS])
def test_finds_what_children_share(text: str, expected: list[tuple[ChatCheckKind, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize("text", PASSES)
def test_tricky_messages_pass(text: str) -> None:
    assert found(text) == []


def test_findings_are_typed_and_point_into_the_message() -> None:
    text = "hi!! ring 07700 900123"
    (finding,) = check_chat(text)
    assert finding == Finding(PHONE, 10, 22)
    assert finding.kind.personal
    assert not PROFANITY.personal


def test_spans_point_into_the_original_text_when_folding_changes_its_length() -> None:
    # An invisible character and a ligature are removed or widened while checking; the spans
    # still point at the original characters.
    text = "\u200b\u200bﬁne, ring 07700 900123 and sh\u200bit"
    assert found(text) == [(PHONE, "07700 900123"), (PROFANITY, "sh\u200bit")]


def test_a_school_adds_its_own_words_and_phrases() -> None:
    extra = ("plonker", "numpty*", "you muppet", "*poo*", "! poo emoji", "~numptyism", "#", "x*")
    assert found("ur a plonker", extra) == [(PROFANITY, "plonker")]
    assert found("numptys", extra) == [(PROFANITY, "numptys")]
    assert found("numptyism", extra) == []
    assert found("shut up you muppet", extra) == [(PROFANITY, "you muppet")]
    assert found("poopy", extra) == [(PROFANITY, "poopy")]
    assert found("a poo emoji", extra) == []
    assert found("ur a plonker") == []  # other schools' lessons are not affected
    assert found("x marks the spot", extra) == []  # one letter is too little to be a word


def test_a_checker_without_a_word_list_still_finds_personal_details() -> None:
    bare = ChatChecker(base=WordList.parse([]))
    assert bare.check("fuck") == ()
    assert [f.kind for f in bare.check("fuck 07700 900123")] == [PHONE]
    assert [f.kind for f in ChatChecker(["go away"], base=WordList.parse([])).check("go away")] == [
        PROFANITY
    ]


def test_checkers_are_built_once_per_word_list() -> None:
    assert chat_checker(("plonker",)) is chat_checker(("plonker",))
    assert chat_checker(("plonker",)) is not chat_checker(())
    assert ChatChecker(["plonker"]).extra_words == ("plonker",)


def test_the_word_list_reads_every_kind_of_line() -> None:
    words = WordList.parse(["# a comment", "", "  Word ", "stem*", "*inner*", "two  words",
                            "!all right", "~stemmed", "*", "!"])  # fmt: skip
    assert words == WordList(
        words=frozenset({"word"}),
        prefixes=("stem",),
        infixes=("inner",),
        phrases=("two words",),
        allowed_phrases=("all right",),
        exceptions=frozenset({"stemmed"}),
    )
    empty = WordList.parse([])
    assert empty + words == words


def test_the_shipped_word_list_is_reviewed_not_copied() -> None:
    assert WordList.parse(WORD_LIST.splitlines()) == BASE_WORDS
    # Words lessons need are not on it: anatomy (the NSPCC's PANTS rule), history, RE.
    for word in ("penis", "vagina", "sex", "gay", "god", "hell", "kill", "hitler", "bum"):
        assert not ChatChecker().check(word), word
    assert {"fuck", "cunt", "wank"} <= set(BASE_WORDS.infixes + BASE_WORDS.prefixes)
    assert "shitake" in BASE_WORDS.exceptions


def test_everyday_words_are_lower_case_words() -> None:
    assert all(word.isalpha() and word == word.lower() for word in COMMON_WORDS)


@pytest.mark.parametrize(
    ("kinds", "can_write_to_staff", "says", "does_not_say"),
    [
        (
            [PHONE],
            True,
            ["has not been sent", "a phone number in it", "private", "send it to the staff"],
            ["link", "different way"],
        ),
        ([LINK], False, ["a link to a website", "only your teacher shares"], ["private", "staff"]),
        (
            [PROFANITY],
            True,
            ["a word we don't use in class", "say it in a different way"],
            ["private", "without it"],
        ),
        (
            [PROFANITY, SOCIAL, EMAIL],
            False,
            ["an email address, a username for an app or a game and a word we don't use"],
            ["different way"],
        ),
    ],
)
def test_the_reminder_says_what_not_to_share_and_why_in_plain_words(
    kinds: list[ChatCheckKind], can_write_to_staff: bool, says: list[str], does_not_say: list[str]
) -> None:
    words = reminder(kinds, can_write_to_staff=can_write_to_staff)
    for part in says:
        assert part in words
    for part in does_not_say:
        assert part not in words
    # No blame: it says what the message looks like it holds, never what the pupil did.
    assert "looks like" in words
    for blaming in ("you shared", "not allowed", "breaking", "rule", "report"):
        assert blaming not in words.lower()


@given(st.text(max_size=500))
def test_never_raises_and_every_finding_points_into_the_message(text: str) -> None:
    findings = check_chat(text)
    for finding in findings:
        assert 0 <= finding.start < finding.end <= len(text)
    assert list(findings) == sorted(findings, key=lambda f: f.start)


CHILDS_ALPHABET = st.sampled_from(
    [
        *"0123456789 aehiklmnoprstuwy@.:-+()#*$!_/",
        *["zero", "oh", "seven", "double", " at ", " dot ", "gmail", "snap", " is ", "road"],
        "fuck",
    ]
)


@given(st.lists(CHILDS_ALPHABET, max_size=80).map("".join))
def test_never_raises_on_pieces_of_the_things_it_looks_for(text: str) -> None:
    for finding in check_chat(text, ("plonker*",)):
        assert 0 <= finding.start < finding.end <= len(text)
