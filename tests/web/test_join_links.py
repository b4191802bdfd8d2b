"""Personal join links through the web: the staff pages (with their CSRF tokens), the letters and
the mail-merge file, the page a link opens, the reader the lesson's door uses, and a pupil joining
a lesson over the WebSocket with nothing but the token from their link."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.join_links import (
    Holder,
    LinkScope,
    issue_link,
    issue_missing_links,
    revoke_link,
)
from safeclass.actions.live import LiveLessons
from safeclass.codes import passcode_key
from safeclass.config import Config
from safeclass.domain.lesson.model import Person, Role, Via
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    JoinLink,
    Lesson,
    ParentLink,
    Pupil,
    School,
    StaffMember,
)
from safeclass.web.app import create_app
from safeclass.web.context import WebContext
from safeclass.web.join_tokens import Entrant
from safeclass.web.link_letters import (
    CSV_HEADER,
    LetterFonts,
    LinkSheetRow,
    links_pdf,
    printable,
)
from safeclass.web.link_reader import DatabaseJoinLinks
from tests.web.conftest import (
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_TEACHER,
    PARENT_EMAIL,
    World,
)
from tests.web.helpers import TestClient, form_values, sign_in

# The passcodes' HMAC key, as `codes.passcode_key` derives it from a server's secret.
KEY = passcode_key(b"k" * 32)

CREATE = "/admin/join-links/create"
REVOKE = "/admin/join-links/revoke"
REGENERATE = "/admin/join-links/regenerate"
DOCUMENT = "/admin/join-links/document"
EXPIRED = "This form has expired. Go back, reload the page and try again."
DOES_NOT_WORK = "This link does not work. Ask your school for a new one."
TOKEN_IN_URL = re.compile(r"/join/([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")
ORIGIN = {"origin": "http://testserver"}


@pytest.fixture
def app(config: Config, session_factory: sessionmaker[Session], world: World) -> FastAPI:
    return create_app(config, session_factory=session_factory, join_tokens=DatabaseJoinLinks())


def class_page(world: World) -> str:
    return f"/admin/classes/{world.kestrels_id}/join-links"


def tokens_in(html: str) -> list[str]:
    return list(dict.fromkeys(TOKEN_IN_URL.findall(html)))


def count(session_factory: sessionmaker[Session], model: type[Any]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def make_all(client: TestClient, world: World) -> str:
    """Press "Make links for everyone who has none" on the class's page; the new links' page."""
    values = form_values(client.get(class_page(world)).text, CREATE)
    response = client.post(CREATE, data=values)
    assert response.status_code == 200, response.text
    return str(response.text)


def download(client: TestClient, new_links_page: str, kind: str) -> Any:
    values = form_values(new_links_page, DOCUMENT)
    values["format"] = kind
    return client.post(DOCUMENT, data=values)


def parents_join_below(session_factory: sessionmaker[Session], world: World, year: int) -> None:
    with session_factory() as session:
        session.get_one(School, world.oak_id).policy_overrides = {
            "parent_mediated_below_year": year
        }
        session.commit()


def staff_member(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def pupil_named(session: Session, first_name: str) -> Pupil:
    return session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()


# --- The staff pages ------------------------------------------------------------------------------


def test_the_class_page_leads_to_its_join_links(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    assert class_page(world) in client.get(f"/admin/classes/{world.kestrels_id}").text
    lesson = client.get(f"/admin/lessons/{world.oak_lesson_id}").text
    assert f"/admin/lessons/{world.oak_lesson_id}/join-links" in lesson
    page = client.get(class_page(world))
    assert page.status_code == 200
    assert page.text.count("No link yet") == 3
    for name in ("Amy Adams", "Ben Brown", "Cara Clark"):
        assert name in page.text


def test_making_links_shows_each_link_once_and_stores_only_hashes(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    new_page = make_all(client, world)
    tokens = tokens_in(new_page)
    assert len(tokens) == 3
    assert "the only time these links are shown" in new_page
    assert count(session_factory, JoinLink) == 3

    listing = client.get(class_page(world)).text
    assert listing.count("Works until") == 3
    for token in tokens:
        assert token not in listing
    # Pressing it again makes nothing new.
    values = form_values(listing, CREATE)
    again = client.post(CREATE, data=values)
    assert again.status_code == 303
    assert "none_missing" in again.headers["location"]
    assert "Everyone already has a working link" in client.get(again.headers["location"]).text
    assert count(session_factory, JoinLink) == 3


def test_the_new_links_page_is_never_cached(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    values = form_values(client.get(class_page(world)).text, CREATE)
    response = client.post(CREATE, data=values)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_stopping_a_link_from_the_page(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    token = tokens_in(make_all(client, world))[0]
    values = form_values(client.get(class_page(world)).text, REVOKE)
    response = client.post(REVOKE, data=values)
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "That link has stopped working." in page
    assert "Stopped on" in page
    assert client.get(f"/join/{token}").status_code == 404
    # Again: nothing changes, and it says so.
    response = client.post(REVOKE, data=values)
    assert "unchanged" in response.headers["location"]
    with session_factory() as session:
        revoked = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "join_link_revoked")
        ).all()
        assert len(revoked) == 1


def test_a_new_link_for_one_pupil_replaces_their_old_one(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    old_tokens = tokens_in(make_all(client, world))
    listing = client.get(class_page(world)).text
    assert "Make a new link" in listing
    # The first per-pupil form on the page is Amy's.
    forms = re.findall(
        r'<form method="post" action="/admin/join-links/create".*?</form>', listing, re.S
    )
    amy_form = forms[1]
    assert "pupil_id" in amy_form
    values = form_values(amy_form, CREATE)
    response = client.post(CREATE, data=values)
    assert response.status_code == 200
    (new_token,) = tokens_in(response.text)
    assert "Amy Adams" in response.text
    assert client.get(f"/join/{old_tokens[0]}").status_code == 404
    assert client.get(f"/join/{new_token}").status_code == 200
    assert client.get(f"/join/{old_tokens[1]}").status_code == 200  # Ben's is untouched


def test_regenerating_by_link(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    old = tokens_in(make_all(client, world))[2]
    with session_factory() as session:
        cara_link = session.scalars(
            select(JoinLink).join(Pupil).where(Pupil.first_name == "Cara")
        ).one()
    csrf = form_values(client.get(class_page(world)).text, CREATE)["csrf_token"]
    response = client.post(REGENERATE, data={"csrf_token": csrf, "link_id": str(cara_link.id)})
    assert response.status_code == 200
    (new,) = tokens_in(response.text)
    assert new != old
    assert client.get(f"/join/{old}").status_code == 404


def test_links_for_one_lesson(
    client: TestClient, web: WebContext, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        starts = session.get_one(Lesson, world.oak_lesson_id).starts_at
    web.now = lambda: starts - timedelta(hours=2)
    sign_in(client, OAK_TEACHER)
    page = client.get(f"/admin/lessons/{world.oak_lesson_id}/join-links")
    assert page.status_code == 200
    assert "for this lesson only" in page.text
    values = form_values(page.text, CREATE)
    assert values["lesson_id"] == str(world.oak_lesson_id)
    assert "days" not in values
    response = client.post(CREATE, data=values)
    assert len(tokens_in(response.text)) == 3
    with session_factory() as session:
        links = session.scalars(select(JoinLink)).all()
        assert {(link.lesson_id, link.class_group_id) for link in links} == {
            (world.oak_lesson_id, None)
        }
    # Once the lesson is over (and its two hours' grace), no more links for it.
    web.now = lambda: starts + timedelta(hours=3, minutes=1)
    response = client.post(CREATE, data={**values, "pupil_id": str(links[0].pupil_id)})
    assert response.status_code == 400
    assert "This lesson has finished" in response.text


def test_choosing_how_long_links_work(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    values = form_values(client.get(class_page(world)).text, CREATE)
    assert values["days"] == "90"
    response = client.post(CREATE, data={**values, "days": "7"})
    assert response.status_code == 200
    with session_factory() as session:
        for link in session.scalars(select(JoinLink)):
            assert link.expires_at - link.created_at == timedelta(days=7)
    for bad in ("1000", "-1", "seven", "9" * 40):
        response = client.post(CREATE, data={**values, "days": bad})
        assert response.status_code == 400
        assert "Choose how long the links should work" in response.text
    assert count(session_factory, JoinLink) == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"pupil_id": "abc"},
        {"pupil_id": "0"},
        {"pupil_id": "99999999999999999999999"},
        {"pupil_id": "987654"},
        {"parent_id": "987654", "pupil_id": "PUPIL"},
        {"class_group_id": ""},
        {"lesson_id": "LESSON"},
        {"class_group_id": "987654"},
    ],
)
def test_odd_form_values_are_not_found_never_an_error(
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    fields: dict[str, str],
) -> None:
    sign_in(client, OAK_TEACHER)
    values = form_values(client.get(class_page(world)).text, CREATE)
    with session_factory() as session:
        amy = pupil_named(session, "Amy").id
    for name, value in fields.items():
        values[name] = value.replace("PUPIL", str(amy)).replace("LESSON", str(world.oak_lesson_id))
    response = client.post(CREATE, data=values)
    assert response.status_code == 404
    assert count(session_factory, JoinLink) == 0


def test_a_pupil_of_another_school_is_not_found(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    values = form_values(client.get(class_page(world)).text, CREATE)
    with session_factory() as session:
        robin = pupil_named(session, "Rob").id
    assert client.post(CREATE, data={**values, "pupil_id": str(robin)}).status_code == 404
    assert count(session_factory, JoinLink) == 0


def test_young_year_groups_list_each_parent_and_warn_about_pupils_without_one(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    parents_join_below(session_factory, world, 5)
    sign_in(client, OAK_TEACHER)
    page = client.get(class_page(world)).text
    assert "Alex Adams (Mother)" in page
    assert "Chris Clark" in page
    assert "No parent or carer on record" in page
    assert "Ben Brown" in page
    new_page = make_all(client, world)
    assert len(tokens_in(new_page)) == 2


@pytest.mark.parametrize("path", [CREATE, REVOKE, REGENERATE, DOCUMENT])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_every_form_needs_the_sessions_token(
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    path: str,
    token: str | None,
) -> None:
    sign_in(client, OAK_TEACHER)
    made = tokens_in(make_all(client, world))
    with session_factory() as session:
        link_id = session.scalars(select(JoinLink.id)).first()
    audit_before = count(session_factory, AuditEntry)
    data = {
        "class_group_id": str(world.kestrels_id),
        "link_id": str(link_id),
        "tokens": " ".join(made),
        "format": "csv",
    }
    if token is not None:
        data["csrf_token"] = token
    response = client.post(path, data=data)
    assert response.status_code == 403
    assert EXPIRED in response.text
    assert count(session_factory, JoinLink) == 3
    assert count(session_factory, AuditEntry) == audit_before
    assert "Pupil first name" not in response.text


def test_staff_of_another_school_cannot_see_or_make_links(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    made = make_all(client, world)
    with session_factory() as session:
        link_id = session.scalars(select(JoinLink.id)).first()
    with TestClient(client.app, follow_redirects=False) as elm:
        sign_in(elm, ELM_TEACHER)
        csrf = form_values(elm.get("/admin").text, "/signout")["csrf_token"]
        assert elm.get(class_page(world)).status_code == 404
        assert elm.get(f"/admin/lessons/{world.oak_lesson_id}/join-links").status_code == 404
        response = elm.post(
            CREATE, data={"csrf_token": csrf, "class_group_id": str(world.kestrels_id)}
        )
        assert response.status_code == 404
        for path in (REVOKE, REGENERATE):
            assert (
                elm.post(path, data={"csrf_token": csrf, "link_id": str(link_id)}).status_code
                == 404
            )
        response = elm.post(
            DOCUMENT,
            data={"csrf_token": csrf, "tokens": " ".join(tokens_in(made)), "format": "csv"},
        )
        assert response.status_code == 400
    assert count(session_factory, JoinLink) == 3
    with session_factory() as session:
        assert all(link.revoked_at is None for link in session.scalars(select(JoinLink)))


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get(class_page(world))
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"


# --- The mail-merge file and the letters ----------------------------------------------------------


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_the_mail_merge_file_lists_each_new_link(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    new_page = make_all(client, world)
    response = download(client, new_page, "csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="join-links-year-4-kestrels.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    header, *rows = read_csv(response.content)
    assert tuple(header) == CSV_HEADER
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("Amy", "Adams", "Year 4 Kestrels", "Pupil"),
        ("Ben", "Brown", "Year 4 Kestrels", "Pupil"),
        ("Cara", "Clark", "Year 4 Kestrels", "Pupil"),
    ]
    assert [r[6] for r in rows] == [f"http://testserver/join/{t}" for t in tokens_in(new_page)]
    assert all(r[7] for r in rows)


def test_parent_emails_go_in_the_file_only_for_staff_who_may_see_them(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    parents_join_below(session_factory, world, 5)
    sign_in(client, OAK_ADMIN)
    rows = read_csv(download(client, make_all(client, world), "csv").content)[1:]
    assert [(r[3], r[4], r[5]) for r in rows] == [
        ("Parent or carer", "Alex Adams", PARENT_EMAIL),
        ("Parent or carer", "Chris Clark", ""),
    ]
    with TestClient(client.app, follow_redirects=False) as assistant:
        sign_in(assistant, OAK_ASSISTANT)
        values = form_values(assistant.get(class_page(world)).text, CREATE)
        alex_form = {**values, "pupil_id": "", "parent_id": ""}
        with session_factory() as session:
            amy = pupil_named(session, "Amy")
            alex_form["pupil_id"] = str(amy.id)
            alex_form["parent_id"] = str(amy.parent_links[0].parent_id)
        new_page = assistant.post(CREATE, data=alex_form).text
        assert PARENT_EMAIL not in new_page
        rows = read_csv(download(assistant, new_page, "csv").content)[1:]
        assert [(r[4], r[5]) for r in rows] == [("Alex Adams", "")]


def test_letters_have_one_page_per_link(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    parents_join_below(session_factory, world, 4)  # Year 4 still joins on its own
    sign_in(client, OAK_TEACHER)
    response = download(client, make_all(client, world), "pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].endswith('join-links-year-4-kestrels.pdf"')
    assert response.content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", response.content)) == 3


@pytest.mark.parametrize("fonts", ["system", "built_in"])
def test_letters_print_any_name_with_the_fonts_there_are(fonts: str) -> None:
    chosen = LetterFonts.find() if fonts == "system" else LetterFonts.built_in()
    names = [("Łucja", "Wiśniewska"), ("Zoë", "O'Brien"), ("Ярослав", "Ковальчук"), ("明", "王")]
    rows = [
        LinkSheetRow(
            pupil_first_name=first,
            pupil_last_name=last,
            year_group=year,
            class_name="Year 1 Wrens",
            school_name="Oak Primary",
            parent_name="Alex Adams" if year < 3 else None,
            parent_email=None,
            url="http://testserver/join/" + "A" * 32,
            expires_at=datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
            lesson_title=None,
            lesson_starts_at=None,
        )
        for (first, last), year in zip(names, (1, 4, 2, 5), strict=True)
    ]
    pdf = links_pdf(rows, chosen)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 4


def test_names_are_spelled_plainly_where_the_font_cannot_print_them() -> None:
    def latin1(char: str) -> bool:
        return ord(char) < 256

    assert printable("Zoë Łucja Wiśniewska", latin1) == ("Zoë Lucja Wisniewska", False)
    assert printable("Ђорђе", latin1) == ("?????", True)
    assert printable("王明", latin1) == ("??", True)


def test_letters_cannot_be_made_again_later_or_by_someone_else(
    client: TestClient, web: WebContext, world: World
) -> None:
    sign_in(client, OAK_TEACHER)
    new_page = make_all(client, world)
    assert download(client, new_page, "csv").status_code == 200
    # Someone else at the same school, with the same tokens.
    with TestClient(client.app, follow_redirects=False) as admin:
        sign_in(admin, OAK_ADMIN)
        csrf = form_values(admin.get("/admin").text, "/signout")["csrf_token"]
        values = {**form_values(new_page, DOCUMENT), "csrf_token": csrf, "format": "csv"}
        response = admin.post(DOCUMENT, data=values)
        assert response.status_code == 400
        assert "can no longer be downloaded" in response.text
    # Over an hour later.
    real_now = web.now
    web.now = lambda: real_now() + timedelta(hours=1, minutes=1)
    assert download(client, new_page, "pdf").status_code == 400
    web.now = real_now
    # Unknown, missing or odd.
    values = form_values(new_page, DOCUMENT)
    for changed in (
        {"format": "csv", "tokens": values["tokens"] + " " + "x" * 32},
        {"format": "csv", "tokens": ""},
        {"format": "docx"},
        {"format": "csv", "tokens": " ".join(["y" * 32] * 2000)},
    ):
        response = client.post(DOCUMENT, data={**values, **changed})
        assert response.status_code in (400, 413)
    # A link stopped since.
    values = form_values(client.get(class_page(world)).text, REVOKE)
    client.post(REVOKE, data=values)
    assert download(client, new_page, "csv").status_code == 400


# --- The page a link opens --------------------------------------------------------------------


def test_a_pupils_link_opens_a_page_about_their_next_lesson(
    client: TestClient, web: WebContext, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        starts = session.get_one(Lesson, world.oak_lesson_id).starts_at
    web.now = lambda: starts - timedelta(hours=1)
    sign_in(client, OAK_TEACHER)
    token = tokens_in(make_all(client, world))[0]
    with TestClient(client.app, follow_redirects=False) as pupil:
        response = pupil.get(f"/join/{token}")
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "Hello, Amy" in page
    assert "Adams" not in page  # first name only
    assert "Fractions together" in page
    assert "Keep personal details private" in page
    assert "waiting room" in page
    assert "I am with my child" not in page
    assert "Sign out" not in page


def test_a_parents_link_asks_them_to_be_with_their_child(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    parents_join_below(session_factory, world, 5)
    sign_in(client, OAK_TEACHER)
    token = tokens_in(make_all(client, world))[0]
    page = client.get(f"/join/{token}").text
    assert "Lessons with Amy" in page
    assert "I am with my child" in page
    assert "Alex" not in page
    assert "Adams" not in page


def test_a_class_without_lessons_says_so(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    token = tokens_in(make_all(client, world))[0]
    with session_factory() as session:
        session.delete(session.get_one(Lesson, world.oak_lesson_id))
        session.commit()
    assert "There are no lessons booked" in client.get(f"/join/{token}").text


@pytest.mark.parametrize(
    "how", ["unknown", "revoked", "expired", "left the class", "garbage", "too long"]
)
def test_a_link_that_does_not_work_says_so_the_same_way(
    client: TestClient,
    web: WebContext,
    world: World,
    session_factory: sessionmaker[Session],
    how: str,
) -> None:
    sign_in(client, OAK_TEACHER)
    token = tokens_in(make_all(client, world))[0]
    if how == "unknown":
        token = "A" * 32
    elif how == "revoked":
        client.post(REVOKE, data=form_values(client.get(class_page(world)).text, REVOKE))
    elif how == "expired":
        real_now = web.now
        web.now = lambda: real_now() + timedelta(days=91)
    elif how == "left the class":
        with session_factory() as session:
            class_group = session.get_one(ClassGroup, world.kestrels_id)
            class_group.pupils.remove(pupil_named(session, "Amy"))
            session.commit()
    elif how == "garbage":
        token = "%00%2e%2e'<script>"
    else:
        token = "a" * 5000
    response = client.get(f"/join/{token}")
    assert response.status_code == 404
    assert DOES_NOT_WORK in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


# --- The reader the lesson's door uses ----------------------------------------------------------


@pytest.fixture
def session(session_factory: sessionmaker[Session], world: World) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def before_lesson(session: Session, world: World) -> datetime:
    return session.get_one(Lesson, world.oak_lesson_id).starts_at - timedelta(days=1)


def another_kestrels_lesson(session: Session, world: World) -> Lesson:
    first = session.get_one(Lesson, world.oak_lesson_id)
    lesson = Lesson(
        school_id=first.school_id,
        class_group_id=first.class_group_id,
        host_id=first.host_id,
        title="Spelling",
        starts_at=first.starts_at + timedelta(days=1),
        ends_at=first.ends_at + timedelta(days=1),
    )
    session.add(lesson)
    session.flush()
    return lesson


def test_the_reader_knows_a_pupil_by_their_class_link(
    session: Session, world: World, before_lesson: datetime
) -> None:
    teacher = staff_member(session, OAK_TEACHER)
    scope = LinkScope.for_class(session.get_one(ClassGroup, world.kestrels_id))
    made = issue_link(
        session,
        scope,
        Holder(pupil_named(session, "Amy")),
        actor=teacher,
        now=before_lesson,
        passcode_key=KEY,
    )
    other_lesson = another_kestrels_lesson(session, world)
    session.commit()
    reader = DatabaseJoinLinks(clock=lambda: before_lesson)
    expected = Entrant(
        Person(Role.PUPIL, str(made.link.pupil_id)), Via.PUPIL_LINK, f"link:{made.link.id}"
    )
    assert reader.read(session, world.oak_lesson_id, made.token) == expected
    assert reader.read(session, other_lesson.id, made.token) == expected
    # A second device on the same link is the same person on the same link: the engine, which
    # sees both, flags the second one (see the WebSocket test below).
    assert reader.read(session, world.oak_lesson_id, made.token) == expected


def test_the_reader_knows_a_parent_as_joining_with_their_child(
    session: Session, session_factory: sessionmaker[Session], world: World, before_lesson: datetime
) -> None:
    parents_join_below(session_factory, world, 5)
    session.expire_all()
    issued = issue_missing_links(
        session,
        LinkScope.for_class(session.get_one(ClassGroup, world.kestrels_id)),
        actor=staff_member(session, OAK_TEACHER),
        now=before_lesson,
        passcode_key=KEY,
    )
    session.commit()
    amy = issued[0]
    assert amy.holder.parent is not None
    entrant = DatabaseJoinLinks(clock=lambda: before_lesson).read(
        session, world.oak_lesson_id, amy.token
    )
    assert entrant == Entrant(
        Person(Role.PUPIL, str(amy.holder.pupil.id)), Via.PARENT_LINK, f"link:{amy.link.id}"
    )


def test_the_reader_refuses_links_that_do_not_open_this_lesson(
    session: Session, world: World, before_lesson: datetime
) -> None:
    teacher = staff_member(session, OAK_TEACHER)
    amy = Holder(pupil_named(session, "Amy"))
    ben = Holder(pupil_named(session, "Ben"))
    oak_lesson = session.get_one(Lesson, world.oak_lesson_id)
    class_scope = LinkScope.for_class(oak_lesson.class_group)
    lesson_link = issue_link(
        session,
        LinkScope.for_lesson(oak_lesson),
        amy,
        actor=teacher,
        now=before_lesson,
        passcode_key=KEY,
    )
    class_link = issue_link(
        session, class_scope, ben, actor=teacher, now=before_lesson, passcode_key=KEY
    )
    other_lesson = another_kestrels_lesson(session, world)
    session.commit()
    reader = DatabaseJoinLinks(clock=lambda: before_lesson)

    assert reader.read(session, oak_lesson.id, lesson_link.token) is not None
    # Wrong lesson: a link for one lesson does not open the class's next one.
    assert reader.read(session, other_lesson.id, lesson_link.token) is None
    # Wrong class: Birch's lesson, another school's class.
    assert reader.read(session, world.birch_lesson_id, class_link.token) is None
    assert reader.read(session, world.birch_lesson_id, lesson_link.token) is None
    # No such lesson; no such token; odd tokens.
    assert reader.read(session, 987654, class_link.token) is None
    for token in ["", "A" * 32, class_link.token + "x", class_link.token.upper(), "a" * 10000]:
        assert reader.read(session, oak_lesson.id, token) is None


def test_the_reader_refuses_revoked_and_expired_links(
    session: Session, world: World, before_lesson: datetime
) -> None:
    teacher = staff_member(session, OAK_TEACHER)
    scope = LinkScope.for_class(session.get_one(ClassGroup, world.kestrels_id))
    amy = issue_link(
        session,
        scope,
        Holder(pupil_named(session, "Amy")),
        actor=teacher,
        now=before_lesson,
        expires_at=before_lesson + timedelta(days=7),
        passcode_key=KEY,
    )
    ben = issue_link(
        session,
        scope,
        Holder(pupil_named(session, "Ben")),
        actor=teacher,
        now=before_lesson,
        passcode_key=KEY,
    )
    revoke_link(session, ben.link, actor=teacher, now=before_lesson)
    session.commit()
    assert DatabaseJoinLinks(clock=lambda: before_lesson).read(
        session, world.oak_lesson_id, amy.token
    )
    assert (
        DatabaseJoinLinks(clock=lambda: before_lesson).read(session, world.oak_lesson_id, ben.token)
        is None
    )
    at_expiry = before_lesson + timedelta(days=7)
    assert (
        DatabaseJoinLinks(clock=lambda: at_expiry).read(session, world.oak_lesson_id, amy.token)
        is None
    )


def test_the_reader_refuses_a_pupil_who_left_the_class_or_an_unlinked_parent(
    session: Session, session_factory: sessionmaker[Session], world: World, before_lesson: datetime
) -> None:
    parents_join_below(session_factory, world, 5)
    session.expire_all()
    class_group = session.get_one(ClassGroup, world.kestrels_id)
    teacher = staff_member(session, OAK_TEACHER)
    amy_parent, cara_parent = issue_missing_links(
        session,
        LinkScope.for_class(class_group),
        actor=teacher,
        now=before_lesson,
        passcode_key=KEY,
    )
    session.commit()
    reader = DatabaseJoinLinks(clock=lambda: before_lesson)
    assert reader.read(session, world.oak_lesson_id, amy_parent.token) is not None
    assert reader.read(session, world.oak_lesson_id, cara_parent.token) is not None

    class_group.pupils.remove(amy_parent.holder.pupil)
    assert cara_parent.holder.parent is not None
    session.delete(
        session.get_one(ParentLink, (cara_parent.holder.pupil.id, cara_parent.holder.parent.id))
    )
    session.commit()
    assert reader.read(session, world.oak_lesson_id, amy_parent.token) is None
    assert reader.read(session, world.oak_lesson_id, cara_parent.token) is None


# --- End to end: from a made link to the waiting room -------------------------------------------


def receive(ws: Any, kind: str, limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def view_until(ws: Any, check: Any, limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        view: dict[str, Any] = receive(ws, "view")["view"]
        if check(view):
            return view
    raise AssertionError("the view never got there")


def test_a_pupil_joins_from_their_link_and_a_second_device_is_flagged(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        now = [lesson.starts_at]
        made = issue_link(
            session,
            LinkScope.for_class(lesson.class_group),
            Holder(pupil_named(session, "Amy")),
            actor=staff_member(session, OAK_TEACHER),
            now=lesson.starts_at - timedelta(days=1),
            passcode_key=KEY,
        )
        session.commit()
        token = made.token
    live = LiveLessons(session_factory, resume_key=b"k" * 32, clock=lambda: now[0])
    app = create_app(
        config,
        session_factory=session_factory,
        live=live,
        join_tokens=DatabaseJoinLinks(clock=lambda: now[0]),
    )
    url = f"/lessons/{world.oak_lesson_id}/live"
    with TestClient(app, follow_redirects=False) as teacher:
        sign_in(teacher, OAK_TEACHER)
        with teacher.websocket_connect(url, headers=ORIGIN) as staff:
            staff.send_json({"v": 1, "type": "join"})
            receive(staff, "welcome")
            # Pupils connect through the teacher's client (one event loop, as a real server
            # has); the token decides who they are, not the teacher's cookie.
            with teacher.websocket_connect(url, headers=ORIGIN) as amy:
                amy.send_json({"v": 1, "type": "join", "token": token, "reminder_accepted": True})
                receive(amy, "welcome")
                amy_view = view_until(amy, lambda v: v["you"]["presence"] == "waiting")
                assert amy_view["you"]["name"] == "Amy Adams"
                assert amy_view["you"]["role"] == "pupil"
                waiting = view_until(staff, lambda v: len(v["waiting"]) == 1)["waiting"]
                assert waiting[0]["name"] == "Amy Adams"
                assert waiting[0]["flags"] == []

                with teacher.websocket_connect(url, headers=ORIGIN) as second:
                    second.send_json(
                        {"v": 1, "type": "join", "token": token, "reminder_accepted": True}
                    )
                    receive(second, "welcome")
                    waiting = view_until(staff, lambda v: len(v["waiting"]) == 2)["waiting"]
                    assert [w["name"] for w in waiting] == ["Amy Adams", "Amy Adams"]
                    assert [w["flags"] for w in waiting].count(["second_device"]) >= 1

            with teacher.websocket_connect(url, headers=ORIGIN) as stranger:
                stranger.send_json({"v": 1, "type": "join", "token": "A" * 32})
                error = receive(stranger, "error")
                assert error["code"] == "not_recognised"
                assert error["message"] == DOES_NOT_WORK
