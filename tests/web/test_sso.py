"""Single sign-on for staff, against a real OpenID provider: the npm package oidc-provider, started
by these tests on 127.0.0.1 (tests/web/oidc_provider; `scripts/install --dev` installs it).

The tests drive the provider's own login and consent pages with httpx, as a browser would, and
SafeClass talks to it over real HTTP: discovery, keys, the code exchange and the ID token."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import URLSafeTimedSerializer
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.config import Config
from safeclass.store.models import AuditEntry, StaffMember, StaffSession
from safeclass.web.app import create_app
from safeclass.web.context import WebContext
from safeclass.web.pages.sso import NO_VERIFIED_EMAIL, NOT_CONFIRMED, NOT_SET_UP, NOT_WORKING
from safeclass.web.sso import (
    PendingSignIn,
    PendingSignIns,
    SingleSignOn,
    SsoRefusedError,
    SsoSettings,
    SsoSettingsError,
    vouched_email,
)
from tests.web.conftest import (
    ELM_TEACHER,
    FORMER_TEACHER,
    OAK_ASSISTANT,
    OAK_DSL,
    OAK_TEACHER,
    World,
)
from tests.web.helpers import TestClient

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CLIENT_ID = "safeclass-test"
CLIENT_SECRET = "a test client secret that is long enough"
CALLBACK = "http://testserver/auth/sso/callback"
SECURE_CALLBACK = "https://testserver/auth/sso/callback"
START_AGAIN = "That sign-in took too long"

# Login names at the provider, and what their tokens say.
ACCOUNTS: dict[str, dict[str, object]] = {
    # Mixed case on purpose: SafeClass matches addresses whatever their case.
    "tess": {"email": "Teacher@Oak.Example", "email_verified": True, "name": "Tess T"},
    "stranger": {"email": "stranger@oak.example", "email_verified": True},
    "fran": {"email": FORMER_TEACHER, "email_verified": True},
    "tariq-unverified": {"email": OAK_ASSISTANT, "email_verified": False},
    # As Microsoft Entra ID sends it: no email_verified, the optional xms_edov claim instead.
    "dana-entra": {"email": OAK_DSL, "xms_edov": True},
    "dana-entra-unverified": {"email": OAK_DSL, "xms_edov": False},
    "eli": {"email": ELM_TEACHER, "email_verified": True},
    "no-email": {"name": "Nobody"},
}


@dataclass(frozen=True)
class Provider:
    issuer: str


def _start_provider(log_path: Path, *, claims_in_id_token: bool) -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not installed, and the single sign-on tests need it to run their OpenID "
            "provider. Run scripts/install --dev (it installs nodejs and npm, then the provider)."
        )
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            "The test OpenID provider is not installed. Run scripts/install --dev, or "
            "npm ci --prefix tests/web/oidc_provider."
        )
    settings = {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [CALLBACK, SECURE_CALLBACK],
            }
        ],
        "accounts": ACCOUNTS,
        "claimsInIdToken": claims_in_id_token,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [node, str(PROVIDER_DIR / "server.mjs"), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        if not line:
            pytest.fail(f"The test OpenID provider did not start:\n{log_path.read_text()}")
        yield Provider(issuer=json.loads(line)["issuer"])
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the provider exits when its input closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    yield from _start_provider(log_path, claims_in_id_token=True)


@pytest.fixture(scope="module")
def strict_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider that keeps the email for its userinfo endpoint, as the standard has it."""
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    yield from _start_provider(log_path, claims_in_id_token=False)


def _sso_config(config: Config, provider: Provider, **changes: object) -> Config:
    settings: dict[str, object] = {
        "sso_issuer": provider.issuer,
        "sso_client_id": CLIENT_ID,
        "sso_client_secret": CLIENT_SECRET,
        "sso_redirect_uri": CALLBACK,
    }
    settings.update(changes)
    return dataclasses.replace(config, **settings)  # type: ignore[arg-type]


@pytest.fixture
def sso_app(
    config: Config, provider: Provider, session_factory: sessionmaker[Session], world: World
) -> FastAPI:
    return create_app(_sso_config(config, provider), session_factory=session_factory)


@pytest.fixture
def sso_web(sso_app: FastAPI) -> WebContext:
    context = sso_app.state.safeclass
    assert isinstance(context, WebContext)
    return context


