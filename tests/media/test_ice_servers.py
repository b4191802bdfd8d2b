"""What browsers are told about STUN and TURN: never a shared password, always a credential of
their own that a TURN relay with the shared secret accepts, and that expires by itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from safeclass.config import Config, ConfigError
from safeclass.media.ice_servers import CREDENTIAL_LIFETIME, BrowserIceServers

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "a relay secret of some length"
TURN = "turns:turn.example.org:443?transport=tcp"


def relay_accepts(secret: str, username: str, credential: str, now: datetime) -> bool:
    """What coturn does with use-auth-secret: recompute the password, check the expiry."""
    expected = base64.b64encode(
        hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    ).decode()
    expiry = int(username.split(":", 1)[0])
    return hmac.compare_digest(expected, credential) and now.timestamp() < expiry


def test_nothing_configured_means_no_servers() -> None:
    assert BrowserIceServers().for_participant("p1", NOW) == []


def test_each_participant_gets_a_credential_of_their_own_that_the_relay_accepts() -> None:
    servers = BrowserIceServers(
        stun_urls=("stun:stun.example.org:3478",), turn_urls=(TURN,), turn_secret=SECRET.encode()
    )
    stun, turn = servers.for_participant("p0a1b2c3d4e5f", NOW)
    other = servers.for_participant("p9f8e7d6c5b4a", NOW)[1]

    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == [TURN]
    assert turn["username"].endswith(":p0a1b2c3d4e5f")
    assert turn["credential"] != other["credential"]
    assert SECRET not in str(turn)
    assert relay_accepts(SECRET, turn["username"], turn["credential"], NOW)
    assert not relay_accepts("another secret entirely", turn["username"], turn["credential"], NOW)
    assert not relay_accepts(
        SECRET, turn["username"], turn["credential"], NOW + CREDENTIAL_LIFETIME
    )


def test_turn_without_a_secret_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="shared secret"):
        BrowserIceServers(turn_urls=(TURN,))


def test_the_settings_are_read_and_checked_from_the_environment() -> None:
    config = Config.from_env(
        {
            "SAFECLASS_BROWSER_STUN_URLS": "stun:stun.example.org, stun:192.0.2.1:3478",
            "SAFECLASS_BROWSER_TURN_URLS": f"{TURN},turn:turn.example.org:3478?transport=udp",
            "SAFECLASS_BROWSER_TURN_SECRET": SECRET,
        }
    )
    assert config.browser_stun_urls == ("stun:stun.example.org", "stun:192.0.2.1:3478")
    assert config.browser_turn_urls == (TURN, "turn:turn.example.org:3478?transport=udp")
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SAFECLASS_BROWSER_TURN_URLS": TURN}, "SAFECLASS_BROWSER_TURN_SECRET too"),
        (
            {"SAFECLASS_BROWSER_TURN_URLS": TURN, "SAFECLASS_BROWSER_TURN_SECRET": "short"},
            "at least 16 characters",
        ),
        ({"SAFECLASS_BROWSER_TURN_SECRET": SECRET}, "without SAFECLASS_BROWSER_TURN_URLS"),
        ({"SAFECLASS_BROWSER_STUN_URLS": TURN}, "SAFECLASS_BROWSER_STUN_URLS"),
        ({"SAFECLASS_BROWSER_STUN_URLS": "https://stun.example.org"}, "is not an address"),
        ({"SAFECLASS_BROWSER_STUN_URLS": "stun:stun.example.org:99999"}, "is not an address"),
        (
            {
                "SAFECLASS_BROWSER_TURN_URLS": "turn:a.example.org?transport=sctp",
                "SAFECLASS_BROWSER_TURN_SECRET": SECRET,
            },
            "is not an address",
        ),
    ],
)
def test_settings_that_cannot_be_used_are_refused_in_words(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env(settings)
