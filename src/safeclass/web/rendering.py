"""Jinja2 pages, autoescaped, rendered into plain HTML responses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from safeclass.domain.year_groups import describe_year_group
from safeclass.web import wording

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def make_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        {
            "when": wording.format_when,
            "clock": wording.format_time,
            "year_group": describe_year_group,
            "consent": wording.consent_words,
            "level": wording.level_words,
            "role": wording.role_words,
            "lesson_role": wording.lesson_staff_role_words,
            "lock": wording.lock_words,
        }
    )
    return environment


class Renderer:
    def __init__(self, environment: jinja2.Environment | None = None) -> None:
        self.environment = environment or make_environment()

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.environment.get_template(name).render(context)

    def page(
        self,
        name: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        return HTMLResponse(
            self.render(name, context), status_code=status_code, headers=dict(headers or {})
        )

    def message(
        self,
        title: str,
        message: str,
        *,
        status_code: int,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """A plain page with one message: errors, refusals, limits."""
        return self.page(
            "message.html",
            {"title": title, "message": message, "signed_in": None},
            status_code=status_code,
            headers=headers,
        )
