"""Events to and from plain JSON, for the lesson's log. Reading checks every field, so a row that
was altered into something that is not an event is refused rather than replayed."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from safeclass.domain.lesson.events import AnyEvent

_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(Annotated[AnyEvent, Field(discriminator="type")])


class BadEventError(ValueError):
    """A stored event that cannot be read back."""


def event_to_json(event: AnyEvent) -> dict[str, Any]:
    data: dict[str, Any] = _EVENT.dump_python(event, mode="json")
    return data


def event_from_json(data: object) -> AnyEvent:
    try:
        return _EVENT.validate_python(data)
    except ValidationError as error:
        raise BadEventError(f"Not a lesson event: {error.error_count()} problem(s)") from error
