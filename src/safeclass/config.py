"""Server configuration, read once from the environment.

SAFECLASS_DATA_DIR     where SafeClass keeps its files (default ./var)
SAFECLASS_DATABASE_URL an SQLAlchemy URL (default: an SQLite file in the data folder)
SAFECLASS_HOST/PORT    where the web app listens (default 127.0.0.1:8000)
SAFECLASS_SECURE_COOKIES  "1" behind HTTPS (default: on unless the host is a loopback address)
SAFECLASS_TIMEZONE     the schools' time zone for the times pages show (default Europe/London)
SAFECLASS_TRUSTED_PROXIES  addresses of the reverse proxies whose X-Forwarded-For and
                       X-Forwarded-Proto headers are believed (default 127.0.0.1; empty: none)
SAFECLASS_SSO_*        single sign-on for staff through the school's OpenID provider (off unless
                       set): see docs/sso.md
SAFECLASS_SMTP_*       the mail server for emails to parents (off unless SAFECLASS_SMTP_HOST is
                       set; without it, the school's outbox page shows each message): see
                       docs/consent.md
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_TIMEZONE = "Europe/London"
# Only a proxy on this machine, by default: anyone else could write an X-Forwarded-For header
# and sign in as if from any address they liked, dodging the per-address sign-in limit.
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1",)
_YES = {"1", "yes", "true", "on"}
_NO = {"0", "no", "false", "off"}


class ConfigError(ValueError):
    """A setting cannot be used. The message names the variable and says what it should be."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    host: str
    port: int
    secure_cookies: bool
    # Single sign-on (docs/sso.md). Left empty, staff sign in with a password only; web/sso.py
    # checks that the settings make sense together.
    sso_issuer: str = ""
    sso_client_id: str = ""
    sso_client_secret: str = field(default="", repr=False)
    sso_redirect_uri: str = ""
    sso_allowed_domains: tuple[str, ...] = ()
    sso_label: str = ""
    # The pages read the same setting when web/wording.py is imported (timezone_from_env).
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    # --- Media: the Janus server that `safeclass serve` runs (docs/operations.md, "Media server
    # (Janus)"). Off unless read from the environment, so apps built in tests start no Janus.
    media: bool = False
    janus_binary: str = "janus"
    janus_port: int = 8188
    janus_admin_port: int = 7188
    rtp_ports: tuple[int, int] = (20000, 20999)
    public_ip: str = ""
    stun_server: str = ""  # "host:port"
    turn_server: str = ""  # "host:port"
    turn_user: str = ""
    turn_password: str = field(default="", repr=False)
    ice_ignore: tuple[str, ...] = ("vmnet",)
    ice_interfaces: tuple[str, ...] = ()
    # STUN and TURN for browsers (media/ice_servers.py): addresses such as
    # "turns:turn.example.org:443?transport=tcp", and the relay's shared secret.
    browser_stun_urls: tuple[str, ...] = ()
    browser_turn_urls: tuple[str, ...] = ()
    browser_turn_secret: str = field(default="", repr=False)
    # --- Email to parents (consent links; docs/consent.md). No host: nothing is sent, and the
    # school's outbox page shows each message as it would have been sent.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        """The settings in `environ` (default: this process's environment). Raises ConfigError,
        naming the variable, for a value that cannot be used."""
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("SAFECLASS_DATA_DIR", "var")).resolve()
        database_url = env.get("SAFECLASS_DATABASE_URL") or f"sqlite:///{data_dir / 'safeclass.db'}"
        host = env.get("SAFECLASS_HOST", "127.0.0.1")
        port = _port(env.get("SAFECLASS_PORT", "8000"))
        loopback = host in {"127.0.0.1", "localhost", "::1"}
        secure = _switch(env, "SAFECLASS_SECURE_COOKIES", default=not loopback)
        return cls(
            data_dir,
            database_url,
            host,
            port,
            secure,
            sso_issuer=env.get("SAFECLASS_SSO_ISSUER", "").strip(),
            sso_client_id=env.get("SAFECLASS_SSO_CLIENT_ID", "").strip(),
            sso_client_secret=env.get("SAFECLASS_SSO_CLIENT_SECRET", "").strip(),
            sso_redirect_uri=env.get("SAFECLASS_SSO_REDIRECT_URI", "").strip(),
            sso_allowed_domains=tuple(
                domain.strip().lower()
                for domain in env.get("SAFECLASS_SSO_ALLOWED_DOMAINS", "").split(",")
                if domain.strip()
            ),
            sso_label=env.get("SAFECLASS_SSO_LABEL", "").strip(),
            timezone=timezone_from_env(env),
            trusted_proxies=_trusted_proxies(env),
            # --- Media (Janus).
            **_media_settings(env, web_port=port),
            # --- Email to parents.
            **_smtp_settings(env),
        )

    def secret_key(self) -> bytes:
        """The key that signs cookies and forms: made once, kept in the data folder (mode 600)."""
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())


def timezone_from_env(environ: Mapping[str, str] | None = None) -> ZoneInfo:
    """The time zone that pages, lesson times and letters to parents are written in."""
    env = os.environ if environ is None else environ
    return _parse_timezone(env.get("SAFECLASS_TIMEZONE", "").strip() or DEFAULT_TIMEZONE)


def _parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    # ZoneInfo also rejects names that look like file paths; either way, the same plain answer.
    close = difflib.get_close_matches(name, available_timezones(), n=1)
    hint = f' Did you mean "{close[0]}"?' if close else ""
    raise ConfigError(
        f'SAFECLASS_TIMEZONE: "{name}" is not a time zone name.{hint} Use a name from the tz '
        f"database, such as {DEFAULT_TIMEZONE}."
    )


def _port(raw: str) -> int:
    text = raw.strip()
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise ConfigError(f'SAFECLASS_PORT: "{raw}" is not a port number (1 to 65535).')


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    # Guessing here could leave session cookies unprotected behind HTTPS.
    raise ConfigError(f'{name}: "{raw}" means neither on nor off. Use 1 (on) or 0 (off).')


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """Addresses or networks (CIDR) of the reverse proxies in front of SafeClass. Checked here
    because uvicorn quietly ignores an entry it cannot read, trusting nobody instead."""
    raw = env.get("SAFECLASS_TRUSTED_PROXIES")
    if raw is None:
        return DEFAULT_TRUSTED_PROXIES
    proxies: list[str] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        if entry == "*":
            raise ConfigError(
                'SAFECLASS_TRUSTED_PROXIES: "*" would believe anyone\'s X-Forwarded-For header, '
                "so anyone could dodge the sign-in limits. List your proxy's addresses instead."
            )
        try:
            # Written the way uvicorn reads them: "10.0.0.7/24" becomes 10.0.0.0/24.
            if "/" in entry:
                proxies.append(str(ipaddress.ip_network(entry, strict=False)))
            else:
                proxies.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            raise ConfigError(
                f'SAFECLASS_TRUSTED_PROXIES: "{entry}" is not an IP address or network. Give '
                "addresses such as 127.0.0.1 or networks such as 10.0.0.0/24, separated by commas."
            ) from None
    return tuple(proxies)


# --- Email to parents --------------------------------------------------------------------------

_EMAIL_ADDRESS = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}")


class _SmtpSettings(TypedDict):
    smtp_host: str
    smtp_port: int
    smtp_from: str
    smtp_user: str
    smtp_password: str
    smtp_starttls: bool


def _smtp_settings(env: Mapping[str, str]) -> _SmtpSettings:
    """The mail server, each setting checked. SAFECLASS_SMTP_HOST empty: no mail is sent."""
    host = env.get("SAFECLASS_SMTP_HOST", "").strip()
    sender = env.get("SAFECLASS_SMTP_FROM", "").strip()
    user = env.get("SAFECLASS_SMTP_USER", "").strip()
    password = env.get("SAFECLASS_SMTP_PASSWORD", "")
    if host and not _HOST_NAME.fullmatch(host):
        raise ConfigError(
            f'SAFECLASS_SMTP_HOST: "{host}" is not a host name or IPv4 address, such as '
            "mail.example.org."
        )
    if host and not _EMAIL_ADDRESS.fullmatch(sender):
        raise ConfigError(
            "SAFECLASS_SMTP_HOST is set: set SAFECLASS_SMTP_FROM to the address emails come "
            "from, such as safeclass@school.example.org."
        )
    if not host and (sender or user or password):
        raise ConfigError(
            "SAFECLASS_SMTP_FROM, SAFECLASS_SMTP_USER or SAFECLASS_SMTP_PASSWORD is set without "
            "SAFECLASS_SMTP_HOST."
        )
    if bool(user) != bool(password):
        raise ConfigError("Set both SAFECLASS_SMTP_USER and SAFECLASS_SMTP_PASSWORD, or neither.")
    starttls = _switch(env, "SAFECLASS_SMTP_STARTTLS", default=True)
    if user and not starttls:
        raise ConfigError(
            "SAFECLASS_SMTP_STARTTLS=0 with SAFECLASS_SMTP_USER would send the mail password "
            "unencrypted. Use STARTTLS, or a relay that needs no password."
        )
    return _SmtpSettings(
        smtp_host=host,
        smtp_port=_named_port(env, "SAFECLASS_SMTP_PORT", 587),
        smtp_from=sender,
        smtp_user=user,
        smtp_password=password,
        smtp_starttls=starttls,
    )


# --- Media (Janus) ------------------------------------------------------------------------------

_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_INTERFACE = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")


class _MediaSettings(TypedDict):
    media: bool
    janus_binary: str
    janus_port: int
    janus_admin_port: int
    rtp_ports: tuple[int, int]
    public_ip: str
    stun_server: str
    turn_server: str
    turn_user: str
    turn_password: str
    ice_ignore: tuple[str, ...]
    ice_interfaces: tuple[str, ...]
    browser_stun_urls: tuple[str, ...]
    browser_turn_urls: tuple[str, ...]
    browser_turn_secret: str


def _media_settings(env: Mapping[str, str], *, web_port: int) -> _MediaSettings:
    """The Janus settings, each checked, as keyword arguments for Config."""
    media = _switch(env, "SAFECLASS_MEDIA", default=True)
    janus_port = _named_port(env, "SAFECLASS_JANUS_PORT", 8188)
    janus_admin_port = _named_port(env, "SAFECLASS_JANUS_ADMIN_PORT", 7188)
    if janus_port == janus_admin_port:
        raise ConfigError(
            f"SAFECLASS_JANUS_ADMIN_PORT: {janus_admin_port} is also SAFECLASS_JANUS_PORT; Janus's "
            "API and its admin API need a port each."
        )
    if media and web_port in {janus_port, janus_admin_port}:
        raise ConfigError(
            f"SAFECLASS_PORT: {web_port} is also one of Janus's ports (SAFECLASS_JANUS_PORT, "
            "SAFECLASS_JANUS_ADMIN_PORT); give each its own."
        )
    turn_server = _server(env, "SAFECLASS_TURN_SERVER")
    turn_user = env.get("SAFECLASS_TURN_USER", "").strip()
    turn_password = env.get("SAFECLASS_TURN_PASSWORD", "")
    if turn_server and not (turn_user and turn_password):
        raise ConfigError(
            "SAFECLASS_TURN_SERVER is set: set SAFECLASS_TURN_USER and SAFECLASS_TURN_PASSWORD too."
        )
    if not turn_server and (turn_user or turn_password):
        raise ConfigError(
            "SAFECLASS_TURN_USER or SAFECLASS_TURN_PASSWORD is set without SAFECLASS_TURN_SERVER."
        )
    for name, value in (
        ("SAFECLASS_TURN_USER", turn_user),
        ("SAFECLASS_TURN_PASSWORD", turn_password),
    ):
        if any(ord(character) < 32 or ord(character) == 127 for character in value):
            raise ConfigError(f"{name}: control characters (a line break, say) cannot be used.")
    return _MediaSettings(
        media=media,
        janus_binary=env.get("SAFECLASS_JANUS_BINARY", "").strip() or "janus",
        janus_port=janus_port,
        janus_admin_port=janus_admin_port,
        rtp_ports=_rtp_ports(env.get("SAFECLASS_RTP_PORTS", "")),
        public_ip=_public_ip(env.get("SAFECLASS_PUBLIC_IP", "")),
        stun_server=_server(env, "SAFECLASS_STUN_SERVER"),
        turn_server=turn_server,
        turn_user=turn_user,
        turn_password=turn_password,
        ice_ignore=_interfaces(env, "SAFECLASS_ICE_IGNORE", default=("vmnet",)),
        ice_interfaces=_interfaces(env, "SAFECLASS_ICE_INTERFACES", default=()),
        **_browser_ice(env),
    )


_ICE_URL = re.compile(
    r"(?P<scheme>stuns?|turns?):(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?:udp|tcp))?"
)


class _BrowserIce(TypedDict):
    browser_stun_urls: tuple[str, ...]
    browser_turn_urls: tuple[str, ...]
    browser_turn_secret: str


def _browser_ice(env: Mapping[str, str]) -> _BrowserIce:
    """The STUN and TURN servers browsers are told about, each address checked."""
    stun = _ice_urls(env, "SAFECLASS_BROWSER_STUN_URLS", schemes=("stun", "stuns"))
    turn = _ice_urls(env, "SAFECLASS_BROWSER_TURN_URLS", schemes=("turn", "turns"))
    secret = env.get("SAFECLASS_BROWSER_TURN_SECRET", "")
    if turn and len(secret) < 16:
        raise ConfigError(
            "SAFECLASS_BROWSER_TURN_URLS is set: set SAFECLASS_BROWSER_TURN_SECRET too, to the "
            "relay's static-auth-secret (at least 16 characters)."
        )
    if secret and not turn:
        raise ConfigError(
            "SAFECLASS_BROWSER_TURN_SECRET is set without SAFECLASS_BROWSER_TURN_URLS."
        )
    return _BrowserIce(browser_stun_urls=stun, browser_turn_urls=turn, browser_turn_secret=secret)


def _ice_urls(env: Mapping[str, str], name: str, *, schemes: tuple[str, ...]) -> tuple[str, ...]:
    urls = tuple(url.strip() for url in env.get(name, "").split(",") if url.strip())
    for url in urls:
        match = _ICE_URL.fullmatch(url)
        port = match and match["port"]
        if match is None or match["scheme"] not in schemes or (port and not 0 < int(port) < 65536):
            example = f"{schemes[-1]}:{schemes[0]}.example.org:443"
            raise ConfigError(
                f'{name}: "{url}" is not an address such as {example} (separate several with '
                "commas; a TURN address may end in ?transport=tcp or ?transport=udp)."
            )
    return urls


def _named_port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and 1 <= int(raw) <= 65535:
        return int(raw)
    raise ConfigError(f'{name}: "{raw}" is not a port number (1 to 65535).')


def _rtp_ports(raw: str) -> tuple[int, int]:
    text = raw.strip()
    if not text:
        return (20000, 20999)
    low, dash, high = text.partition("-")
    if dash and low.strip().isdigit() and high.strip().isdigit():
        first, last = int(low), int(high)
        if 1024 <= first <= last <= 65535:
            return (first, last)
    raise ConfigError(
        f'SAFECLASS_RTP_PORTS: "{raw}" is not a range of UDP ports such as 20000-20999 (from 1024 '
        "to 65535, the first no higher than the last)."
    )


def _public_ip(raw: str) -> str:
    text = raw.strip()
    if not text:
        return ""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(
            f'SAFECLASS_PUBLIC_IP: "{raw}" is not an IP address. Give the address browsers reach '
            "this server at, such as 203.0.113.7."
        ) from None
    return str(address)


def _server(env: Mapping[str, str], name: str) -> str:
    """A STUN or TURN server as "host:port" (port 3478 unless given), or "" when not set."""
    raw = env.get(name, "").strip()
    if not raw:
        return ""
    host, colon, port = raw.rpartition(":")
    if not colon:
        host, port = raw, "3478"
    port_ok = port.isdigit() and 1 <= int(port) <= 65535
    if port_ok and _HOST_NAME.fullmatch(host):
        return f"{host}:{int(port)}"
    raise ConfigError(
        f'{name}: "{raw}" is not a server such as turn.example.org:3478 (a host name or IPv4 '
        "address, then an optional port)."
    )


def _interfaces(env: Mapping[str, str], name: str, *, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    for entry in entries:
        if not _INTERFACE.fullmatch(entry):
            raise ConfigError(
                f'{name}: "{entry}" is not an interface name or address (such as eth0 or '
                "192.168.), separated by commas."
            )
    return entries
