"""Signing in with the school's own account (single sign-on), for staff who already have a
SafeClass account. The protocol is in web/sso.py; this module matches the email address the
provider vouches for to an active member of staff and starts the same session a password does."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.actions.audit import record_audit
from safeclass.config import Config
from safeclass.store.models import StaffMember
from safeclass.web import auth
from safeclass.web.context import WebContext, web_context
from safeclass.web.errors import not_found_page
from safeclass.web.pages.signin import ACCOUNT_SWITCHED_OFF
from safeclass.web.sso import (
    CALLBACK_PATH,
    PENDING_MAX_AGE_SECONDS,
    START_PATH,
    Refusal,
    SsoRefusedError,
    VouchedFor,
    pending_cookie_name,
)

router = APIRouter()
log = logging.getLogger(__name__)

NOT_SET_UP = (
    "Your school account is not set up for SafeClass. Ask your school's SafeClass administrator."
)
NO_VERIFIED_EMAIL = (
    "Your school account did not give SafeClass a verified email address, so SafeClass cannot "
    "tell who you are. Ask your school's SafeClass administrator."
)
START_AGAIN = (
    "That sign-in took too long, or it was started in another window. Go back to the sign-in "
    "page and try again."
)
NOT_CONFIRMED = (
    "Your school's sign-in service did not confirm who you are, so you are not signed in. Go "
    "back to the sign-in page and try again."
)
NOT_WORKING = (
    "SafeClass could not check your sign-in with your school's sign-in service. Please try again "
    "in a moment. If it keeps happening, tell your school's SafeClass administrator."
)

# What each refusal looks like to the person: title, message, status code.
_PAGES: dict[Refusal, tuple[str, str, int]] = {
    Refusal.NO_PENDING_SIGN_IN: ("Please start again", START_AGAIN, 400),
    Refusal.STATE_MISMATCH: ("Please start again", START_AGAIN, 400),
    Refusal.NO_CODE: ("Please start again", START_AGAIN, 400),
    Refusal.PROVIDER_SAID_NO: ("You are not signed in", NOT_CONFIRMED, 400),
    Refusal.ISSUER_MISMATCH: ("School sign-in is not working", NOT_WORKING, 502),
    Refusal.PROVIDER_UNREACHABLE: ("School sign-in is not working", NOT_WORKING, 502),
    Refusal.TOKEN_REJECTED: ("School sign-in is not working", NOT_WORKING, 502),
    Refusal.NO_EMAIL: ("You can't sign in with that account", NO_VERIFIED_EMAIL, 403),
    Refusal.EMAIL_NOT_VERIFIED: ("You can't sign in with that account", NO_VERIFIED_EMAIL, 403),
    Refusal.DOMAIN_NOT_ALLOWED: ("You can't sign in with that account", NOT_SET_UP, 403),
    Refusal.NOT_STAFF: ("You can't sign in with that account", NOT_SET_UP, 403),
    Refusal.STAFF_SWITCHED_OFF: ("You can't sign in with that account", ACCOUNT_SWITCHED_OFF, 403),
}
# Refusals that mean the provider or the settings are wrong, not the person: worth a log line.
_SERVER_SIDE = frozenset(
    {Refusal.ISSUER_MISMATCH, Refusal.PROVIDER_UNREACHABLE, Refusal.TOKEN_REJECTED}
)


# A link, not a form: browsers apply the CSP's form-action 'self' to a form's redirects too, and
# this one must lead to the provider. Starting a sign-in changes nothing on the server.
@router.get(START_PATH)
async def start(request: Request) -> Response:
    context = web_context(request)
    sso = context.sso
    if sso is None:
        return not_found_page(context.renderer)
    try:
        provider_url, sealed = await sso.begin()
    except SsoRefusedError as refusal:
        return await run_in_threadpool(_refuse, context, request, refusal)
    response = RedirectResponse(provider_url, status_code=303)
    response.set_cookie(
        pending_cookie_name(context.config),
        sealed,
        max_age=PENDING_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=context.config.secure_cookies,
        path="/",
    )
    return response


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    context = web_context(request)
    sso = context.sso
    if sso is None:
        return not_found_page(context.renderer)
    sealed = request.cookies.get(pending_cookie_name(context.config))
    try:
        vouched = await sso.finish(request.query_params, sealed)
    except SsoRefusedError as refusal:
        response = await run_in_threadpool(_refuse, context, request, refusal)
    else:
        response = await run_in_threadpool(_sign_in, context, request, vouched)
    # One answer per pending sign-in, whatever the outcome.
    _forget_pending(response, context.config)
    return response


def _sign_in(context: WebContext, request: Request, vouched: VouchedFor) -> Response:
    address = _address(request)
    with context.session_factory() as session:
        staff = session.scalars(
            select(StaffMember)
            .where(func.lower(StaffMember.email) == vouched.email)
            .order_by(StaffMember.id)
            .limit(1)
        ).first()
        if staff is None:
            refusal = SsoRefusedError(Refusal.NOT_STAFF, email=vouched.email)
            return _refuse_in(context, session, refusal, address=address, actor=None)
        if not staff.active:
            refusal = SsoRefusedError(Refusal.STAFF_SWITCHED_OFF, email=vouched.email)
            return _refuse_in(context, session, refusal, address=address, actor=staff)

        # A new session every time: a token planted before sign-in is never promoted.
        auth.end_session(session, request.cookies.get(auth.session_cookie_name(context.config)))
        session_token = auth.start_session(session, staff, context.now())
        record_audit(
            session,
            "sign_in",
            actor=staff,
            data={"address": address, "method": "single_sign_on", "subject": vouched.subject},
        )
        session.commit()

    response = RedirectResponse("/admin", status_code=303)
    auth.set_session_cookie(response, context.config, session_token)
    return response


def _refuse(context: WebContext, request: Request, refusal: SsoRefusedError) -> Response:
    with context.session_factory() as session:
        return _refuse_in(context, session, refusal, address=_address(request), actor=None)


def _refuse_in(
    context: WebContext,
    session: Session,
    refusal: SsoRefusedError,
    *,
    address: str,
    actor: StaffMember | None,
) -> Response:
    if refusal.reason in _SERVER_SIDE:
        log.warning("Single sign-on is not working: %s", refusal)
    details = {"reason": refusal.reason.value, "address": address}
    if refusal.email is not None:
        details["email"] = refusal.email
    if refusal.detail:
        details["detail"] = refusal.detail
    record_audit(session, "sso_sign_in_refused", actor=actor, data=details)
    session.commit()
    title, message, status_code = _PAGES[refusal.reason]
    return context.renderer.message(title, message, status_code=status_code)


def _forget_pending(response: Response, config: Config) -> None:
    response.delete_cookie(
        pending_cookie_name(config),
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
        path="/",
    )


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"
