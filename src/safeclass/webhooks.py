"""The optional outgoing webhook: a signed message to the school's safeguarding system (CPOMS,
MyConcern and the like, or the trust's own) when an incident is opened or changes state.

Set both or neither (docs/incidents.md):

SAFECLASS_INCIDENT_WEBHOOK_URL     where to POST (https; plain http only to this machine)
SAFECLASS_INCIDENT_WEBHOOK_SECRET  the shared secret, at least 32 characters

The messages go through an outbox: the action that changes an incident writes a
`WebhookDelivery` row in its own transaction, and `IncidentWebhook`, a task of the web app, sends
rows once they are committed, never inside a lesson's lock or a page's request. A failed attempt
(no answer within `TIMEOUT_SECONDS`, or any answer but 2xx) is retried after each of `RETRY_DELAYS`,
then given up; every failure is logged, and admins see each message's state on the webhook page.

Each message is JSON, signed with HMAC-SHA256 over `"<timestamp>." + body` with the secret: the
headers `X-SafeClass-Timestamp` (Unix seconds) and `X-SafeClass-Signature: sha256=<hex>`. The
receiver checks the signature (`verify_signature` shows how) and refuses old timestamps, so a
copied message cannot be replayed. The body holds ids, categories and times, and the pupil's
number in the school's own records (MIS id): no names, no words of the incident, no chat; the
safeguarding system's user follows `path` to read the incident in SafeClass, signed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.config import ConfigError
from safeclass.store.models import Incident, Pupil, WebhookDelivery
from safeclass.timeutil import utc_now

log = logging.getLogger(__name__)

URL_VARIABLE = "SAFECLASS_INCIDENT_WEBHOOK_URL"
SECRET_VARIABLE = "SAFECLASS_INCIDENT_WEBHOOK_SECRET"  # noqa: S105 - its name, not a secret
MIN_SECRET_LENGTH = 32
TIMEOUT_SECONDS = 10.0
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
POLL_SECONDS = 5.0
BATCH = 20
TIMESTAMP_HEADER = "X-SafeClass-Timestamp"
SIGNATURE_HEADER = "X-SafeClass-Signature"
DELIVERY_HEADER = "X-SafeClass-Delivery"
MAX_AGE_SECONDS = 300
_LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings | None:
        """The settings, None when neither is set. Raises ConfigError for a half or bad setup."""
        env = os.environ if environ is None else environ
        url = env.get(URL_VARIABLE, "").strip()
        secret = env.get(SECRET_VARIABLE, "").strip()
        if not url and not secret:
            return None
        if not url or not secret:
            raise ConfigError(
                f"{URL_VARIABLE} and {SECRET_VARIABLE} go together: set both to send incidents "
                "to the school's safeguarding system, or neither."
            )
        check_url(url)
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{SECRET_VARIABLE}: use at least {MIN_SECRET_LENGTH} random characters "
                "(for example the output of `openssl rand -hex 32`)."
            )
        return cls(url, secret.encode())


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ConfigError(
        f'{URL_VARIABLE}: "{url}" must be an https:// address (plain http:// only to this '
        "machine), so that incidents never cross a network unencrypted."
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- Signing --------------------------------------------------------------------------------------


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, header: str, *, now: float | None = None
) -> bool:
    """What a receiver does: the signature matches, and the message is recent."""
    if not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


# --- Queueing (in the transaction that changed the incident) --------------------------------------


def incident_payload(session: Session, incident: Incident, event: str) -> dict[str, Any]:
    """What the school's system is told: no names, no words of the incident, no chat."""
    pupils: list[dict[str, str]] = []
    if incident.about_role == "pupil" and (incident.about_ref or "").isdigit():
        pupil = session.get(Pupil, int(incident.about_ref or "0"))
        if pupil is not None and pupil.school_id == incident.school_id:
            pupils.append({"mis_id": pupil.mis_id})
    return {
        "event": event,
        "incident": {
            "id": incident.id,
            "school_id": incident.school_id,
            "lesson_id": incident.lesson_id,
            "source": incident.source.value,
            "category": incident.category,
            "state": incident.state.value,
            "occurred_at": incident.occurred_at.isoformat(),
            "opened_at": incident.opened_at.isoformat(),
            "pupils": pupils,
            "path": f"/admin/incidents/{incident.id}",
        },
    }


