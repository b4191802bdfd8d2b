"""The `safeclass` command: set up a new server (its trust, schools and first staff), run it,
upgrade the database, load the demo, show the policy, import rosters and check the records.

Mistakes in what a person typed (a bad file, an unknown school or lesson) end with one plain line
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.demo import DemoAccount, load_demo
from safeclass.actions.roster import ImportResult, RosterImportError, import_roster
from safeclass.actions.staff import StaffError, add_staff, normalise_email, set_password
from safeclass.actions.trust import SetupError, add_school, create_trust
from safeclass.config import Config, ConfigError
from safeclass.domain.policy import (
    EffectivePolicy,
    Level,
    SettingValueError,
    WordListSetting,
    parse_overrides,
    resolve,
)
from safeclass.store import event_log
from safeclass.store.db import make_engine, make_session_factory, transaction, upgrade
from safeclass.store.models import Lesson, School, StaffMember, StaffRole, Trust
from safeclass.store.queries import trust_policy

app = typer.Typer(
    help="SafeClass: live online lessons with the school's safeguarding rules built in.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
policy_app = typer.Typer(help="The live-teaching policy.", no_args_is_help=True)
import_app = typer.Typer(help="Import data from the school's MIS.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(import_app, name="import")
app.add_typer(staff_app, name="staff")
audit_app = typer.Typer(help="Check the records.", no_args_is_help=True)
trust_app = typer.Typer(help="The trust this server holds.", no_args_is_help=True)
school_app = typer.Typer(help="The trust's schools.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")
app.add_typer(school_app, name="school")
app.add_typer(audit_app, name="audit")


class UserError(Exception):
    """Something the person running the command can put right. The message says how."""


def _config() -> Config:
    """The settings from the environment; a setting that cannot be used ends the command."""
    try:
        return Config.from_env()
    except ConfigError as error:
        _fail(str(error))


def _out() -> Console:
    return Console(highlight=False)


def _fail(message: str) -> NoReturn:
    # Soft wrap: the terminal wraps long lines, so a command quoted in the message is copied whole.
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text(f"Error: {message}", style="bold red")
    )
    raise typer.Exit(1)


@contextmanager
def _database(config: Config) -> Iterator[sessionmaker[Session]]:
    """The database, brought up to date first (upgrading is quick and safe to repeat)."""
    engine = make_engine(config.database_url)
    try:
        try:
            upgrade(engine)
        except OperationalError as error:
            raise UserError(f"Cannot open the database: {error.orig}") from None
        yield make_session_factory(engine)
    except UserError as error:
        _fail(str(error))
    finally:
        engine.dispose()


def _school(session: Session, slug: str) -> School:
    school = session.scalar(select(School).where(School.slug == slug.strip().lower()))
    if school is not None:
        return school
    known = ", ".join(session.scalars(select(School.slug).order_by(School.slug)))
    hint = f" The schools are: {known}." if known else " There are no schools yet."
    raise UserError(f'There is no school called "{slug}".{hint}')


def _only_trust(session: Session) -> Trust:
    trusts = session.scalars(select(Trust).order_by(Trust.id).limit(2)).all()
    if not trusts:
        raise UserError(
            "There is no trust in the database yet: create it first, with `safeclass trust create "
            '"Your Trust\'s Name"`.'
        )
    if len(trusts) > 1:
        raise UserError("This server holds more than one trust: say which school with --school.")
    return trusts[0]


def _signin_url(config: Config) -> str:
    host = config.host
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - listening everywhere; show a usable address
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.port}/signin"


# --- Commands.


@app.command()
def serve() -> None:
    """Run the web app (SAFECLASS_HOST and SAFECLASS_PORT say where)."""
    # The settings are checked before the web app is loaded: it reads some of them on import.
    config = _config()
    import uvicorn

    # Imported here so the other commands work without loading the web app.
    from safeclass.actions.retention import RUN_EVERY_SECONDS as RETENTION_EVERY_SECONDS
    from safeclass.web.app import create_app

    with _database(config):
        pass
    media_server = None
    if config.media:
        from safeclass.media.janus_config import JanusConfigError, JanusModules
        from safeclass.media.server import MediaServer

        try:
            JanusModules.find(config.janus_binary)  # said here in one line, not in a traceback
        except JanusConfigError as error:
            _fail(f"{error} SAFECLASS_MEDIA=0 runs SafeClass without live audio and video.")
        media_server = MediaServer.from_config(config)
    try:
        # Retention runs inside serve too: at start-up, then every 6 hours.
        web_app = create_app(
            config, media_server=media_server, retention_every=RETENTION_EVERY_SECONDS
        )
    except ConfigError as error:  # settings only the web app can check (single sign-on, say)
        _fail(str(error))
    uvicorn.run(
        web_app,
        host=config.host,
        port=config.port,
        # Behind a reverse proxy (docs/operations.md), the client's address and https come from
        # the proxy's X-Forwarded-For and X-Forwarded-Proto, believed only from these addresses.
        proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=list(config.trusted_proxies),
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database, or bring it up to date."""
    with _database(_config()):
        pass
    _out().print("The database is up to date.")


