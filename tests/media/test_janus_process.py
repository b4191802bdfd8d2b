"""SafeClass runs its own Janus: started and ready, restarted when it dies, stopped for good
(safeclass.media.janus_process)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safeclass.media.janus_client import JanusClient, JanusError
from safeclass.media.janus_config import JanusOptions
from safeclass.media.janus_process import JanusEndpoint, JanusProcess, JanusStartError
from tests.media.helpers import janus_options, process_exists, running_janus


async def info(endpoint: JanusEndpoint) -> dict[str, object]:
    client = await JanusClient.connect(endpoint.api_url, api_secret=endpoint.secrets.api_secret)
    try:
        return await client.info()
    finally:
        await client.close()


@pytest.mark.media
def test_janus_starts_with_only_the_videoroom_and_answers_info(tmp_path: Path) -> None:
    async def scenario() -> dict[str, object]:
        async with running_janus(janus_options(tmp_path / "janus")) as janus:
            assert janus.endpoint is not None
            assert janus.running
            return await info(janus.endpoint)

    answer = asyncio.run(scenario())

    assert str(answer["server-name"]).startswith("safeclass-")
    assert answer["api_secret"] is True
    assert list(answer["plugins"]) == ["janus.plugin.videoroom"]  # type: ignore[call-overload]
    assert list(answer["transports"]) == ["janus.transport.websockets"]  # type: ignore[call-overload]
    assert answer["events"] == {}
    assert answer["loggers"] == {}


@pytest.mark.media
def test_no_secret_reaches_a_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    options = janus_options(tmp_path / "janus")

    async def scenario() -> list[JanusEndpoint]:
        endpoints = []
        async with running_janus(options) as janus:
            assert janus.endpoint is not None
            endpoints.append(janus.endpoint)
            restarted = asyncio.Event()

            async def on_restart(endpoint: JanusEndpoint) -> None:
                endpoints.append(endpoint)
                restarted.set()

            janus.add_restart_listener(on_restart)
            os.kill(janus.endpoint.pid, signal.SIGKILL)
            await asyncio.wait_for(restarted.wait(), 20)
        return endpoints

    endpoints = asyncio.run(scenario())

    janus_logs = "".join(
        path.read_text(errors="replace")
        for path in options.folder.glob("janus.*")
        if ".jcfg" not in path.name
    )
    assert "Janus is ready" in caplog.text
    assert "Janus exited unexpectedly" in caplog.text
    for endpoint in endpoints:
        for secret in (
            endpoint.secrets.api_secret,
            endpoint.secrets.admin_secret,
            endpoint.secrets.admin_key,
        ):
            assert secret not in caplog.text
            assert secret not in janus_logs
            assert secret not in repr(endpoint)


@pytest.mark.media
def test_killed_janus_is_restarted_and_listeners_are_told(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_janus(janus_options(tmp_path / "janus")) as janus:
            first = janus.endpoint
            assert first is not None
            told: asyncio.Queue[JanusEndpoint] = asyncio.Queue()

            async def on_restart(endpoint: JanusEndpoint) -> None:
                await told.put(endpoint)

            janus.add_restart_listener(on_restart)
            os.kill(first.pid, signal.SIGKILL)
            second = await asyncio.wait_for(told.get(), 20)

            assert second.pid != first.pid
            assert janus.endpoint == second
            assert janus.restarts == 1
            assert not process_exists(first.pid)
            # A new start has new secrets: the old API secret no longer opens a session.
            assert second.secrets.api_secret != first.secrets.api_secret
            assert (await info(second))["server-name"] == second.secrets.server_name
            stale = await JanusClient.connect(second.api_url, api_secret=first.secrets.api_secret)
            try:
                with pytest.raises(JanusError) as refused:
                    await stale.create_session()
                assert refused.value.code == 403
            finally:
                await stale.close()

    asyncio.run(scenario())


@pytest.mark.media
def test_stop_is_idempotent_and_leaves_no_process(tmp_path: Path) -> None:
    options = janus_options(tmp_path / "janus")

    async def scenario() -> int:
        janus = JanusProcess(options)
        await janus.stop()  # never started: nothing to do
        await janus.start()
        assert janus.pid is not None
        pid = janus.pid
        await asyncio.gather(janus.stop(), janus.stop())
        await janus.stop()
        assert not janus.running
        assert janus.endpoint is None
        return pid

    pid = asyncio.run(scenario())

    assert not process_exists(pid)
    for port in (options.api_port, options.admin_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more


@pytest.mark.media
def test_config_folder_is_private(tmp_path: Path) -> None:
    options = janus_options(tmp_path / "janus")

    async def scenario() -> None:
        async with running_janus(options):
            pass

    asyncio.run(scenario())

    assert stat.S_IMODE(options.folder.stat().st_mode) == 0o700
    written = sorted(path.name for path in options.folder.glob("*.jcfg"))
    assert written == [
        "janus.jcfg",
        "janus.plugin.videoroom.jcfg",
        "janus.transport.websockets.jcfg",
    ]
    for name in [*written, "janus.log"]:
        assert stat.S_IMODE((options.folder / name).stat().st_mode) == 0o600, name


# --- Failing to start: a stand-in program where Janus would be, so no Janus or namespace needed.


def fake_janus(prefix: Path, script: str) -> str:
    """A program called janus, with the module folders Janus has beside it."""
    (prefix / "bin").mkdir(parents=True)
    program = prefix / "bin" / "janus"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    for kind, module in (
        ("plugins", "libjanus_videoroom.so"),
        ("transports", "libjanus_websockets.so"),
    ):
        (prefix / "lib" / "janus" / kind).mkdir(parents=True)
        (prefix / "lib" / "janus" / kind / module).touch()
    return str(program)


def options_with(tmp_path: Path, binary: str) -> JanusOptions:
    base = janus_options(tmp_path / "janus")
    return JanusOptions(
        folder=base.folder, binary=binary, api_port=base.api_port, admin_port=base.admin_port
    )


def test_a_janus_that_exits_at_once_is_reported_with_its_log(tmp_path: Path) -> None:
    binary = fake_janus(tmp_path / "prefix", 'echo "[FATAL] pretend the vhost failed"; exit 3')
    janus = JanusProcess(options_with(tmp_path, binary), ready_timeout=10)

    with pytest.raises(JanusStartError) as failure:
        asyncio.run(janus.start())

    assert "exit status 3" in str(failure.value)
    assert "[FATAL] pretend the vhost failed" in str(failure.value)
    assert not janus.running


def test_a_janus_that_never_answers_is_stopped_and_reported(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    binary = fake_janus(tmp_path / "prefix", f'echo $$ > "{pid_file}"; exec sleep 60')
    janus = JanusProcess(options_with(tmp_path, binary), ready_timeout=1.0)

    with pytest.raises(JanusStartError) as failure:
        asyncio.run(janus.start())

    assert "did not answer" in str(failure.value)
    assert "within 1 s" in str(failure.value)
    assert not process_exists(int(pid_file.read_text()))


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    binary = fake_janus(tmp_path / "prefix", "exit 0")
    options = options_with(tmp_path, binary)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", options.api_port))
        squatter.listen()

        with pytest.raises(JanusStartError) as failure:
            asyncio.run(JanusProcess(options).start())

    assert f"Port {options.api_port} on 127.0.0.1 is in use" in str(failure.value)


@pytest.mark.media
def test_janus_does_not_outlive_a_safeclass_that_is_killed(tmp_path: Path) -> None:
    options = janus_options(tmp_path / "janus")
    program = f"""
import asyncio, sys, time
from pathlib import Path
from safeclass.media.janus_config import JanusOptions
from safeclass.media.janus_process import JanusProcess

async def main():
    janus = JanusProcess(JanusOptions(Path({str(options.folder)!r}), api_port={options.api_port},
                                      admin_port={options.admin_port}))
    endpoint = await janus.start()
    print(endpoint.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""
    with subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None
        janus_pid = int(server.stdout.readline())
        assert process_exists(janus_pid)
        server.kill()  # SIGKILL: SafeClass gets no chance to stop Janus itself
        server.wait()
    deadline = time.monotonic() + 10
    while process_exists(janus_pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not process_exists(janus_pid)
