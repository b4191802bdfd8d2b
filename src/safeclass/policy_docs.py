"""docs/policy.md, written from the settings registry so the page and the code cannot disagree.

Regenerate with: .venv/bin/python -m safeclass.policy_docs > docs/policy.md
"""

from __future__ import annotations

import sys
from typing import Any

from safeclass.domain.policy import SETTINGS, Setting, WordListSetting

REGENERATE = ".venv/bin/python -m safeclass.policy_docs > docs/policy.md"

_INTRO = """\
# Policy settings

<!-- Written by src/safeclass/policy_docs.py from the settings in
src/safeclass/domain/policy.py. Do not edit by hand: run `{regenerate}`. -->

SafeClass carries out the trust's live-teaching policy (and the NSPCC advice it quotes) as
settings that the server enforces. Each setting names the part of the policy it carries out.

## How a value is decided

A value is set at three levels, each on top of the one before:

1. **Trust.** The trust's defaults come from its policy. A trust admin may change any setting that
   is not fixed, and may **lock** a setting so that schools cannot loosen it.
2. **School.** A school admin may make any setting **stricter** than the trust's value. A school
   may make a setting **looser** only where the trust has not locked it.
3. **Lesson.** Some settings can also be chosen for one lesson when it is booked. A lesson may only
   make a setting **stricter** than the school's value, never looser.

A few settings are **fixed**: they carry the policy's core promises, and nobody can change them:
not the trust, not a school, not a lesson:

{fixed}

Some settings have no stricter direction (how long records are kept, for example). A school may
change one of those only if the trust has not locked it, and a lock then holds it both ways.

Word lists ({word_lists})
work differently: each level **adds** its words to the list below it. The trust's words always
apply; a school may add its own at any time, since more words only make chat stricter, and it can
never remove the trust's. So a trust's lock changes nothing for a word list.

## When a stored value breaks a rule

The rules are checked twice: when someone changes a value, and again every time SafeClass works
out the value in force. So a value that was allowed when it was saved, but breaks a rule now (a
school's value stored before the trust locked the setting, or a lesson's option stored before the
school tightened it), is **ignored**: the value from the level below stays in force, and the
setting carries a note saying which value was not used and why. The admin pages show that note.
A stored value that is no longer valid at all (an unknown setting, a value of the wrong kind or out
of range) is left out, so it never breaks the rest of the policy.
"""


def render_policy_markdown() -> str:
    """The whole of docs/policy.md."""
    fixed = "\n".join(
        f"- {setting.title}: {_default_words(setting)}" for setting in SETTINGS if setting.fixed
    )
    word_lists = ", ".join(
        f"**{setting.title}**" for setting in SETTINGS if isinstance(setting, WordListSetting)
    )
    parts = [
        _INTRO.format(regenerate=REGENERATE, fixed=fixed, word_lists=word_lists),
        _summary_table(),
        "## Each setting\n",
    ]
    parts.extend(_section(setting) for setting in SETTINGS)
    return "\n".join(parts)


def _summary_table() -> str:
    rows = [
        "## All settings at a glance\n",
        "| Setting | Key | Trust default | Locked by default | Fixed | Lesson option |",
        "|---|---|---|---|---|---|",
    ]
    rows.extend(
        f"| {_cell(setting.title)} | `{setting.key}` | {_cell(_default_words(setting))} "
        f"| {_yes_no(_locked(setting))} | {_yes_no(setting.fixed)} "
        f"| {_yes_no(setting.lesson_option)} |"
        for setting in SETTINGS
    )
    return "\n".join(rows) + "\n"


def _section(setting: Setting[Any]) -> str:
    lines = [
        f"### {setting.title}",
        "",
        setting.description,
        "",
        f"- Key: `{setting.key}`",
        f"- Trust default: {_default_words(setting)}",
        f"- Locked by the trust by default: {_yes_no(_locked(setting))}",
        f"- Fixed: {_yes_no(setting.fixed)}",
        f"- Can be chosen for one lesson: {_yes_no(setting.lesson_option)}",
        f"- Which way is stricter: {setting.stricter_direction()}",
        f"- Policy: {setting.clause}",
    ]
    if isinstance(setting, WordListSetting):
        lines.append(
            f"- What it may hold: up to {setting.max_words} words or phrases, one on each line, "
            f"each up to {setting.max_length} characters of letters, numbers, spaces, "
            "apostrophes and hyphens, with at least two letters. Kept in lower case, without "
            "repeats, in alphabetical order."
        )
    lines.append("- Who may change it:")
    lines.extend(f"  - {who}" for who in _who_may_change(setting))
    return "\n".join(lines) + "\n"


def _who_may_change(setting: Setting[Any]) -> list[str]:
    if setting.fixed:
        return ["Nobody. SafeClass always keeps this rule."]
    has_direction = setting.rank(setting.default) is not None
    trust = "Trust admin: any value, and may lock or unlock it for schools."
    if isinstance(setting, WordListSetting):
        trust = "Trust admin: any value; the trust's words apply in every school."
        school = (
            "School admin: may add the school's own words at any time, locked or not (more "
            "words only make chat stricter), and can never remove the trust's words."
        )
    elif not has_direction:
        school = (
            "School admin: only if the trust unlocks it (it is locked by default)."
            if setting.trust_locked
            else "School admin: any value, unless the trust locks it."
        )
    elif setting.trust_locked:
        school = (
            "School admin: stricter only, while the trust keeps it locked (it is locked by "
            "default); looser too if the trust unlocks it."
        )
    else:
        school = "School admin: stricter, or looser unless the trust locks it."
    lesson = (
        "Lesson host: stricter than the school's value for one lesson, never looser."
        if setting.lesson_option
        else "Lesson host: cannot change it; it is set for the whole school."
    )
    return [trust, school, lesson]


def _default_words(setting: Setting[Any]) -> str:
    return setting.describe(setting.default)


def _locked(setting: Setting[Any]) -> bool:
    return setting.trust_locked or setting.fixed


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(render_policy_markdown())
