"""Janus's configuration, written by SafeClass for each start of Janus.

Janus reads a folder of `.jcfg` files (`janus -F FOLDER`). SafeClass writes its own folder, private
to the server's user, so the stock configuration in /etc/janus never applies:

- only the VideoRoom plugin and the WebSockets transport are loaded: every other plugin, transport,
  logger and event handler found beside them is disabled by name, HTTP included;
- the API and the admin API listen on 127.0.0.1 only, and refuse any other address (`ws_acl`);
- every request must carry a secret made at random for this start (`api_secret`, `admin_secret`),
  and rooms can be created only with the VideoRoom `admin_key`, made the same way;
- media uses the configured UDP port range, public address (1:1 NAT), STUN and TURN servers.

The secrets live in the written files (mode 600) and in this process's memory: never in a log line,
a repr or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from safeclass.config import Config

VIDEOROOM_PLUGIN = "libjanus_videoroom.so"
WEBSOCKETS_TRANSPORT = "libjanus_websockets.so"
LOOPBACK = "127.0.0.1"
CONFIG_FILE = "janus.jcfg"
LOG_FILE = "janus.log"
OUTPUT_FILE = "janus.out"  # what Janus itself prints before its log is open

JcfgValue = str | int | bool
Jcfg = Mapping[str, Mapping[str, JcfgValue]]


class JanusConfigError(Exception):
    """Janus cannot be configured as asked (its modules cannot be found, say). Plain words."""


@dataclass(frozen=True, slots=True)
class IceServer:
    """A STUN or TURN server Janus uses to gather its own candidates."""

    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def parse(cls, host_port: str, *, user: str = "", password: str = "") -> IceServer:
        host, _, port = host_port.rpartition(":")
        return cls(host, int(port), user, password)


@dataclass(frozen=True, slots=True)
class JanusOptions:
    """Everything about the Janus that SafeClass runs, except its secrets (`JanusSecrets`)."""

    folder: Path  # private: the config files, Janus's log
    binary: str = "janus"
    api_port: int = 8188
    admin_port: int = 7188
    rtp_ports: tuple[int, int] = (20000, 20999)
    public_ip: str = ""  # nat_1_1_mapping: the address browsers reach Janus at, behind 1:1 NAT
    stun: IceServer | None = None
    turn: IceServer | None = None
    ice_ignore: tuple[str, ...] = ("vmnet",)
    ice_interfaces: tuple[str, ...] = ()  # when set, the only interfaces or addresses ICE uses
    session_timeout: int = 60  # seconds without a keepalive before Janus drops a session
    debug_level: int = 4  # Janus's log: 4 is warnings, errors and the main events

    @classmethod
    def from_config(cls, config: Config) -> JanusOptions:
        return cls(
            folder=config.data_dir / "janus",
            binary=config.janus_binary,
            api_port=config.janus_port,
            admin_port=config.janus_admin_port,
            rtp_ports=config.rtp_ports,
            public_ip=config.public_ip,
            stun=IceServer.parse(config.stun_server) if config.stun_server else None,
            turn=(
                IceServer.parse(
                    config.turn_server, user=config.turn_user, password=config.turn_password
                )
                if config.turn_server
                else None
            ),
            ice_ignore=config.ice_ignore,
            ice_interfaces=config.ice_interfaces,
        )

    @property
    def api_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.api_port}"

    @property
    def admin_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.admin_port}"

    @property
    def log_path(self) -> Path:
        return self.folder / LOG_FILE

    @property
    def output_path(self) -> Path:
        return self.folder / OUTPUT_FILE


@dataclass(frozen=True, slots=True)
class JanusSecrets:
    """The secrets of one start of Janus. None of them appears in the repr."""

    api_secret: str = field(repr=False)
    admin_secret: str = field(repr=False)
    admin_key: str = field(repr=False)  # VideoRoom: only requests carrying it create rooms
    room_key: bytes = field(repr=False)  # each room's secret is derived from it (`room_secret`)
    # Not a secret: a name made for this start, which Janus's `info` answers with, so SafeClass
    # knows that the server answering on the port is the one it started.
    server_name: str = ""

    @classmethod
    def generate(cls) -> JanusSecrets:
        return cls(
            api_secret=secrets.token_urlsafe(32),
            admin_secret=secrets.token_urlsafe(32),
            admin_key=secrets.token_urlsafe(32),
            room_key=secrets.token_bytes(32),
            server_name=f"safeclass-{secrets.token_hex(8)}",
        )

    def room_secret(self, room_id: int) -> str:
        """The secret of room `room_id` in this start of Janus. Derived rather than stored, so
        that any room in this Janus (every one was created with this start's admin key) can be
        destroyed, even one whose lesson SafeClass no longer remembers."""
        return hmac.new(self.room_key, f"room:{room_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class JanusModules:
    """The Janus program and the shared objects it would load from its folders, by kind."""

    binary: Path
    plugins: tuple[str, ...]
    transports: tuple[str, ...]
    loggers: tuple[str, ...]
    events: tuple[str, ...]

    @classmethod
    def find(cls, binary: str) -> JanusModules:
        """The modules installed beside `binary` (Debian: /usr/lib/<triplet>/janus/<kind>/)."""
        path = shutil.which(binary)
        if path is None:
            raise JanusConfigError(
                f'The Janus program "{binary}" was not found. Install it with scripts/install '
                "(Debian's janus package), or set SAFECLASS_JANUS_BINARY to its path."
            )
        binary_path = Path(path).resolve()
        prefix = binary_path.parent.parent
        for root in [prefix / "lib" / "janus", *sorted(prefix.glob("lib/*/janus"))]:
            if (root / "plugins" / VIDEOROOM_PLUGIN).is_file():
                return cls(
                    binary=binary_path,
                    plugins=_shared_objects(root / "plugins"),
                    transports=_shared_objects(root / "transports"),
                    loggers=_shared_objects(root / "loggers"),
                    events=_shared_objects(root / "events"),
                )
        raise JanusConfigError(
            f"Janus's VideoRoom plugin ({VIDEOROOM_PLUGIN}) was not found under {prefix / 'lib'}: "
            "SafeClass needs Janus with its VideoRoom plugin and WebSockets transport."
        )


def _shared_objects(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".so")))


def janus_config(
    options: JanusOptions, secrets: JanusSecrets, modules: JanusModules
) -> dict[str, Jcfg]:
    """Each file of Janus's config folder: file name -> sections -> settings."""
    if WEBSOCKETS_TRANSPORT not in modules.transports:
        raise JanusConfigError(
            f"Janus's WebSockets transport ({WEBSOCKETS_TRANSPORT}) is not installed: SafeClass "
            "talks to Janus through it."
        )
    general: dict[str, JcfgValue] = {
        "configs_folder": str(options.folder),
        "debug_level": options.debug_level,
        "debug_timestamps": True,
        "debug_colors": False,
        "server_name": secrets.server_name,
        "api_secret": secrets.api_secret,
        "admin_secret": secrets.admin_secret,
        "token_auth": False,
        "session_timeout": options.session_timeout,
        "reclaim_session_timeout": 0,
        "hide_dependencies": True,
    }
    low, high = options.rtp_ports
    nat: dict[str, JcfgValue] = {"nice_debug": False, "full_trickle": False}
    if options.public_ip:
        nat["nat_1_1_mapping"] = options.public_ip
    if options.stun is not None:
        nat["stun_server"] = options.stun.host
        nat["stun_port"] = options.stun.port
    if options.turn is not None:
        nat["turn_server"] = options.turn.host
        nat["turn_port"] = options.turn.port
        nat["turn_type"] = "udp"
        nat["turn_user"] = options.turn.user
        nat["turn_pwd"] = options.turn.password
    if options.ice_interfaces:
        nat["ice_enforce_list"] = ",".join(options.ice_interfaces)
    elif options.ice_ignore:  # Janus reads no ignore list when an enforce list is set
        nat["ice_ignore_list"] = ",".join(options.ice_ignore)
    main: dict[str, dict[str, JcfgValue]] = {
        "general": general,
        "certificates": {},
        "media": {"ipv6": False, "rtp_port_range": f"{low}-{high}"},
        "nat": nat,
        "plugins": _disable(modules.plugins, keep=VIDEOROOM_PLUGIN),
        "transports": _disable(modules.transports, keep=WEBSOCKETS_TRANSPORT),
        "loggers": _disable(modules.loggers),
        "events": {"broadcast": False, **_disable(modules.events)},
    }
    websockets: dict[str, dict[str, JcfgValue]] = {
        "general": {
            "json": "compact",
            "events": False,
            "ws": True,
            "ws_ip": LOOPBACK,
            "ws_port": options.api_port,
            "ws_acl": "127.",
            "wss": False,
        },
        "admin": {
            "admin_ws": True,
            "admin_ws_ip": LOOPBACK,
            "admin_ws_port": options.admin_port,
            "admin_ws_acl": "127.",
            "admin_wss": False,
        },
    }
    videoroom: dict[str, dict[str, JcfgValue]] = {
        "general": {
            "admin_key": secrets.admin_key,
            "lock_rtp_forward": True,
            "string_ids": False,
        }
    }
    return {
        CONFIG_FILE: main,
        "janus.transport.websockets.jcfg": websockets,
        "janus.plugin.videoroom.jcfg": videoroom,
    }


def _disable(found: Sequence[str], *, keep: str | None = None) -> dict[str, JcfgValue]:
    disabled = [name for name in found if name != keep]
    return {"disable": ",".join(disabled)} if disabled else {}


def write_config(options: JanusOptions, secrets: JanusSecrets, modules: JanusModules) -> Path:
    """Write Janus's config folder (mode 700, files mode 600) and return it."""
    folder = options.folder
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, sections in janus_config(options, secrets, modules).items():
        _write_private(folder / name, render_jcfg(sections))
    return folder


def _write_private(path: Path, text: str) -> None:
    # Written beside, then renamed: a Janus starting at that moment never reads half a file.
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    partial.replace(path)


def render_jcfg(sections: Jcfg) -> str:
    """Janus's libconfig syntax: `name: { key = value ... }`, one setting a line."""
    lines = ["# Written by SafeClass at each start of Janus: edits here are lost.", ""]
    for section, settings in sections.items():
        lines.append(f"{section}: {{")
        lines.extend(f"\t{key} = {_jcfg_value(value)}" for key, value in settings.items())
        lines.append("}")
        lines.append("")
    return "\n".join(lines)


def _jcfg_value(value: JcfgValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise JanusConfigError("A Janus setting cannot hold control characters.")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
