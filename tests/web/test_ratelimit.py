"""Sign-in rate limiting: by account and by client address, with a clock the tests control."""

from __future__ import annotations

from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.store.models import AuditEntry
from safeclass.web.context import WebContext
from safeclass.web.ratelimit import FIFTEEN_MINUTES, Limit, LimitScope, SignInRateLimiter
from tests.web.conftest import OAK_ADMIN, OAK_TEACHER
from tests.web.helpers import PASSWORD, TestClient, csrf_token, try_sign_in


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _use_clock(web: WebContext) -> FakeClock:
    clock = FakeClock()
    web.sign_in_limiter = SignInRateLimiter(clock=clock)
    return clock


def _audit_actions(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _attempt(client: TestClient, email: str, password: str) -> Response:
    page = client.get("/signin")
    response: Response = client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text, "/signin")},
    )
    return response


def test_five_failures_lock_the_account_even_for_the_right_password(
    client: TestClient, web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    clock = _use_clock(web)
    for _ in range(5):
        status, _page = try_sign_in(client, OAK_TEACHER, "wrong password!")
        assert status == 200
    locked = _attempt(client, OAK_TEACHER, PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= FIFTEEN_MINUTES
    assert "too many tries" in locked.text
    assert "Content-Security-Policy" in locked.headers
    assert client.get("/admin").status_code == 303
    actions = _audit_actions(session_factory)
    assert actions.count("sign_in_failed") == 5
    assert actions.count("sign_in_locked") == 1
    assert "sign_in" not in actions

    # The email is what is locked, however it is typed.
    assert _attempt(client, OAK_TEACHER.upper(), PASSWORD).status_code == 429

    clock.advance(FIFTEEN_MINUTES + 1)
    assert _attempt(client, OAK_TEACHER, PASSWORD).status_code == 303


def test_lockout_treats_unknown_emails_like_real_ones(client: TestClient, web: WebContext) -> None:
    _use_clock(web)
    for _ in range(5):
        try_sign_in(client, "nobody@oak.example", "wrong password!")
    assert _attempt(client, "nobody@oak.example", "wrong password!").status_code == 429


def test_other_accounts_are_not_locked_by_one_accounts_failures(
    client: TestClient, web: WebContext
) -> None:
    _use_clock(web)
    for _ in range(5):
        try_sign_in(client, OAK_TEACHER, "wrong password!")
    assert _attempt(client, OAK_ADMIN, PASSWORD).status_code == 303


def test_a_successful_sign_in_clears_the_accounts_failures(
    client: TestClient, web: WebContext
) -> None:
    _use_clock(web)
    for _ in range(4):
        try_sign_in(client, OAK_TEACHER, "wrong password!")
    assert _attempt(client, OAK_TEACHER, PASSWORD).status_code == 303
    client.cookies.clear()
    for _ in range(4):
        status, _page = try_sign_in(client, OAK_TEACHER, "wrong password!")
        assert status == 200
    assert _attempt(client, OAK_TEACHER, PASSWORD).status_code == 303


def test_twenty_failures_from_one_address_lock_that_address(
    client: TestClient, web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    clock = _use_clock(web)
    for number in range(20):
        status, _page = try_sign_in(client, f"guess{number}@oak.example", "wrong password!")
        assert status == 200
    locked = _attempt(client, OAK_ADMIN, PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    with session_factory() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "sign_in_locked",
                AuditEntry.data["by"].as_string() == "address",
            )
        )
        assert entry.data["address"] == "testclient"

    clock.advance(FIFTEEN_MINUTES + 1)
    assert _attempt(client, OAK_ADMIN, PASSWORD).status_code == 303


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = FakeClock()
    limiter = SignInRateLimiter(clock=clock)
    for _ in range(4):
        limiter.record_failure(address="a", account="x@example")
    clock.advance(FIFTEEN_MINUTES + 1)
    for _ in range(4):
        assert limiter.record_failure(address="a", account="x@example") == []
    assert limiter.check(address="a", account="x@example").allowed
    assert limiter.record_failure(address="a", account="x@example") == [LimitScope.ACCOUNT]
    decision = limiter.check(address="a", account="x@example")
    assert decision.scope is LimitScope.ACCOUNT
    assert decision.retry_after_seconds == FIFTEEN_MINUTES


def test_memory_stays_bounded() -> None:
    clock = FakeClock()
    limiter = SignInRateLimiter(
        clock=clock,
        per_address=Limit(1_000, FIFTEEN_MINUTES, FIFTEEN_MINUTES),
        max_keys=50,
    )
    for number in range(500):
        limiter.record_failure(address=f"10.0.0.{number % 2}", account=f"{number}@x")
    assert limiter.tracked_keys(LimitScope.ACCOUNT) == 50
    assert limiter.tracked_keys(LimitScope.ADDRESS) == 2

    clock.advance(FIFTEEN_MINUTES + 1)
    limiter.record_failure(address="10.9.9.9", account="late@x")
    assert limiter.tracked_keys(LimitScope.ACCOUNT) == 1
    assert limiter.tracked_keys(LimitScope.ADDRESS) == 1