@pytest.fixture
def browser(sso_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sso_app, follow_redirects=False) as client:
        yield client


class _FirstForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
            self._inside = True
        elif tag == "input" and self._inside and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _at_provider(
    provider_url: str, login: str, *, cancel: bool = False, callback_prefix: str = CALLBACK
) -> str:
    """Signs in at the provider as `login` and consents, as a person would; returns the address
    the provider sends the browser back to."""
    url = provider_url
    with httpx.Client(follow_redirects=False, trust_env=False, timeout=10) as person:
        for _ in range(12):
            if url.startswith(callback_prefix):
                return url
            page = person.get(url)
            if page.is_redirect:
                url = urljoin(url, page.headers["location"])
                continue
            assert page.status_code == 200, page.text
            form = _FirstForm()
            form.feed(page.text)
            assert form.action is not None, page.text
            if cancel:
                url = urljoin(url, f"{urlsplit(form.action).path}/abort")
                continue
            fields = dict(form.fields)
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any password will do")
            answer = person.post(urljoin(url, form.action), data=fields)
            assert answer.is_redirect, answer.text
            url = urljoin(url, answer.headers["location"])
    raise AssertionError(f"the provider never sent the browser back (last at {url})")


def _go_to_provider(client: TestClient) -> str:
    start = client.get("/auth/sso/start")
    assert start.status_code == 303, start.text
    return str(start.headers["location"])


def _sign_in_as(client: TestClient, login: str) -> httpx.Response:
    response: httpx.Response = client.get(_at_provider(_go_to_provider(client), login))
    return response


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _sessions(session_factory: sessionmaker[Session]) -> list[StaffSession]:
    with session_factory() as session:
        return list(session.scalars(sql_select(StaffSession)))


