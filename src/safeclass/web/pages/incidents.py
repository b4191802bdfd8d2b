"""Incidents through the web: the report form (which the lesson console opens after "remove"),
the DSL's inbox with states and notes, exports (CSV of the inbox, a PDF report of one incident)
and the page showing messages to the school's safeguarding system.

The rules are `safeclass.actions.incidents`'s (who sees what, what a form must hold); this module
reads forms, answers in plain words, and after each commit wakes the webhook sender.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import (
    NotFoundError,
    access_incident,
    access_lesson,
    dsl_school_ids,
    is_dsl_for,
    may_edit_school_policy,
    visible_schools,
)
from safeclass.actions.incidents import (
    CATEGORIES,
    CLOSED_FOR_EDITS,
    NOT_CHOSEN,
    SOURCE_WORDS,
    STATE_WORDS,
    Draft,
    IncidentFields,
    IncidentFormError,
    add_note,
    change_state,
    check_fields,
    draft_for,
    incident_about,
    may_edit,
    record_export,
    report_incident,
    update_incident,
    visible_incidents,
)
from safeclass.actions.recordings import recording_covers
from safeclass.store.models import Incident, IncidentState, Lesson
from safeclass.web.auth import SignedIn
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, check_session_token
from safeclass.web.forms import SubmittedForm
from safeclass.web.incident_report import incident_pdf
from safeclass.web.link_letters import csv_cell
from safeclass.web.pages.common import (
    ObjectId,
    handle_form,
    page_context,
    require_signed_in,
    required_id,
)
from safeclass.web.pages.recordings import RecordingRow, recording_section
from safeclass.web.wording import format_time, format_when
from safeclass.webhooks import (
    IncidentWebhook,
    WebhookSettings,
    deliveries_for,
    delivery_state,
)

router = APIRouter()

_PID = re.compile(r"p[0-9a-f]{12}")
# Forms post to fixed addresses and name their lesson or incident in a field, as every staff form.
REPORT_PATH = "/admin/incidents/report"
EDIT_PATH = "/admin/incidents/edit"
STATE_PATH = "/admin/incidents/state"
NOTES_PATH = "/admin/incidents/notes"
ABOUT_NOT_FOUND = (
    "We could not find that person in this lesson's record, so the report is not about anyone "
    'in particular. Name them under "People involved".'
)
DONE_MESSAGES = {
    "reported": "Thank you. The incident has been recorded and sent to your school's designated "
    "safeguarding lead.",
    "saved": "Your changes have been saved.",
    "unchanged": "Nothing was changed.",
    "state": "The incident's state has been changed.",
    "note": "Your note has been added.",
}
CSV_HEADER = (
    "Incident",
    "School",
    "Lesson",
    "Happened at",
    "Opened at",
    "How it was opened",
    "Category",
    "State",
    "About",
    "People involved",
    "What happened",
    "Actions taken",
    "Reported by",
    "Notes",
    "Closed at",
)
NO_STORE = {"Cache-Control": "no-store"}


def _clocked(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Snapshot entries with their time as the pages show it (school time, hours and minutes)."""
    return [
        {**entry, "clock": format_time(datetime.fromisoformat(entry["at"]))} for entry in entries
    ]


def _webhook(request: Request) -> IncidentWebhook | None:
    webhook = getattr(request.app.state, "incident_webhook", None)
    return webhook if isinstance(webhook, IncidentWebhook) else None


def _settings(request: Request) -> WebhookSettings | None:
    webhook = _webhook(request)
    return webhook.settings if webhook is not None else None


def _wake(request: Request) -> None:
    webhook = _webhook(request)
    if webhook is not None:
        webhook.wake()


def _about_param(request: Request) -> str | None:
    raw = request.query_params.get("about")
    return raw if raw is not None and _PID.fullmatch(raw) else (None if raw is None else "")


# --- The report form ------------------------------------------------------------------------------


@router.get("/admin/lessons/{lesson_id}/incidents/new")
def new_incident(request: Request, lesson_id: ObjectId) -> Response:
    """The form after "remove" (`?about=<pid>`), from a chat alert, or a plain report. When the
    server has already opened an incident about that person in this lesson (and it is this
    member of staff's to edit), the form edits that one."""
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        lesson = access_lesson(session, signed_in.staff, lesson_id)
        about = _about_param(request)
        if about:
            existing = incident_about(session, lesson, about)
            if existing is not None and may_edit(signed_in.staff, existing):
                return _edit_form(context, signed_in, existing)
        draft = draft_for(session, lesson, about or None, context.now())
        notice = ABOUT_NOT_FOUND if about is not None and draft.about_pid is None else None
        return _new_form(context, signed_in, lesson, draft, notice=notice)


