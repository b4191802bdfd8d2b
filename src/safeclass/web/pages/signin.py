"""Signing in and out."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.actions.audit import record_audit
from safeclass.config import Config
from safeclass.passwords import verify_password
from safeclass.store.models import StaffMember
from safeclass.web import auth
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, check_session_token
from safeclass.web.forms import SubmittedForm, read_form
from safeclass.web.pages.common import handle_form, page_context
from safeclass.web.ratelimit import RateLimitDecision

router = APIRouter()

WRONG_DETAILS = "That email and password don't match."
MISSING_DETAILS = "Enter your email address and your password."
EMAIL_TOO_LONG = "That email address is too long. Check it and try again."
TOO_LONG_TO_CHECK = "That password is longer than SafeClass accepts. Check it and try again."
ACCOUNT_SWITCHED_OFF = (
    "Your SafeClass account is switched off. Please ask your school's SafeClass admin."
)
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024
SIGN_IN_FORM_MAX_AGE = 2 * 60 * 60


def sign_in_cookie_name(config: Config) -> str:
    return "__Host-safeclass-signin" if config.secure_cookies else "safeclass_signin"


@router.get("/")
def start(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = auth.signed_in_from_request(session, request, context.config, context.now())
    return RedirectResponse("/admin" if signed_in else "/signin", status_code=303)


@router.get("/signin")
def sign_in_form(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = auth.signed_in_from_request(session, request, context.config, context.now())
    if signed_in is not None:
        return RedirectResponse("/admin", status_code=303)
    token = context.sign_in_tokens.issue(request.cookies.get(sign_in_cookie_name(context.config)))
    return _form_page(context, token, email="", error=None)


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    context = web_context(request)
    form = await read_form(request)
    context.sign_in_tokens.check(
        request.cookies.get(sign_in_cookie_name(context.config)), form.get(FORM_FIELD)
    )
    return await run_in_threadpool(_sign_in, context, request, form)


def _sign_in(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    token = form.get(FORM_FIELD) or ""
    email = (form.get("email") or "").strip().lower()
    password = form.get("password") or ""
    if not email or not password:
        return _form_page(context, token, email=email, error=MISSING_DETAILS)
    if len(email) > MAX_EMAIL_LENGTH:
        return _form_page(context, token, email="", error=EMAIL_TOO_LONG)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _form_page(context, token, email=email, error=TOO_LONG_TO_CHECK)

    address = request.client.host if request.client is not None else "unknown"
    limit = context.sign_in_limiter.check(address=address, account=email)
    if not limit.allowed:
        return _too_many_attempts(context, limit)

    with context.session_factory() as session:
        staff = session.scalars(
            select(StaffMember)
            .where(func.lower(StaffMember.email) == email)
            .order_by(StaffMember.id)
            .limit(1)
        ).first()
        password_matches = verify_password(
            staff.password_hash if staff is not None else None, password
        )
        if staff is None or not password_matches:
            locked_scopes = context.sign_in_limiter.record_failure(address=address, account=email)
            details = {"email": email, "address": address}
            record_audit(session, "sign_in_failed", actor=None, data=details)
            for scope in locked_scopes:
                record_audit(
                    session, "sign_in_locked", actor=None, data={**details, "by": scope.value}
                )
            session.commit()
            return _form_page(context, token, email=email, error=WRONG_DETAILS)
        if not staff.active:
            record_audit(
                session, "sign_in_refused_inactive", actor=staff, data={"address": address}
            )
            session.commit()
            return _form_page(context, token, email=email, error=ACCOUNT_SWITCHED_OFF)

        context.sign_in_limiter.record_success(account=email)
        # A new session every time: a token planted before sign-in is never promoted.
        auth.end_session(session, request.cookies.get(auth.session_cookie_name(context.config)))
        session_token = auth.start_session(session, staff, context.now())
        record_audit(session, "sign_in", actor=staff, data={"address": address})
        session.commit()

    response = RedirectResponse("/admin", status_code=303)
    auth.set_session_cookie(response, context.config, session_token)
    response.delete_cookie(
        sign_in_cookie_name(context.config),
        httponly=True,
        samesite="lax",
        secure=context.config.secure_cookies,
    )
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    return await handle_form(request, _sign_out)


def _sign_out(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = auth.signed_in_from_request(session, request, context.config, context.now())
        if signed_in is not None:
            check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
            record_audit(session, "sign_out", actor=signed_in.staff)
            session.delete(signed_in.staff_session)
            session.commit()
    response = RedirectResponse("/signin", status_code=303)
    auth.clear_session_cookie(response, context.config)
    return response


def _form_page(context: WebContext, token: str, *, email: str, error: str | None) -> Response:
    response = context.renderer.page(
        "signin.html",
        page_context(
            None,
            "Sign in",
            email=email,
            error=error,
            csrf_token=token,
            sso_label=context.sso.label if context.sso is not None else None,
        ),
    )
    response.set_cookie(
        sign_in_cookie_name(context.config),
        token,
        max_age=SIGN_IN_FORM_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=context.config.secure_cookies,
        path="/",
    )
    return response


def _too_many_attempts(context: WebContext, limit: RateLimitDecision) -> Response:
    minutes = max(1, -(-limit.retry_after_seconds // 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    return context.renderer.message(
        "Too many tries",
        f"There have been too many tries to sign in. Please wait {wait}, then try again. "
        "If you have forgotten your password, ask your school's SafeClass admin.",
        status_code=429,
        headers={"Retry-After": str(limit.retry_after_seconds)},
    )
