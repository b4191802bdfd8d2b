"""A school's own policy values: tighten anything, loosen only what the trust has not locked.

The whole save is checked before anything is stored: if any value is refused, nothing changes and
every refusal comes back with its own plain message. Only values that differ from the trust's are
stored; choosing the trust's value removes the school's override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from safeclass.actions.audit import record_audit
from safeclass.domain.policy import (
    SETTINGS_BY_KEY,
    SettingValueError,
    check_school_override,
    parse_overrides,
    resolve,
)
from safeclass.store.models import School, StaffMember
from safeclass.store.queries import trust_policy

AUDIT_ACTION = "school_policy_changed"


class SchoolPolicyRefusedError(ValueError):
    """At least one value was refused; `problems` maps each refused setting key to why."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class SchoolPolicyChange:
    """The settings whose stored school value changed: key -> (before, after) as in force."""

    changes: Mapping[str, tuple[Any, Any]]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def set_school_overrides(
    session: Session, *, school: School, raw_values: Mapping[str, str], actor: StaffMember
) -> SchoolPolicyChange:
    """Check every typed value, then store the school's overrides in one go.

    Settings not named in `raw_values` keep whatever the school has now."""
    trust = trust_policy(school.trust)
    parsed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, raw in raw_values.items():
        setting = SETTINGS_BY_KEY.get(key)
        if setting is None:
            problems[key] = f'There is no setting called "{key}".'
            continue
        try:
            value = setting.parse(raw)
        except SettingValueError as error:
            problems[key] = str(error)
            continue
        decision = check_school_override(trust, setting, value)
        if not decision.allowed:
            problems[key] = decision.message
            continue
        parsed[key] = value
    if problems:
        raise SchoolPolicyRefusedError(problems)

    before_stored = dict(school.policy_overrides)
    after_stored = dict(before_stored)
    for key, value in parsed.items():
        setting = SETTINGS_BY_KEY[key]
        if value == trust.value(setting):
            after_stored.pop(key, None)
        else:
            after_stored[key] = setting.to_json(value)
    changed_keys = sorted(
        key
        for key in set(before_stored) | set(after_stored)
        if before_stored.get(key) != after_stored.get(key)
    )
    if not changed_keys:
        return SchoolPolicyChange({})

    before_policy = resolve(trust, parse_overrides(before_stored)[0])
    after_policy = resolve(trust, parse_overrides(after_stored)[0])
    changes = {
        key: (
            before_policy.resolved[key].value,
            after_policy.resolved[key].value,
        )
        for key in changed_keys
    }
    school.policy_overrides = after_stored
    record_audit(
        session,
        AUDIT_ACTION,
        actor=actor,
        school_id=school.id,
        data={
            "changes": {
                key: {
                    "before": SETTINGS_BY_KEY[key].to_json(before),
                    "after": SETTINGS_BY_KEY[key].to_json(after),
                }
                for key, (before, after) in changes.items()
            }
        },
    )
    return SchoolPolicyChange(changes)