def queue_incident_message(
    session: Session, incident: Incident, event: str, settings: WebhookSettings | None
) -> WebhookDelivery | None:
    """Queue a message for the school's system (nothing when no webhook is set up)."""
    if settings is None:
        return None
    now = utc_now()
    delivery = WebhookDelivery(
        incident_id=incident.id,
        school_id=incident.school_id,
        event=event,
        payload=incident_payload(session, incident, event),
        created_at=now,
        attempts=0,
        next_attempt_at=now,
        last_error="",
    )
    session.add(delivery)
    return delivery


def deliveries_for(
    session: Session, school_ids: set[int], limit: int = 100
) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.school_id.in_(school_ids))
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def delivery_state(delivery: WebhookDelivery) -> str:
    if delivery.delivered_at is not None:
        return "delivered"
    if delivery.gave_up_at is not None:
        return "failed"
    return "waiting" if delivery.attempts == 0 else "retrying"


# --- Sending (after commit, outside any lesson) ---------------------------------------------------


class IncidentWebhook:
    """Sends queued messages, oldest first, with growing pauses between attempts."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: WebhookSettings,
        *,
        retry_delays: Sequence[timedelta] = RETRY_DELAYS,
        poll_seconds: float = POLL_SECONDS,
        timeout_seconds: float = TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self._session_factory = session_factory
        self._retry_delays = tuple(retry_delays)
        self._poll_seconds = poll_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._wake), name="incident-webhook")

    async def stop(self) -> None:
        """Let a message being sent finish (and be recorded), then stop. A message cut off by a
        hard stop is sent again at the next start: receivers dedupe on `delivery_id`."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.wake()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._timeout + 1)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Look for new messages now (a page calls this after committing; from any thread)."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self, wake: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            while not self._stopping:
                try:
                    await self.send_due(client)
                except Exception:
                    log.exception("incident webhook: sending failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll_seconds)
                wake.clear()

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """Send every message that is due; returns how many were tried."""
        due = await asyncio.to_thread(self._due)
        for delivery_id, payload in due:
            if self._stopping:
                break
            error = await self._post(client, delivery_id, payload)
            await asyncio.to_thread(self._record, delivery_id, error)
        return len(due)

    def _due(self) -> list[tuple[int, dict[str, Any]]]:
        with self._session_factory() as session:
            rows = session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.delivered_at.is_(None),
                    WebhookDelivery.next_attempt_at.is_not(None),
                    WebhookDelivery.next_attempt_at <= self._clock(),
                )
                .order_by(WebhookDelivery.id)
                .limit(BATCH)
            )
            return [(row.id, dict(row.payload)) for row in rows]

    async def _post(
        self, client: httpx.AsyncClient, delivery_id: int, payload: dict[str, Any]
    ) -> str | None:
        """None when delivered, else what went wrong (for the log and the admin's page)."""
        body = json.dumps(
            {**payload, "delivery_id": delivery_id}, separators=(",", ":"), sort_keys=True
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.settings.secret, timestamp, body),
            DELIVERY_HEADER: str(delivery_id),
            "User-Agent": "SafeClass incident webhook",
        }
        try:
            response = await client.post(self.settings.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"[:500] or type(error).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"The safeguarding system answered {response.status_code}."

    def _record(self, delivery_id: int, error: str | None) -> None:
        now = self._clock()
        with self._session_factory() as session:
            delivery = session.get_one(WebhookDelivery, delivery_id)
            delivery.attempts += 1
            if error is None:
                delivery.delivered_at = now
                delivery.next_attempt_at = None
                delivery.last_error = ""
            elif delivery.attempts > len(self._retry_delays):
                delivery.next_attempt_at = None
                delivery.gave_up_at = now
                delivery.last_error = error
                log.error(
                    "incident webhook: gave up on message %s after %s attempts: %s",
                    delivery_id,
                    delivery.attempts,
                    error,
                )
            else:
                delivery.next_attempt_at = now + self._retry_delays[delivery.attempts - 1]
                delivery.last_error = error
                log.warning(
                    "incident webhook: message %s failed (attempt %s), retrying at %s: %s",
                    delivery_id,
                    delivery.attempts,
                    delivery.next_attempt_at.isoformat(),
                    error,
                )
            session.commit()
