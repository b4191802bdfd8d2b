"""The Content-Security-Policy stays strict (our own origin only), with one exception that lets
the pages that blur compile WebAssembly; and every cookie SafeClass sets is HttpOnly and
SameSite. The headers on ordinary responses are checked in test_pages.py."""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import PlainTextResponse

from safeclass.web.security_headers import (
    BLUR_CONTENT_SECURITY_POLICY,
    BLUR_PAGE_HEADERS,
    CONTENT_SECURITY_POLICY,
    SecurityHeadersMiddleware,
)
from tests.web.helpers import TestClient

SOURCE = Path(__file__).resolve().parents[2] / "src" / "safeclass"
# The only sources any directive may name: nothing from another origin, no inline script or
# style, no eval.
ALLOWED_SOURCES = {"'self'", "'none'", "data:", "blob:"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} twice"
        parsed[name] = sources
    return parsed


def test_the_policy_names_our_own_origin_only() -> None:
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    for name, sources in policy.items():
        assert set(sources) <= ALLOWED_SOURCES, name


def test_the_blur_policy_adds_compiling_webassembly_and_nothing_else() -> None:
    strict = directives(CONTENT_SECURITY_POLICY)
    blur = directives(BLUR_CONTENT_SECURITY_POLICY)
    assert blur["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert {name: sources for name, sources in blur.items() if name != "script-src"} == {
        name: sources for name, sources in strict.items() if name != "script-src"
    }
    assert "'unsafe-eval'" not in BLUR_CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in BLUR_CONTENT_SECURITY_POLICY


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/blur")
    def blur() -> PlainTextResponse:
        return PlainTextResponse("page that blurs", headers=BLUR_PAGE_HEADERS)

    @app.get("/loose")
    def loose() -> PlainTextResponse:
        return PlainTextResponse(
            "page that asks for too much", headers={"Content-Security-Policy": "default-src *"}
        )

    @app.get("/plain")
    def plain() -> PlainTextResponse:
        return PlainTextResponse("page")

    app.add_middleware(SecurityHeadersMiddleware)
    return app


def test_a_page_may_ask_for_the_blur_policy_and_no_other() -> None:
    with TestClient(_app()) as client:
        blur = client.get("/blur")
        loose = client.get("/loose")
        plain = client.get("/plain")
    assert blur.headers.get_list("content-security-policy") == [BLUR_CONTENT_SECURITY_POLICY]
    assert loose.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]
    assert plain.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]
    for response in (blur, loose, plain):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"


def _cookie_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"set_cookie", "delete_cookie"}
            ):
                calls.append((f"{path.relative_to(SOURCE)}:{node.lineno}", node))
    return calls


def test_every_cookie_the_app_sets_is_httponly_and_samesite() -> None:
    calls = _cookie_calls()
    assert len(calls) >= 4  # session, sign-in form, typed code, single sign-on at least
    for where, call in calls:
        keywords = {
            keyword.arg: keyword.value for keyword in call.keywords if keyword.arg is not None
        }
        httponly = keywords.get("httponly")
        samesite = keywords.get("samesite")
        assert isinstance(httponly, ast.Constant), f"{where}: no httponly=True"
        assert httponly.value is True, f"{where}: no httponly=True"
        assert isinstance(samesite, ast.Constant), f"{where}: no samesite"
        assert samesite.value in {"lax", "strict"}, f"{where}: samesite={samesite.value!r}"
