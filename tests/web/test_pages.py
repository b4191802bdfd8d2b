"""The staff pages: what each person sees, plain error pages, headers, and no third parties."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from safeclass.web.security_headers import CONTENT_SECURITY_POLICY
from tests.web.conftest import (
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    PARENT_EMAIL,
    TRUST_ADMIN,
    World,
)
from tests.web.helpers import TestClient, sign_in

NOT_FOUND = "We couldn&#39;t find that page."


def _rows(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", row) for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S)]


def test_a_teacher_sees_their_school_with_counts(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    page = client.get("/admin")
    assert page.status_code == 200
    assert "Oak Primary" in page.text
    assert "Elm Primary" not in page.text
    assert "Birch Academy" not in page.text
    [oak_row] = [row for row in _rows(page.text) if "Oak Primary" in row]
    # 1 class, 3 pupils, 2 without live-lesson consent (one missing, one withdrawn), 1 lesson today
    numbers = re.findall(r'<td class="number">(\d+)</td>', oak_row)
    assert numbers == ["1", "3", "2", "1"]


def test_a_trust_admin_sees_every_school_of_the_trust(client: TestClient) -> None:
    sign_in(client, TRUST_ADMIN)
    page = client.get("/admin")
    assert "Oak Primary" in page.text
    assert "Elm Primary" in page.text
    assert "Birch Academy" not in page.text


def test_school_page_shows_classes_lessons_and_policy(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    page = client.get(f"/admin/schools/{world.oak_id}")
    assert page.status_code == 200
    [class_row] = [row for row in _rows(page.text) if "Year 4 Kestrels" in row]
    assert re.findall(r'<td class="number">(\d+)</td>', class_row) == ["3", "1", "2"]
    assert "Fractions together" in page.text
    assert "Parent consent before live lessons" in page.text
    assert "Always on / cannot be changed" in page.text
    assert "Locked by the trust" in page.text
    assert "Change this school&#39;s rules" not in page.text  # teachers cannot edit


def test_school_admin_gets_a_link_to_the_policy_form(client: TestClient, world: World) -> None:
    sign_in(client, OAK_ADMIN)
    page = client.get(f"/admin/schools/{world.oak_id}")
    assert f'href="/admin/schools/{world.oak_id}/policy"' in page.text


def test_class_page_shows_consent_in_plain_words(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    page = client.get(f"/admin/classes/{world.kestrels_id}")
    assert page.status_code == 200
    rows = {name: row for row in _rows(page.text) for name in ("Amy", "Ben", "Cara") if name in row}
    assert "Yes, given" in rows["Amy"]
    assert "Can join" in rows["Amy"]
    assert "No answer yet" in rows["Ben"]
    assert "We do not have a parent" in rows["Ben"]
    assert "Withdrawn" in rows["Cara"]
    assert "withdrawn permission" in rows["Cara"]
    assert "Year 4" in rows["Amy"]


@pytest.mark.parametrize(
    ("email", "sees_contacts"),
    [
        (OAK_ASSISTANT, False),
        (OAK_TEACHER, False),
        (OAK_ADMIN, True),
        (OAK_DSL, True),
        (TRUST_ADMIN, True),
    ],
)
def test_parent_emails_are_shown_only_to_admins_and_safeguarding_leads(
    client: TestClient, world: World, email: str, sees_contacts: bool
) -> None:
    sign_in(client, email)
    page = client.get(f"/admin/classes/{world.kestrels_id}")
    assert page.status_code == 200
    assert (PARENT_EMAIL in page.text) is sees_contacts
    assert ("Alex Adams" in page.text) is sees_contacts


def test_lesson_page_shows_staff_coverage_and_the_staffing_check(
    client: TestClient, world: World
) -> None:
    sign_in(client, OAK_ASSISTANT)
    page = client.get(f"/admin/lessons/{world.oak_lesson_id}")
    assert page.status_code == 200
    text = page.text
    assert "Fractions together" in text
    assert "Tess Teacher" in text
    assert "Tariq Assistant (Teaching assistant)" in text
    assert "Enough staff" in text
    assert "1 of 3 pupils" in text
    assert 'Ben Brown: <span class="meta">We do not have a parent' in text
    assert "Rules for this lesson" in text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/schools/{elm}",
        "/admin/schools/{birch}",
        "/admin/classes/{robins}",
        "/admin/lessons/{birch_lesson}",
        "/admin/schools/987654",
        "/admin/classes/987654",
        "/admin/lessons/987654",
        "/admin/schools/abc",
        "/admin/schools/0",
        "/admin/schools/-1",
        "/admin/schools/99999999999999999999999999",
        "/no/such/page",
    ],
)
def test_a_teacher_of_one_school_gets_not_found_elsewhere(
    client: TestClient, world: World, path: str
) -> None:
    sign_in(client, OAK_TEACHER)
    response = client.get(
        path.format(
            elm=world.elm_id,
            birch=world.birch_id,
            robins=world.robins_id,
            birch_lesson=world.birch_lesson_id,
        )
    )
    assert response.status_code == 404
    assert NOT_FOUND in response.text
    assert "Content-Security-Policy" in response.headers


def test_forbidden_and_missing_pages_look_the_same(client: TestClient, world: World) -> None:
    sign_in(client, ELM_TEACHER)
    forbidden = client.get(f"/admin/schools/{world.oak_id}")
    missing = client.get("/admin/schools/987654")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.text == missing.text


def test_wrong_method_gets_a_plain_page(client: TestClient) -> None:
    response = client.put("/signin")
    assert response.status_code == 405
    assert "can&#39;t be used like that" in response.text


def _every_page(client: TestClient, world: World) -> dict[str, str]:
    pages: dict[str, str] = {}
    client.cookies.clear()
    pages["/signin"] = client.get("/signin").text
    sign_in(client, OAK_ADMIN)
    for path in [
        "/admin",
        f"/admin/schools/{world.oak_id}",
        f"/admin/schools/{world.oak_id}/policy",
        f"/admin/classes/{world.kestrels_id}",
        f"/admin/lessons/{world.oak_lesson_id}",
        "/admin/schools/987654",
    ]:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        pages[path] = response.text
    pages["form expired"] = client.post("/signout", data={}).text
    return pages


def test_no_page_loads_anything_from_another_origin(client: TestClient, world: World) -> None:
    pages = _every_page(client, world)
    pages["/static/css/safeclass.css"] = client.get("/static/css/safeclass.css").text
    outside = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
    css_outside = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)
    for name, html in pages.items():
        assert not outside.search(html), name
        assert not css_outside.search(html), name
        assert "http://" not in html, name
        assert "https://" not in html, name


def test_security_headers_are_on_every_response(client: TestClient, world: World) -> None:
    expected = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "permissions-policy": (
            "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
        ),
        "cross-origin-opener-policy": "same-origin",
    }
    sign_in(client, OAK_ADMIN)
    responses = {
        path: client.get(path)
        for path in [
            "/healthz",
            "/admin",
            f"/admin/classes/{world.kestrels_id}",
            "/admin/schools/987654",
            "/static/css/safeclass.css",
        ]
    }
    responses["POST /signout without token"] = client.post("/signout", data={})
    for name, response in responses.items():
        for header, value in expected.items():
            assert response.headers.get(header) == value, (name, header)
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert responses["/admin"].headers["cache-control"] == "no-store"
    assert responses[f"/admin/classes/{world.kestrels_id}"].headers["cache-control"] == "no-store"


def test_an_unexpected_error_gets_a_plain_page_with_headers(
    app: FastAPI, client: TestClient, world: World
) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("deliberate")

    with TestClient(app, raise_server_exceptions=False) as quiet_client:
        response = quiet_client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "deliberate" not in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_pages_are_readable_html(client: TestClient, world: World) -> None:
    for name, html in _every_page(client, world).items():
        assert html.startswith("<!doctype html>"), name
        assert '<html lang="en-GB">' in html, name
        assert html.count("<h1>") == 1, name
        for control_id in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html):
            assert f'<label for="{control_id}">' in html, (name, control_id)
