"""A school's own rules: tighten anything, loosen only what the trust has not locked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.actions.school_policy import SchoolPolicyRefusedError, set_school_overrides
from safeclass.store.models import AuditEntry, School, StaffMember, Trust
from tests.web.conftest import OAK_ADMIN, OAK_ASSISTANT, OAK_TEACHER, TRUST_ADMIN, World
from tests.web.helpers import TestClient, form_values, session_csrf, sign_in

SAVED = "Your changes are saved."


def _overrides(session_factory: sessionmaker[Session], school_id: int) -> dict[str, object]:
    with session_factory() as session:
        school = session.get(School, school_id)
        assert school is not None
        return dict(school.policy_overrides)


def _policy_audits(session_factory: sessionmaker[Session]) -> list[AuditEntry]:
    with session_factory() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "school_policy_changed"))
        )


def _form(client: TestClient, school_id: int) -> tuple[str, dict[str, str]]:
    action = f"/admin/schools/{school_id}/policy"
    page = client.get(action)
    assert page.status_code == 200
    return action, form_values(page.text, action)


# --- Through the web pages.


@pytest.mark.parametrize("email", [OAK_TEACHER, OAK_ASSISTANT])
def test_teachers_and_assistants_cannot_see_or_change_the_policy(
    client: TestClient, session_factory: sessionmaker[Session], world: World, email: str
) -> None:
    sign_in(client, email)
    action = f"/admin/schools/{world.oak_id}/policy"
    assert client.get(action).status_code == 404
    response = client.post(
        action,
        data={"csrf_token": session_csrf(client), "min_pupils_without_second_staff": "5"},
    )
    assert response.status_code == 404
    assert _overrides(session_factory, world.oak_id) == {}
    assert _policy_audits(session_factory) == []


def test_a_school_admin_cannot_edit_another_schools_policy(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    _action, values = _form(client, world.oak_id)
    elm_action = f"/admin/schools/{world.elm_id}/policy"
    assert client.get(elm_action).status_code == 404
    values["min_pupils_without_second_staff"] = "5"
    assert client.post(elm_action, data=values).status_code == 404
    assert _overrides(session_factory, world.elm_id) == {}


def test_the_form_shows_trust_values_locks_and_the_fixed_rules(
    client: TestClient, world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    page = client.get(f"/admin/schools/{world.oak_id}/policy")
    text = page.text
    assert "Smallest group for one member of staff" in text
    assert "locked by the trust (you can only make it stricter)" in text
    assert "Rules that never change" in text
    assert text.count("Always on / cannot be changed") == 4
    assert 'name="consent_required_live"' not in text
    # A locked setting only offers values at least as strict as the trust's.
    reminder = text.split('name="personal_info_reminder"', 1)[1].split("</select>", 1)[0]
    assert 'value="on"' in reminder
    assert 'value="off"' not in reminder
    group = text.split('name="min_pupils_without_second_staff"', 1)[1].split(">", 1)[0]
    assert 'min="2"' in group


def test_a_school_admin_can_tighten_a_locked_setting(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["min_pupils_without_second_staff"] = "4"
    response = client.post(action, data=values)
    assert response.status_code == 303
    assert response.headers["location"] == f"{action}?saved=changed"
    assert _overrides(session_factory, world.oak_id) == {"min_pupils_without_second_staff": 4}
    confirmation = client.get(response.headers["location"])
    assert SAVED in confirmation.text
    assert 'value="4"' in confirmation.text

    [entry] = _policy_audits(session_factory)
    assert entry.school_id == world.oak_id
    assert entry.data == {"changes": {"min_pupils_without_second_staff": {"before": 2, "after": 4}}}

    school_page = client.get(f"/admin/schools/{world.oak_id}")
    row = school_page.text.split("Smallest group for one member of staff", 1)[1].split("</tr>")[0]
    assert "4 pupils" in row
    assert "This school" in row


def test_a_school_admin_cannot_loosen_a_locked_setting(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["personal_info_reminder"] = "off"  # locked by the trust; not offered, sent anyway
    values["min_pupils_without_second_staff"] = "4"  # fine on its own, but the save is refused
    response = client.post(action, data=values)
    assert response.status_code == 200
    assert "Nothing was saved" in response.text
    assert "The trust has locked &#34;Reminder before joining&#34;" in response.text
    assert "A school may only make it stricter." in response.text
    assert _overrides(session_factory, world.oak_id) == {}
    assert _policy_audits(session_factory) == []


def test_a_school_admin_can_loosen_an_unlocked_setting(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["recording_allowed"] = "on"
    assert client.post(action, data=values).status_code == 303
    assert _overrides(session_factory, world.oak_id) == {"recording_allowed": True}
    [entry] = _policy_audits(session_factory)
    assert entry.data == {"changes": {"recording_allowed": {"before": False, "after": True}}}


def test_choosing_the_trust_value_again_removes_the_override(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["min_pupils_without_second_staff"] = "4"
    client.post(action, data=values)
    action, values = _form(client, world.oak_id)
    values["min_pupils_without_second_staff"] = "2"
    assert client.post(action, data=values).status_code == 303
    assert _overrides(session_factory, world.oak_id) == {}
    assert len(_policy_audits(session_factory)) == 2


def test_saving_without_changes_writes_nothing(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    response = client.post(action, data=values)
    assert response.headers["location"] == f"{action}?saved=unchanged"
    assert "Nothing needed saving" in client.get(response.headers["location"]).text
    assert _policy_audits(session_factory) == []


def test_a_trust_admin_can_edit_a_schools_policy(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, TRUST_ADMIN)
    action, values = _form(client, world.elm_id)
    values["class_chat"] = "off"
    assert client.post(action, data=values).status_code == 303
    assert _overrides(session_factory, world.elm_id) == {"class_chat": False}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("staff_absence_grace_seconds", "soon", "must be a whole number"),
        ("staff_absence_grace_seconds", "99999", "must be between"),
        ("staff_absence_grace_seconds", "9" * 5000, "This value is too long"),
        ("retention_chat_days", "", "must be a whole number"),
        ("admission_mode", "everyone", "must be one of"),
        ("class_chat", "perhaps", "must be on or off"),
        ("staff_absence_grace_seconds", None, "This setting was missing from the form"),
    ],
)
def test_malformed_values_get_a_plain_message_and_change_nothing(
    client: TestClient,
    session_factory: sessionmaker[Session],
    world: World,
    field: str,
    value: str | None,
    message: str,
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["recording_allowed"] = "on"
    if value is None:
        del values[field]
    else:
        values[field] = value
    response = client.post(action, data=values)
    assert response.status_code == 200
    assert message in response.text
    assert f'id="error-{field}"' in response.text
    assert _overrides(session_factory, world.oak_id) == {}
    assert _policy_audits(session_factory) == []


# --- The action itself.


@pytest.fixture
def session(session_factory: sessionmaker[Session], world: World) -> Iterator[Session]:
    with session_factory() as session:
        yield session


def _oak_and_admin(session: Session, world: World) -> tuple[School, StaffMember]:
    school = session.get(School, world.oak_id)
    assert school is not None
    admin = session.scalars(select(StaffMember).where(StaffMember.email == OAK_ADMIN)).one()
    return school, admin


def test_fixed_settings_are_refused(session: Session, world: World) -> None:
    school, admin = _oak_and_admin(session, world)
    with pytest.raises(SchoolPolicyRefusedError) as refused:
        set_school_overrides(
            session, school=school, raw_values={"waiting_room": "off"}, actor=admin
        )
    assert "Nobody can change it" in refused.value.problems["waiting_room"]
    assert school.policy_overrides == {}


def test_unknown_settings_are_refused(session: Session, world: World) -> None:
    school, admin = _oak_and_admin(session, world)
    with pytest.raises(SchoolPolicyRefusedError) as refused:
        set_school_overrides(session, school=school, raw_values={"disco_mode": "on"}, actor=admin)
    assert refused.value.problems == {"disco_mode": 'There is no setting called "disco_mode".'}


def test_an_unlocked_trust_setting_locked_later_refuses_loosening(
    session: Session, world: World
) -> None:
    school, admin = _oak_and_admin(session, world)
    trust = session.get(Trust, school.trust_id)
    assert trust is not None
    trust.policy_locks = {"recording_allowed": True}
    session.flush()
    with pytest.raises(SchoolPolicyRefusedError) as refused:
        set_school_overrides(
            session, school=school, raw_values={"recording_allowed": "yes"}, actor=admin
        )
    assert "The trust has locked" in refused.value.problems["recording_allowed"]


def test_keys_not_submitted_keep_their_school_value(session: Session, world: World) -> None:
    school, admin = _oak_and_admin(session, world)
    set_school_overrides(session, school=school, raw_values={"class_chat": "off"}, actor=admin)
    change = set_school_overrides(
        session, school=school, raw_values={"named_guests": "on"}, actor=admin
    )
    assert change.changes == {"named_guests": (False, True)}
    assert school.policy_overrides == {"class_chat": False, "named_guests": True}


# --- The school's own words to block in chat: a text box, one word or phrase on each line.


def test_a_school_admin_adds_words_to_block_in_chat(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    assert values["chat_extra_words"] == ""
    values["chat_extra_words"] = "Plonker\n\n  muppet \r\nplonker\n"
    response = client.post(action, data=values)
    assert response.status_code == 303
    assert _overrides(session_factory, world.oak_id) == {"chat_extra_words": ["muppet", "plonker"]}
    [entry] = _policy_audits(session_factory)
    assert entry.data == {
        "changes": {"chat_extra_words": {"before": [], "after": ["muppet", "plonker"]}}
    }

    _, again = _form(client, world.oak_id)
    assert again["chat_extra_words"] == "muppet\nplonker"


def test_a_word_list_with_a_bad_line_is_refused_with_the_line_named(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["chat_extra_words"] = "plonker\nwww.example.com"
    response = client.post(action, data=values)
    assert response.status_code == 200
    assert "Nothing was saved" in response.text
    assert "line 2" in response.text
    assert "www.example.com" in response.text  # kept in the box, to be put right
    assert _overrides(session_factory, world.oak_id) == {}


def test_a_word_list_far_too_long_is_refused_before_it_is_read(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    values["chat_extra_words"] = "plonker\n" * 5000
    response = client.post(action, data=values)
    assert response.status_code == 200
    assert "This list is too long" in response.text
    assert _overrides(session_factory, world.oak_id) == {}


def test_the_trusts_words_are_shown_and_never_stored_as_the_schools(
    client: TestClient, session_factory: sessionmaker[Session], world: World
) -> None:
    with session_factory() as session:
        trust = session.get_one(School, world.oak_id).trust
        trust.policy_values = {**trust.policy_values, "chat_extra_words": ["numpty"]}
        session.commit()
    sign_in(client, OAK_ADMIN)
    action, values = _form(client, world.oak_id)
    page = client.get(action).text
    assert "Words the trust already blocks in every school: <strong>numpty</strong>" in page
    values["chat_extra_words"] = "numpty"  # the trust's own word, typed again: nothing to store
    assert client.post(action, data=values).headers["location"].endswith("saved=unchanged")
    values["chat_extra_words"] = "numpty\nwally"
    assert client.post(action, data=values).status_code == 303
    assert _overrides(session_factory, world.oak_id) == {"chat_extra_words": ["wally"]}