@app.command()
def demo(
    if_empty: Annotated[
        bool,
        typer.Option(
            "--if-empty",
            help="Do nothing (and succeed) if the database already holds data; still print the "
            "demo accounts.",
        ),
    ] = False,
) -> None:
    """Load a demo trust into an empty database and print the demo accounts."""
    config = _config()
    with _database(config) as factory, transaction(factory) as session:
        summary = load_demo(session)
    out = _out()
    if summary.created:
        out.print(
            f"Loaded the demo trust [bold]{summary.trust_name}[/]: {summary.pupils} pupils, "
            f"{summary.parents} parents and carers, {summary.lessons} lessons today."
        )
    elif not if_empty:
        out.print(
            Text(
                f'The database already holds "{summary.trust_name}", so the demo was not loaded. '
                "The demo loads only into an empty database."
            )
        )
    if summary.accounts:
        out.print(f"\nSign in at [bold]{_signin_url(config)}[/] with one of these accounts:")
        out.print(_accounts_table(summary.accounts))
    if not summary.created and not if_empty:
        raise typer.Exit(1)


def _accounts_table(accounts: Sequence[DemoAccount]) -> Table:
    # Email and password are never cut short or wrapped, however narrow the terminal: they are
    # what the reader has to type. The description wraps instead.
    table = Table(
        Column("Email", no_wrap=True, min_width=max(len(a.email) for a in accounts)),
        Column("Password", no_wrap=True, min_width=max(len(a.password) for a in accounts)),
        Column("Who", overflow="fold"),
    )
    for account in accounts:
        table.add_row(
            account.email,
            account.password,
            f"{account.display_name}: {', '.join(account.roles)} ({', '.join(account.schools)})",
        )
    return table


@policy_app.command("show")
def policy_show(
    school: Annotated[
        str | None, typer.Option("--school", help="The school's short name (slug).")
    ] = None,
    lesson: Annotated[int | None, typer.Option("--lesson", help="A lesson's number.")] = None,
) -> None:
    """Show the policy in force, and where each value comes from."""
    with _database(_config()) as factory, factory() as session:
        try:
            title, policy, problems = _policy_for(session, school, lesson)
        except UserError as error:
            _fail(str(error))
        except SettingValueError as error:
            _fail(f"The trust's stored policy cannot be read: {error}")
    out = _out()
    out.print(Text(title, style="bold"))
    out.print(_policy_table(policy))
    for resolved in policy:
        # The table names the first few words of a long list; the whole list follows it.
        setting = resolved.setting
        if isinstance(setting, WordListSetting) and len(resolved.value) > setting.words_described:
            out.print(Text(f"{setting.title}: {', '.join(resolved.value)}"))
    for problem in problems:
        out.print(Text(f"Note: {problem}"))


def _policy_for(
    session: Session, school_slug: str | None, lesson_id: int | None
) -> tuple[str, EffectivePolicy, list[str]]:
    if lesson_id is not None:
        lesson = session.get(Lesson, lesson_id)
        if lesson is None:
            raise UserError(f"There is no lesson number {lesson_id}.")
        if school_slug is not None and _school(session, school_slug).id != lesson.school_id:
            raise UserError(f"Lesson {lesson_id} is not at {school_slug}.")
        school_overrides, school_problems = parse_overrides(lesson.school.policy_overrides)
        options, option_problems = parse_overrides(lesson.options)
        title = (
            f'Policy for lesson {lesson.id}, "{lesson.title}" ({lesson.class_group.name}, '
            f"{lesson.school.name})"
        )
        policy = resolve(trust_policy(lesson.school.trust), school_overrides, options)
        return title, policy, school_problems + option_problems
    if school_slug is not None:
        school = _school(session, school_slug)
        overrides, problems = parse_overrides(school.policy_overrides)
        policy = resolve(trust_policy(school.trust), overrides)
        return f"Policy for {school.name}", policy, problems
    trust = _only_trust(session)
    return (
        f"Policy for {trust.name} (before any school's changes)",
        resolve(trust_policy(trust)),
        [],
    )


_SOURCE_WORDS = {Level.TRUST: "trust", Level.SCHOOL: "school", Level.LESSON: "lesson"}


