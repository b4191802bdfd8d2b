"""Security headers on every response, including errors and static files.

The Content-Security-Policy lets a page load and connect to nothing but our own origin. A page
that blurs the camera's background (MediaPipe's selfie segmentation, compiled to WebAssembly) asks
for the one policy that also lets it compile WebAssembly, by sending `BLUR_PAGE_HEADERS`; any
other policy a handler sets is replaced by the strict one.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
# 'wasm-unsafe-eval' allows compiling WebAssembly and nothing more: eval() and new Function()
# stay blocked, and scripts still come only from our origin.
BLUR_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self';", "script-src 'self' 'wasm-unsafe-eval';"
)
assert BLUR_CONTENT_SECURITY_POLICY != CONTENT_SECURITY_POLICY
BLUR_PAGE_HEADERS = {"Content-Security-Policy": BLUR_CONTENT_SECURITY_POLICY}
_ALLOWED_POLICIES = frozenset({CONTENT_SECURITY_POLICY, BLUR_CONTENT_SECURITY_POLICY})

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": (
        "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}

STATIC_PREFIX = "/static/"


class SecurityHeadersMiddleware:
    """Adds the headers above. Pages hold personal data, so anything not a static file is also
    marked `Cache-Control: no-store` unless its handler chose otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-security-policy") not in _ALLOWED_POLICIES:
                    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not is_static and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
