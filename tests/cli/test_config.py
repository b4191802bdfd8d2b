"""The settings every command reads from the environment: defaults, and plain refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from safeclass.config import Config, ConfigError, timezone_from_env


def test_defaults() -> None:
    config = Config.from_env({})

    assert config.host == "127.0.0.1"
    assert config.port == 8000
    assert config.secure_cookies is False
    assert config.timezone == ZoneInfo("Europe/London")
    assert config.trusted_proxies == ("127.0.0.1",)
    assert config.database_url.endswith("/var/safeclass.db")


@pytest.mark.parametrize(
    ("host", "setting", "secure"),
    [
        ("0.0.0.0", None, True),  # noqa: S104 - a setting, not a socket
        ("127.0.0.1", None, False),
        ("127.0.0.1", "1", True),
        ("127.0.0.1", "yes", True),
        ("0.0.0.0", "0", False),  # noqa: S104
        ("0.0.0.0", "off", False),  # noqa: S104
        ("0.0.0.0", "", True),  # noqa: S104
    ],
)
def test_secure_cookies(host: str, setting: str | None, secure: bool) -> None:
    env = {"SAFECLASS_HOST": host}
    if setting is not None:
        env["SAFECLASS_SECURE_COOKIES"] = setting

    assert Config.from_env(env).secure_cookies is secure


def test_a_secure_cookies_value_that_means_neither_is_refused_not_guessed() -> None:
    with pytest.raises(ConfigError, match=r'SAFECLASS_SECURE_COOKIES: "ture" means neither'):
        Config.from_env({"SAFECLASS_SECURE_COOKIES": "ture"})


@pytest.mark.parametrize("port", ["eighty", "0", "65536", "-1", "80.5"])
def test_a_port_that_is_not_a_port_is_refused(port: str) -> None:
    with pytest.raises(ConfigError, match=f'SAFECLASS_PORT: "{port}" is not a port number'):
        Config.from_env({"SAFECLASS_PORT": port})


@pytest.mark.parametrize("name", ["Europe/Dublin", "America/New_York", "UTC", " Europe/Paris "])
def test_the_time_zone_can_be_set(name: str) -> None:
    assert Config.from_env({"SAFECLASS_TIMEZONE": name}).timezone == ZoneInfo(name.strip())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Europe/Londn", '"Europe/Londn" is not a time zone name. Did you mean "Europe/London"?'),
        ("GMT+1", '"GMT+1" is not a time zone name.'),
        ("../../etc/passwd", '"../../etc/passwd" is not a time zone name.'),
        ("/usr/share/zoneinfo/Europe/London", "is not a time zone name."),
    ],
)
def test_an_unknown_time_zone_is_refused_in_words(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        timezone_from_env({"SAFECLASS_TIMEZONE": name})

    assert str(refused.value).startswith("SAFECLASS_TIMEZONE: ")
    assert message in str(refused.value)
    assert "such as Europe/London" in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "proxies"),
    [
        ("10.0.0.5", ("10.0.0.5",)),
        ("10.0.0.5, 10.1.0.0/16", ("10.0.0.5", "10.1.0.0/16")),
        # Written the way uvicorn matches them: the network, and one spelling of an address.
        ("10.1.2.3/16,0:0:0:0:0:0:0:1", ("10.1.0.0/16", "::1")),
        ("", ()),
        (" , ", ()),
    ],
)
def test_trusted_proxies(setting: str, proxies: tuple[str, ...]) -> None:
    assert Config.from_env({"SAFECLASS_TRUSTED_PROXIES": setting}).trusted_proxies == proxies


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("localhost", '"localhost" is not an IP address or network'),
        ("10.0.0.5,nginx", '"nginx" is not an IP address or network'),
        ("10.0.0.0/33", '"10.0.0.0/33" is not an IP address or network'),
        ("*", "anyone could dodge the sign-in limits"),
    ],
)
def test_trusted_proxies_that_cannot_be_used_are_refused(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^SAFECLASS_TRUSTED_PROXIES: ") as refused:
        Config.from_env({"SAFECLASS_TRUSTED_PROXIES": setting})

    assert message in str(refused.value)


def _page_times(timezone: str | None) -> list[str]:
    """How the staff pages write 12:00 UTC on 1 July 2026 and on 1 January 2026, in a fresh
    process with no time zone data but SafeClass's own (PYTHONTZPATH empty), as on a bare server.
    """
    script = (
        "from datetime import UTC, datetime\n"
        "from safeclass.web.wording import format_time, format_when\n"
        "print(format_when(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)))\n"
        "print(format_time(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "SAFECLASS_TIMEZONE"}
    env["PYTHONTZPATH"] = ""
    if timezone is not None:
        env["SAFECLASS_TIMEZONE"] = timezone
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_pages_show_school_times_in_the_configured_zone_without_system_zone_data() -> None:
    assert _page_times(None) == ["Wed 1 July 2026, 13:00", "12:00"]
    assert _page_times("America/New_York") == ["Wed 1 July 2026, 08:00", "07:00"]
