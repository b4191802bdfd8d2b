"""docs/policy.md is generated from the settings registry and must stay in step with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from safeclass.domain.policy import SETTINGS, Setting
from safeclass.policy_docs import REGENERATE, render_policy_markdown
from tests.domain.expected_policy import EXPECTED_BY_KEY

POLICY_MD = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


def test_docs_policy_md_matches_the_settings() -> None:
    assert POLICY_MD.read_text(encoding="utf-8") == render_policy_markdown(), (
        f"docs/policy.md is out of date with the settings. Regenerate it with: {REGENERATE}"
    )


def test_regenerate_command_prints_the_page() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "safeclass.policy_docs"],
        capture_output=True,
        check=True,
        text=True,
        encoding="utf-8",
    ).stdout

    assert printed == render_policy_markdown()
    assert REGENERATE == ".venv/bin/python -m safeclass.policy_docs > docs/policy.md"


def test_page_explains_the_three_levels_and_ignored_overrides() -> None:
    page = render_policy_markdown()

    for words in (
        "1. **Trust.**",
        "2. **School.**",
        "3. **Lesson.**",
        "may make any setting **stricter**",
        "**looser** only where the trust has not locked it",
        "A lesson may only\n   make a setting **stricter**",
        "**fixed**",
        "nobody can change them",
        "## When a stored value breaks a rule",
        "is **ignored**",
        "carries a note",
    ):
        assert words in page


def _section(key: str) -> str:
    page = render_policy_markdown()
    start = page.index(f"- Key: `{key}`")
    start = page.rindex("### ", 0, start)
    end = page.find("\n### ", start + 1)
    return page[start : end if end != -1 else len(page)]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.key)
def test_every_setting_has_a_section_that_says_who_may_change_it(setting: Setting[Any]) -> None:
    key = setting.key
    expected = EXPECTED_BY_KEY[key]
    section = _section(key)
    yes_no = {True: "yes", False: "no"}

    assert f"- Locked by the trust by default: {yes_no[expected.locked]}" in section
    assert f"- Fixed: {yes_no[expected.fixed]}" in section
    assert f"- Can be chosen for one lesson: {yes_no[expected.lesson_option]}" in section
    assert "- Trust default: " in section
    assert "- Which way is stricter: " in section
    assert "- Policy: " in section
    if expected.fixed:
        assert "Nobody." in section
        assert "Trust admin" not in section
        return
    assert "Trust admin: any value" in section
    if expected.locked:
        assert "School admin: stricter only, while the trust keeps it locked" in section
    else:
        assert "School admin: " in section
        assert "stricter only" not in section
    if expected.lesson_option:
        assert "Lesson host: stricter than the school's value for one lesson" in section
    else:
        assert "Lesson host: cannot change it" in section


@pytest.mark.parametrize(
    ("key", "default_words"),
    [
        ("consent_required_live", "required"),
        ("waiting_room", "always on"),
        ("pupil_private_messages", "never"),
        ("recording_allowed", "not allowed"),
        ("pupils_join_muted", "yes"),
        ("pupils_join_camera_off", "yes"),
        ("pupil_video_visibility", "staff only"),
        ("min_pupils_without_second_staff", "2 pupils"),
        ("parent_mediated_below_year", "Year 3"),
        ("retention_incidents_days", "25 years"),
    ],
)
def test_trust_defaults_are_written_in_words(key: str, default_words: str) -> None:
    assert f"- Trust default: {default_words}\n" in _section(key)
