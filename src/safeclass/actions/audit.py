"""Audit entries for changes made outside lessons. Written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from safeclass.store.models import AuditEntry, StaffMember


def record_audit(
    session: Session,
    action: str,
    *,
    actor: StaffMember | None,
    school_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_staff_id=actor.id if actor is not None else None,
        school_id=school_id,
        action=action,
        data=data or {},
    )
    session.add(entry)
    return entry
