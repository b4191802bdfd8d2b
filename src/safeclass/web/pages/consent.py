"""Parental consent: the page a parent's consent link opens, and the staff pages around it.

Parents and carers: `/consent/{token}` explains in plain words what live lessons involve and their
risks, shows the trust's current words for each scope, and lets them give or withdraw permission
for each of their own children at that school. The form posts to `/consent` with the link's token
and a double-submit form token (the same signed value in a cookie and the form, as on the typed
codes page): nobody is signed in. A change is stored, then every live lesson expecting that child
reads its roster again (`LiveLessons.consent_changed`), so a withdrawal takes the child out of
the waiting room (or the room) at once.

Staff: a class's consent page (counts, who cannot join and why, each parent's consent link), the
consent register of a class or of the whole school as CSV, new consent links delivered as printed
letters or by email, the school's outbox of emails, and (trust admins) the page that publishes a
new version of the words. A new link's token is shown once, in the answer that made it; the
letters download posts the tokens back, and the server checks each against its stored hash, as
for join links.
"""

from __future__ import annotations

import email.utils
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import (
    NotFoundError,
    access_class_group,
    access_school,
    may_see_parent_contacts,
)
from safeclass.actions.consent import (
    ConsentRefusedError,
    IssuedConsentLink,
    child_of_link,
    children_at_school,
    current_texts,
    give_consent,
    issue_class_consent_links,
    issue_consent_link,
    links_of_school,
    mark_message_failed,
    mark_message_sent,
    may_publish_consent_text,
    parents_of_class,
    publish_consent_text,
    pupil_records,
    pupils_of_school,
    record_message,
    revoke_consent_link,
    school_messages,
    withdraw_consent,
    working_consent_link,
)
from safeclass.actions.join_links import hash_token, looks_like_token
from safeclass.domain.consent import ConsentScope, ConsentStatus, consent_status
from safeclass.store.models import (
    ClassGroup,
    Consent,
    ConsentLink,
    ConsentMessage,
    ConsentMessageState,
    ConsentText,
    Parent,
    Pupil,
    School,
    StaffMember,
    Trust,
)
from safeclass.store.queries import coverage_for_pupils, school_policy
from safeclass.web.auth import SignedIn
from safeclass.web.consent_letters import (
    SCOPE_WORDS,
    ConsentLetter,
    RegisterRow,
    consent_csv,
    consent_letters_pdf,
    email_body,
    email_subject,
    without_token,
)
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, SIGN_IN_TOKEN_MAX_AGE_SECONDS, check_session_token
from safeclass.web.forms import SubmittedForm, read_form
from safeclass.web.mail import Mailer, SmtpMailer
from safeclass.web.pages.common import (
    ObjectId,
    form_id,
    handle_form,
    page_context,
    require_signed_in,
    required_id,
)
from safeclass.web.pages.typed_codes import server_url
from safeclass.web.wording import SCHOOL_TIMEZONE

router = APIRouter()

CONSENT_PATH = "/consent"
LETTERS_WINDOW = timedelta(hours=1)
MAX_LETTERS = 1000
OUTBOX_SHOWN = 200
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}

LINK_DOES_NOT_WORK_TITLE = "This link does not work"
LINK_DOES_NOT_WORK = (
    "This consent link does not work: it may have been replaced by a newer one, or it has "
    "expired. Please ask the school for a new one."
)
BAD_CHOICE = "That choice is not one this page offers. Please choose again below."
LETTERS_REFUSED_TITLE = "These letters can no longer be made"
LETTERS_REFUSED = (
    "Letters can be made only for new consent links, by the person who made them, within an "
    "hour. Go back to the class's consent page and make new links."
)
PARENT_DONE = {
    "given": "Thank you. Your permission is recorded.",
    "withdrawn": "Your permission is withdrawn. It takes effect straight away.",
    "unchanged": "Nothing needed changing: that was already recorded.",
}
STAFF_DONE = {
    "revoked": "That consent link has stopped working.",
    "unchanged": "That consent link had already stopped working.",
    "none_missing": "Every parent or carer already has a working consent link, so none were made.",
    "published": "The new version is published. Parents and carers are asked to agree to it.",
}

