"""The `safeclass` command, run as a school IT admin would run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from safeclass.cli import app
from safeclass.config import Config, ConfigError
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


def test_staff_add_before_the_trust_exists_says_what_to_do_first(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        ["staff", "add", "--email", "it@oak.example", "--name", "Ira", "--role", "trust_admin",
         "--password-stdin"],
        input="a long enough password\n",
    )  # fmt: skip

    assert_clean_failure(result.output, result.exit_code)
    assert "safeclass trust create" in result.output


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


class FakeUvicorn:
    """Stands in for `uvicorn.run`: records what `serve` asked for instead of serving."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, dict[str, object]]] = []

    def __call__(self, app: object, **options: object) -> None:
        self.calls.append((app, options))


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> FakeUvicorn:
    import uvicorn

    fake = FakeUvicorn()
    monkeypatch.setattr(uvicorn, "run", fake)
    return fake


def test_serve_upgrades_the_database_and_runs_the_web_app(
    runner: CliRunner, uvicorn_run: FakeUvicorn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFECLASS_PORT", "8123")

    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 0, result.output
    [(web_app, options)] = uvicorn_run.calls
    assert (options["host"], options["port"]) == ("127.0.0.1", 8123)
    assert web_app.__class__.__name__ == "FastAPI"
    assert (tmp_path / "data" / "safeclass.db").exists()


def test_serve_believes_forwarded_headers_only_from_this_machine_by_default(
    runner: CliRunner, uvicorn_run: FakeUvicorn
) -> None:
    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 0, result.output
    [(_, options)] = uvicorn_run.calls
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("setting", "proxy_headers", "allowed"),
    [
        ("10.0.0.5", True, ["10.0.0.5"]),
        (" 10.0.0.5 , 192.168.4.7/24,::1", True, ["10.0.0.5", "192.168.4.0/24", "::1"]),
        ("", False, []),
    ],
)
def test_serve_passes_the_trusted_proxies_to_uvicorn(
    runner: CliRunner,
    uvicorn_run: FakeUvicorn,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    proxy_headers: bool,
    allowed: list[str],
) -> None:
    monkeypatch.setenv("SAFECLASS_TRUSTED_PROXIES", setting)

    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 0, result.output
    [(_, options)] = uvicorn_run.calls
    assert options["proxy_headers"] is proxy_headers
    assert options["forwarded_allow_ips"] == allowed


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SAFECLASS_TRUSTED_PROXIES", "proxy.example.org", "is not an IP address or network"),
        ("SAFECLASS_TRUSTED_PROXIES", "*", "List your proxy's addresses instead"),
        ("SAFECLASS_TIMEZONE", "Europe/Londn", 'Did you mean "Europe/London"?'),
        ("SAFECLASS_PORT", "eighty", "is not a port number"),
        ("SAFECLASS_SECURE_COOKIES", "yes please", "Use 1 (on) or 0 (off)"),
    ],
)
def test_serve_with_a_bad_setting_stops_before_serving(
    runner: CliRunner,
    uvicorn_run: FakeUvicorn,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)

    result = runner.invoke(app, ["serve"])

    assert_clean_failure(result.output, result.exit_code)
    assert f"Error: {variable}: " in result.output
    assert message in result.output
    assert uvicorn_run.calls == []


def test_serve_reports_a_setting_the_web_app_refuses_in_one_line(
    runner: CliRunner, uvicorn_run: FakeUvicorn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safeclass.web.app

    def refuse(config: Config, **options: object) -> None:
        raise ConfigError("SAFECLASS_SSO_ISSUER must be a full https:// address.")

    monkeypatch.setattr(safeclass.web.app, "create_app", refuse)

    result = runner.invoke(app, ["serve"])

    assert_clean_failure(result.output, result.exit_code)
    assert "Error: SAFECLASS_SSO_ISSUER must be a full https:// address." in result.output
    assert uvicorn_run.calls == []


def test_every_command_refuses_a_bad_setting_cleanly(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFECLASS_TIMEZONE", "Mars/Olympus_Mons")

    results = [
        runner.invoke(app, arguments)
        for arguments in (
            ["db", "upgrade"],
            ["trust", "create", "Riverside"],
            ["policy", "show"],
            ["audit", "verify"],
        )
    ]

    for result in results:
        assert_clean_failure(result.output, result.exit_code)
        assert '"Mars/Olympus_Mons" is not a time zone name' in result.output
    assert not (tmp_path / "data" / "safeclass.db").exists()


def test_set_up_commands_refuse_mistakes_in_words(runner: CliRunner) -> None:
    no_trust_yet = runner.invoke(app, ["school", "add", "Oak Primary School"])
    blank = runner.invoke(app, ["trust", "create", "  "])
    first = runner.invoke(app, ["trust", "create", "Riverside Learning Trust"])
    second = runner.invoke(app, ["trust", "create", "Another Trust"])
    oak = runner.invoke(app, ["school", "add", "Oak Primary School", "--slug", "oak"])
    bad_slug = runner.invoke(app, ["school", "add", "Elm", "--slug", "Elm School!"])
    taken = runner.invoke(app, ["school", "add", "Oak Academy", "--slug", "oak"])

    assert first.exit_code == 0, first.output
    assert "Created the trust Riverside Learning Trust" in first.output
    assert oak.exit_code == 0, oak.output
    assert 'short name "oak"' in oak.output
    for refused, words in [
        (no_trust_yet, "Create the trust first"),
        (second, "One server holds one trust"),
        (blank, "Give the trust a name"),
        (bad_slug, "cannot be a short name"),
        (taken, 'already a school with the short name "oak"'),
    ]:
        assert_clean_failure(refused.output, refused.exit_code)
        assert words in refused.output


def test_school_add_makes_a_short_name_from_the_name(runner: CliRunner) -> None:
    runner.invoke(app, ["trust", "create", "Riverside Learning Trust"])

    result = runner.invoke(app, ["school", "add", "St Mary's C of E Primary"])

    assert result.exit_code == 0, result.output
    assert 'short name "st-marys-c-of-e-primary"' in result.output
    assert "safeclass staff add --school st-marys-c-of-e-primary" in result.output


def test_commands_quoted_in_messages_are_never_broken_across_lines(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A narrow terminal wraps the line itself, so what the reader copies is the whole command."""
    monkeypatch.setenv("COLUMNS", "40")

    runner.invoke(app, ["trust", "create", "Riverside Learning Trust"])
    added = runner.invoke(app, ["school", "add", "St Mary's C of E Primary"])
    again = runner.invoke(app, ["trust", "create", "Another Trust"])

    assert "`safeclass staff add --school st-marys-c-of-e-primary`" in added.output
    assert "`safeclass school add`" in again.output
