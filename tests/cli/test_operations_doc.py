"""docs/operations.md, followed to the letter on an empty server: every `safeclass` command it
shows runs as written, and the staff it adds can then sign in."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from typer.testing import CliRunner

from safeclass.cli import app
from safeclass.config import Config
from safeclass.store.db import make_engine, make_session_factory
from safeclass.store.models import Pupil, School, StaffMember, StaffRole, Trust
from safeclass.web.app import create_app
from tests.web.helpers import TestClient, sign_in

ROOT = Path(__file__).parent.parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
PROGRAM = ".venv/bin/safeclass"
PASSWORD = "a long enough password"


def documented_commands() -> list[tuple[dict[str, str], list[str]]]:
    """Each `.venv/bin/safeclass ...` line of the doc's code blocks, in order, as (environment
    settings written before it, arguments)."""
    text = OPERATIONS.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^```\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if PROGRAM not in words:
                continue
            at = words.index(PROGRAM)
            settings = dict(word.split("=", 1) for word in words[:at])
            commands.append((settings, words[at + 1 :]))
    return commands


@pytest.fixture
def server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[CliRunner, list[dict[str, object]]]:
    """A fresh clone's folder: no database yet, the roster file beside it, uvicorn held back."""
    import uvicorn

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SAFECLASS_DATA_DIR", raising=False)
    monkeypatch.delenv("SAFECLASS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    shutil.copy(ROOT / "tests" / "fixtures" / "roster_good.csv", tmp_path / "pupils.csv")
    served: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(options))
    return CliRunner(), served


def _staff(session: Session) -> dict[str, set[tuple[StaffRole, str | None]]]:
    members = session.scalars(select(StaffMember).options(selectinload(StaffMember.roles))).all()
    return {
        member.email: {
            (grant.role, grant.school.slug if grant.school else None) for grant in member.roles
        }
        for member in members
    }


def test_the_set_up_steps_work_as_written(
    server: tuple[CliRunner, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, served = server
    commands = documented_commands()
    assert [arguments[:2] for _, arguments in commands[:6]] == [
        ["trust", "create"],
        ["school", "add"],
        ["staff", "add"],
        ["staff", "add"],
        ["import", "roster"],
        ["serve"],
    ]

    for settings, arguments in commands:
        with monkeypatch.context() as patch:
            for name, value in settings.items():
                patch.setenv(name, value)
            # The doc's `staff add` asks for the password twice, as a person would type it.
            typed = f"{PASSWORD}\n{PASSWORD}\n" if arguments[:2] == ["staff", "add"] else None
            result = runner.invoke(app, arguments, input=typed)
        assert result.exit_code == 0, f"{shlex.join(arguments)}:\n{result.output}"
        assert "Error" not in result.output

    # Every command ran from the clone's folder, so the data went to ./var.
    engine = make_engine(f"sqlite:///{Path.cwd() / 'var' / 'safeclass.db'}")
    try:
        with make_session_factory(engine)() as session:
            assert session.scalars(select(Trust.name)).all() == ["Riverside Learning Trust"]
            assert session.scalars(select(School.slug)).all() == ["oak"]
            assert _staff(session) == {
                "it@riverside.example": {(StaffRole.TRUST_ADMIN, None)},
                "head@oak.example": {
                    (StaffRole.SCHOOL_ADMIN, "oak"),
                    (StaffRole.SAFEGUARDING_LEAD, "oak"),
                },
            }
            assert len(session.scalars(select(Pupil.id)).all()) == 4
    finally:
        engine.dispose()
    assert len(served) == 2
    assert served[-1]["proxy_headers"] is True
    assert served[-1]["forwarded_allow_ips"] == ["127.0.0.1"]

    # The people the doc added can sign in with the password they were given.
    config = Config.from_env()
    with TestClient(create_app(config), follow_redirects=False) as client:
        sign_in(client, "it@riverside.example", PASSWORD)
        assert "Oak Primary School" in client.get("/admin").text
    with TestClient(create_app(config), follow_redirects=False) as client:
        sign_in(client, "head@oak.example", PASSWORD)


def test_the_commands_the_doc_names_in_passing_work(
    server: tuple[CliRunner, list[dict[str, object]]],
) -> None:
    runner, _ = server
    text = OPERATIONS.read_text(encoding="utf-8")
    for named in (
        "`staff set-password --email E`",
        "`policy show --school oak`",
        "`.venv/bin/safeclass audit verify`",
        "(`--lesson N` for one)",
    ):
        assert named in text
    runner.invoke(app, ["trust", "create", "Riverside Learning Trust"])
    runner.invoke(app, ["school", "add", "Oak Primary School", "--slug", "oak"])
    runner.invoke(
        app,
        ["staff", "add", "--email", "it@riverside.example", "--name", "Ira Tech", "--role",
         "trust_admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
    )  # fmt: skip

    results = [
        runner.invoke(
            app,
            ["staff", "set-password", "--email", "it@riverside.example"],
            input="a brand new password\na brand new password\n",
        ),
        runner.invoke(app, ["policy", "show", "--school", "oak"]),
        runner.invoke(app, ["audit", "verify"]),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
    assert "Policy for Oak Primary School" in results[1].output
    assert "No lesson has a record yet." in results[2].output
    unknown_lesson = runner.invoke(app, ["audit", "verify", "--lesson", "1"])
    assert unknown_lesson.exit_code == 0, unknown_lesson.output
    assert "Lesson 1: no record yet." in unknown_lesson.output