# The suggested words for a trust's first version: plain, for a parent. A trust admin may change
# them before publishing.
SUGGESTED_TEXTS = {
    ConsentScope.LIVE_LESSONS: (
        "I give permission for my child to take part in live online lessons with their school.\n"
        "\n"
        "I understand that in a live lesson my child's teacher and classmates may see and hear "
        "my child, and see what is behind them, when their camera and microphone are on. I will "
        "help my child choose a quiet place with nothing personal in view, and keep personal "
        "details (our address, phone numbers, email addresses, passwords and social media names) "
        "out of the lesson.\n"
        "\n"
        "I understand that my child must not record or photograph the lesson, and that the "
        "school may remove my child from a lesson and record what happened if they need to keep "
        "everyone safe.\n"
        "\n"
        "I can withdraw this permission at any time, using my personal consent link."
    ),
    ConsentScope.RECORDING: (
        "I agree that live lessons my child takes part in may be recorded by the school, when "
        "the school's policy allows it.\n"
        "\n"
        "I understand that a recording holds the teacher's video and sound and anything shared "
        "on screen, and may hold my child's voice or messages; by default it never holds my "
        "child's video. Recordings are kept only by the school, seen only by its staff, and "
        "deleted after the school's set period.\n"
        "\n"
        "I can withdraw this agreement at any time, using my personal consent link. Lessons are "
        "then not recorded while my child is in them."
    ),
}


def consent_cookie_name(context: WebContext) -> str:
    return "__Host-safeclass-consent" if context.config.secure_cookies else "safeclass_consent"


# --- The parent's page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeChoice:
    scope: ConsentScope
    status: ConsentStatus
    text: ConsentText | None

    @property
    def may_give(self) -> bool:
        return self.text is not None and self.status is not ConsentStatus.GIVEN

    @property
    def may_withdraw(self) -> bool:
        return self.status in (ConsentStatus.GIVEN, ConsentStatus.OUTDATED)


@dataclass(frozen=True)
class ChildChoices:
    pupil: Pupil
    scopes: tuple[ScopeChoice, ...]


@router.get(CONSENT_PATH + "/{token}")
def parent_page(request: Request, token: str) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        link = working_consent_link(session, token, context.now())
        if link is None:
            return _link_does_not_work(context)
        form_token = context.sign_in_tokens.issue(request.cookies.get(consent_cookie_name(context)))
        done = PARENT_DONE.get(request.query_params.get("done", ""))
        return _parent_page(context, session, link, token, form_token, done=done, problem=None)


@router.post(CONSENT_PATH)
async def parent_choice(request: Request) -> Response:
    context = web_context(request)
    form = await read_form(request)
    context.sign_in_tokens.check(
        request.cookies.get(consent_cookie_name(context)), form.get(FORM_FIELD)
    )
    response, changed_pupil = await run_in_threadpool(_parent_choice, context, form)
    if changed_pupil is not None:
        # After the commit: lessons read consent from the database.
        await context.live.consent_changed([changed_pupil])
    return response


def _parent_choice(context: WebContext, form: SubmittedForm) -> tuple[Response, int | None]:
    token = form.get("link") or ""
    form_token = form.get(FORM_FIELD) or ""
    with context.session_factory() as session:
        now = context.now()
        link = working_consent_link(session, token, now)
        if link is None:
            return _link_does_not_work(context), None
        pupil_id = required_id(form, "pupil_id")
        child_of_link(session, link, pupil_id)  # another family's child: "not found"
        scope = _scope(form.get("scope"))
        choice = form.get("choice")
        if scope is None or choice not in ("give", "withdraw"):
            return _parent_page(
                context, session, link, token, form_token, done=None, problem=BAD_CHOICE
            ), None
        try:
            if choice == "give":
                changed = give_consent(
                    session, link, pupil_id, scope, form.get("text_version") or "", now=now
                )
            else:
                changed = withdraw_consent(session, link, pupil_id, scope, now=now)
        except ConsentRefusedError as refused:
            session.rollback()
            return _parent_page(
                context,
                session,
                link,
                token,
                form_token,
                done=None,
                problem=refused.message,
                status_code=409,
            ), None
        session.commit()
    done = ("given" if choice == "give" else "withdrawn") if changed else "unchanged"
    redirect = RedirectResponse(
        f"{CONSENT_PATH}/{token}?done={done}#child-{pupil_id}",
        status_code=303,
        headers=PRIVATE_HEADERS,
    )
    return redirect, pupil_id if changed else None


