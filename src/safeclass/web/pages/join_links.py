"""Personal join links: the staff pages that make and stop them, and the page a link opens.

A link's token, and a pupil's link's passcode, are shown once, in the answer to the request that
made them. That page offers the same links as a CSV (for the school's mail merge) and as printable
letters (PDF): its download form posts the tokens and passcodes back, and the server makes the
document from them there and then. Nothing stores a plain token or passcode, not even for a moment:
the download checks each token against its stored hash, and each passcode against its stored HMAC,
and accepts only working links that the same member of staff made in the last hour.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import (
    NotFoundError,
    access_class_group,
    access_join_link,
    access_lesson,
    may_see_parent_contacts,
    may_see_school,
)
from safeclass.actions.join_links import (
    DEFAULT_CLASS_LINK_DAYS,
    Holder,
    IssuedLink,
    JoinLinkRefusedError,
    LinkScope,
    find_link,
    holder_of,
    issue_link,
    issue_missing_links,
    latest_by_holder,
    link_holders,
    link_works,
    links_in_scope,
    regenerate_link,
    revoke_link,
    working_link,
)
from safeclass.actions.live import PUPILS_EARLY
from safeclass.codes import normalise, passcode_hmac, passcode_key
from safeclass.store.models import JoinLink, Lesson, Parent, Pupil, StaffMember
from safeclass.web.auth import SignedIn
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, check_session_token
from safeclass.web.forms import SubmittedForm
from safeclass.web.lesson_door import open_to_join
from safeclass.web.link_letters import (
    LinkSheetRow,
    document_name,
    links_csv,
    links_pdf,
    sheet_row,
)
from safeclass.web.pages.common import (
    ObjectId,
    form_id,
    handle_form,
    page_context,
    require_signed_in,
    required_id,
)
from safeclass.web.pages.recording_terms import recording_terms
from safeclass.web.pages.typed_codes import code_page_url, server_url

router = APIRouter()

LIFETIME_CHOICES = (7, 30, 90, 180, 365)
# The download buttons on the "shown once" page work for this long after the links were made.
DOCUMENT_WINDOW = timedelta(hours=1)
MAX_LINKS_PER_DOCUMENT = 1000
# In the download form, between a link's token and its passcode: in neither's alphabet.
PASSCODE_SEPARATOR = ":"
UPCOMING_LESSONS_SHOWN = 3

LINK_DOES_NOT_WORK_TITLE = "This link does not work"
LINK_DOES_NOT_WORK = "This link does not work. Ask your school for a new one."
DOCUMENT_REFUSED_TITLE = "These links can no longer be downloaded"
DOCUMENT_REFUSED = (
    "Letters and mail-merge files can be made only for new links, by the person who made them, "
    "within an hour. Go back to the class's join links page and make new links."
)
BAD_LIFETIME = "Choose how long the links should work from the list."
DONE_MESSAGES = {
    "revoked": "That link has stopped working.",
    "unchanged": "That link had already stopped working.",
    "none_missing": "Everyone already has a working link, so no new links were made.",
}
# The landing page is opened from a letter or an email: it must not pass its own address on to
# another site, nor be kept in a browser's or proxy's cache, nor be indexed.
LANDING_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass(frozen=True)
class HolderRow:
    """One line of the join links page: a pupil or a parent, and their newest link."""

    holder: Holder
    link: JoinLink | None
    state: str  # none, active, revoked, expired
    needed: bool  # False for a link the class list or the policy no longer calls for


# --- The staff pages ------------------------------------------------------------------------------


@router.get("/admin/classes/{class_group_id}/join-links")
def class_links_page(request: Request, class_group_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        class_group = access_class_group(session, signed_in.staff, class_group_id)
        return _scope_page(context, request, session, signed_in, LinkScope.for_class(class_group))


@router.get("/admin/lessons/{lesson_id}/join-links")
def lesson_links_page(request: Request, lesson_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = access_lesson(session, signed_in.staff, lesson_id)
        return _scope_page(context, request, session, signed_in, LinkScope.for_lesson(lesson))


@router.post("/admin/join-links/create")
async def create_links(request: Request) -> Response:
    return await handle_form(request, _create_links)


@router.post("/admin/join-links/regenerate")
async def regenerate(request: Request) -> Response:
    return await handle_form(request, _regenerate)


@router.post("/admin/join-links/revoke")
async def revoke(request: Request) -> Response:
    return await handle_form(request, _revoke)


@router.post("/admin/join-links/document")
async def document(request: Request) -> Response:
    return await handle_form(request, _document)


def _create_links(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        staff = signed_in.staff
        scope = _scope_from_form(session, staff, form)
        pupil_id = form_id(form, "pupil_id")
        holder = _holder_from_form(session, scope, pupil_id, form) if pupil_id else None
        now = context.now()
        try:
            expires_at = _expiry_from_form(form, scope, now)
            if holder is None:
                issued = issue_missing_links(
                    session,
                    scope,
                    actor=staff,
                    now=now,
                    passcode_key=_passcode_key(context),
                    expires_at=expires_at,
                )
            else:
                issued = [
                    issue_link(
                        session,
                        scope,
                        holder,
                        actor=staff,
                        now=now,
                        passcode_key=_passcode_key(context),
                        expires_at=expires_at,
                    )
                ]
        except JoinLinkRefusedError as refused:
            session.rollback()
            return _scope_page(context, request, session, signed_in, scope, problem=refused.message)
        session.commit()
        if not issued:
            return RedirectResponse(f"{_scope_url(scope)}?done=none_missing", status_code=303)
        return _new_links_page(context, request, signed_in, scope, issued)


def _regenerate(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        link = access_join_link(session, signed_in.staff, required_id(form, "link_id"))
        scope = LinkScope.of(link)
        try:
            issued = regenerate_link(
                session,
                link,
                actor=signed_in.staff,
                now=context.now(),
                passcode_key=_passcode_key(context),
            )
        except JoinLinkRefusedError as refused:
            session.rollback()
            return _scope_page(context, request, session, signed_in, scope, problem=refused.message)
        session.commit()
        return _new_links_page(context, request, signed_in, scope, [issued])


def _revoke(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        link = access_join_link(session, signed_in.staff, required_id(form, "link_id"))
        changed = revoke_link(session, link, actor=signed_in.staff, now=context.now())
        session.commit()
        done = "revoked" if changed else "unchanged"
        return RedirectResponse(f"{_scope_url(LinkScope.of(link))}?done={done}", status_code=303)


def _document(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        kind = form.get("format")
        entries = list(dict.fromkeys((form.get("tokens") or "").split()))
        if kind not in ("csv", "pdf") or not 0 < len(entries) <= MAX_LINKS_PER_DOCUMENT:
            return _document_refused(context)
        now = context.now()
        prefix = _join_url_prefix(request, context)
        code_page = code_page_url(request, context.config)
        key = _passcode_key(context)
        rows: list[LinkSheetRow] = []
        for entry in entries:
            token, _, typed = entry.partition(PASSCODE_SEPARATOR)
            passcode = normalise(typed) if typed else None
            link = find_link(session, token)
            if link is None or not _may_print(session, link, signed_in.staff, now):
                return _document_refused(context)
            if typed and passcode is None:
                return _document_refused(context)
            if not _passcode_is_the_links(link, passcode, key):
                return _document_refused(context)
            rows.append(_sheet_row_for(signed_in.staff, link, token, passcode, prefix, code_page))
    if kind == "csv":
        content, media_type = links_csv(rows), "text/csv; charset=utf-8"
    else:
        content, media_type = links_pdf(rows), "application/pdf"
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{document_name(rows, kind)}"',
            "Cache-Control": "no-store",
        },
    )


def _may_print(session: Session, link: JoinLink, staff: StaffMember, now: datetime) -> bool:
    """Only new links, by the person who made them, while they still work. Each condition on its
    own line."""
    if link.created_by_staff_id != staff.id:
        return False
    if not may_see_school(staff, link.school):
        return False
    if now - link.created_at > DOCUMENT_WINDOW:
        return False
    return link_works(session, link, now)


def _passcode_is_the_links(link: JoinLink, passcode: str | None, key: bytes) -> bool:
    """The passcode posted back (normalised) is this link's own, or neither has one: a letter
    never carries a passcode that would not work with its link."""
    if link.passcode_hmac is None or passcode is None:
        return link.passcode_hmac is None and passcode is None
    return hmac.compare_digest(link.passcode_hmac, passcode_hmac(key, passcode))


def _passcode_key(context: WebContext) -> bytes:
    return passcode_key(context.config.secret_key())


def _document_refused(context: WebContext) -> Response:
    return context.renderer.message(DOCUMENT_REFUSED_TITLE, DOCUMENT_REFUSED, status_code=400)


def _sheet_row_for(
    staff: StaffMember,
    link: JoinLink,
    token: str,
    passcode: str | None,
    prefix: str,
    code_page: str,
) -> LinkSheetRow:
    row = sheet_row(link, token, prefix, passcode=passcode, code_page=code_page)
    # Parents' email addresses go only to the staff who may see parents' contact details.
    if row.parent_email is not None and not may_see_parent_contacts(staff, link.school):
        row = replace(row, parent_email=None)
    return row


def _scope_page(
    context: WebContext,
    request: Request,
    session: Session,
    signed_in: SignedIn,
    scope: LinkScope,
    *,
    problem: str | None = None,
) -> Response:
    now = context.now()
    holders = link_holders(session, scope)
    latest = latest_by_holder(links_in_scope(session, scope))
    rows = [
        _holder_row(holder, latest.pop(holder.key, None), now, True) for holder in holders.holders
    ]
    rows.extend(_holder_row(holder_of(link), link, now, False) for link in latest.values())
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return context.renderer.page(
        "join_links.html",
        page_context(
            signed_in,
            f"Join links for {_scope_name(scope)}",
            school=scope.school,
            scope=scope,
            scope_name=_scope_name(scope),
            scope_field=_scope_field(scope),
            rows=rows,
            without_parent=holders.without_parent,
            lifetimes=LIFETIME_CHOICES,
            default_lifetime=DEFAULT_CLASS_LINK_DAYS,
            done=done,
            problem=problem,
            csrf_token=signed_in.csrf_token,
        ),
        status_code=400 if problem else 200,
    )


def _holder_row(holder: Holder, link: JoinLink | None, now: datetime, needed: bool) -> HolderRow:
    if link is None:
        state = "none"
    elif link.revoked_at is not None:
        state = "revoked"
    elif now >= link.expires_at:
        state = "expired"
    else:
        state = "active"
    return HolderRow(holder, link, state, needed)


def _new_links_page(
    context: WebContext,
    request: Request,
    signed_in: SignedIn,
    scope: LinkScope,
    issued: list[IssuedLink],
) -> Response:
    prefix = _join_url_prefix(request, context)
    code_page = code_page_url(request, context.config)
    rows = [
        _sheet_row_for(signed_in.staff, i.link, i.token, i.passcode, prefix, code_page)
        for i in issued
    ]
    return context.renderer.page(
        "join_links_new.html",
        page_context(
            signed_in,
            "New join links",
            school=scope.school,
            scope=scope,
            scope_name=_scope_name(scope),
            scope_url=_scope_url(scope),
            rows=rows,
            tokens=" ".join(_document_entry(i) for i in issued),
            code_page=code_page,
            csrf_token=signed_in.csrf_token,
        ),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _document_entry(issued: IssuedLink) -> str:
    """A link as the download form posts it back: its token, and its passcode if it has one."""
    if issued.passcode is None:
        return issued.token
    return f"{issued.token}{PASSCODE_SEPARATOR}{issued.passcode}"


# --- Reading the forms ---------------------------------------------------------------------------


def _scope_from_form(session: Session, staff: StaffMember, form: SubmittedForm) -> LinkScope:
    class_group_id = form_id(form, "class_group_id")
    lesson_id = form_id(form, "lesson_id")
    if lesson_id is not None and class_group_id is None:
        return LinkScope.for_lesson(access_lesson(session, staff, lesson_id))
    if class_group_id is not None and lesson_id is None:
        return LinkScope.for_class(access_class_group(session, staff, class_group_id))
    raise NotFoundError("a class or a lesson, not both or neither")


def _holder_from_form(
    session: Session, scope: LinkScope, pupil_id: int, form: SubmittedForm
) -> Holder:
    """The pupil (and parent) named by the form: another school's pupil, or another trust's
    parent, is "not found"; whether they may have a link here is the action's to say."""
    pupil = session.get(Pupil, pupil_id)
    if pupil is None or pupil.school_id != scope.school.id:
        raise NotFoundError(f"Pupil {pupil_id}")
    parent_id = form_id(form, "parent_id")
    if parent_id is None:
        return Holder(pupil)
    parent = session.get(Parent, parent_id)
    if parent is None or parent.trust_id != scope.school.trust_id:
        raise NotFoundError(f"Parent {parent_id}")
    relationship = next(
        (pl.relationship_to_pupil for pl in pupil.parent_links if pl.parent_id == parent.id), ""
    )
    return Holder(pupil, parent, relationship)


