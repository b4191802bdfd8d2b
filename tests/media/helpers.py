"""Helpers for the media tests: where they may run, a Janus for one test, processes."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from safeclass.media.janus_config import JanusOptions
from safeclass.media.janus_process import JanusProcess

NETNS_INTERFACES = {"lo", "sca", "scb"}
JANUS_INTERFACE = "sca"  # Janus's side of the veth pair
JANUS_ADDRESS = "10.77.0.1"
CLIENT_ADDRESS = "10.77.0.2"  # scb: the test clients' side


def why_media_cannot_run() -> str | None:
    if os.environ.get("SAFECLASS_TEST_NETNS") != JANUS_ADDRESS:
        return "not inside the test network namespace: run through scripts/in-test-netns"
    interfaces = {name for _, name in socket.if_nameindex()}
    if interfaces != NETNS_INTERFACES:
        return f"the network namespace has {sorted(interfaces)}, not only lo, sca and scb"
    if os.geteuid() != 0:
        return "media tests run as root"
    if shutil.which("janus") is None:
        return "Janus is not installed (scripts/install installs Debian's janus package)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def janus_options(folder: Path, *, session_timeout: int = 60) -> JanusOptions:
    """Janus for a test: free ports, and ICE on the veth address only."""
    api_port = free_port()
    admin_port = free_port()
    while admin_port == api_port:
        admin_port = free_port()
    return JanusOptions(
        folder=folder,
        api_port=api_port,
        admin_port=admin_port,
        rtp_ports=(20000, 20099),
        # Janus gathers candidates on its side of the veth pair only: never lo, never scb.
        ice_interfaces=(JANUS_INTERFACE,),
        ice_ignore=(),
        session_timeout=session_timeout,
    )


@asynccontextmanager
async def running_janus(
    options: JanusOptions, *, restart_delays: tuple[float, ...] = (0.05,)
) -> AsyncIterator[JanusProcess]:
    process = JanusProcess(options, restart_delays=restart_delays, stop_grace=5.0)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


def process_exists(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"