def _parent_page(
    context: WebContext,
    session: Session,
    link: ConsentLink,
    token: str,
    form_token: str,
    *,
    done: str | None,
    problem: str | None,
    status_code: int | None = None,
) -> Response:
    texts = current_texts(session, link.school.trust_id)
    children = [
        ChildChoices(
            pupil,
            tuple(
                ScopeChoice(
                    scope,
                    consent_status(
                        pupil_records(pupil),
                        scope,
                        texts[scope].version if scope in texts else None,
                    ),
                    texts.get(scope),
                )
                for scope in ConsentScope
            ),
        )
        for pupil in children_at_school(session, link.parent, link.school)
    ]
    response = context.renderer.page(
        "consent_parent.html",
        page_context(
            None,
            "Permission for live lessons",
            parent=link.parent,
            school=link.school,
            children=children,
            texts=texts,
            scope_words=SCOPE_WORDS,
            link_token=token,
            csrf_token=form_token,
            expires_at=link.expires_at,
            done=done,
            problem=problem,
        ),
        status_code=status_code if status_code is not None else (400 if problem else 200),
        headers=PRIVATE_HEADERS,
    )
    response.set_cookie(
        consent_cookie_name(context),
        form_token,
        max_age=SIGN_IN_TOKEN_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=context.config.secure_cookies,
        path="/",
    )
    return response


def _link_does_not_work(context: WebContext) -> Response:
    return context.renderer.message(
        LINK_DOES_NOT_WORK_TITLE, LINK_DOES_NOT_WORK, status_code=404, headers=PRIVATE_HEADERS
    )


# --- Staff: a class's consent ---------------------------------------------------------------------


@dataclass(frozen=True)
class ParentRow:
    parent: Parent
    children: tuple[Pupil, ...]
    link: ConsentLink | None  # their newest consent link at this school
    state: str  # none, active, revoked, expired


@router.get("/admin/classes/{class_group_id}/consent")
def class_consent_page(request: Request, class_group_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        class_group = access_class_group(session, signed_in.staff, class_group_id)
        return _class_page(context, request, session, signed_in, class_group)


def _class_page(
    context: WebContext,
    request: Request,
    session: Session,
    signed_in: SignedIn,
    class_group: ClassGroup,
    *,
    problem: str | None = None,
) -> Response:
    school = class_group.school
    coverage = coverage_for_pupils(
        session, school_policy(school), class_group.pupils, school.trust_id
    )
    counts = {
        scope: {
            status: sum(
                1
                for pupil in coverage.pupils
                if (pupil.live if scope is ConsentScope.LIVE_LESSONS else pupil.recording) is status
            )
            for status in ConsentStatus
        }
        for scope in ConsentScope
    }
    manages = may_see_parent_contacts(signed_in.staff, school)
    parents = _parent_rows(session, class_group, context.now()) if manages else []
    return context.renderer.page(
        "consent_class.html",
        page_context(
            signed_in,
            f"Consent for {class_group.name}",
            school=school,
            class_group=class_group,
            coverage=coverage,
            counts=counts,
            statuses=list(ConsentStatus),
            scope_words=SCOPE_WORDS,
            texts=current_texts(session, school.trust_id),
            manages=manages,
            parents=parents,
            parent_names=_parent_names(class_group),
            mail_server=context.config.smtp_host != "",
            done=STAFF_DONE.get(request.query_params.get("done", "")),
            problem=problem,
            csrf_token=signed_in.csrf_token,
        ),
        status_code=400 if problem else 200,
    )


def _parent_names(class_group: ClassGroup) -> dict[int, list[str]]:
    return {
        pupil.id: sorted(pl.parent.display_name for pl in pupil.parent_links)
        for pupil in class_group.pupils
    }


def _parent_rows(session: Session, class_group: ClassGroup, now: datetime) -> list[ParentRow]:
    newest: dict[int, ConsentLink] = {}
    for made in links_of_school(session, class_group.school):
        newest.setdefault(made.parent_id, made)
    rows = []
    for entry in parents_of_class(class_group):
        link = newest.get(entry.parent.id)
        if link is None:
            state = "none"
        elif link.revoked_at is not None:
            state = "revoked"
        elif now >= link.expires_at:
            state = "expired"
        else:
            state = "active"
        rows.append(ParentRow(entry.parent, entry.children, link, state))
    return rows


@router.get("/admin/classes/{class_group_id}/consent.csv")
def class_consent_csv(request: Request, class_group_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        class_group = access_class_group(session, signed_in.staff, class_group_id)
        if not may_see_parent_contacts(signed_in.staff, class_group.school):
            raise NotFoundError(f"Consent register of class {class_group_id}")
        rows = register_rows(session, class_group)
        content = consent_csv(rows)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="consent-class-{class_group_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/admin/schools/{school_id}/consent.csv")
def school_consent_csv(request: Request, school_id: ObjectId) -> Response:
    """The whole school's consent register, for the same staff as a class's register."""
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        school = access_school(session, signed_in.staff, school_id)
        if not may_see_parent_contacts(signed_in.staff, school):
            raise NotFoundError(f"Consent register of school {school_id}")
        content = consent_csv(school_register_rows(session, school))
        file_name = school_register_file_name(school, context.now())
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            "Cache-Control": "no-store",
        },
    )


