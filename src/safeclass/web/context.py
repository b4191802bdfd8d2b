"""What every request handler needs from the app, in one typed place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from safeclass.actions.live import LiveLessons
from safeclass.config import Config
from safeclass.media.practice_pupils import PracticeRooms
from safeclass.media.signalling import MediaSignalling
from safeclass.timeutil import utc_now
from safeclass.web.csrf import SignInFormTokens
from safeclass.web.join_tokens import JoinTokenReader
from safeclass.web.ratelimit import SignInRateLimiter
from safeclass.web.rendering import Renderer
from safeclass.web.sso import SingleSignOn


@dataclass
class WebContext:
    config: Config
    session_factory: sessionmaker[Session]
    renderer: Renderer
    sign_in_tokens: SignInFormTokens
    live: LiveLessons
    join_tokens: JoinTokenReader
    sso: SingleSignOn | None = None
    # None while the server runs without a media server: media requests are then refused.
    media: MediaSignalling | None = None
    # Practice rooms' simulated pupils (`web.pages.practice`); the app factory always makes one.
    practice: PracticeRooms | None = None
    # Replaceable by tests (a fake clock for lockouts, a different "now" for session expiry).
    sign_in_limiter: SignInRateLimiter = field(default_factory=SignInRateLimiter)
    now: Callable[[], datetime] = utc_now


def web_context(connection: HTTPConnection) -> WebContext:
    context = connection.app.state.safeclass
    assert isinstance(context, WebContext)
    return context
