"""Reading submitted forms with limits, so odd or oversized input gets a plain answer, never a 500.

Our pages only send `application/x-www-form-urlencoded` forms. Anything else (no body, another
content type, bytes that are not UTF-8) reads as an empty form, which then fails the CSRF check
with the usual "this form has expired" page.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
URLENCODED = "application/x-www-form-urlencoded"


class FormTooLargeError(Exception):
    """The form is bigger than any page of ours sends."""


class SubmittedForm:
    """The first value of each field, as typed."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in pairs:
            self._values.setdefault(name, value)

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values


async def read_form(request: Request) -> SubmittedForm:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormTooLargeError(f"declared {declared} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLargeError(f"more than {MAX_FORM_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != URLENCODED or not body:
        return SubmittedForm([])
    try:
        text = bytes(body).decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict"
        )
    except UnicodeDecodeError:
        return SubmittedForm([])
    except ValueError as error:  # more fields than max_num_fields
        raise FormTooLargeError(str(error)) from error
    return SubmittedForm(pairs)