def register_rows(session: Session, class_group: ClassGroup) -> list[RegisterRow]:
    """Each pupil of the class, by name, each scope: every record from a parent or carer linked
    now (newest first), or one row saying there is none; each row with the pupil's status now."""
    texts = current_texts(session, class_group.school.trust_id)
    rows: list[RegisterRow] = []
    for pupil in sorted(class_group.pupils, key=lambda p: (p.last_name, p.first_name, p.id)):
        rows.extend(_pupil_register_rows(pupil, class_group.name, texts))
    return rows


def school_register_rows(session: Session, school: School) -> list[RegisterRow]:
    """Each pupil of the school once, as in a class's register, with all their classes in one
    cell (by name); sorted by their first class, then by name. Pupils in no class come last."""
    texts = current_texts(session, school.trust_id)
    rows: list[RegisterRow] = []
    for pupil in sorted(pupils_of_school(session, school), key=_by_class_then_name):
        class_names = CLASS_NAMES_JOINED.join(group.name for group in pupil.class_groups)
        rows.extend(_pupil_register_rows(pupil, class_names, texts))
    return rows


CLASS_NAMES_JOINED = "; "


def _by_class_then_name(pupil: Pupil) -> tuple[bool, str, str, str, int]:
    first_class = pupil.class_groups[0].name if pupil.class_groups else ""
    return not pupil.class_groups, first_class, pupil.last_name, pupil.first_name, pupil.id


def school_register_file_name(school: School, now: datetime) -> str:
    """ASCII only, from the school's short name and today's date where the school is, so every
    browser keeps it and no header can be broken by it."""
    plain = unicodedata.normalize("NFKD", school.slug).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "school"
    return f"consent-{slug}-{now.astimezone(SCHOOL_TIMEZONE):%Y-%m-%d}.csv"


