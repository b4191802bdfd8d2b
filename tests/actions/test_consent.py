"""Consent in the actions layer: personal consent links (unguessable, kept only as hashes, for the
staff who may see parents' contact details), a parent's yes and withdrawal (per pupil, per scope,
with the text's version), new versions of the text, the messages that carry links, and the audit
entry each change writes (and each non-change does not)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from safeclass.access import NotFoundError
from safeclass.actions.consent import (
    CONSENT_LINK_DAYS,
    GIVEN,
    LINK_ISSUED,
    LINK_REVOKED,
    TEXT_PUBLISHED,
    WITHDRAWN,
    ConsentRefusedError,
    IssuedConsentLink,
    child_of_link,
    children_at_school,
    give_consent,
    issue_class_consent_links,
    issue_consent_link,
    publish_consent_text,
    pupil_records,
    record_message,
    revoke_consent_link,
    withdraw_consent,
    working_consent_link,
)
from safeclass.domain.consent import ConsentScope, ConsentStatus, consent_status
from safeclass.store.models import (
    AuditEntry,
    ClassGroup,
    Consent,
    ConsentLink,
    ConsentMessageState,
    Parent,
    ParentLink,
    Pupil,
    School,
    StaffMember,
    Trust,
)
from safeclass.store.queries import current_consent_versions
from tests.web.conftest import (
    BIRCH_ADMIN,
    OAK_ADMIN,
    OAK_DSL,
    OAK_TEACHER,
    TRUST_ADMIN,
    World,
    build_world,
)

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
LIVE = ConsentScope.LIVE_LESSONS
RECORDING = ConsentScope.RECORDING


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session:
        return build_world(session)


@pytest.fixture
def session(session_factory: sessionmaker[Session], world: World) -> Session:
    with session_factory() as opened:
        return opened


def staff(session: Session, email: str) -> StaffMember:
    return session.scalars(select(StaffMember).where(StaffMember.email == email)).one()


def pupil(session: Session, first_name: str) -> Pupil:
    return session.scalars(select(Pupil).where(Pupil.first_name == first_name)).one()


def parent(session: Session, name: str) -> Parent:
    return session.scalars(select(Parent).where(Parent.display_name == name)).one()


def oak(session: Session, world: World) -> School:
    return session.get_one(School, world.oak_id)


def audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def status(session: Session, name: str, scope: ConsentScope = LIVE) -> ConsentStatus:
    child = pupil(session, name)
    session.refresh(child)
    current = current_consent_versions(session, child.school.trust_id).get(scope)
    return consent_status(pupil_records(child), scope, current)


def link_for(session: Session, world: World, name: str) -> IssuedConsentLink:
    issued = issue_consent_link(
        session,
        oak(session, world),
        parent(session, name),
        actor=staff(session, OAK_ADMIN),
        now=NOW,
    )
    session.commit()
    return issued


# --- Links ---------------------------------------------------------------------------------------


def test_a_link_carries_192_random_bits_and_only_its_hash_is_kept(
    session: Session, world: World
) -> None:
    issued = link_for(session, world, "Alex Adams")
    assert len(issued.token) == 32  # 24 bytes, URL-safe base64
    assert issued.link.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.link.expires_at == NOW + timedelta(days=CONSENT_LINK_DAYS)
    assert [child.first_name for child in issued.children] == ["Amy"]
    entries = audit(session, LINK_ISSUED)
    assert len(entries) == 1
    assert issued.token not in json.dumps([entry.data for entry in entries])
    assert working_consent_link(session, issued.token, NOW) is not None


def test_a_new_link_stops_the_old_one(session: Session, world: World) -> None:
    first = link_for(session, world, "Alex Adams")
    second = link_for(session, world, "Alex Adams")
    assert working_consent_link(session, first.token, NOW) is None
    assert working_consent_link(session, second.token, NOW) is not None
    revoked = audit(session, LINK_REVOKED)
    assert [entry.data["replaced_by"] for entry in revoked] == [second.link.id]


def test_a_stopped_expired_or_made_up_link_does_not_work(session: Session, world: World) -> None:
    issued = link_for(session, world, "Alex Adams")
    assert working_consent_link(session, issued.token, issued.link.expires_at) is None
    assert working_consent_link(session, "A" * 32, NOW) is None
    assert working_consent_link(session, "not a token!", NOW) is None
    assert working_consent_link(session, "", NOW) is None
    actor = staff(session, OAK_ADMIN)
    assert revoke_consent_link(session, issued.link, actor=actor, now=NOW) is True
    assert revoke_consent_link(session, issued.link, actor=actor, now=NOW) is False
    session.commit()
    assert working_consent_link(session, issued.token, NOW) is None
    assert len(audit(session, LINK_REVOKED)) == 1


@pytest.mark.parametrize("email", [OAK_TEACHER, BIRCH_ADMIN])
def test_only_staff_who_see_parents_contacts_make_links(
    session: Session, world: World, email: str
) -> None:
    with pytest.raises(NotFoundError):
        issue_consent_link(
            session,
            oak(session, world),
            parent(session, "Alex Adams"),
            actor=staff(session, email),
            now=NOW,
        )
    assert session.scalar(select(func.count()).select_from(ConsentLink)) == 0


@pytest.mark.parametrize("email", [OAK_ADMIN, OAK_DSL, TRUST_ADMIN])
def test_admins_safeguarding_leads_and_trust_admins_make_links(
    session: Session, world: World, email: str
) -> None:
    class_group = session.get_one(ClassGroup, world.kestrels_id)
    issued = issue_class_consent_links(
        session, class_group, actor=staff(session, email), now=NOW, replace_working=False
    )
    assert [i.parent.display_name for i in issued] == ["Alex Adams", "Chris Clark"]
    # Asked again: everyone has a working link, so nothing is made.
    again = issue_class_consent_links(
        session, class_group, actor=staff(session, email), now=NOW, replace_working=False
    )
    assert again == []


def test_a_parent_with_no_child_at_the_school_gets_no_link(session: Session, world: World) -> None:
    elm = session.get_one(School, world.elm_id)
    with pytest.raises(ConsentRefusedError, match="not recorded as the parent"):
        issue_consent_link(
            session, elm, parent(session, "Alex Adams"), actor=staff(session, TRUST_ADMIN), now=NOW
        )


# --- A parent's word -----------------------------------------------------------------------------


def test_giving_consent_records_the_version_and_an_audit_entry_once(
    session: Session, world: World
) -> None:
    issued = link_for(session, world, "Chris Clark")
    cara = pupil(session, "Cara")
    assert status(session, "Cara") is ConsentStatus.WITHDRAWN
    assert give_consent(session, issued.link, cara.id, LIVE, "v1", now=NOW) is True
    session.commit()
    assert status(session, "Cara") is ConsentStatus.GIVEN
    assert status(session, "Cara", RECORDING) is ConsentStatus.MISSING
    newest = session.scalars(select(Consent).order_by(Consent.id.desc())).first()
    assert newest is not None
    assert (newest.scope, newest.text_version, newest.given_at) == (LIVE, "v1", NOW)
    # Said again: nothing changes and nothing more is written.
    later = NOW + timedelta(minutes=1)
    assert give_consent(session, issued.link, cara.id, LIVE, "v1", now=later) is False
    session.commit()
    entries = audit(session, GIVEN)
    assert len(entries) == 1
    assert entries[0].actor_staff_id is None
    assert entries[0].data["parent_id"] == issued.parent.id
    assert entries[0].data["text_version"] == "v1"


def test_consent_to_words_that_are_no_longer_current_is_refused(
    session: Session, world: World
) -> None:
    issued = link_for(session, world, "Chris Clark")
    cara = pupil(session, "Cara")
    before = session.scalar(select(func.count()).select_from(Consent))
    with pytest.raises(ConsentRefusedError, match="have just changed"):
        give_consent(session, issued.link, cara.id, LIVE, "v0", now=NOW)
    assert session.scalar(select(func.count()).select_from(Consent)) == before
    assert audit(session, GIVEN) == []


def test_withdrawing_stops_the_pupil_and_a_second_withdrawal_changes_nothing(
    session: Session, world: World
) -> None:
    issued = link_for(session, world, "Alex Adams")
    amy = pupil(session, "Amy")
    assert withdraw_consent(session, issued.link, amy.id, LIVE, now=NOW) is True
    session.commit()
    assert status(session, "Amy") is ConsentStatus.WITHDRAWN
    own = session.scalars(select(Consent).where(Consent.pupil_id == amy.id)).all()
    assert [c.withdrawn_at for c in own] == [NOW]
    assert withdraw_consent(session, issued.link, amy.id, LIVE, now=NOW) is False
    assert withdraw_consent(session, issued.link, amy.id, RECORDING, now=NOW) is False
    assert len(audit(session, WITHDRAWN)) == 1


def test_a_second_parents_withdrawal_counts_over_the_first_parents_yes(
    session: Session, world: World
) -> None:
    amy = pupil(session, "Amy")
    carer = Parent(trust_id=amy.school.trust_id, display_name="Jo Adams")
    session.add(carer)
    session.flush()
    session.add(ParentLink(pupil_id=amy.id, parent_id=carer.id))
    session.commit()
    issued = link_for(session, world, "Jo Adams")
    assert status(session, "Amy") is ConsentStatus.GIVEN
    assert withdraw_consent(session, issued.link, amy.id, LIVE, now=NOW) is True
    session.commit()
    assert status(session, "Amy") is ConsentStatus.WITHDRAWN
    # The other parent's yes is withdrawn, and says by whom: no yes outlives the withdrawal.
    [record] = session.scalars(select(Consent).where(Consent.pupil_id == amy.id)).all()
    assert record.parent_id == parent(session, "Alex Adams").id
    assert (record.withdrawn_at, record.withdrawn_by_parent_id) == (NOW, carer.id)
    [entry] = audit(session, WITHDRAWN)
    assert entry.data["consent_ids"] == [record.id]
    assert entry.data["parent_id"] == carer.id
    # And a yes after it lets her in again.
    later = NOW + timedelta(minutes=5)
    assert give_consent(session, issued.link, amy.id, LIVE, "v1", now=later) is True
    session.commit()
    assert status(session, "Amy") is ConsentStatus.GIVEN


def test_a_link_reaches_only_its_parents_own_children(session: Session, world: World) -> None:
    issued = link_for(session, world, "Alex Adams")
    before = session.scalar(select(func.count()).select_from(Consent))
    for name in ("Ben", "Cara", "Rob"):
        other = pupil(session, name)
        with pytest.raises(NotFoundError):
            child_of_link(session, issued.link, other.id)
        with pytest.raises(NotFoundError):
            give_consent(session, issued.link, other.id, LIVE, "v1", now=NOW)
        with pytest.raises(NotFoundError):
            withdraw_consent(session, issued.link, other.id, LIVE, now=NOW)
    assert session.scalar(select(func.count()).select_from(Consent)) == before
    assert audit(session, GIVEN) == audit(session, WITHDRAWN) == []


def test_a_parent_unlinked_by_the_school_reaches_nobody_any_more(
    session: Session, world: World
) -> None:
    issued = link_for(session, world, "Alex Adams")
    amy = pupil(session, "Amy")
    session.delete(session.get_one(ParentLink, (amy.id, issued.parent.id)))
    session.commit()
    assert children_at_school(session, issued.parent, oak(session, world)) == []
    with pytest.raises(NotFoundError):
        withdraw_consent(session, issued.link, amy.id, LIVE, now=NOW)


# --- New versions of the words -------------------------------------------------------------------


def test_a_new_version_asks_parents_again(session: Session, world: World) -> None:
    trust = session.get_one(Trust, oak(session, world).trust_id)
    publish_consent_text(
        session, trust, LIVE, " v2 ", "New words.", actor=staff(session, TRUST_ADMIN), now=NOW
    )
    session.commit()
    assert status(session, "Amy") is ConsentStatus.OUTDATED
    [entry] = audit(session, TEXT_PUBLISHED)
    assert entry.data == {"trust_id": trust.id, "scope": "live_lessons", "version": "v2"}
    issued = link_for(session, world, "Alex Adams")
    amy = pupil(session, "Amy")
    with pytest.raises(ConsentRefusedError):
        give_consent(session, issued.link, amy.id, LIVE, "v1", now=NOW)
    assert give_consent(session, issued.link, amy.id, LIVE, "v2", now=NOW) is True
    session.commit()
    assert status(session, "Amy") is ConsentStatus.GIVEN


@pytest.mark.parametrize(
    ("version", "body", "problem"),
    [
        ("", "Words.", "Give the new version a name"),
        ("v1", "Words.", "already a version"),
        ("a\nb", "Words.", "on one line"),
        ("x" * 41, "Words.", "up to 40"),
        ("v9", "   ", "Write the words"),
        ("v9", "x" * 20_001, "up to 20000"),
    ],
)
def test_a_version_that_cannot_be_published_changes_nothing(
    session: Session, world: World, version: str, body: str, problem: str
) -> None:
    trust = session.get_one(Trust, oak(session, world).trust_id)
    with pytest.raises(ConsentRefusedError, match=problem):
        publish_consent_text(
            session, trust, LIVE, version, body, actor=staff(session, TRUST_ADMIN), now=NOW
        )
    assert audit(session, TEXT_PUBLISHED) == []


@pytest.mark.parametrize("email", [OAK_ADMIN, OAK_DSL, BIRCH_ADMIN])
def test_only_the_trusts_own_admins_publish(session: Session, world: World, email: str) -> None:
    trust = session.get_one(Trust, oak(session, world).trust_id)
    with pytest.raises(NotFoundError):
        publish_consent_text(
            session, trust, LIVE, "v2", "Words.", actor=staff(session, email), now=NOW
        )
    assert audit(session, TEXT_PUBLISHED) == []


# --- Messages ------------------------------------------------------------------------------------


def test_a_message_is_never_stored_with_its_links_token(session: Session, world: World) -> None:
    issued = link_for(session, world, "Alex Adams")
    with pytest.raises(ValueError, match="never be stored"):
        record_message(
            session,
            issued,
            to_address="a@b.example",
            subject="Hello",
            body_without_token=f"Open https://x/consent/{issued.token}",
            state=ConsentMessageState.OUTBOX,
            actor=staff(session, OAK_ADMIN),
            now=NOW,
        )