def _audit(session_factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with session_factory() as session:
        return list(session.scalars(sql_select(AuditEntry).where(AuditEntry.action == action)))


def _staff_id(session_factory: sessionmaker[Session], email: str) -> int:
    with session_factory() as session:
        return session.scalars(sql_select(StaffMember.id).where(StaffMember.email == email)).one()


def _assert_refused(
    response: httpx.Response,
    session_factory: sessionmaker[Session],
    *,
    status: int,
    message: str,
    reason: str,
) -> AuditEntry:
    assert response.status_code == status, response.text
    assert message.replace("'", "&#39;") in response.text
    assert "safeclass=" not in response.headers.get("set-cookie", "")
    assert _sessions(session_factory) == []
    refusals = [
        entry
        for entry in _audit(session_factory, "sso_sign_in_refused")
        if entry.data["reason"] == reason
    ]
    assert len(refusals) == 1, [entry.data for entry in refusals]
    return refusals[0]


# --- Signing in ----------------------------------------------------------------------------------


def test_school_account_signs_staff_in_with_a_server_side_session_and_reaches_admin(
    browser: TestClient, session_factory: sessionmaker[Session], provider: Provider
) -> None:
    provider_url = _go_to_provider(browser)
    asked = urlsplit(provider_url)
    assert f"{asked.scheme}://{asked.netloc}" == provider.issuer
    query = {name: values[0] for name, values in parse_qs(asked.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 30
    assert len(query["nonce"]) >= 20

    pending_cookie = browser.cookies.get("safeclass_sso")
    assert pending_cookie is not None
    assert query["code_challenge"] not in pending_cookie

    response = browser.get(_at_provider(provider_url, "tess"))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin"
    set_cookies = response.headers.get_list("set-cookie")
    session_cookie = next(header for header in set_cookies if header.startswith("safeclass="))
    attributes = [part.strip().lower() for part in session_cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert any(header.startswith('safeclass_sso=""') for header in set_cookies)

    [stored] = _sessions(session_factory)
    assert stored.staff_id == _staff_id(session_factory, OAK_TEACHER)
    home = browser.get("/admin")
    assert home.status_code == 200
    assert "Tess Teacher" in home.text
    [audited] = _audit(session_factory, "sign_in")
    assert audited.actor_staff_id == stored.staff_id
    assert audited.data["method"] == "single_sign_on"
    assert audited.data["subject"] == "tess"
    assert CLIENT_SECRET not in json.dumps(audited.data)


def test_the_providers_answer_works_only_once(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callback = _at_provider(_go_to_provider(browser), "tess")
    assert browser.get(callback).status_code == 303
    browser.cookies.clear()
    with session_factory() as session:
        for stored in session.scalars(sql_select(StaffSession)):
            session.delete(stored)
        session.commit()
    replayed = browser.get(callback)
    _assert_refused(
        replayed, session_factory, status=400, message=START_AGAIN, reason="no_pending_sign_in"
    )


def test_signing_in_replaces_a_session_the_browser_already_holds(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    assert _sign_in_as(browser, "tess").status_code == 303
    planted = browser.cookies["safeclass"]
    assert _sign_in_as(browser, "tess").status_code == 303
    assert browser.cookies["safeclass"] != planted
    [only] = _sessions(session_factory)
    assert only.staff_id == _staff_id(session_factory, OAK_TEACHER)


def test_entra_domain_owner_verified_claim_stands_in_for_email_verified(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    response = _sign_in_as(browser, "dana-entra")
    assert response.status_code == 303, response.text
    assert "Dana Lead" in browser.get("/admin").text


def test_email_from_the_userinfo_endpoint_is_used_when_the_id_token_has_none(
    config: Config,
    strict_provider: Provider,
    session_factory: sessionmaker[Session],
    world: World,
) -> None:
    app = create_app(_sso_config(config, strict_provider), session_factory=session_factory)
    with TestClient(app, follow_redirects=False) as client:
        response = _sign_in_as(client, "tess")
        assert response.status_code == 303, response.text
        assert "Tess Teacher" in client.get("/admin").text


def test_behind_https_the_pending_cookie_is_secure_and_host_only(
    config: Config, provider: Provider, session_factory: sessionmaker[Session], world: World
) -> None:
    secure = _sso_config(
        dataclasses.replace(config, secure_cookies=True), provider, sso_redirect_uri=SECURE_CALLBACK
    )
    app = create_app(secure, session_factory=session_factory)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        start = client.get("/auth/sso/start")
        pending = start.headers["set-cookie"]
        assert pending.startswith("__Host-safeclass-sso=")
        attributes = [part.strip().lower() for part in pending.split(";")]
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
        assert not any(part.startswith("domain=") for part in attributes)
        callback = _at_provider(start.headers["location"], "tess", callback_prefix=SECURE_CALLBACK)
        response = client.get(callback)
        assert response.status_code == 303, response.text
        assert client.cookies.get("__Host-safeclass") is not None


# --- Refusals ------------------------------------------------------------------------------------


def test_unknown_email_is_refused_and_audited_without_creating_an_account(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    response = _sign_in_as(browser, "stranger")
    refusal = _assert_refused(
        response, session_factory, status=403, message=NOT_SET_UP, reason="not_staff"
    )
    assert refusal.data["email"] == "stranger@oak.example"
    assert refusal.actor_staff_id is None
    with session_factory() as session:
        assert (
            session.scalars(
                sql_select(StaffMember).where(StaffMember.email == "stranger@oak.example")
            ).all()
            == []
        )
    assert browser.get("/admin").status_code == 303


def test_switched_off_staff_are_refused(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    response = _sign_in_as(browser, "fran")
    refusal = _assert_refused(
        response,
        session_factory,
        status=403,
        message="Your SafeClass account is switched off",
        reason="staff_switched_off",
    )
    assert refusal.actor_staff_id == _staff_id(session_factory, FORMER_TEACHER)


@pytest.mark.parametrize("login", ["tariq-unverified", "dana-entra-unverified", "no-email"])
def test_an_address_the_provider_does_not_vouch_for_is_refused(
    browser: TestClient, session_factory: sessionmaker[Session], login: str
) -> None:
    response = _sign_in_as(browser, login)
    reason = "no_email" if login == "no-email" else "email_not_verified"
    _assert_refused(response, session_factory, status=403, message=NO_VERIFIED_EMAIL, reason=reason)


def test_allowed_domains_limit_who_can_sign_in(
    config: Config, provider: Provider, session_factory: sessionmaker[Session], world: World
) -> None:
    limited = _sso_config(config, provider, sso_allowed_domains=("oak.example",))
    app = create_app(limited, session_factory=session_factory)
    with TestClient(app, follow_redirects=False) as client:
        refused = _sign_in_as(client, "eli")
        _assert_refused(
            refused,
            session_factory,
            status=403,
            message=NOT_SET_UP,
            reason="domain_not_allowed",
        )
        assert _sign_in_as(client, "tess").status_code == 303


def test_cancelling_at_the_provider_signs_nobody_in(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callback = _at_provider(_go_to_provider(browser), "tess", cancel=True)
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    _assert_refused(
        browser.get(callback),
        session_factory,
        status=400,
        message=NOT_CONFIRMED,
        reason="provider_said_no",
    )


def test_tampered_state_is_refused(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callback = _at_provider(_go_to_provider(browser), "tess")
    tampered = _with_query(callback, state="x" + parse_qs(urlsplit(callback).query)["state"][0])
    _assert_refused(
        browser.get(tampered),
        session_factory,
        status=400,
        message=START_AGAIN,
        reason="state_mismatch",
    )


def test_an_answer_brought_by_another_browser_is_refused(
    browser: TestClient, sso_app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    # Login CSRF: someone's own valid answer, pushed into a victim's browser.
    callback = _at_provider(_go_to_provider(browser), "tess")
    with TestClient(sso_app, follow_redirects=False) as victim:
        response = victim.get(callback)
    _assert_refused(
        response, session_factory, status=400, message=START_AGAIN, reason="no_pending_sign_in"
    )


def test_a_forged_pending_cookie_is_refused(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callback = _at_provider(_go_to_provider(browser), "tess")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = PendingSignIns(b"not the server's key" * 2).seal(
        PendingSignIn(state=state, nonce="n" * 27, code_verifier="v" * 64)
    )
    browser.cookies.set("safeclass_sso", forged)
    _assert_refused(
        browser.get(callback),
        session_factory,
        status=400,
        message=START_AGAIN,
        reason="no_pending_sign_in",
    )


def test_an_id_token_for_another_nonce_is_refused(
    browser: TestClient,
    config: Config,
    sso_web: WebContext,
    session_factory: sessionmaker[Session],
) -> None:
    callback = _at_provider(_go_to_provider(browser), "tess")
    pending = sso_web.sso.pending.open(browser.cookies["safeclass_sso"]) if sso_web.sso else None
    assert pending is not None
    # Signed with the server's own key, so only the nonce is wrong: the ID token must say no.
    other_nonce = PendingSignIns(config.secret_key()).seal(
        dataclasses.replace(pending, nonce="a-nonce-this-sign-in-never-sent")
    )
    browser.cookies.set("safeclass_sso", other_nonce)
    refusal = _assert_refused(
        browser.get(callback),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="token_rejected",
    )
    assert refusal.actor_staff_id is None


def test_an_answer_naming_another_issuer_is_refused(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callback = _at_provider(_go_to_provider(browser), "tess")
    assert "iss" in parse_qs(urlsplit(callback).query)  # oidc-provider names itself (RFC 9207)
    _assert_refused(
        browser.get(_with_query(callback, iss="https://attacker.example")),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="issuer_mismatch",
    )


class _Tamper(httpx.AsyncBaseTransport):
    """Stands between SafeClass and the provider, rewriting the JSON of some answers (by the end
    of their path)."""

    def __init__(self, **rewrites: Callable[[dict[str, Any]], None]) -> None:
        self.rewrites = {
            f"/{name.replace('_', '-')}": rewrite for name, rewrite in rewrites.items()
        }
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.real.handle_async_request(request)
        path = request.url.path.rsplit("/", 1)[-1]
        rewrite = self.rewrites.get(f"/{path}")
        if rewrite is None:
            return response
        body = json.loads(await response.aread())
        rewrite(body)
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self.real.aclose()


def _use_transport(web: WebContext, transport: httpx.AsyncBaseTransport) -> None:
    assert web.sso is not None
    web.sso = SingleSignOn(web.sso.settings, web.config.secret_key(), transport=transport)


def test_a_discovery_document_for_another_issuer_is_refused(
    browser: TestClient, sso_web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    def other_issuer(document: dict[str, Any]) -> None:
        document["issuer"] = "https://attacker.example"

    _use_transport(sso_web, _Tamper(openid_configuration=other_issuer))
    _assert_refused(
        browser.get("/auth/sso/start"),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="issuer_mismatch",
    )


def test_an_id_token_with_a_broken_signature_is_refused(
    browser: TestClient, sso_web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    def break_signature(answer: dict[str, Any]) -> None:
        header, payload, signature = str(answer["id_token"]).split(".")
        flipped = "A" if signature[10] != "A" else "B"
        answer["id_token"] = f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"

    _use_transport(sso_web, _Tamper(token=break_signature))
    _assert_refused(
        _sign_in_as(browser, "tess"),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="token_rejected",
    )


@cache
def _forger_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "forger", "use": "sig"}, private=True)


def _forge_id_token(changes: dict[str, object]) -> _Tamper:
    """Re-signs the provider's ID token with the claims changed, with a key that the provider's
    key set (also rewritten) then holds: only the changed claims can make SafeClass say no."""
    key = _forger_key()

    def rewrite_token(answer: dict[str, Any]) -> None:
        payload = str(answer["id_token"]).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims.update(changes)
        answer["id_token"] = jwt.encode({"alg": "RS256", "kid": "forger"}, claims, key)

    def rewrite_keys(key_set: dict[str, Any]) -> None:
        key_set["keys"] = KeySet([key]).as_dict(private=False)["keys"]

    return _Tamper(token=rewrite_token, jwks=rewrite_keys)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),  # the forger's own check: with nothing changed, the sign-in goes through
        ({"aud": "another-client"}, "token_rejected"),
        ({"aud": ["another-client", "a-third"]}, "token_rejected"),
        ({"iss": "https://attacker.example"}, "token_rejected"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 1200}, "token_rejected"),
        ({"nonce": "a-nonce-this-sign-in-never-sent"}, "token_rejected"),
        ({"email": OAK_DSL}, None),  # the address that counts is the one in the signed token
    ],
)
def test_id_token_audience_issuer_expiry_and_nonce_are_checked(
    browser: TestClient,
    sso_web: WebContext,
    session_factory: sessionmaker[Session],
    changes: dict[str, object],
    reason: str | None,
) -> None:
    _use_transport(sso_web, _forge_id_token(changes))
    response = _sign_in_as(browser, "tess")
    if reason is None:
        assert response.status_code == 303, response.text
        [stored] = _sessions(session_factory)
        email = changes.get("email", OAK_TEACHER)
        assert isinstance(email, str)
        assert stored.staff_id == _staff_id(session_factory, email)
    else:
        _assert_refused(response, session_factory, status=502, message=NOT_WORKING, reason=reason)


def test_a_wrong_client_secret_is_refused_by_the_provider_and_explained_in_the_log(
    config: Config, provider: Provider, session_factory: sessionmaker[Session], world: World
) -> None:
    wrong = _sso_config(config, provider, sso_client_secret="not the secret the provider knows")
    with TestClient(
        create_app(wrong, session_factory=session_factory), follow_redirects=False
    ) as client:
        refusal = _assert_refused(
            _sign_in_as(client, "tess"),
            session_factory,
            status=502,
            message=NOT_WORKING,
            reason="token_rejected",
        )
    assert "invalid_client" in refusal.data["detail"]


def test_an_answer_without_a_code_is_refused(
    browser: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callback = urlsplit(_at_provider(_go_to_provider(browser), "tess"))
    query = {name: values[0] for name, values in parse_qs(callback.query).items()}
    del query["code"]
    _assert_refused(
        browser.get(urlunsplit(callback._replace(query=urlencode(query)))),
        session_factory,
        status=400,
        message=START_AGAIN,
        reason="no_code",
    )


def test_a_token_answer_without_an_id_token_is_refused(
    browser: TestClient, sso_web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    def drop_id_token(answer: dict[str, Any]) -> None:
        del answer["id_token"]

    _use_transport(sso_web, _Tamper(token=drop_id_token))
    refusal = _assert_refused(
        _sign_in_as(browser, "tess"),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="token_rejected",
    )
    assert refusal.data["detail"] == "no ID token in the answer"


def test_userinfo_about_someone_else_is_refused(
    config: Config,
    strict_provider: Provider,
    session_factory: sessionmaker[Session],
    world: World,
) -> None:
    def someone_else(userinfo: dict[str, Any]) -> None:
        userinfo["sub"] = "someone-else"

    app = create_app(_sso_config(config, strict_provider), session_factory=session_factory)
    web = app.state.safeclass
    assert isinstance(web, WebContext)
    _use_transport(web, _Tamper(me=someone_else))  # oidc-provider's userinfo endpoint is /me
    with TestClient(app, follow_redirects=False) as client:
        refusal = _assert_refused(
            _sign_in_as(client, "tess"),
            session_factory,
            status=502,
            message=NOT_WORKING,
            reason="token_rejected",
        )
    assert refusal.data["detail"] == "userinfo is someone else's"


def test_a_discovery_document_that_is_not_json_gets_a_plain_message(
    browser: TestClient, sso_web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    _use_transport(sso_web, httpx.MockTransport(lambda _: httpx.Response(200, text="<html>")))
    _assert_refused(
        browser.get("/auth/sso/start"),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="provider_unreachable",
    )


def test_a_provider_lost_half_way_gets_a_plain_message(
    browser: TestClient, sso_web: WebContext, session_factory: sessionmaker[Session]
) -> None:
    def connection_lost(_answer: dict[str, Any]) -> None:
        raise httpx.ReadError("connection reset by peer")

    _use_transport(sso_web, _Tamper(token=connection_lost))
    _assert_refused(
        _sign_in_as(browser, "tess"),
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="provider_unreachable",
    )


def test_an_unreachable_provider_gets_a_plain_message(
    config: Config, session_factory: sessionmaker[Session], world: World
) -> None:
    nowhere = Provider(issuer="http://127.0.0.1:9")  # the discard port: nothing listens
    app = create_app(_sso_config(config, nowhere), session_factory=session_factory)
    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/auth/sso/start")
    _assert_refused(
        response,
        session_factory,
        status=502,
        message=NOT_WORKING,
        reason="provider_unreachable",
    )


# --- Which address counts, and the pending sign-in ------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "allowed", "outcome"),
    [
        ({"email": " Tess@Oak.Example ", "email_verified": True}, (), "tess@oak.example"),
        ({"email": "tess@oak.example", "email_verified": "true"}, (), "tess@oak.example"),
        ({"email": "tess@oak.example", "xms_edov": True}, (), "tess@oak.example"),
        ({"email": "tess@oak.example", "xms_edov": "true"}, (), "tess@oak.example"),
        (
            {"email": "tess@oak.example", "email_verified": True},
            ("oak.example",),
            "tess@oak.example",
        ),
        # An explicit "not verified" is not overruled by Microsoft's claim.
        (
            {"email": "tess@oak.example", "email_verified": False, "xms_edov": True},
            (),
            "email_not_verified",
        ),
        ({"email": "tess@oak.example", "email_verified": "yes"}, (), "email_not_verified"),
        ({"email": "tess@oak.example"}, (), "email_not_verified"),
        (
            {"email": "tess@oak.example", "email_verified": True},
            ("elm.example",),
            "domain_not_allowed",
        ),
        (
            {"email": "tess@evil-oak.example", "email_verified": True},
            ("oak.example",),
            "domain_not_allowed",
        ),
        ({"email": "not an address", "email_verified": True}, (), "no_email"),
        ({"email": "a" * 250 + "@oak.example", "email_verified": True}, (), "no_email"),
        ({"email": "  ", "email_verified": True}, (), "no_email"),
        ({"email": ["tess@oak.example"], "email_verified": True}, (), "no_email"),
        ({"email_verified": True}, (), "no_email"),
    ],
)
def test_only_an_address_the_provider_vouches_for_counts(
    claims: dict[str, object], allowed: tuple[str, ...], outcome: str
) -> None:
    if "@" in outcome:
        assert vouched_email(claims, allowed) == outcome
    else:
        with pytest.raises(SsoRefusedError) as refused:
            vouched_email(claims, allowed)
        assert refused.value.reason.value == outcome


def test_a_pending_sign_in_opens_only_as_it_was_sealed() -> None:
    key = b"k" * 32
    pending = PendingSignIn(state="s", nonce="n", code_verifier="v")
    sealed = PendingSignIns(key).seal(pending)
    assert PendingSignIns(key).open(sealed) == pending
    assert PendingSignIns(b"another key" * 3).open(sealed) is None
    assert PendingSignIns(key).open(sealed[:-2]) is None
    assert PendingSignIns(key).open(None) is None
    assert PendingSignIns(key).open("") is None
    same_key = URLSafeTimedSerializer(key, salt="safeclass.sso-pending")
    assert PendingSignIns(key).open(same_key.dumps(["s", "n", "v"])) is None
    assert PendingSignIns(key).open(same_key.dumps({"state": "s", "nonce": "n"})) is None
    # The join-link and sign-in-form tokens are signed with the same key, but another salt.
    other_use = URLSafeTimedSerializer(key, salt="safeclass.sign-in-form")
    assert (
        PendingSignIns(key).open(other_use.dumps({"state": "s", "nonce": "n", "verifier": "v"}))
        is None
    )


# --- The sign-in page and the settings ------------------------------------------------------------


def test_sso_button_shows_only_when_sso_is_set_up(
    client: TestClient, browser: TestClient, config: Config, provider: Provider
) -> None:
    plain = client.get("/signin").text
    assert "/auth/sso/start" not in plain
    assert "school account" not in plain
    assert client.get("/auth/sso/start").status_code == 404
    assert client.get("/auth/sso/callback?code=x&state=y").status_code == 404

    page = browser.get("/signin").text
    assert re.search(
        r'<a class="button" href="/auth/sso/start">Sign in with your school account</a>', page
    )
    assert 'action="/signin"' in page  # passwords still work beside it


def test_the_button_label_can_be_the_schools_own(
    config: Config, provider: Provider, session_factory: sessionmaker[Session], world: World
) -> None:
    labelled = _sso_config(config, provider, sso_label="Sign in with Oak Trust Microsoft 365")
    with TestClient(create_app(labelled, session_factory=session_factory)) as client:
        assert "Sign in with Oak Trust Microsoft 365" in client.get("/signin").text


def test_sso_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "SAFECLASS_DATA_DIR": str(tmp_path),
            "SAFECLASS_SSO_ISSUER": "https://login.microsoftonline.com/tenant-id/v2.0",
            "SAFECLASS_SSO_CLIENT_ID": "client",
            "SAFECLASS_SSO_CLIENT_SECRET": "secret",
            "SAFECLASS_SSO_REDIRECT_URI": "https://safeclass.example.org/auth/sso/callback",
            "SAFECLASS_SSO_ALLOWED_DOMAINS": " Oak.Example, ,trust.example ",
            "SAFECLASS_SSO_LABEL": "Sign in with Microsoft",
        }
    )
    assert "secret" not in repr(config)
    settings = SsoSettings.from_config(config)
    assert settings is not None
    assert settings.allowed_domains == ("oak.example", "trust.example")
    assert settings.label == "Sign in with Microsoft"
    assert settings.discovery_url == (
        "https://login.microsoftonline.com/tenant-id/v2.0/.well-known/openid-configuration"
    )
    assert "secret" not in repr(settings)
    assert SsoSettings.from_config(Config.from_env({"SAFECLASS_DATA_DIR": str(tmp_path)})) is None


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"sso_client_secret": ""}, "SAFECLASS_SSO_CLIENT_SECRET is missing"),
        ({"sso_issuer": "http://idp.example"}, "SAFECLASS_SSO_ISSUER must be a full https://"),
        ({"sso_issuer": "idp.example"}, "SAFECLASS_SSO_ISSUER must be a full https://"),
        (
            {"sso_redirect_uri": "http://safeclass.example/auth/sso/callback"},
            "SAFECLASS_SSO_REDIRECT_URI must be a full https://",
        ),
        (
            {"sso_redirect_uri": "https://safeclass.example/callback"},
            "SAFECLASS_SSO_REDIRECT_URI must end in /auth/sso/callback",
        ),
    ],
)
def test_half_set_or_unsafe_settings_stop_the_app_saying_why(
    config: Config,
    session_factory: sessionmaker[Session],
    changes: dict[str, str],
    complaint: str,
) -> None:
    settings = dataclasses.replace(
        config,
        secure_cookies=True,
        sso_issuer="https://idp.example",
        sso_client_id=CLIENT_ID,
        sso_client_secret=CLIENT_SECRET,
        sso_redirect_uri="https://safeclass.example/auth/sso/callback",
    )
    with pytest.raises(SsoSettingsError, match=re.escape(complaint)):
        SsoSettings.from_config(dataclasses.replace(settings, **changes))  # type: ignore[arg-type]
    with pytest.raises(SsoSettingsError, match=re.escape(complaint)):
        create_app(
            dataclasses.replace(settings, **changes),  # type: ignore[arg-type]
            session_factory=session_factory,
        )
