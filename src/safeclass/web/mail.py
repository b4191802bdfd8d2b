"""Sending email through the school's own mail server (SMTP), when one is configured.

SafeClass sends mail only to the server named by SAFECLASS_SMTP_HOST (docs/consent.md), with
STARTTLS unless SAFECLASS_SMTP_STARTTLS=0. Without a mail server nothing is sent: the messages
are kept for the school's outbox page instead (`web.pages.consent`).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from safeclass.config import Config

SMTP_TIMEOUT_SECONDS = 20


class Mailer(Protocol):
    def send(self, messages: Sequence[EmailMessage]) -> list[str | None]:
        """Send each message; for each, None when the server took it, or why it did not."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    starttls: bool
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_config(cls, config: Config) -> SmtpMailer | None:
        if not config.smtp_host:
            return None
        return cls(
            host=config.smtp_host,
            port=config.smtp_port,
            sender=config.smtp_from,
            starttls=config.smtp_starttls,
            user=config.smtp_user,
            password=config.smtp_password,
        )

    def send(self, messages: Sequence[EmailMessage]) -> list[str | None]:
        """One connection for all the messages. If the server cannot be reached, or refuses the
        sign-in, every message gets that reason."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                return [self._send_one(smtp, message) for message in messages]
        except (OSError, smtplib.SMTPException) as error:
            reason = f"The mail server {self.host}:{self.port} could not be used: {error}"
            return [reason for _ in messages]

    def _send_one(self, smtp: smtplib.SMTP, message: EmailMessage) -> str | None:
        if "From" not in message:
            message["From"] = self.sender
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            return f"The mail server refused the address: {error.recipients}"
        except smtplib.SMTPResponseException as error:
            return f"The mail server refused the message: {error.smtp_code} {error.smtp_error!r}"
        if refused:
            return f"The mail server refused the address: {refused}"
        return None
