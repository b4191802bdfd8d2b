"""Plain-words pages for every error, so nobody sees a stack trace or a JSON blob."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safeclass.access import NotFoundError
from safeclass.web.auth import SignInRequiredError
from safeclass.web.context import web_context
from safeclass.web.csrf import CsrfRejectedError
from safeclass.web.forms import FormTooLargeError
from safeclass.web.rendering import Renderer

logger = logging.getLogger(__name__)

NOT_FOUND_TITLE = "Page not found"
NOT_FOUND = (
    "We couldn't find that page. It may have moved, or it may be one you don't have access to. "
    "Check the address, or go back to the start page."
)
FORBIDDEN_TITLE = "Not allowed"
FORBIDDEN = (
    "You don't have permission to do that. If you think you should, ask your school's "
    "SafeClass admin."
)
FORM_EXPIRED_TITLE = "This form has expired"
FORM_EXPIRED = "This form has expired. Go back, reload the page and try again."
TOO_LARGE_TITLE = "That was too much to send"
TOO_LARGE = "That form held more than SafeClass accepts. Go back, reload the page and try again."
WRONG_METHOD_TITLE = "That didn't work"
WRONG_METHOD = "That page can't be used like that. Go back to the start page and try again."
SERVER_ERROR_TITLE = "Something went wrong"
SERVER_ERROR = (
    "Something went wrong on our side, and nothing you did caused it. Please try again in a "
    "moment. If it keeps happening, tell your school's SafeClass admin."
)


def not_found_page(renderer: Renderer) -> Response:
    return renderer.message(NOT_FOUND_TITLE, NOT_FOUND, status_code=404)


def form_expired_page(renderer: Renderer) -> Response:
    return renderer.message(FORM_EXPIRED_TITLE, FORM_EXPIRED, status_code=403)


def install_error_pages(app: FastAPI) -> None:
    def renderer(request: Request) -> Renderer:
        return web_context(request).renderer

    async def not_found(request: Request, _error: Exception) -> Response:
        return not_found_page(renderer(request))

    async def csrf_rejected(request: Request, error: Exception) -> Response:
        logger.info("Refused a form: %s", error)
        return form_expired_page(renderer(request))

    async def too_large(request: Request, error: Exception) -> Response:
        logger.info("Refused a form: %s", error)
        return renderer(request).message(TOO_LARGE_TITLE, TOO_LARGE, status_code=413)

    async def sign_in_required(_request: Request, _error: Exception) -> Response:
        return RedirectResponse("/signin", status_code=303)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 404:
            return not_found_page(renderer(request))
        if error.status_code == 403:
            return renderer(request).message(FORBIDDEN_TITLE, FORBIDDEN, status_code=403)
        if error.status_code == 405:
            return renderer(request).message(
                WRONG_METHOD_TITLE, WRONG_METHOD, status_code=405, headers=error.headers
            )
        return renderer(request).message(
            WRONG_METHOD_TITLE, WRONG_METHOD, status_code=error.status_code, headers=error.headers
        )

    app.add_exception_handler(NotFoundError, not_found)
    # Only path parameters are validated by FastAPI here (forms are read by hand), so a
    # malformed id means "no such page".
    app.add_exception_handler(RequestValidationError, not_found)
    app.add_exception_handler(CsrfRejectedError, csrf_rejected)
    app.add_exception_handler(FormTooLargeError, too_large)
    app.add_exception_handler(SignInRequiredError, sign_in_required)
    app.add_exception_handler(HTTPException, http_error)


class ServerErrorPageMiddleware:
    """An unexpected error gets a plain page (inside the security headers), then goes on up to
    Starlette's own error middleware, which logs it."""

    def __init__(self, app: ASGIApp, *, renderer: Renderer) -> None:
        self.app = app
        self.renderer = renderer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if not response_started:
                page = self.renderer.message(SERVER_ERROR_TITLE, SERVER_ERROR, status_code=500)
                await page(scope, receive, send)
            raise