def _expiry_from_form(form: SubmittedForm, scope: LinkScope, now: datetime) -> datetime | None:
    """For a class, the chosen lifetime (or the usual one); a lesson's links end with it."""
    if scope.lesson is not None:
        return None
    raw = form.get("days")
    if raw is None or raw == "":
        return None
    if raw not in {str(days) for days in LIFETIME_CHOICES}:
        raise JoinLinkRefusedError(BAD_LIFETIME)
    return now + timedelta(days=int(raw))


# --- Words and addresses -----------------------------------------------------------------------


def _scope_name(scope: LinkScope) -> str:
    if scope.lesson is not None:
        return f"{scope.lesson.title} ({scope.class_group.name})"
    return scope.class_group.name


def _scope_field(scope: LinkScope) -> tuple[str, int]:
    if scope.lesson is not None:
        return ("lesson_id", scope.lesson.id)
    return ("class_group_id", scope.class_group.id)


def _scope_url(scope: LinkScope) -> str:
    if scope.lesson is not None:
        return f"/admin/lessons/{scope.lesson.id}/join-links"
    return f"/admin/classes/{scope.class_group.id}/join-links"


def _join_url_prefix(request: Request, context: WebContext) -> str:
    """Where links point: this server, as the member of staff reached it."""
    return f"{server_url(request, context.config)}/join/"


