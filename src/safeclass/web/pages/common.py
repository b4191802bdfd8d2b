"""Small helpers every page module uses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from sqlalchemy.orm import Session
from starlette.requests import Request

from safeclass.web.auth import SignedIn, SignInRequiredError, signed_in_from_request
from safeclass.web.context import WebContext

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