@router.post(REPORT_PATH)
async def create_incident(request: Request) -> Response:
    response = await handle_form(request, _create)
    _wake(request)
    return response


def _create(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        lesson = access_lesson(session, signed_in.staff, required_id(form, "lesson_id"))
        about = form.get("about") or None
        if about is not None and not _PID.fullmatch(about):
            about = None
        now = context.now()
        try:
            fields = _fields(form)
            existing = incident_about(session, lesson, about) if about else None
            if existing is not None and may_edit(signed_in.staff, existing):
                update_incident(session, existing, fields, actor=signed_in.staff, now=now)
                incident = existing
            else:
                incident = report_incident(
                    session,
                    lesson,
                    fields,
                    actor=signed_in.staff,
                    about_pid=about,
                    now=now,
                    webhook=_settings(request),
                )
        except IncidentFormError as refused:
            session.rollback()
            draft = draft_for(session, lesson, about, now)
            _typed_into(draft, form)
            return _new_form(context, signed_in, lesson, draft, problems=refused.problems)
        session.commit()
        return RedirectResponse(f"/admin/incidents/{incident.id}?done=reported", status_code=303)


def _fields(form: SubmittedForm) -> IncidentFields:
    return check_fields(
        category=form.get("category"),
        description=form.get("description"),
        people_involved=form.get("people_involved"),
        actions_taken=form.get("actions_taken"),
    )


def _typed_into(draft: Draft, form: SubmittedForm) -> None:
    """What was typed goes back into the form (bounded: the page shows it again)."""
    category = form.get("category")
    draft.category = category if category in CATEGORIES else None
    draft.description = (form.get("description") or "")[:20000]
    draft.people_involved = (form.get("people_involved") or "")[:20000]
    draft.actions_taken = (form.get("actions_taken") or "")[:20000]


def _new_form(
    context: WebContext,
    signed_in: SignedIn,
    lesson: Lesson,
    draft: Draft,
    *,
    notice: str | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    return context.renderer.page(
        "incident_form.html",
        page_context(
            signed_in,
            f"Report an incident in {lesson.title}",
            lesson=lesson,
            school=lesson.school,
            incident=None,
            action=REPORT_PATH,
            values=draft,
            about_pid=draft.about_pid,
            about_name=draft.about_name,
            timeline=_clocked(draft.timeline),
            chat=_clocked(draft.chat),
            categories=CATEGORIES,
            notice=notice,
            problems=problems or {},
            csrf_token=signed_in.csrf_token,
        ),
        status_code=400 if problems else 200,
        headers=NO_STORE,
    )


def _edit_form(
    context: WebContext,
    signed_in: SignedIn,
    incident: Incident,
    *,
    values: Any = None,
    problems: dict[str, str] | None = None,
) -> Response:
    return context.renderer.page(
        "incident_form.html",
        page_context(
            signed_in,
            f"Incident {incident.id}",
            lesson=incident.lesson,
            school=incident.school,
            incident=incident,
            action=EDIT_PATH,
            values=values if values is not None else incident,
            about_pid=incident.about_pid,
            about_name=incident.about_name,
            timeline=_clocked(incident.timeline),
            chat=_clocked(incident.chat),
            categories=CATEGORIES,
            notice=None,
            problems=problems or {},
            csrf_token=signed_in.csrf_token,
        ),
        status_code=400 if problems else 200,
        headers=NO_STORE,
    )


# --- One incident ---------------------------------------------------------------------------------


@router.get("/admin/incidents/{incident_id}")
def incident_page(request: Request, incident_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        incident = access_incident(session, signed_in.staff, incident_id)
        return _detail(context, session, request, signed_in, incident)


@dataclass(frozen=True)
class IncidentRecordings:
    """The recordings of an incident's lesson, for its page: those going when it happened, then
    the lesson's others. Links as on the lesson's page (`RecordingRow.may_download`)."""

    at_the_time: list[RecordingRow]
    others: list[RecordingRow]


def incident_recordings(
    session: Session, signed_in: SignedIn, incident: Incident
) -> IncidentRecordings | None:
    """Read when the page is shown (the incident keeps nothing of them). None, and no part on the
    page, when there is nothing to say: no lesson, or none recorded where recording is not
    allowed."""
    lesson = incident.lesson
    if lesson is None or lesson.school_id != incident.school_id:
        return None
    section = recording_section(session, signed_in.staff, lesson)
    rows = [row for row in section.rows if row.recording.school_id == incident.school_id]
    if not rows and not section.allowed:
        return None
    return IncidentRecordings(
        at_the_time=[row for row in rows if recording_covers(row.recording, incident.occurred_at)],
        others=[row for row in rows if not recording_covers(row.recording, incident.occurred_at)],
    )


def _detail(
    context: WebContext,
    session: Session,
    request: Request,
    signed_in: SignedIn,
    incident: Incident,
    *,
    problems: dict[str, str] | None = None,
    note: str = "",
) -> Response:
    return context.renderer.page(
        "incident_detail.html",
        page_context(
            signed_in,
            f"Incident {incident.id}",
            incident=incident,
            school=incident.school,
            timeline=_clocked(incident.timeline),
            chat=_clocked(incident.chat),
            category=CATEGORIES.get(incident.category or "", NOT_CHOSEN),
            source=SOURCE_WORDS[incident.source],
            state_words=STATE_WORDS,
            states=list(IncidentState),
            is_dsl=is_dsl_for(signed_in.staff, incident.school),
            may_edit=may_edit(signed_in.staff, incident),
            recordings=incident_recordings(session, signed_in, incident),
            done=DONE_MESSAGES.get(request.query_params.get("done", "")),
            problems=problems or {},
            note=note,
            csrf_token=signed_in.csrf_token,
        ),
        status_code=400 if problems else 200,
        headers=NO_STORE,
    )


@router.get("/admin/incidents/{incident_id}/edit")
def edit_page(request: Request, incident_id: ObjectId) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        incident = access_incident(session, signed_in.staff, incident_id)
        if not may_edit(signed_in.staff, incident):
            return _detail(
                context, session, request, signed_in, incident, problems={"form": CLOSED_FOR_EDITS}
            )
        return _edit_form(context, signed_in, incident)


@router.post(EDIT_PATH)
async def edit_incident(request: Request) -> Response:
    return await handle_form(request, _edit)


def _edit(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        incident = access_incident(session, signed_in.staff, required_id(form, "incident_id"))
        try:
            fields = _fields(form)
            changed = update_incident(
                session, incident, fields, actor=signed_in.staff, now=context.now()
            )
        except IncidentFormError as refused:
            session.rollback()
            draft = Draft()
            _typed_into(draft, form)
            return _edit_form(context, signed_in, incident, values=draft, problems=refused.problems)
        session.commit()
        done = "saved" if changed else "unchanged"
        return RedirectResponse(f"/admin/incidents/{incident.id}?done={done}", status_code=303)


@router.post(STATE_PATH)
async def set_state(request: Request) -> Response:
    response = await handle_form(request, _set_state)
    _wake(request)
    return response


def _set_state(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        incident = access_incident(session, signed_in.staff, required_id(form, "incident_id"))
        try:
            changed = change_state(
                session,
                incident,
                form.get("state"),
                actor=signed_in.staff,
                now=context.now(),
                webhook=_settings(request),
            )
        except IncidentFormError as refused:
            session.rollback()
            return _detail(
                context, session, request, signed_in, incident, problems=refused.problems
            )
        session.commit()
        done = "state" if changed else "unchanged"
        return RedirectResponse(f"/admin/incidents/{incident.id}?done={done}", status_code=303)


@router.post(NOTES_PATH)
async def note(request: Request) -> Response:
    return await handle_form(request, _note)


def _note(context: WebContext, request: Request, form: SubmittedForm) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        incident = access_incident(session, signed_in.staff, required_id(form, "incident_id"))
        try:
            add_note(session, incident, form.get("note"), actor=signed_in.staff, now=context.now())
        except IncidentFormError as refused:
            session.rollback()
            return _detail(
                context,
                session,
                request,
                signed_in,
                incident,
                problems=refused.problems,
                note=(form.get("note") or "")[:20000],
            )
        session.commit()
        return RedirectResponse(f"/admin/incidents/{incident.id}?done=note", status_code=303)


@router.get("/admin/incidents/{incident_id}/report.pdf")
def incident_report(request: Request, incident_id: ObjectId) -> Response:
    """The PDF report of one incident: for the school's DSLs."""
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        incident = access_incident(session, signed_in.staff, incident_id)
        if not is_dsl_for(signed_in.staff, incident.school):
            raise NotFoundError(f"Incident {incident_id} report")
        content = incident_pdf(incident, made_for=signed_in.staff.display_name, at=context.now())
        record_export(session, [incident], actor=signed_in.staff, kind="pdf")
        session.commit()
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="incident-{incident_id}.pdf"',
            **NO_STORE,
        },
    )


# --- The inbox ------------------------------------------------------------------------------------


@router.get("/admin/incidents")
def inbox(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        state = _state_filter(request)
        incidents = visible_incidents(session, signed_in.staff, state=state)
        return context.renderer.page(
            "incident_inbox.html",
            page_context(
                signed_in,
                "Incidents",
                incidents=incidents,
                is_dsl=bool(dsl_school_ids(session, signed_in.staff)),
                may_see_webhook=bool(_webhook_schools(session, signed_in)),
                state=state,
                states=list(IncidentState),
                state_words=STATE_WORDS,
                source_words=SOURCE_WORDS,
                categories=CATEGORIES,
                not_chosen=NOT_CHOSEN,
            ),
            headers=NO_STORE,
        )


def _state_filter(request: Request) -> IncidentState | None:
    raw = request.query_params.get("state", "")
    try:
        return IncidentState(raw) if raw else None
    except ValueError:
        raise NotFoundError(f"state {raw[:20]!r}") from None


@router.get("/admin/incidents.csv")
def inbox_csv(request: Request) -> Response:
    """Every incident of the schools the caller leads as DSL (or, filtered, in one state)."""
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        schools = dsl_school_ids(session, signed_in.staff)
        if not schools:
            raise NotFoundError("incidents export")
        incidents = [
            incident
            for incident in visible_incidents(
                session, signed_in.staff, state=_state_filter(request)
            )
            if incident.school_id in schools
        ]
        content = incidents_csv(incidents)
        record_export(session, incidents, actor=signed_in.staff, kind="csv")
        session.commit()
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="incidents.csv"', **NO_STORE},
    )


def incidents_csv(incidents: list[Incident]) -> bytes:
    """UTF-8 with a byte-order mark; every cell of words guarded against formula injection."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for incident in incidents:
        writer.writerow(
            [
                str(incident.id),
                csv_cell(incident.school.name),
                csv_cell(incident.lesson_title),
                format_when(incident.occurred_at),
                format_when(incident.opened_at),
                SOURCE_WORDS[incident.source],
                CATEGORIES.get(incident.category or "", NOT_CHOSEN),
                STATE_WORDS[incident.state],
                csv_cell(incident.about_name or ""),
                csv_cell(incident.people_involved),
                csv_cell(incident.description),
                csv_cell(incident.actions_taken),
                csv_cell(incident.reported_by_name),
                str(len(incident.notes)),
                format_when(incident.closed_at) if incident.closed_at else "",
            ]
        )
    return out.getvalue().encode("utf-8-sig")


# --- Messages to the school's safeguarding system -------------------------------------------------


def _webhook_schools(session: Session, signed_in: SignedIn) -> set[int]:
    """DSLs, school admins and trust admins see how their schools' messages are getting on."""
    staff = signed_in.staff
    schools = dsl_school_ids(session, staff)
    schools |= {
        school.id
        for school in visible_schools(session, staff)
        if may_edit_school_policy(staff, school)
    }
    return schools


@router.get("/admin/incidents-webhook")
def webhook_page(request: Request) -> Response:
    context = web_context(request)
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        schools = _webhook_schools(session, signed_in)
        if not schools:
            raise NotFoundError("webhook page")
        deliveries = deliveries_for(session, schools)
        return context.renderer.page(
            "incident_webhook.html",
            page_context(
                signed_in,
                "Messages to your safeguarding system",
                configured=_webhook(request) is not None,
                rows=[(delivery, delivery_state(delivery)) for delivery in deliveries],
            ),
            headers=NO_STORE,
        )
