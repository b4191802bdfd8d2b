"""The configuration SafeClass writes for Janus, and the settings it comes from
(safeclass.media.janus_config, the media block of safeclass.config). No Janus needed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from safeclass.config import Config, ConfigError
from safeclass.media.janus_config import (
    IceServer,
    JanusConfigError,
    JanusModules,
    JanusOptions,
    JanusSecrets,
    janus_config,
    render_jcfg,
    write_config,
)

# What Debian's janus 1.1.2 installs.
DEBIAN_MODULES = JanusModules(
    binary=Path("/usr/bin/janus"),
    plugins=tuple(
        f"libjanus_{name}.so"
        for name in [
            "audiobridge",
            "duktape",
            "echotest",
            "lua",
            "nosip",
            "recordplay",
            "sip",
            "streaming",
            "textroom",
            "videocall",
            "videoroom",
            "voicemail",
        ]
    ),
    transports=tuple(
        f"libjanus_{name}.so"
        for name in ["http", "mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"]
    ),
    loggers=("libjanus_jsonlog.so",),
    events=tuple(
        f"libjanus_{name}evh.so" for name in ["gelf", "mqtt", "nanomsg", "rabbitmq", "sample", "ws"]
    ),
)


def split(setting: object) -> set[str]:
    return set(str(setting).split(","))


def test_only_the_videoroom_and_the_websocket_api_are_loaded(tmp_path: Path) -> None:
    files = janus_config(JanusOptions(tmp_path), JanusSecrets.generate(), DEBIAN_MODULES)
    main = files["janus.jcfg"]

    assert split(main["plugins"]["disable"]) == set(DEBIAN_MODULES.plugins) - {
        "libjanus_videoroom.so"
    }
    assert split(main["transports"]["disable"]) == set(DEBIAN_MODULES.transports) - {
        "libjanus_websockets.so"
    }
    assert "libjanus_http.so" in split(main["transports"]["disable"])
    assert split(main["loggers"]["disable"]) == {"libjanus_jsonlog.so"}
    assert split(main["events"]["disable"]) == set(DEBIAN_MODULES.events)
    assert main["events"]["broadcast"] is False


def test_both_apis_listen_on_localhost_only(tmp_path: Path) -> None:
    options = JanusOptions(tmp_path, api_port=9001, admin_port=9002)
    websockets = janus_config(options, JanusSecrets.generate(), DEBIAN_MODULES)[
        "janus.transport.websockets.jcfg"
    ]

    assert websockets["general"] == {
        "json": "compact",
        "events": False,
        "ws": True,
        "ws_ip": "127.0.0.1",
        "ws_port": 9001,
        "ws_acl": "127.",
        "wss": False,
    }
    assert websockets["admin"] == {
        "admin_ws": True,
        "admin_ws_ip": "127.0.0.1",
        "admin_ws_port": 9002,
        "admin_ws_acl": "127.",
        "admin_wss": False,
    }
    assert options.api_url == "ws://127.0.0.1:9001"
    assert options.admin_url == "ws://127.0.0.1:9002"


def test_secrets_are_random_present_and_never_shown(tmp_path: Path) -> None:
    first, second = JanusSecrets.generate(), JanusSecrets.generate()
    folder = write_config(JanusOptions(tmp_path / "janus"), first, DEBIAN_MODULES)

    for secret in (first.api_secret, first.admin_secret, first.admin_key):
        assert len(secret) >= 40
        assert secret not in (second.api_secret, second.admin_secret, second.admin_key)
        assert secret not in repr(first)
    main = (folder / "janus.jcfg").read_text()
    assert f'api_secret = "{first.api_secret}"' in main
    assert f'admin_secret = "{first.admin_secret}"' in main
    assert f'server_name = "{first.server_name}"' in main
    videoroom = (folder / "janus.plugin.videoroom.jcfg").read_text()
    assert f'admin_key = "{first.admin_key}"' in videoroom
    assert "lock_rtp_forward = true" in videoroom
    # Each room's secret: its own, and not to be worked out without this start's key.
    assert first.room_secret(1) != first.room_secret(2)
    assert first.room_secret(1) != second.room_secret(1)
    assert first.room_secret(1) == first.room_secret(1)


def test_the_folder_and_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "janus"
    folder.mkdir(mode=0o755)
    (folder / "janus.jcfg").write_text("old")
    (folder / "janus.jcfg").chmod(0o644)

    write_config(JanusOptions(folder), JanusSecrets.generate(), DEBIAN_MODULES)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.websockets.jcfg"]
    for name in names:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def test_media_settings_reach_janus(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "SAFECLASS_DATA_DIR": str(tmp_path),
            "SAFECLASS_RTP_PORTS": "30000-30999",
            "SAFECLASS_PUBLIC_IP": "203.0.113.7",
            "SAFECLASS_STUN_SERVER": "stun.example.org",
            "SAFECLASS_TURN_SERVER": "turn.example.org:5349",
            "SAFECLASS_TURN_USER": "safeclass",
            "SAFECLASS_TURN_PASSWORD": 'pa"ss\\word',
            "SAFECLASS_ICE_IGNORE": "docker,10.8.",
            "SAFECLASS_JANUS_BINARY": "/opt/janus/bin/janus",
        }
    )
    options = JanusOptions.from_config(config)
    main = janus_config(options, JanusSecrets.generate(), DEBIAN_MODULES)["janus.jcfg"]

    assert options.folder == tmp_path / "janus"
    assert options.binary == "/opt/janus/bin/janus"
    assert main["media"]["rtp_port_range"] == "30000-30999"
    assert main["nat"] == {
        "nice_debug": False,
        "full_trickle": False,
        "nat_1_1_mapping": "203.0.113.7",
        "stun_server": "stun.example.org",
        "stun_port": 3478,
        "turn_server": "turn.example.org",
        "turn_port": 5349,
        "turn_type": "udp",
        "turn_user": "safeclass",
        "turn_pwd": 'pa"ss\\word',
        "ice_ignore_list": "docker,10.8.",
    }
    assert 'turn_pwd = "pa\\"ss\\\\word"' in render_jcfg(main)
    assert 'pa"ss' not in repr(config)
    assert 'pa"ss' not in repr(options)


def test_interfaces_to_use_replace_the_ignore_list(tmp_path: Path) -> None:
    options = JanusOptions(tmp_path, ice_interfaces=("eth1",), ice_ignore=("docker",))
    nat = janus_config(options, JanusSecrets.generate(), DEBIAN_MODULES)["janus.jcfg"]["nat"]

    assert nat["ice_enforce_list"] == "eth1"
    assert "ice_ignore_list" not in nat  # Janus would ignore it, and warn


def test_media_defaults() -> None:
    config = Config.from_env({})

    assert config.media is True
    assert (config.janus_port, config.janus_admin_port) == (8188, 7188)
    assert config.rtp_ports == (20000, 20999)
    assert config.ice_ignore == ("vmnet",)
    assert Config(Path("var"), "sqlite://", "127.0.0.1", 8000, False).media is False
    assert Config.from_env({"SAFECLASS_MEDIA": "0"}).media is False


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SAFECLASS_RTP_PORTS": "20999-20000"}, "SAFECLASS_RTP_PORTS: "),
        ({"SAFECLASS_RTP_PORTS": "80-90"}, "SAFECLASS_RTP_PORTS: "),
        ({"SAFECLASS_RTP_PORTS": "lots"}, "SAFECLASS_RTP_PORTS: "),
        ({"SAFECLASS_PUBLIC_IP": "my.school"}, "SAFECLASS_PUBLIC_IP: "),
        ({"SAFECLASS_STUN_SERVER": "stun server:99"}, "SAFECLASS_STUN_SERVER: "),
        ({"SAFECLASS_STUN_SERVER": "stun.example.org:0"}, "SAFECLASS_STUN_SERVER: "),
        ({"SAFECLASS_TURN_SERVER": "turn.example.org"}, "SAFECLASS_TURN_USER and"),
        ({"SAFECLASS_TURN_PASSWORD": "x"}, "without SAFECLASS_TURN_SERVER"),
        (
            {
                "SAFECLASS_TURN_SERVER": "turn.example.org",
                "SAFECLASS_TURN_USER": "u",
                "SAFECLASS_TURN_PASSWORD": "line\nbreak",
            },
            "SAFECLASS_TURN_PASSWORD: control characters",
        ),
        ({"SAFECLASS_JANUS_PORT": "7188"}, "SAFECLASS_JANUS_ADMIN_PORT: 7188 is also"),
        ({"SAFECLASS_JANUS_ADMIN_PORT": "99999"}, "SAFECLASS_JANUS_ADMIN_PORT: "),
        ({"SAFECLASS_PORT": "8188"}, "SAFECLASS_PORT: 8188 is also one of Janus's ports"),
        ({"SAFECLASS_ICE_IGNORE": "eth0, bad name"}, "SAFECLASS_ICE_IGNORE: "),
        ({"SAFECLASS_MEDIA": "maybe"}, "SAFECLASS_MEDIA: "),
    ],
)
def test_unusable_media_settings_are_refused_in_one_line(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env(settings)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_web_port_may_be_janus_port_when_media_is_off() -> None:
    config = Config.from_env({"SAFECLASS_PORT": "8188", "SAFECLASS_MEDIA": "0"})

    assert config.port == 8188


def test_control_characters_never_reach_a_config_file() -> None:
    with pytest.raises(JanusConfigError):
        render_jcfg({"nat": {"turn_pwd": "a\nb"}})
    assert IceServer.parse("turn.example.org:3478", password="x") == IceServer(
        "turn.example.org", 3478, "", "x"
    )


def test_modules_are_found_beside_the_program(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    program = tmp_path / "bin" / "janus"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    modules = tmp_path / "lib" / "x86_64-linux-gnu" / "janus"
    for kind, names in (
        ("plugins", ["libjanus_videoroom.so", "libjanus_echotest.so", "README"]),
        ("transports", ["libjanus_websockets.so", "libjanus_http.so"]),
        ("loggers", []),
    ):
        (modules / kind).mkdir(parents=True)
        for name in names:
            (modules / kind / name).touch()

    found = JanusModules.find(str(program))

    assert found.binary == program
    assert found.plugins == ("libjanus_echotest.so", "libjanus_videoroom.so")
    assert found.transports == ("libjanus_http.so", "libjanus_websockets.so")
    assert found.loggers == ()
    assert found.events == ()


def test_missing_janus_or_videoroom_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(JanusConfigError) as missing:
        JanusModules.find(str(tmp_path / "no-such-janus"))
    assert "SAFECLASS_JANUS_BINARY" in str(missing.value)

    (tmp_path / "bin").mkdir()
    program = tmp_path / "bin" / "janus"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    with pytest.raises(JanusConfigError) as no_videoroom:
        JanusModules.find(str(program))
    assert "VideoRoom" in str(no_videoroom.value)

    no_websockets = JanusModules(program, ("libjanus_videoroom.so",), (), (), ())
    with pytest.raises(JanusConfigError) as no_transport:
        janus_config(JanusOptions(tmp_path), JanusSecrets.generate(), no_websockets)
    assert "WebSockets" in str(no_transport.value)
