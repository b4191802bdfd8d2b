"""The staff lesson console page: only the staff who run a lesson open its console; everyone else
gets the same "not found" as for a lesson that does not exist."""

from __future__ import annotations

import re

import pytest

from safeclass.web.security_headers import BLUR_CONTENT_SECURITY_POLICY
from tests.web.conftest import (
    ELM_TEACHER,
    OAK_ADMIN,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
)
from tests.web.helpers import TestClient, sign_in
from tests.web.test_pages import NOT_FOUND


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_ASSISTANT])
def test_the_lessons_host_and_its_other_staff_open_the_console(
    client: TestClient, world: World, email: str
) -> None:
    sign_in(client, email)
    page = client.get(f"/admin/lessons/{world.oak_lesson_id}/live")
    assert page.status_code == 200
    assert f'data-lesson-id="{world.oak_lesson_id}"' in page.text
    assert f'data-incident-url="/admin/lessons/{world.oak_lesson_id}/incidents/new"' in page.text
    assert '<script type="module" src="/static/js/lesson/console.js"></script>' in page.text
    assert "Fractions together" in page.text
    # The teacher's camera is blurred on this page, in WebAssembly: the one policy that allows it.
    assert page.headers["Content-Security-Policy"] == BLUR_CONTENT_SECURITY_POLICY
    # The lock's own behaviour for this lesson, from its policy (Oak keeps the trust's default).
    assert "The lesson locks itself when every pupil on the class list has been let in" in page.text


@pytest.mark.parametrize("email", [OAK_DSL, OAK_ADMIN, TRUST_ADMIN, ELM_TEACHER])
def test_staff_not_running_the_lesson_get_the_same_answer_as_for_a_missing_lesson(
    client: TestClient, world: World, email: str
) -> None:
    sign_in(client, email)
    forbidden = client.get(f"/admin/lessons/{world.oak_lesson_id}/live")
    missing = client.get("/admin/lessons/987654/live")
    assert forbidden.status_code == missing.status_code == 404
    assert NOT_FOUND in forbidden.text
    assert forbidden.text == missing.text


def test_signed_out_the_console_sends_you_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get(f"/admin/lessons/{world.oak_lesson_id}/live")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_the_console_loads_nothing_from_another_origin(client: TestClient, world: World) -> None:
    sign_in(client, OAK_TEACHER)
    page = client.get(f"/admin/lessons/{world.oak_lesson_id}/live").text
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith(("/", "#")), url
        assert not url.startswith("//"), url
    for path in ("/static/js/lesson/console.js", "/static/css/console.css"):
        assert client.get(path).status_code == 200, path
