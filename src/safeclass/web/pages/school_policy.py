"""A school admin (or trust admin) edits the school's own policy values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeclass.access import access_school_for_policy_edit
from safeclass.actions.school_policy import SchoolPolicyRefusedError, set_school_overrides
from safeclass.domain.policy import (
    SETTINGS,
    BoolSetting,
    ChoiceSetting,
    EffectivePolicy,
    IntSetting,
    ResolvedSetting,
    Setting,
    SettingValueError,
    TrustPolicy,
    WordListSetting,
    check_school_override,
)
from safeclass.domain.year_groups import YEAR_13
from safeclass.store.models import School
from safeclass.store.queries import school_policy, trust_policy
from safeclass.web.auth import SignedIn
from safeclass.web.context import WebContext, web_context
from safeclass.web.csrf import FORM_FIELD, check_session_token
from safeclass.web.forms import SubmittedForm, read_form
from safeclass.web.pages.common import ObjectId, page_context, require_signed_in

router = APIRouter(prefix="/admin")

MAX_VALUE_LENGTH = 40
# A word list is one field holding many lines: up to 200 words of 40 characters, with room for
# line breaks, blank lines and stray spaces. Longer is refused before anything is read.
MAX_WORD_LIST_LENGTH = 16_000
SAVED_MESSAGES = {
    "changed": "Your changes are saved.",
    "unchanged": "Nothing needed saving: every setting was already as you chose.",
}
MISSING_FIELD = "This setting was missing from the form. Reload the page and try again."
VALUE_TOO_LONG = "This value is too long. Choose one of the values offered."
WORD_LIST_TOO_LONG = (
    "This list is too long. It may hold up to 200 words or phrases, each up to 40 characters."
)
REFUSED_SUMMARY = "Nothing was saved. Please look at the settings marked below."


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class PolicyField:
    """One editable setting on the form."""

    setting: Setting[Any]
    trust_value: str
    trust_locked: bool
    school_value: str
    note: str | None
    options: tuple[Option, ...]
    minimum: int | None
    maximum: int | None
    submitted: str
    error: str | None

    @property
    def key(self) -> str:
        return self.setting.key

    @property
    def is_select(self) -> bool:
        return bool(self.options)

    @property
    def is_word_list(self) -> bool:
        return isinstance(self.setting, WordListSetting)


@router.get("/schools/{school_id}/policy")
def policy_form(request: Request, school_id: ObjectId) -> Response:
    context = web_context(request)
    saved = SAVED_MESSAGES.get(request.query_params.get("saved", ""))
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        school = access_school_for_policy_edit(session, signed_in.staff, school_id)
        return _form_page(context, signed_in, school, submitted={}, problems={}, saved=saved)


@router.post("/schools/{school_id}/policy")
async def save_policy(request: Request, school_id: ObjectId) -> Response:
    context = web_context(request)
    form = await read_form(request)
    return await run_in_threadpool(_save_policy, context, request, school_id, form)


def _save_policy(
    context: WebContext, request: Request, school_id: int, form: SubmittedForm
) -> Response:
    with context.session_factory() as session:
        signed_in = require_signed_in(session, request, context)
        check_session_token(signed_in.csrf_token, form.get(FORM_FIELD))
        school = access_school_for_policy_edit(session, signed_in.staff, school_id)

        raw_values: dict[str, str] = {}
        problems: dict[str, str] = {}
        for setting in _editable_settings():
            raw = form.get(setting.key)
            word_list = isinstance(setting, WordListSetting)
            if raw is None:
                problems[setting.key] = MISSING_FIELD
            elif word_list and len(raw) > MAX_WORD_LIST_LENGTH:
                problems[setting.key] = WORD_LIST_TOO_LONG
            elif not word_list and len(raw) > MAX_VALUE_LENGTH:
                problems[setting.key] = VALUE_TOO_LONG
            else:
                raw_values[setting.key] = raw
        submitted = dict(raw_values)
        if problems:
            return _form_page(context, signed_in, school, submitted, problems, saved=None)
        trust = trust_policy(school.trust)
        for setting in _editable_settings():
            if isinstance(setting, WordListSetting):
                raw_values[setting.key] = _words_added(trust, setting, raw_values[setting.key])
        try:
            change = set_school_overrides(
                session, school=school, raw_values=raw_values, actor=signed_in.staff
            )
        except SchoolPolicyRefusedError as refused:
            session.rollback()
            return _form_page(context, signed_in, school, submitted, refused.problems, None)
        session.commit()
    outcome = "changed" if change.changed else "unchanged"
    return RedirectResponse(f"/admin/schools/{school_id}/policy?saved={outcome}", status_code=303)


def _words_added(trust: TrustPolicy, setting: WordListSetting, raw: str) -> str:
    """The school's list as the words it adds to the trust's, which always apply anyway. A list
    that adds nothing is sent as the trust's own, so that nothing is stored and no change is
    recorded."""
    try:
        words = setting.parse(raw)
    except SettingValueError:
        return raw  # refused when saved, with the reason shown beside the field
    trust_words = trust.value(setting)
    added = [word for word in words if word not in trust_words]
    return "\n".join(added or trust_words)


def _editable_settings() -> list[Setting[Any]]:
    return [setting for setting in SETTINGS if not setting.fixed]


def _form_page(
    context: WebContext,
    signed_in: SignedIn,
    school: School,
    submitted: Mapping[str, str],
    problems: Mapping[str, str],
    saved: str | None,
) -> Response:
    trust = trust_policy(school.trust)
    policy = school_policy(school)
    fields = [
        _field(trust, policy, setting, submitted.get(setting.key), problems.get(setting.key))
        for setting in _editable_settings()
    ]
    fixed = [resolved for resolved in policy if resolved.setting.fixed]
    return context.renderer.page(
        "school_policy.html",
        page_context(
            signed_in,
            f"Policy for {school.name}",
            school=school,
            fields=fields,
            fixed=fixed,
            saved=saved,
            refused_summary=REFUSED_SUMMARY if problems else None,
            csrf_token=signed_in.csrf_token,
        ),
    )


def _field(
    trust: TrustPolicy,
    policy: EffectivePolicy,
    setting: Setting[Any],
    submitted: str | None,
    error: str | None,
) -> PolicyField:
    resolved: ResolvedSetting[Any] = policy.explain(setting)
    trust_value = trust.value(setting)
    if isinstance(setting, WordListSetting):
        return _word_list_field(setting, trust_value, resolved, submitted, error)
    school_value = _as_form_value(setting, resolved.value)
    options = tuple(
        Option(_as_form_value(setting, value), _option_label(setting, value))
        for value in _candidate_values(setting)
        if check_school_override(trust, setting, value).allowed
    )
    minimum, maximum = _number_bounds(trust, setting)
    return PolicyField(
        setting=setting,
        trust_value=setting.describe(trust_value),
        trust_locked=trust.is_locked(setting),
        school_value=school_value,
        note=resolved.note,
        options=options,
        minimum=minimum,
        maximum=maximum,
        submitted=submitted if submitted is not None else school_value,
        error=error,
    )


def _word_list_field(
    setting: WordListSetting,
    trust_words: tuple[str, ...],
    resolved: ResolvedSetting[tuple[str, ...]],
    submitted: str | None,
    error: str | None,
) -> PolicyField:
    """The school's own words in a text box, one on each line; the trust's are named in the hint,
    since they apply whatever the school types."""
    own = "\n".join(word for word in resolved.value if word not in trust_words)
    return PolicyField(
        setting=setting,
        trust_value=", ".join(trust_words) or "none",
        trust_locked=False,  # the trust's words always apply; a lock changes nothing for a list
        school_value=own,
        note=resolved.note,
        options=(),
        minimum=None,
        maximum=None,
        submitted=submitted if submitted is not None else own,
        error=error,
    )


def _candidate_values(setting: Setting[Any]) -> list[Any]:
    """Every value to offer in a list, or none for a number box."""
    if isinstance(setting, BoolSetting):
        return [setting.strict_value, not setting.strict_value]
    if isinstance(setting, ChoiceSetting):
        return list(setting.strictest_first)
    if isinstance(setting, IntSetting) and setting.unit == "year group":
        return list(range(setting.minimum, setting.maximum + 1))
    return []


def _option_label(setting: Setting[Any], value: Any) -> str:
    if isinstance(setting, IntSetting) and setting.unit == "year group" and value > YEAR_13:
        return "every year group"
    return setting.describe(value)


def _number_bounds(trust: TrustPolicy, setting: Setting[Any]) -> tuple[int | None, int | None]:
    if not isinstance(setting, IntSetting):
        return None, None
    if not trust.is_locked(setting):
        return setting.minimum, setting.maximum
    trust_value = trust.value(setting)
    if setting.higher_is_stricter is None:
        return trust_value, trust_value
    if setting.higher_is_stricter:
        return trust_value, setting.maximum
    return setting.minimum, trust_value


def _as_form_value(setting: Setting[Any], value: Any) -> str:
    stored = setting.to_json(value)
    if isinstance(stored, bool):
        return "on" if stored else "off"
    return str(stored)