def _policy_table(policy: EffectivePolicy) -> Table:
    table = Table("Setting", "Value", "From", "Locked", "Note")
    for resolved in policy:
        setting = resolved.setting
        if setting.fixed:
            locked = "fixed"
        elif resolved.locked:
            locked = "by the trust"
        else:
            locked = "no"
        table.add_row(
            setting.title,
            resolved.describe(),
            _SOURCE_WORDS[resolved.source],
            locked,
            resolved.note or "",
        )
    return table


@import_app.command("roster")
def import_roster_command(
    file: Annotated[Path, typer.Argument(help="The CSV file exported from your MIS.")],
    school: Annotated[str, typer.Option("--school", help="The school's short name (slug).")],
) -> None:
    """Import pupils, classes and parents from a CSV file. Nothing is imported if any row is
    wrong: every problem is listed with its row number."""
    try:
        data = file.read_bytes()
    except OSError as error:
        _fail(f"Cannot read {file}: {error.strerror or error}.")
    with _database(_config()) as factory:
        try:
            with transaction(factory) as session:
                found = _school(session, school)
                school_name = found.name
                result = import_roster(session, school=found, csv_text=data, actor=None)
        except UserError as error:
            _fail(str(error))
        except RosterImportError as refused:
            err = Console(stderr=True, highlight=False)
            for problem in refused.errors:
                err.print(Text(str(problem)))
            count = len(refused.errors)
            _fail(
                f"{count} problem{'s' if count != 1 else ''} found in {file.name}. Nothing was "
                "imported: fix the file and import it again."
            )
    _print_import(school_name, result)


def _print_import(school_name: str, result: ImportResult) -> None:
    out = _out()
    if not result.changed:
        out.print(Text(f"{school_name}'s roster already matches the file: nothing changed."))
    else:
        out.print(Text(f"Imported the roster for {school_name}.", style="bold"))
    table = Table("", "Count")
    table.add_row("Pupils added", str(result.pupils_created))
    table.add_row("Pupils updated", str(result.pupils_updated))
    table.add_row("Pupils unchanged", str(result.pupils_unchanged))
    table.add_row("Parents and carers added", str(result.parents_created))
    table.add_row("Classes added", str(result.classes_created))
    out.print(table)
    if result.ignored_columns:
        out.print(
            Text(
                "These columns were ignored (SafeClass does not keep them): "
                + ", ".join(result.ignored_columns)
            )
        )


