"""Codes that people type: a lesson code (which lesson) and a personal passcode (who is coming).

Both are drawn with `secrets` from 31 characters that are hard to confuse when read aloud or written
down by hand (no 0/O, 1/I/L): a lesson code of 10 carries about 49.5 bits, a passcode of 12 about
59.5 bits. Typing is forgiving: case, spaces and dashes do not matter.

A passcode is kept only as an HMAC keyed with a key derived from the server's secret, so a copy of
the database alone neither opens a lesson nor lets anyone test guesses offline. A lesson code is
stored as it is: on its own it opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LESSON_CODE_LENGTH = 10
PASSCODE_LENGTH = 12
GROUP = 4
_SEPARATORS = str.maketrans("", "", " -\t")
_PASSCODE_KEY_LABEL = b"safeclass passcode v1"


def bits(length: int) -> float:
    """The entropy of a random code of this length, in bits."""
    return length * math.log2(len(ALPHABET))


def new_lesson_code() -> str:
    return _random(LESSON_CODE_LENGTH)


def new_passcode() -> str:
    return _random(PASSCODE_LENGTH)


def normalise(typed: str) -> str | None:
    """The code as stored, from what someone typed; None when it cannot be one of ours (wrong
    length or a character outside the alphabet), so it need not be looked up at all."""
    code = typed.translate(_SEPARATORS).upper()
    if len(code) not in (LESSON_CODE_LENGTH, PASSCODE_LENGTH):
        return None
    if any(character not in ALPHABET for character in code):
        return None
    return code


def shown(code: str) -> str:
    """Groups of four, for reading aloud and printing: ABCD-EFGH-JK."""
    return "-".join(code[start : start + GROUP] for start in range(0, len(code), GROUP))


def passcode_key(secret_key: bytes) -> bytes:
    """The HMAC key for passcodes: derived from the server's secret, and used for nothing else."""
    return hmac.new(secret_key, _PASSCODE_KEY_LABEL, hashlib.sha256).digest()


def passcode_hmac(key: bytes, passcode: str) -> str:
    """What is stored for a passcode (from `passcode_key`), as 64 hex digits."""
    return hmac.new(key, passcode.encode("ascii"), hashlib.sha256).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))