# --- The page a link opens ----------------------------------------------------------------------


@router.get("/join/{token}")
def landing(request: Request, token: str) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        now = context.now()
        link = working_link(session, token, now)
        if link is None:
            return context.renderer.message(
                LINK_DOES_NOT_WORK_TITLE,
                LINK_DOES_NOT_WORK,
                status_code=404,
                headers=LANDING_HEADERS,
            )
        scope = LinkScope.of(link)
        first_name = link.pupil.first_name
        lessons = _coming_lessons(session, scope, now)
        return context.renderer.page(
            "join_landing.html",
            {
                "signed_in": None,
                "title": f"Lessons for {first_name}",
                "first_name": first_name,
                "for_parent": link.for_parent,
                "school": scope.school,
                "class_group": scope.class_group,
                "lessons": lessons,
                # The lesson page is at this link's own address, so the token goes nowhere new.
                "join_now": {
                    lesson.id: f"/join/{token}/lessons/{lesson.id}"
                    for lesson in lessons
                    if open_to_join(lesson, now, context.live)
                },
                "early": PUPILS_EARLY,
                "early_minutes": int(PUPILS_EARLY.total_seconds() // 60),
                # Only the lessons staff may record: what a recording keeps, and for how long.
                "recording": {
                    lesson.id: terms
                    for lesson in lessons
                    if (terms := recording_terms(lesson)) is not None
                },
            },
            headers=LANDING_HEADERS,
        )


def _coming_lessons(session: Session, scope: LinkScope, now: datetime) -> list[Lesson]:
    if scope.lesson is not None:
        return [scope.lesson] if scope.lesson.ends_at > now else []
    return list(
        session.scalars(
            select(Lesson)
            .where(Lesson.class_group_id == scope.class_group.id, Lesson.ends_at > now)
            .order_by(Lesson.starts_at, Lesson.id)
            .limit(UPCOMING_LESSONS_SHOWN)
        )
    )