def _roles(values: Sequence[str]) -> list[StaffRole]:
    roles = []
    for value in values:
        try:
            roles.append(StaffRole(value.strip().lower().replace("-", "_")))
        except ValueError:
            allowed = ", ".join(role.value for role in StaffRole)
            raise UserError(f'There is no role "{value}". The roles are: {allowed}.') from None
    return roles


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@staff_app.command("add")
def staff_add(
    email: Annotated[
        str, typer.Option("--email", help="Their email address: they sign in with it.")
    ],
    name: Annotated[str, typer.Option("--name", help="Their name, as pupils and staff see it.")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            help="teacher, teaching_assistant, safeguarding_lead, school_admin or trust_admin. "
            "Give --role again for more than one.",
        ),
    ],
    school: Annotated[
        str | None,
        typer.Option("--school", help="The school's short name (slug); not for a trust admin."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a member of staff. You are asked for their password twice (it is not shown)."""
    with _database(_config()) as factory:
        try:
            with transaction(factory) as session:
                roles = _roles(role)
                found = _school(session, school) if school is not None else None
                trust = found.trust if found is not None else _only_trust(session)
                if _email_taken(session, email):
                    raise UserError(f"There is already a staff account for {email.strip()}.")
                password = _read_password(password_stdin)
                member = add_staff(
                    session,
                    trust=trust,
                    email=email,
                    display_name=name,
                    password=password,
                    roles=[
                        (each, None if each is StaffRole.TRUST_ADMIN else found) for each in roles
                    ],
                    actor=None,
                )
                added = f"Added {member.display_name} ({member.email})."
        except (UserError, StaffError) as error:
            _fail(str(error))
    _out().print(Text(added))


@staff_app.command("set-password")
def staff_set_password(
    email: Annotated[str, typer.Option("--email", help="Their email address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a member of staff's password. You are asked for it twice (it is not shown)."""
    with _database(_config()) as factory:
        try:
            with transaction(factory) as session:
                member = session.scalar(
                    select(StaffMember).where(StaffMember.email == normalise_email(email))
                )
                if member is None:
                    raise UserError(f"There is no staff account for {email.strip()}.")
                set_password(
                    session, staff=member, password=_read_password(password_stdin), actor=None
                )
        except (UserError, StaffError) as error:
            _fail(str(error))
    _out().print(Text(f"The password for {normalise_email(email)} is set."))


def _email_taken(session: Session, email: str) -> bool:
    query = select(func.count()).where(StaffMember.email == normalise_email(email))
    return bool(session.scalar(query))


@audit_app.command("verify")
def audit_verify(
    lesson: Annotated[
        int | None, typer.Option("--lesson", help="One lesson's number (default: every lesson).")
    ] = None,
) -> None:
    """Check that lesson records are complete and unchanged since they were written."""
    config = _config()
    with _database(config) as factory, factory() as session:
        if lesson is None:
            reports = event_log.verify_all(session)
        else:
            reports = [event_log.verify(session, lesson)]
    out = _out()
    broken = [report for report in reports if not report.ok]
    for report in reports:
        if report.ok and report.rows:
            out.print(f"Lesson {report.lesson_id}: {report.rows} entries, unchanged.")
        elif report.ok:
            out.print(f"Lesson {report.lesson_id}: no record yet.")
        else:
            out.print(
                f"Lesson {report.lesson_id}: CHANGED at entry {report.broken_at_seq}: "
                f"{report.problem}."
            )
    if not reports:
        out.print("No lesson has a record yet.")
    if broken:
        out.print(
            f"{len(broken)} lesson record(s) were changed after they were written. Keep a copy of "
            "the database as it is now, and tell your safeguarding lead."
        )
        raise typer.Exit(1)


@trust_app.command("create")
def trust_create(
    name: Annotated[
        str, typer.Argument(help='The trust\'s name, e.g. "Riverside Learning Trust".')
    ],
) -> None:
    """Create the trust: the first step on a new server (one server holds one trust)."""
    with _database(_config()) as factory:
        try:
            with transaction(factory) as session:
                trust = create_trust(session, name, actor=None)
                made = (
                    f"Created the trust {trust.name}. "
                    "Next: add its schools with `safeclass school add`."
                )
        except SetupError as error:
            _fail(str(error))
    _out().print(Text(made), soft_wrap=True)


@school_app.command("add")
def school_add(
    name: Annotated[str, typer.Argument(help="The school's name.")],
    slug: Annotated[
        str | None,
        typer.Option("--slug", help="A short name for commands (default: made from the name)."),
    ] = None,
) -> None:
    """Add a school to the trust."""
    with _database(_config()) as factory:
        try:
            with transaction(factory) as session:
                school = add_school(session, name, slug=slug, actor=None)
                made = (
                    f'Added {school.name} (short name "{school.slug}"). Next: add its staff with '
                    f"`safeclass staff add --school {school.slug}`."
                )
        except SetupError as error:
            _fail(str(error))
    _out().print(Text(made), soft_wrap=True)


# --- Retention (`safeclass.actions.retention`): kept here, at the end, as one block.

retention_app = typer.Typer(
    help="Delete records that have been kept as long as the policy allows.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only count what is due; delete nothing."),
    ] = False,
) -> None:
    """Delete every record kept for its school's retention period (serve also does this every
    6 hours). Each deletion is written to the audit log as a count, never its content."""
    from safeclass.actions.retention import run_retention
    from safeclass.domain.retention import RULES
    from safeclass.media.recording_files import recordings_root
    from safeclass.timeutil import utc_now

    config = _config()
    with _database(config) as factory:
        try:
            report = run_retention(
                factory,
                now=utc_now(),
                dry_run=dry_run,
                recordings_root=recordings_root(config.data_dir),
            )
        except SettingValueError as error:  # a stored policy that cannot be read: nothing is done
            _fail(f"Nothing was deleted: {error}")
    out = _out()
    if report.deletions:
        table = Table(
            "school",
            "records",
            Column("kept for", justify="right"),
            Column("would delete" if dry_run else "deleted", justify="right"),
        )
        for deletion in report.deletions:
            what = (
                RULES[deletion.record_type].setting.title.removeprefix("Keep ").removesuffix(" for")
            )
            count = str(deletion.count)
            if deletion.registers_kept:
                count += f" (registers kept: {deletion.registers_kept} people)"
            school = (
                report.schools.get(deletion.school_id, "?")
                if deletion.school_id is not None
                else "the whole trust"
            )
            table.add_row(school, what, f"{deletion.kept_for_days} days", count)
        out.print(table)
    elif dry_run:
        out.print("Nothing is due for deletion.")
    else:
        out.print("Nothing was due for deletion.")
    if dry_run and report.deletions:
        out.print("This was a dry run: nothing was deleted.")
    for problem in report.problems:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            Text(f"Error: {problem}", style="bold red")
        )
    if report.problems:
        raise typer.Exit(1)