def _pupil_register_rows(
    pupil: Pupil, class_name: str, texts: dict[ConsentScope, ConsentText]
) -> list[RegisterRow]:
    linked = {pl.parent_id: pl.parent for pl in pupil.parent_links}
    rows: list[RegisterRow] = []
    for scope in ConsentScope:
        current = texts[scope].version if scope in texts else None
        status = consent_status(pupil_records(pupil), scope, current)
        base = RegisterRow(
            pupil.first_name,
            pupil.last_name,
            class_name,
            pupil.year_group,
            scope,
            status,
        )
        records = sorted(
            (c for c in pupil.consents if c.scope is scope and c.parent_id in linked),
            key=lambda c: (c.withdrawn_at or c.given_at, c.id),
            reverse=True,
        )
        if not records:
            rows.append(base)
        for record in records:
            rows.append(
                RegisterRow(
                    base.pupil_first_name,
                    base.pupil_last_name,
                    base.class_name,
                    base.year_group,
                    scope,
                    status,
                    parent_name=linked[record.parent_id].display_name,
                    text_version=record.text_version,
                    given_at=record.given_at,
                    withdrawn_at=record.withdrawn_at,
                    withdrawn_by=_withdrawn_by(record, linked),
                )
            )
    return rows


def _withdrawn_by(record: Consent, linked: dict[int, Parent]) -> str:
    """Who withdrew a consent, when another parent or carer did (a name, or a note when they are
    no longer linked to the pupil)."""
    by = record.withdrawn_by_parent_id
    if by is None or by == record.parent_id:
        return ""
    parent = linked.get(by)
    return parent.display_name if parent is not None else "a former parent or carer"


# --- Staff: making links and sending them ---------------------------------------------------------


@dataclass(frozen=True)
class NewLinkRow:
    letter: ConsentLetter
    token: str
    message: ConsentMessage | None


@router.post("/admin/consent/links")
async def make_links(request: Request) -> Response:
    return await handle_form(request, _make_links)


@router.post("/admin/consent/letters")
async def letters(request: Request) -> Response:
    return await handle_form(request, _letters)


@router.post("/admin/consent/revoke")
async def revoke(request: Request) -> Response:
    return await handle_form(request, _revoke)


