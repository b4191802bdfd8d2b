"""Staff sign-in and sign-out, and the server-side sessions behind them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.config import Config
from safeclass.store.db import make_engine, upgrade
from safeclass.store.models import AuditEntry, StaffMember, StaffSession
from safeclass.timeutil import utc_now
from safeclass.web.app import create_app
from safeclass.web.context import WebContext
from tests.web.conftest import FORMER_TEACHER, OAK_TEACHER
from tests.web.helpers import PASSWORD, TestClient, csrf_token, sign_in, try_sign_in

WRONG = "That email and password don&#39;t match."


def _sessions(session_factory: sessionmaker[Session]) -> list[StaffSession]:
    with session_factory() as session:
        return list(session.scalars(select(StaffSession)))


def _audit(session_factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_health_check_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_start_page_sends_signed_out_staff_to_sign_in(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"


def test_staff_pages_need_sign_in(client: TestClient) -> None:
    response = client.get("/admin")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"


def test_sign_in_sets_an_httponly_samesite_cookie_holding_a_token_stored_only_as_a_hash(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "email": "  Teacher@Oak.Example ",
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text, "/signin"),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    session_cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith("safeclass=")
    )
    attributes = [part.strip().lower() for part in session_cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # the test config serves plain http

    token = session_cookie.split(";", 1)[0].split("=", 1)[1]
    [stored] = _sessions(session_factory)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (stored.token_hash, stored.csrf_token)

    assert client.get("/").headers["location"] == "/admin"
    home = client.get("/admin")
    assert home.status_code == 200
    assert "Tess Teacher" in home.text


def test_cookies_are_secure_and_host_only_behind_https(
    config: Config, session_factory: sessionmaker[Session], world: object
) -> None:
    secure_config = Config(
        config.data_dir, config.database_url, config.host, config.port, secure_cookies=True
    )
    app = create_app(secure_config, session_factory=session_factory)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/signin")
        assert "Secure" in page.headers["set-cookie"]
        response = client.post(
            "/signin",
            data={
                "email": OAK_TEACHER,
                "password": PASSWORD,
                "csrf_token": csrf_token(page.text, "/signin"),
            },
        )
        assert response.status_code == 303
        session_cookie = next(
            header
            for header in response.headers.get_list("set-cookie")
            if header.startswith("__Host-safeclass=")
        )
        assert "secure" in session_cookie.lower()
        assert "httponly" in session_cookie.lower()


def test_wrong_password_and_unknown_email_get_the_same_answer(client: TestClient) -> None:
    wrong_status, wrong_page = try_sign_in(client, OAK_TEACHER, "not the password at all")
    unknown_status, unknown_page = try_sign_in(client, "nobody@oak.example", PASSWORD)
    assert wrong_status == unknown_status == 200
    assert WRONG in wrong_page
    assert WRONG in unknown_page

    def without_email(page: str, email: str) -> str:
        return page.replace(email, "EMAIL")

    assert without_email(wrong_page, OAK_TEACHER) == without_email(
        unknown_page, "nobody@oak.example"
    )
    assert client.get("/admin").status_code == 303


def test_switched_off_staff_cannot_sign_in(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    status, page = try_sign_in(client, FORMER_TEACHER, PASSWORD)
    assert status == 200
    assert "switched off" in page
    assert _sessions(session_factory) == []
    assert client.get("/admin").status_code == 303


def test_switching_staff_off_ends_their_sessions(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    with session_factory() as session:
        staff = session.scalars(select(StaffMember).where(StaffMember.email == OAK_TEACHER)).one()
        staff.active = False
        session.commit()
    assert client.get("/admin").status_code == 303
    assert _sessions(session_factory) == []


def test_sign_in_and_sign_out_are_audited_without_the_password(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    try_sign_in(client, OAK_TEACHER, "a wrong guess 123")
    sign_in(client, OAK_TEACHER)
    response = client.post(
        "/signout", data={"csrf_token": csrf_token(client.get("/admin").text, "/signout")}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"

    [failed] = _audit(session_factory, "sign_in_failed")
    assert failed.data["email"] == OAK_TEACHER
    assert "a wrong guess 123" not in str(failed.data)
    assert failed.actor_staff_id is None
    [signed_in] = _audit(session_factory, "sign_in")
    [signed_out] = _audit(session_factory, "sign_out")
    assert signed_in.actor_staff_id == signed_out.actor_staff_id is not None
    assert PASSWORD not in str(signed_in.data)


def test_sign_out_deletes_the_session_so_the_old_cookie_is_useless(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    old_token = client.cookies["safeclass"]
    response = client.post(
        "/signout", data={"csrf_token": csrf_token(client.get("/admin").text, "/signout")}
    )
    assert 'safeclass=""' in response.headers["set-cookie"]
    assert _sessions(session_factory) == []
    client.cookies.set("safeclass", old_token)
    assert client.get("/admin").status_code == 303


def test_signing_in_replaces_any_session_the_browser_already_holds(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    planted = client.cookies["safeclass"]
    assert client.get("/signin").headers["location"] == "/admin"  # already signed in

    with TestClient(app, follow_redirects=False) as other_browser:
        page = other_browser.get("/signin")
        other_browser.cookies.set("safeclass", planted)
        response = other_browser.post(
            "/signin",
            data={
                "email": OAK_TEACHER,
                "password": PASSWORD,
                "csrf_token": csrf_token(page.text, "/signin"),
            },
        )
    assert response.status_code == 303
    new_cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith("safeclass=")
    )
    new_token = new_cookie.split(";", 1)[0].split("=", 1)[1]
    assert new_token != planted
    [stored] = _sessions(session_factory)
    assert stored.token_hash == hashlib.sha256(new_token.encode()).hexdigest()
    assert client.get("/admin").status_code == 303  # the planted token no longer works


def test_activity_keeps_a_session_alive_for_at_most_a_day(
    client: TestClient, web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    start = utc_now()
    web.now = lambda: start + timedelta(hours=7, minutes=59)
    assert client.get("/admin").status_code == 200  # slides the idle timeout forward
    web.now = lambda: start + timedelta(hours=15)
    assert client.get("/admin").status_code == 200
    web.now = lambda: start + timedelta(hours=22)
    assert client.get("/admin").status_code == 200
    web.now = lambda: start + timedelta(hours=24, minutes=1)  # a day at most, however busy
    assert client.get("/admin").status_code == 303
    assert _sessions(session_factory) == []


def test_idle_session_expires(
    client: TestClient, web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    start = utc_now()
    web.now = lambda: start + timedelta(hours=8, minutes=1)
    assert client.get("/admin").status_code == 303
    assert _sessions(session_factory) == []


def test_last_seen_is_written_at_most_once_a_minute(
    client: TestClient, web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, OAK_TEACHER)
    [before] = _sessions(session_factory)
    start = before.last_seen_at
    web.now = lambda: start + timedelta(seconds=30)
    client.get("/admin")
    [unchanged] = _sessions(session_factory)
    assert unchanged.last_seen_at == start
    web.now = lambda: start + timedelta(seconds=61)
    client.get("/admin")
    [slid] = _sessions(session_factory)
    assert slid.last_seen_at == start + timedelta(seconds=61)
    assert slid.expires_at == start + timedelta(seconds=61, hours=8)


def test_missing_or_oversized_sign_in_fields_get_a_plain_message(client: TestClient) -> None:
    page = client.get("/signin")
    token = csrf_token(page.text, "/signin")
    missing = client.post("/signin", data={"csrf_token": token, "email": OAK_TEACHER})
    assert missing.status_code == 200
    assert "Enter your email address and your password." in missing.text
    long_email = client.post(
        "/signin", data={"csrf_token": token, "email": "a" * 5000, "password": "x"}
    )
    assert long_email.status_code == 200
    assert "That email address is too long" in long_email.text
    long_password = client.post(
        "/signin", data={"csrf_token": token, "email": OAK_TEACHER, "password": "x" * 5000}
    )
    assert long_password.status_code == 200
    assert "longer than SafeClass accepts" in long_password.text
    huge = client.post(
        "/signin", data={"csrf_token": token, "email": OAK_TEACHER, "password": "x" * 100_000}
    )
    assert huge.status_code == 413
    assert "That form held more than SafeClass accepts" in huge.text


def test_create_app_builds_its_own_engine_from_the_config(
    config: Config, app: FastAPI, tmp_path: object
) -> None:
    own_config = Config(
        config.data_dir,
        f"sqlite:///{config.data_dir / 'own.db'}",
        config.host,
        config.port,
        secure_cookies=False,
    )
    engine = make_engine(own_config.database_url)
    upgrade(engine)  # as `safeclass serve` does before it starts the app
    engine.dispose()
    own_app = create_app(own_config)
    with TestClient(own_app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/signin").status_code == 200
