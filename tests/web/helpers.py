"""Helpers for driving the staff pages like a browser would. Import `TestClient` from here."""

from __future__ import annotations

from html.parser import HTMLParser

# Starlette's warning that its test client would rather have `httpx2` is let through by one
# precise entry in pyproject.toml's pytest `filterwarnings`.
from fastapi.testclient import TestClient as TestClient

PASSWORD = "correct horse battery"


class FormFields(HTMLParser):
    """The values a browser would submit from the first form posting to `action`."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.values: dict[str, str] = {}
        self._in_form = False
        self._done = False
        self._select: str | None = None
        self._first_option: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and not self._done and attributes.get("action") == self.action:
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and "name" in attributes:
            self.values[attributes["name"]] = attributes.get("value", "")
        elif tag == "textarea" and "name" in attributes:
            self._textarea = attributes["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select is not None:
            self._first_option.setdefault(self._select, attributes["value"])
            if "selected" in attributes:
                self.values[self._select] = attributes["value"]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            # As a browser does: one line break just after the opening tag is not part of the text.
            self.values[self._textarea] = self.values[self._textarea].removeprefix("\n")
            self._textarea = None
        if tag == "select" and self._select is not None:
            self.values.setdefault(self._select, self._first_option.get(self._select, ""))
            self._select = None
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def form_values(html: str, action: str) -> dict[str, str]:
    parser = FormFields(action)
    parser.feed(html)
    assert parser._done, f"no form posting to {action}"
    return parser.values


def csrf_token(html: str, action: str) -> str:
    return form_values(html, action)["csrf_token"]


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text, "/signin")},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin"


def try_sign_in(client: TestClient, email: str, password: str) -> tuple[int, str]:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text, "/signin")},
    )
    return response.status_code, response.text


def session_csrf(client: TestClient) -> str:
    """The signed-in session's token, from the sign-out button every page carries."""
    return csrf_token(client.get("/admin").text, "/signout")