def _make_links(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    delivery = form.get("delivery")
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        staff = signed_in.staff
        class_group = access_class_group(session, staff, required_id(form, "class_group_id"))
        if not may_see_parent_contacts(staff, class_group.school):
            raise NotFoundError(f"Consent links of class {class_group.id}")
        if delivery not in ("letters", "email"):
            return _class_page(
                context, request, session, signed_in, class_group, problem=BAD_DELIVERY
            )
        now = context.now()
        parent_id = form_id(form, "parent_id")
        mailer = SmtpMailer.from_config(context.config) if delivery == "email" else None
        try:
            if parent_id is None:
                issued = issue_class_consent_links(
                    session,
                    class_group,
                    actor=staff,
                    now=now,
                    replace_working=form.get("replace") == "1",
                )
            else:
                parent = session.get(Parent, parent_id)
                if parent is None or parent.id not in {
                    p.parent.id for p in parents_of_class(class_group)
                }:
                    raise NotFoundError(f"Parent {parent_id} of class {class_group.id}")
                issued = [
                    issue_consent_link(session, class_group.school, parent, actor=staff, now=now)
                ]
        except ConsentRefusedError as refused:
            session.rollback()
            return _class_page(
                context, request, session, signed_in, class_group, problem=refused.message
            )
        if not issued:
            session.rollback()
            return RedirectResponse(
                f"/admin/classes/{class_group.id}/consent?done=none_missing", status_code=303
            )
        prefix = f"{server_url(request, context.config)}{CONSENT_PATH}/"
        rows = [NewLinkRow(_letter(item, prefix), item.token, None) for item in issued]
        if delivery == "email":
            rows = _email(session, rows, issued, staff=staff, now=now, mailer=mailer)
        else:
            session.commit()
        return _new_links_page(context, signed_in, class_group, rows, delivery, mailer is not None)


BAD_DELIVERY = "Choose how the links should reach parents and carers: letters or email."


def _letter(issued: IssuedConsentLink, prefix: str) -> ConsentLetter:
    return ConsentLetter(
        parent_name=issued.parent.display_name,
        parent_email=issued.parent.email,
        school_name=issued.link.school.name,
        children=tuple(pupil.first_name for pupil in issued.children),
        url=prefix + issued.token,
        expires_at=issued.link.expires_at,
    )


def _email(
    session: Session,
    rows: list[NewLinkRow],
    issued: list[IssuedConsentLink],
    *,
    staff: StaffMember,
    now: datetime,
    mailer: Mailer | None,
) -> list[NewLinkRow]:
    """Record each email (token blanked), commit, then send them if there is a mail server."""
    out: list[NewLinkRow] = []
    to_send: list[tuple[ConsentMessage, EmailMessage]] = []
    for row, item in zip(rows, issued, strict=True):
        address = row.letter.parent_email
        if not address:
            out.append(row)  # no address: a letter
            continue
        subject, body = email_subject(row.letter), email_body(row.letter)
        message = record_message(
            session,
            item,
            to_address=address,
            subject=subject,
            body_without_token=without_token(body, item.token),
            state=ConsentMessageState.OUTBOX if mailer is None else ConsentMessageState.FAILED,
            actor=staff,
            now=now,
        )
        if mailer is not None:
            message.error = "Not sent yet."
            mail = EmailMessage()
            mail["To"] = address
            mail["Subject"] = subject
            mail["Date"] = email.utils.format_datetime(now)
            mail["Message-ID"] = email.utils.make_msgid(domain="safeclass.invalid")
            mail.set_content(body)
            to_send.append((message, mail))
        out.append(NewLinkRow(row.letter, row.token, message))
    session.commit()
    if mailer is not None and to_send:
        errors = mailer.send([mail for _, mail in to_send])
        for (message, _), error in zip(to_send, errors, strict=True):
            if error is None:
                mark_message_sent(session, message, actor=staff, now=now)
            else:
                mark_message_failed(session, message, error, actor=staff)
        session.commit()
    return out


def _new_links_page(
    context: WebContext,
    signed_in: SignedIn,
    class_group: ClassGroup,
    rows: list[NewLinkRow],
    delivery: str,
    mail_server: bool,
) -> Response:
    return context.renderer.page(
        "consent_links_new.html",
        page_context(
            signed_in,
            "New consent links",
            school=class_group.school,
            class_group=class_group,
            rows=rows,
            delivery=delivery,
            mail_server=mail_server,
            tokens=" ".join(row.token for row in rows),
            csrf_token=signed_in.csrf_token,
        ),
        headers=PRIVATE_HEADERS,
    )


def _letters(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        tokens = list(dict.fromkeys((form.get("tokens") or "").split()))
        if not 0 < len(tokens) <= MAX_LETTERS:
            return _letters_refused(context)
        now = context.now()
        prefix = f"{server_url(request, context.config)}{CONSENT_PATH}/"
        letters: list[ConsentLetter] = []
        for token in tokens:
            link = _printable_link(session, token, signed_in.staff, now)
            if link is None:
                return _letters_refused(context)
            children = children_at_school(session, link.parent, link.school)
            issued = IssuedConsentLink(link, token, link.parent, tuple(children))
            letters.append(_letter(issued, prefix))
    return Response(
        consent_letters_pdf(letters),
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="consent-letters.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _printable_link(
    session: Session, token: str, staff: StaffMember, now: datetime
) -> ConsentLink | None:
    """A link this member of staff made in the last hour, still working. Each condition on its
    own line."""
    if not looks_like_token(token):
        return None
    link = session.scalar(select(ConsentLink).where(ConsentLink.token_hash == hash_token(token)))
    if link is None:
        return None
    if link.created_by_staff_id != staff.id:
        return None
    if not may_see_parent_contacts(staff, link.school):
        return None
    if now - link.created_at > LETTERS_WINDOW:
        return None
    if not link.is_active(now):
        return None
    return link


def _letters_refused(context: WebContext) -> Response:
    return context.renderer.message(LETTERS_REFUSED_TITLE, LETTERS_REFUSED, status_code=400)


def _revoke(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        class_group = access_class_group(
            session, signed_in.staff, required_id(form, "class_group_id")
        )
        link = session.get(ConsentLink, required_id(form, "link_id"))
        if link is None or link.school_id != class_group.school_id:
            raise NotFoundError("Consent link")
        if not may_see_parent_contacts(signed_in.staff, link.school):
            raise NotFoundError(f"Consent link {link.id}")
        changed = revoke_consent_link(session, link, actor=signed_in.staff, now=context.now())
        session.commit()
        done = "revoked" if changed else "unchanged"
        return RedirectResponse(
            f"/admin/classes/{class_group.id}/consent?done={done}", status_code=303
        )


# --- Staff: the outbox ----------------------------------------------------------------------------


@router.get("/admin/schools/{school_id}/consent-outbox")
def outbox(request: Request, school_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        school = access_school(session, signed_in.staff, school_id)
        if not may_see_parent_contacts(signed_in.staff, school):
            raise NotFoundError(f"Outbox of school {school_id}")
        return context.renderer.page(
            "consent_outbox.html",
            page_context(
                signed_in,
                f"Emails to parents and carers from {school.name}",
                school=school,
                messages=school_messages(session, school, OUTBOX_SHOWN),
                shown=OUTBOX_SHOWN,
                mail_server=context.config.smtp_host != "",
            ),
            headers={"Cache-Control": "no-store"},
        )


# --- Trust admins: the words parents agree to ----------------------------------------------------


@dataclass(frozen=True)
class ScopeTexts:
    scope: ConsentScope
    current: ConsentText | None
    history: tuple[ConsentText, ...]  # newest first
    suggested: str


@router.get("/admin/consent-texts")
def texts_page(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        trust = _trust_to_publish(session, signed_in.staff)
        done = STAFF_DONE.get(request.query_params.get("done", ""))
        return _texts_page(context, session, signed_in, trust, done=done)


@router.post("/admin/consent-texts")
async def publish(request: Request) -> Response:
    response, trust_pupils = await handle_form(request, _publish)
    if trust_pupils:
        # Every child whose parents agreed to the old words now needs their yes to the new ones.
        await web_context(request).live.consent_changed(trust_pupils)
    return response


def _publish(
    context: WebContext, request: Request, form: SubmittedForm
) -> tuple[Response, list[int]]:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        trust = _trust_to_publish(session, signed_in.staff)
        scope = _scope(form.get("scope"))
        if scope is None:
            return _texts_page(
                context, session, signed_in, trust, problem="Choose which words to publish."
            ), []
        try:
            publish_consent_text(
                session,
                trust,
                scope,
                form.get("version") or "",
                form.get("body") or "",
                actor=signed_in.staff,
                now=context.now(),
            )
        except ConsentRefusedError as refused:
            session.rollback()
            return _texts_page(context, session, signed_in, trust, problem=refused.message), []
        session.commit()
        pupils = list(
            session.scalars(
                select(Pupil.id)
                .join(School, School.id == Pupil.school_id)
                .where(School.trust_id == trust.id)
            )
        )
    return RedirectResponse("/admin/consent-texts?done=published", status_code=303), pupils


def _texts_page(
    context: WebContext,
    session: Session,
    signed_in: SignedIn,
    trust: Trust,
    *,
    done: str | None = None,
    problem: str | None = None,
) -> Response:
    texts = list(
        session.scalars(
            select(ConsentText)
            .where(ConsentText.trust_id == trust.id)
            .order_by(ConsentText.published_at.desc(), ConsentText.id.desc())
        )
    )
    scopes = [
        ScopeTexts(
            scope,
            next((t for t in texts if t.scope is scope), None),
            tuple(t for t in texts if t.scope is scope),
            SUGGESTED_TEXTS[scope],
        )
        for scope in ConsentScope
    ]
    return context.renderer.page(
        "consent_texts.html",
        page_context(
            signed_in,
            "Consent: the words parents agree to",
            trust=trust,
            scopes=scopes,
            scope_words=SCOPE_WORDS,
            done=done,
            problem=problem,
            csrf_token=signed_in.csrf_token,
        ),
        status_code=400 if problem else 200,
    )


def _trust_to_publish(session: Session, staff: StaffMember) -> Trust:
    trust = session.get(Trust, staff.trust_id)
    if trust is None or not may_publish_consent_text(staff, trust):
        raise NotFoundError("Consent texts")
    return trust


# --- Reading the forms ---------------------------------------------------------------------------


def _scope(raw: str | None) -> ConsentScope | None:
    try:
        return ConsentScope(raw or "")
    except ValueError:
        return None
