"""Cross-site request forgery: every state-changing request must prove it came from our own page.

Signed-in forms carry the session's own token in a hidden `csrf_token` field. The sign-in form has
no session yet, so it uses a signed double-submit token: the same signed value in a cookie and in
the form. Independently of the tokens, a request whose Origin header names another site is refused
before it reaches any handler.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN_TOKEN_MAX_AGE_SECONDS = 2 * 60 * 60


class CsrfRejectedError(Exception):
    """The form's token is missing or wrong, or the request came from another site."""


def check_session_token(expected: str, submitted: str | None) -> None:
    if submitted is None:
        raise CsrfRejectedError("no token in the form")
    if not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfRejectedError("the form's token does not match the session")


class SignInFormTokens:
    """Signed double-submit tokens for the sign-in form."""

    def __init__(self, secret_key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="safeclass.sign-in-form")

    def issue(self, current_cookie: str | None) -> str:
        """Keep a still-valid token (two open tabs both work), or make a new one."""
        if current_cookie is not None and self._is_valid(current_cookie):
            return current_cookie
        return self._serializer.dumps(secrets.token_urlsafe(16))

    def check(self, cookie_value: str | None, submitted: str | None) -> None:
        if cookie_value is None or submitted is None:
            raise CsrfRejectedError("no sign-in token")
        if not hmac.compare_digest(cookie_value.encode(), submitted.encode()):
            raise CsrfRejectedError("the sign-in token in the form does not match the cookie")
        if not self._is_valid(submitted):
            raise CsrfRejectedError("the sign-in token is not ours or has expired")

    def _is_valid(self, token: str) -> bool:
        try:
            self._serializer.loads(token, max_age=SIGN_IN_TOKEN_MAX_AGE_SECONDS)
        except BadSignature:
            return False
        return True


def is_same_origin(headers: Headers, *, require_https: bool) -> bool:
    """False when the browser tells us the request came from another site."""
    origin = headers.get("origin")
    if origin is None:
        # Older browsers omit Origin on same-origin form posts; Sec-Fetch-Site still tells.
        return headers.get("sec-fetch-site", "same-origin") != "cross-site"
    if origin == "null":
        # Our pages' Referrer-Policy is no-referrer, and under it browsers send "Origin: null"
        # with a form posted to the page's own site. So does a sandboxed frame on another site:
        # Sec-Fetch-Site, which only the browser sets, tells the two apart.
        return headers.get("sec-fetch-site") == "same-origin"
    parts = urlsplit(origin)
    allowed_schemes = {"https"} if require_https else {"http", "https"}
    if parts.scheme not in allowed_schemes:
        return False
    if parts.path or parts.query or parts.fragment:
        return False
    host = headers.get("host", "")
    return bool(host) and parts.netloc.lower() == host.lower()


class OriginCheckMiddleware:
    """Refuse every state-changing request whose Origin is present and not our own."""

    def __init__(
        self, app: ASGIApp, *, require_https: bool, refusal: Callable[[], Response]
    ) -> None:
        self.app = app
        self.require_https = require_https
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            if not is_same_origin(headers, require_https=self.require_https):
                await self.refusal()(scope, receive, send)
                return
        await self.app(scope, receive, send)
