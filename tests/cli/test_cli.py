"""The `safeclass` command, run as a school IT admin would run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from safeclass.cli import app
from safeclass.config import Config
from safeclass.passwords import verify_password
from safeclass.store.db import make_engine, make_session_factory
from safeclass.store.models import Lesson, Pupil, School, StaffMember

FIXTURES = Path(__file__).parent.parent / "fixtures"
PRIMARY = "kestrel-valley-primary"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SAFECLASS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SAFECLASS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


@pytest.fixture
def demo(runner: CliRunner) -> CliRunner:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    return runner


def count_pupils() -> int:
    engine = make_engine(Config.from_env().database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(Pupil)) or 0
    finally:
        engine.dispose()


def assert_clean_failure(output: str, exit_code: int) -> None:
    assert exit_code == 1
    assert "Error: " in output
    assert "Traceback" not in output


def test_db_upgrade(runner: CliRunner) -> None:
    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 0
    assert "up to date" in result.output


def test_demo_prints_where_to_go_and_the_accounts(runner: CliRunner) -> None:
    result = runner.invoke(app, ["demo"])

    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000/signin" in result.output
    # Whatever the terminal's width, each email and its password are printed whole, on one line.
    line = next(line for line in result.output.splitlines() if "priya.shah@" in line)
    assert "priya.shah@kestrel-valley.example" in line
    assert "priya-demo-2026" in line
    assert "Designated" in result.output


def test_demo_if_empty_succeeds_quietly_and_still_prints_the_accounts(demo: CliRunner) -> None:
    pupils = count_pupils()

    again = demo.invoke(app, ["demo", "--if-empty"])
    plain = demo.invoke(app, ["demo"])

    assert again.exit_code == 0
    assert "not loaded" not in again.output
    assert "grace-demo-2026" in again.output
    assert plain.exit_code == 1
    assert "the demo was not loaded" in plain.output
    assert "grace-demo-2026" in plain.output
    assert count_pupils() == pupils


def test_policy_show_prints_each_source(demo: CliRunner) -> None:
    engine = make_engine(Config.from_env().database_url)
    with make_session_factory(engine)() as session:
        lesson_id = session.scalar(select(Lesson.id).where(Lesson.options != {}).limit(1))
        secondary = session.scalar(select(School.slug).where(School.slug != PRIMARY))
    engine.dispose()

    school = demo.invoke(app, ["policy", "show", "--school", str(secondary)])
    lesson = demo.invoke(app, ["policy", "show", "--lesson", str(lesson_id)])

    assert school.exit_code == 0, school.output
    assert "Background blur for pupils" in school.output
    assert "│ school │" in school.output
    assert "│ trust  │" in school.output
    assert "fixed" in school.output
    assert "by the trust" in school.output
    assert lesson.exit_code == 0, lesson.output
    assert "│ lesson │" in lesson.output
    assert "Class chat" in lesson.output


def test_policy_show_for_the_trust(demo: CliRunner) -> None:
    result = demo.invoke(app, ["policy", "show"])

    assert result.exit_code == 0
    assert "Policy for Kestrel Valley Learning Trust" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["policy", "show", "--school", "nowhere"], 'There is no school called "nowhere"'),
        (["policy", "show", "--lesson", "9999"], "There is no lesson number 9999"),
        (["policy", "show", "--lesson", "1", "--school", "harrowfield-academy"], "is not at"),
    ],
)
def test_policy_show_with_unknown_names_fails_cleanly(
    demo: CliRunner, arguments: list[str], message: str
) -> None:
    result = demo.invoke(app, arguments)

    assert_clean_failure(result.output, result.exit_code)
    assert message in result.output


def test_policy_show_without_a_trust_fails_cleanly(runner: CliRunner) -> None:
    result = runner.invoke(app, ["policy", "show"])

    assert_clean_failure(result.output, result.exit_code)
    assert "no trust" in result.output


def test_import_roster_prints_counts(demo: CliRunner) -> None:
    before = count_pupils()

    result = demo.invoke(
        app, ["import", "roster", str(FIXTURES / "roster_good.csv"), "--school", PRIMARY]
    )

    assert result.exit_code == 0, result.output
    assert "Pupils added" in result.output
    assert "│ 4 " in result.output
    assert "Date of Birth" in result.output
    assert count_pupils() == before + 4


def test_import_roster_lists_every_bad_row_and_changes_nothing(demo: CliRunner) -> None:
    before = count_pupils()

    result = demo.invoke(
        app, ["import", "roster", str(FIXTURES / "roster_bad.csv"), "--school", PRIMARY]
    )

    assert_clean_failure(result.output, result.exit_code)
    for row in (2, 3, 4, 5, 7):
        assert f"Row {row}, column" in result.output
    assert "Nothing was imported" in result.output
    assert count_pupils() == before


@pytest.mark.parametrize(
    ("file", "school", "message"),
    [
        ("missing.csv", PRIMARY, "Cannot read"),
        ("roster_good.csv", "nowhere", 'There is no school called "nowhere"'),
        ("roster_latin1.csv", PRIMARY, "CSV UTF-8"),
    ],
)
def test_import_roster_bad_input_fails_cleanly(
    demo: CliRunner, file: str, school: str, message: str
) -> None:
    result = demo.invoke(app, ["import", "roster", str(FIXTURES / file), "--school", school])

    assert_clean_failure(result.output, result.exit_code)
    assert message in result.output


def test_staff_add_with_password_from_stdin(demo: CliRunner) -> None:
    result = demo.invoke(
        app,
        [
            "staff", "add", "--email", "New.Teacher@Example.org", "--name", "New Teacher",
            "--role", "teacher", "--role", "safeguarding-lead", "--school", PRIMARY,
            "--password-stdin",
        ],
        input="a long enough password\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Added New Teacher (new.teacher@example.org)" in result.output
    engine = make_engine(Config.from_env().database_url)
    with make_session_factory(engine)() as session:
        member = session.scalars(
            select(StaffMember).where(StaffMember.email == "new.teacher@example.org")
        ).one()
        assert verify_password(member.password_hash, "a long enough password")
        assert len(member.roles) == 2
    engine.dispose()


def test_staff_add_prompts_for_the_password_twice(demo: CliRunner) -> None:
    result = demo.invoke(
        app,
        ["staff", "add", "--email", "ta@example.org", "--name", "T A", "--role",
         "teaching_assistant", "--school", PRIMARY],
        input="another long password\nanother long password\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "another long password" not in result.output


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (
            ["--role", "headteacher", "--school", PRIMARY],
            "long password 1\n",
            'no role "headteacher"',
        ),
        (["--role", "teacher"], "long password 1\n", "say which one"),
        (["--role", "teacher", "--school", "nowhere"], "long password 1\n", "no school called"),
        (["--role", "teacher", "--school", PRIMARY], "short\n", "at least 10 characters"),
    ],
)
def test_staff_add_bad_input_fails_cleanly(
    demo: CliRunner, arguments: list[str], stdin: str, message: str
) -> None:
    base = ["staff", "add", "--email", "x@example.org", "--name", "X", "--password-stdin"]

    result = demo.invoke(app, base + arguments, input=stdin)

    assert_clean_failure(result.output, result.exit_code)
    assert message in result.output


def test_staff_add_refuses_an_email_already_in_use(demo: CliRunner) -> None:
    result = demo.invoke(
        app,
        ["staff", "add", "--email", "PRIYA.SHAH@kestrel-valley.example", "--name", "P",
         "--role", "trust_admin", "--password-stdin"],
        input="long password 1\n",
    )  # fmt: skip

    assert_clean_failure(result.output, result.exit_code)
    assert "already a staff account" in result.output


def test_staff_set_password(demo: CliRunner) -> None:
    result = demo.invoke(
        app,
        ["staff", "set-password", "--email", "tom.whitfield@kestrel-valley.example",
         "--password-stdin"],
        input="a fresh password\n",
    )  # fmt: skip
    unknown = demo.invoke(
        app, ["staff", "set-password", "--email", "nobody@example.org", "--password-stdin"]
    )

    assert result.exit_code == 0, result.output
    assert_clean_failure(unknown.output, unknown.exit_code)


def test_a_database_that_cannot_be_opened_fails_cleanly(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("SAFECLASS_DATABASE_URL", f"sqlite:///{blocker}/db/safeclass.db")

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_sqlite_database_is_in_the_data_folder(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'safeclass.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM trusts")).scalar() == 0
    engine.dispose()


def test_serve_upgrades_the_database_and_runs_the_web_app(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    calls: list[tuple[object, str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, *, host, port: calls.append((app, host, port)))
    monkeypatch.setenv("SAFECLASS_PORT", "8123")

    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 0, result.output
    [(web_app, host, port)] = calls
    assert (host, port) == ("127.0.0.1", 8123)
    assert web_app.__class__.__name__ == "FastAPI"
    assert (tmp_path / "data" / "safeclass.db").exists()


def test_a_new_server_is_set_up_from_nothing(runner: CliRunner) -> None:
    """The steps docs/operations.md gives a school's IT admin, in order."""
    trust = runner.invoke(app, ["trust", "create", "Riverside Learning Trust"])
    school = runner.invoke(app, ["school", "add", "Oak Primary School", "--slug", "oak"])
    admin = runner.invoke(
        app,
        [
            "staff", "add", "--email", "it@oak.example", "--name", "Ira Tech",
            "--role", "trust_admin", "--password-stdin",
        ],
        input="a long enough password\n",
    )  # fmt: skip
    teacher = runner.invoke(
        app,
        [
            "staff", "add", "--email", "t@oak.example", "--name", "Tess Teacher",
            "--role", "teacher", "--school", "oak", "--password-stdin",
        ],
        input="another long password\n",
    )  # fmt: skip

    for result in (trust, school, admin, teacher):
        assert result.exit_code == 0, result.output
    assert 'short name "oak"' in school.output
    again = runner.invoke(app, ["trust", "create", "Another Trust"])
    assert again.exit_code == 1
    assert "already has its trust" in again.output
    bad = runner.invoke(app, ["school", "add", "Elm", "--slug", "Elm School!"])
    assert bad.exit_code == 1
    assert "cannot be a short name" in bad.output
