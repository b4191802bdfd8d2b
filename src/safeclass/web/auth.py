"""Staff sign-in sessions, kept on the server.

The browser holds a random 32-byte token in an HttpOnly, SameSite=Lax cookie; the database keeps
only its SHA-256, so a copy of the database cannot be used to sign in. A session ends after eight
idle hours (activity slides that forward, written at most once a minute), after a day whatever
happens, at sign-out, or as soon as the person's account is switched off.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection
from starlette.responses import Response

from safeclass.config import Config
from safeclass.store.models import StaffMember, StaffSession

IDLE_TIMEOUT = timedelta(hours=8)
MAX_LIFETIME = timedelta(hours=24)
SLIDE_AT_MOST_EVERY = timedelta(minutes=1)
TOKEN_BYTES = 32
_MAX_COOKIE_LENGTH = 100


class SignInRequiredError(Exception):
    """The page needs a signed-in member of staff and there is none."""


@dataclass(frozen=True)
class SignedIn:
    staff: StaffMember
    staff_session: StaffSession

    @property
    def csrf_token(self) -> str:
        return self.staff_session.csrf_token


def session_cookie_name(config: Config) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and
    # for the whole site, so a sibling subdomain cannot plant one.
    return "__Host-safeclass" if config.secure_cookies else "safeclass"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_signed_in(session: Session, token: str | None, now: datetime) -> SignedIn | None:
    if not token or len(token) > _MAX_COOKIE_LENGTH:
        return None
    staff_session = session.scalar(
        select(StaffSession).where(StaffSession.token_hash == hash_token(token))
    )
    if staff_session is None:
        return None
    if not _still_valid(staff_session, now):
        session.delete(staff_session)
        session.commit()
        return None
    if now - staff_session.last_seen_at >= SLIDE_AT_MOST_EVERY:
        staff_session.last_seen_at = now
        staff_session.expires_at = now + IDLE_TIMEOUT
        session.commit()
    return SignedIn(staff_session.staff, staff_session)


def _still_valid(staff_session: StaffSession, now: datetime) -> bool:
    if staff_session.expires_at <= now:
        return False
    if staff_session.created_at + MAX_LIFETIME <= now:
        return False
    return staff_session.staff.active


def signed_in_from_request(
    session: Session, connection: HTTPConnection, config: Config, now: datetime
) -> SignedIn | None:
    return find_signed_in(session, connection.cookies.get(session_cookie_name(config)), now)


def start_session(session: Session, staff: StaffMember, now: datetime) -> str:
    """A new session for `staff`; returns the token for the cookie. Expired sessions of the same
    person are cleared on the way."""
    session.execute(
        delete(StaffSession).where(
            StaffSession.staff_id == staff.id, StaffSession.expires_at <= now
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        StaffSession(
            token_hash=hash_token(token),
            staff_id=staff.id,
            csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=now,
            last_seen_at=now,
            expires_at=now + IDLE_TIMEOUT,
        )
    )
    return token


def end_session(session: Session, token: str | None) -> None:
    if not token or len(token) > _MAX_COOKIE_LENGTH:
        return
    session.execute(delete(StaffSession).where(StaffSession.token_hash == hash_token(token)))


def set_session_cookie(response: Response, config: Config, token: str) -> None:
    response.set_cookie(
        session_cookie_name(config),
        token,
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response, config: Config) -> None:
    response.delete_cookie(
        session_cookie_name(config),
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
        path="/",
    )
