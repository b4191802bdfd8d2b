"""The staff pre-lesson check page (/admin/lessons/<id>/check): who may open it, what it says,
the policy it is sent with, and the "Start the lesson" links that lead to it. What it does in a
browser is in tests/browser/test_check_page.py."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from safeclass.store.models import Lesson
from safeclass.timeutil import utc_now
from safeclass.web import vendor
from safeclass.web.pages import lesson_check
from safeclass.web.security_headers import BLUR_CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY
from tests.web.conftest import (
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    World,
)
from tests.web.helpers import TestClient, sign_in

NOT_FOUND = "find that page"


def check_path(world: World) -> str:
    return f"/admin/lessons/{world.oak_lesson_id}/check"


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_ASSISTANT])
def test_the_lessons_host_and_its_other_staff_open_the_check(
    client: TestClient, world: World, email: str
) -> None:
    sign_in(client, email)
    page = client.get(check_path(world))
    assert page.status_code == 200
    assert "<h1>Before the lesson</h1>" in page.text
    assert "Fractions together" in page.text
    assert f'href="/admin/lessons/{world.oak_lesson_id}/live">Open the lesson</a>' in page.text
    assert '<script type="module" src="/static/js/lesson/check.js"></script>' in page.text
    for name, words in lesson_check.CHECKLIST:
        assert f">{name}</label>" in page.text
        assert words.replace("'", "&#39;") in page.text


@pytest.mark.parametrize("email", [OAK_DSL, OAK_ADMIN, ELM_TEACHER])
def test_staff_who_do_not_run_the_lesson_get_the_same_page_as_for_no_lesson(
    client: TestClient, world: World, email: str
) -> None:
    sign_in(client, email)
    forbidden = client.get(check_path(world))
    missing = client.get("/admin/lessons/987654/check")
    assert forbidden.status_code == missing.status_code == 404
    assert NOT_FOUND in forbidden.text
    assert forbidden.text == missing.text


def test_signed_out_the_check_sends_you_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get(check_path(world))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_blur_is_on_by_default_and_the_page_may_compile_webassembly_but_nothing_else(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lesson_check, "selfie_segmentation_installed", lambda: True)
    sign_in(client, OAK_TEACHER)
    page = client.get(check_path(world))
    assert re.search(r'<input type="checkbox" id="check-blur"[^>]* checked>', page.text)
    assert page.headers["content-security-policy"] == BLUR_CONTENT_SECURITY_POLICY
    # Every other page keeps the strict policy.
    assert client.get(f"/admin/lessons/{world.oak_lesson_id}").headers[
        "content-security-policy"
    ] == (CONTENT_SECURITY_POLICY)


def test_without_the_blur_files_the_page_says_blur_is_unavailable(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lesson_check, "selfie_segmentation_installed", lambda: False)
    sign_in(client, OAK_TEACHER)
    page = client.get(check_path(world))
    assert page.status_code == 200
    assert lesson_check.BLUR_NOT_INSTALLED in page.text
    assert re.search(r'<input type="checkbox" id="check-blur"[^>]* disabled>', page.text)
    assert 'data-blur-installed="no"' in page.text


def test_the_lesson_page_offers_to_start_the_lesson_to_those_who_run_it(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        # Whatever the time of day the test runs: a lesson that is not over.
        lesson.starts_at = utc_now()
        lesson.ends_at = lesson.starts_at + timedelta(hours=1)
        session.commit()
    start = f'<a class="button" href="{check_path(world)}">Start the lesson</a>'
    sign_in(client, OAK_TEACHER)
    assert start in client.get(f"/admin/lessons/{world.oak_lesson_id}").text
    client.cookies.clear()
    sign_in(client, OAK_DSL)  # sees the lesson, does not run it
    page = client.get(f"/admin/lessons/{world.oak_lesson_id}")
    assert page.status_code == 200
    assert "Start the lesson" not in page.text


def test_an_ended_lesson_is_not_offered_to_start(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        lesson.starts_at -= timedelta(days=3)
        lesson.ends_at -= timedelta(days=3)
        session.commit()
    sign_in(client, OAK_TEACHER)
    assert "Start the lesson" not in client.get(f"/admin/lessons/{world.oak_lesson_id}").text


def test_todays_lessons_link_to_the_check_for_those_who_run_them(
    client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        lesson = session.get_one(Lesson, world.oak_lesson_id)
        # Whatever the time of day the test runs: a lesson today that is not over.
        lesson.starts_at = utc_now()
        lesson.ends_at = lesson.starts_at + timedelta(hours=1)
        session.commit()
    link = f'<a href="{check_path(world)}">Start the lesson'
    sign_in(client, OAK_TEACHER)
    assert link in client.get(f"/admin/schools/{world.oak_id}").text
    client.cookies.clear()
    sign_in(client, OAK_ADMIN)  # sees the school's lessons, runs none of them
    page = client.get(f"/admin/schools/{world.oak_id}").text
    assert "Fractions together" in page
    assert "Start the lesson" not in page


# --- The blur files from npm (web/vendor.py) ----------------------------------------------------


def _app_with(folder: Path) -> FastAPI:
    app = FastAPI()
    vendor.mount_vendor_files(app, selfie_segmentation=folder)
    return app


def test_installed_blur_files_are_served_from_our_origin(tmp_path: Path) -> None:
    (tmp_path / vendor.SELFIE_SEGMENTATION_LOADER).write_text("// loader")
    (tmp_path / "model.wasm").write_bytes(b"\0asm")
    with TestClient(_app_with(tmp_path)) as client:
        assert client.get(vendor.INDEX_URL).json() == {
            "selfie_segmentation": vendor.SELFIE_SEGMENTATION_URL
        }
        loader = client.get(vendor.SELFIE_SEGMENTATION_URL + vendor.SELFIE_SEGMENTATION_LOADER)
        assert loader.status_code == 200
        assert loader.text == "// loader"
        wasm = client.get(vendor.SELFIE_SEGMENTATION_URL + "model.wasm")
        assert wasm.headers["content-type"] == "application/wasm"
        assert client.get(vendor.SELFIE_SEGMENTATION_URL + "../secret").status_code == 404


def test_without_the_blur_files_the_app_starts_and_the_index_says_so(tmp_path: Path) -> None:
    with TestClient(_app_with(tmp_path / "not-installed")) as client:
        assert client.get(vendor.INDEX_URL).json() == {"selfie_segmentation": None}
        loader = client.get(vendor.SELFIE_SEGMENTATION_URL + vendor.SELFIE_SEGMENTATION_LOADER)
        assert loader.status_code == 404
