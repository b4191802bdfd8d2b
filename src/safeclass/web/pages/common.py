"""Small helpers every page module uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Path
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from safeclass.access import NotFoundError
from safeclass.web.auth import SignedIn, SignInRequiredError, signed_in_from_request
from safeclass.web.context import WebContext, web_context
from safeclass.web.forms import SubmittedForm, read_form

T = TypeVar("T")
FormHandler = Callable[[WebContext, Request, SubmittedForm], T]

# Ids in paths: positive and within a 64-bit integer, so a silly id is a plain "not found".
MAX_ID = 2**63 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


def require_signed_in(session: Session, request: Request, context: WebContext) -> SignedIn:
    signed_in = signed_in_from_request(session, request, context.config, context.now())
    if signed_in is None:
        raise SignInRequiredError
    return signed_in


def page_context(signed_in: SignedIn | None, title: str, **values: Any) -> dict[str, Any]:
    return {"signed_in": signed_in, "title": title, **values}


def form_id(form: SubmittedForm, name: str) -> int | None:
    """An id from a form: None when absent or empty; a malformed one is "not found", as in a
    page's address."""
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(MAX_ID)):
        raise NotFoundError(f"{name} {raw[:20]!r}")
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise NotFoundError(f"{name} {value}")
    return value


def required_id(form: SubmittedForm, name: str) -> int:
    """An id a form must carry: a missing or malformed one is "not found"."""
    value = form_id(form, name)
    if value is None:
        raise NotFoundError(f"no {name}")
    return value


async def handle_form(request: Request, handler: FormHandler[T]) -> T:
    """A posted form: read it (within the size limits), then run `handler`, which works with the
    database, in the threadpool so the event loop never waits on it."""
    context = web_context(request)
    form = await read_form(request)
    return await run_in_threadpool(handler, context, request, form)
