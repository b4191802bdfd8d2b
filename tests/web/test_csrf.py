"""Every state-changing request must come from our own page: tokens and the Origin header."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.store.models import AuditEntry, School, StaffSession
from safeclass.web.app import ROUTERS
from tests.web.conftest import OAK_ADMIN, OAK_TEACHER, World
from tests.web.helpers import PASSWORD, TestClient, csrf_token, form_values, sign_in

EXPIRED = "This form has expired. Go back, reload the page and try again."


def _count(session_factory: sessionmaker[Session], model: type[object]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _overrides(session_factory: sessionmaker[Session], school_id: int) -> dict[str, object]:
    with session_factory() as session:
        school = session.get(School, school_id)
        assert school is not None
        return dict(school.policy_overrides)


@pytest.mark.parametrize("token", [None, "", "not-the-token", "x" * 5000])
def test_sign_in_without_the_right_token_is_refused_and_signs_nobody_in(
    client: TestClient, session_factory: sessionmaker[Session], token: str | None
) -> None:
    client.get("/signin")  # the browser holds a real sign-in cookie
    data = {"email": OAK_TEACHER, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/signin", data=data)
    assert response.status_code == 403
    assert EXPIRED in response.text
    assert _count(session_factory, StaffSession) == 0
    assert _count(session_factory, AuditEntry) == 0


def test_sign_in_token_must_match_the_cookie(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    with TestClient(app) as other_browser:
        someone_elses = csrf_token(other_browser.get("/signin").text, "/signin")
    client.get("/signin")
    response = client.post(
        "/signin", data={"email": OAK_TEACHER, "password": PASSWORD, "csrf_token": someone_elses}
    )
    assert response.status_code == 403
    assert _count(session_factory, StaffSession) == 0


def test_sign_in_token_needs_our_signature(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    forged = "made-up.token.value"
    client.cookies.set("safeclass_signin", forged)
    response = client.post(
        "/signin", data={"email": OAK_TEACHER, "password": PASSWORD, "csrf_token": forged}
    )
    assert response.status_code == 403
    assert _count(session_factory, StaffSession) == 0


@pytest.mark.parametrize("token", [None, "wrong"])
def test_sign_out_without_the_right_token_is_refused_and_keeps_the_session(
    client: TestClient, session_factory: sessionmaker[Session], token: str | None
) -> None:
    sign_in(client, OAK_TEACHER)
    response = client.post("/signout", data={} if token is None else {"csrf_token": token})
    assert response.status_code == 403
    assert EXPIRED in response.text
    assert _count(session_factory, StaffSession) == 1
    assert client.get("/admin").status_code == 200


@pytest.mark.parametrize("token", [None, "wrong"])
def test_policy_form_without_the_right_token_changes_nothing(
    client: TestClient, session_factory: sessionmaker[Session], world: World, token: str | None
) -> None:
    sign_in(client, OAK_ADMIN)
    action = f"/admin/schools/{world.oak_id}/policy"
    values = form_values(client.get(action).text, action)
    values["min_pupils_without_second_staff"] = "4"
    if token is None:
        del values["csrf_token"]
    else:
        values["csrf_token"] = token
    audit_before = _count(session_factory, AuditEntry)
    response = client.post(action, data=values)
    assert response.status_code == 403
    assert EXPIRED in response.text
    assert _overrides(session_factory, world.oak_id) == {}
    assert _count(session_factory, AuditEntry) == audit_before


def test_another_sessions_token_does_not_work(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session], world: World
) -> None:
    with TestClient(app, follow_redirects=False) as other_browser:
        sign_in(other_browser, OAK_ADMIN)
        other_token = csrf_token(other_browser.get("/admin").text, "/signout")
    sign_in(client, OAK_ADMIN)
    action = f"/admin/schools/{world.oak_id}/policy"
    values = form_values(client.get(action).text, action)
    values["min_pupils_without_second_staff"] = "4"
    values["csrf_token"] = other_token
    assert client.post(action, data=values).status_code == 403
    assert _overrides(session_factory, world.oak_id) == {}


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://testserver.evil.example", "null", "file://"]
)
def test_a_post_from_another_origin_is_refused(
    client: TestClient, session_factory: sessionmaker[Session], origin: str
) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "email": OAK_TEACHER,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text, "/signin"),
        },
        headers={"Origin": origin},
    )
    assert response.status_code == 403
    assert EXPIRED in response.text
    assert "Content-Security-Policy" in response.headers
    assert _count(session_factory, StaffSession) == 0


def test_a_cross_site_fetch_without_origin_is_refused(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "email": OAK_TEACHER,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text, "/signin"),
        },
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert _count(session_factory, StaffSession) == 0


def test_a_post_from_our_own_origin_is_accepted(client: TestClient) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "email": OAK_TEACHER,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text, "/signin"),
        },
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("sec_fetch_site", "status"),
    [("same-origin", 303), ("same-site", 403), ("cross-site", 403), ("none", 403)],
)
def test_a_null_origin_is_ours_only_when_the_browser_says_same_origin(
    client: TestClient, sec_fetch_site: str, status: int
) -> None:
    """Under our Referrer-Policy (no-referrer) a browser posts our own forms with "Origin: null",
    as a sandboxed frame on another site does; Sec-Fetch-Site tells them apart."""
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "email": OAK_TEACHER,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text, "/signin"),
        },
        headers={"Origin": "null", "Sec-Fetch-Site": sec_fetch_site},
    )
    assert response.status_code == status


def test_every_post_route_refuses_a_form_without_a_token(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    post_paths = [
        route.path.replace("{school_id}", str(world.oak_id))
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or set())
    ]
    assert {"/signin", "/signout", f"/admin/schools/{world.oak_id}/policy"} <= set(post_paths)
    for path in post_paths:
        assert "{" not in path, f"add an id for {path} to this test"
        response = client.post(path, data={"email": OAK_ADMIN, "password": PASSWORD})
        assert response.status_code == 403, path
    assert _count(session_factory, StaffSession) == 1


def test_unreadable_forms_are_refused_plainly(client: TestClient, world: World) -> None:
    sign_in(client, OAK_ADMIN)
    action = f"/admin/schools/{world.oak_id}/policy"
    for body, content_type in [
        (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
        (b'{"csrf_token": "x"}', "application/json"),
        (b"csrf_token=%FF%FE", "application/x-www-form-urlencoded"),
    ]:
        response = client.post(action, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 403
        assert EXPIRED in response.text
    many_fields = "&".join(f"f{number}=1" for number in range(500))
    response = client.post(
        action,
        content=many_fields.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
