"""Janus as a child process of SafeClass: started with a config of our own, watched, restarted.

`JanusProcess.start()` writes a fresh config folder (new secrets each time), starts
`janus -F FOLDER -L LOG -N -o` and returns once Janus answers `info` on its WebSocket with the
name made for this start (so a different server on the port is never mistaken for ours). If it
does not, the error says why and quotes the end of Janus's log.

If Janus dies, it is started again after a pause that grows while it keeps failing (0.5 s up to
30 s), and each restart listener is called with the new endpoint once Janus answers: rooms live in
Janus's memory, so they must be made again. `stop()` sends SIGTERM, then SIGKILL after a grace
period; it is idempotent.

Janus runs in a session of its own (a Ctrl-C at SafeClass's terminal is SafeClass's to handle)
and, on Linux, is killed if SafeClass dies without stopping it, so no Janus outlives its server
holding the ports and the secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from safeclass.media.janus_client import JanusClient, JanusClientError
from safeclass.media.janus_config import (
    LOOPBACK,
    JanusModules,
    JanusOptions,
    JanusSecrets,
    write_config,
)

log = logging.getLogger(__name__)

RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
LOG_TAIL_LINES = 25
_PR_SET_PDEATHSIG = 1


class JanusStartError(Exception):
    """Janus could not be started, or did not become ready. The message says why, in plain words,
    with the end of Janus's log when there is one."""


@dataclass(frozen=True, slots=True)
class JanusEndpoint:
    """How to reach one start of Janus."""

    api_url: str
    admin_url: str
    secrets: JanusSecrets
    pid: int


RestartListener = Callable[[JanusEndpoint], Awaitable[None]]


class JanusProcess:
    """Runs and supervises one Janus."""

    def __init__(
        self,
        options: JanusOptions,
        *,
        ready_timeout: float = 15.0,
        stop_grace: float = 5.0,
        restart_delays: Sequence[float] = RESTART_DELAYS,
        stable_after: float = 60.0,
    ) -> None:
        self.options = options
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._restart_delays = tuple(restart_delays) or RESTART_DELAYS
        self._stable_after = stable_after
        self._process: asyncio.subprocess.Process | None = None
        self._output: IO[bytes] | None = None
        self._endpoint: JanusEndpoint | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._listeners: list[RestartListener] = []
        self._lock = asyncio.Lock()
        self._stopping = False
        self.restarts = 0

    @property
    def endpoint(self) -> JanusEndpoint | None:
        """The running Janus's endpoint; None while it is not running or not ready yet."""
        return self._endpoint

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    def add_restart_listener(self, listener: RestartListener) -> None:
        """Called, in order, after each restart of Janus, once the new one answers."""
        self._listeners.append(listener)

    async def start(self) -> JanusEndpoint:
        """Start Janus and wait until it answers. Raises JanusStartError (or JanusConfigError)
        if it cannot; nothing is left running then."""
        async with self._lock:
            if self._endpoint is not None and self.running:
                return self._endpoint
            self._stopping = False
            endpoint = await self._spawn()
            self._watcher = asyncio.create_task(self._watch(), name="janus-supervisor")
            return endpoint

    async def stop(self) -> None:
        """Stop Janus: SIGTERM, then SIGKILL after the grace period. Idempotent."""
        async with self._lock:
            self._stopping = True
            watcher, self._watcher = self._watcher, None
            if watcher is not None and watcher is not asyncio.current_task():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await self._end_process()

    # --- Starting -------------------------------------------------------------------------------

    async def _spawn(self) -> JanusEndpoint:
        options = self.options
        modules = JanusModules.find(options.binary)
        for port in (options.api_port, options.admin_port):
            _check_port_free(port)
        secrets = JanusSecrets.generate()
        folder = write_config(options, secrets, modules)
        _start_new_file(options.log_path)
        _start_new_file(options.output_path)
        self._output = options.output_path.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                str(modules.binary),
                "-F",
                str(folder),
                "-L",
                str(options.log_path),
                "-N",
                "-o",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as error:
            self._close_output()
            raise JanusStartError(f"Cannot run Janus ({modules.binary}): {error}") from error
        try:
            await self._wait_ready(self._process, secrets)
        except BaseException:
            await self._end_process()
            raise
        self._endpoint = JanusEndpoint(
            options.api_url, options.admin_url, secrets, self._process.pid
        )
        log.info("Janus is ready (pid %d, API on %s)", self._process.pid, options.api_url)
        return self._endpoint

    async def _wait_ready(self, process: asyncio.subprocess.Process, secrets: JanusSecrets) -> None:
        options = self.options
        deadline = time.monotonic() + self._ready_timeout
        while True:
            if process.returncode is not None:
                raise JanusStartError(
                    f"Janus stopped while starting (exit status {process.returncode})."
                    f"{self._log_tail(secrets)}"
                )
            if time.monotonic() > deadline:
                raise JanusStartError(
                    f"Janus did not answer on {options.api_url} within {self._ready_timeout:g} s."
                    f"{self._log_tail(secrets)}"
                )
            try:
                client = await JanusClient.connect(
                    options.api_url, api_secret=secrets.api_secret, open_timeout=1.0
                )
            except JanusClientError:
                await asyncio.sleep(0.05)
                continue
            try:
                info = await client.info()
            except JanusClientError:
                await asyncio.sleep(0.05)
                continue
            finally:
                await client.close()
            if info.get("server-name") != secrets.server_name:
                raise JanusStartError(
                    f"Another server answers on {options.api_url}: not the Janus SafeClass "
                    "started. Stop it (Debian's own Janus: systemctl disable --now janus), or set "
                    "SAFECLASS_JANUS_PORT and SAFECLASS_JANUS_ADMIN_PORT to free ports."
                )
            return

    def _log_tail(self, secrets: JanusSecrets) -> str:
        lines: list[str] = []
        for path in (self.options.output_path, self.options.log_path):
            with contextlib.suppress(FileNotFoundError):
                lines.extend(
                    line
                    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if line.strip()
                )
        if not lines:
            return " Janus wrote nothing to its log."
        tail = "\n".join(f"  {line}" for line in lines[-LOG_TAIL_LINES:])
        for secret in (secrets.api_secret, secrets.admin_secret, secrets.admin_key):
            tail = tail.replace(secret, "[secret]")
        return f"\nThe end of Janus's log ({self.options.log_path}):\n{tail}"

    # --- Watching and restarting ----------------------------------------------------------------

    async def _watch(self) -> None:
        failures = 0
        while True:
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            status = await process.wait()
            if self._stopping:
                return
            self._endpoint = None
            self._close_output()
            if time.monotonic() - started >= self._stable_after:
                failures = 0
            log.error("Janus exited unexpectedly (exit status %s); starting it again", status)
            while not self._stopping:
                delay = self._restart_delays[min(failures, len(self._restart_delays) - 1)]
                failures += 1
                await asyncio.sleep(delay)
                try:
                    async with self._lock:
                        if self._stop_requested():
                            return
                        endpoint = await self._spawn()
                except Exception as error:
                    log.error("Janus did not start again: %s", error)
                    continue
                self.restarts += 1
                await self._notify(endpoint)
                break

    def _stop_requested(self) -> bool:
        # A method, not the attribute: it changes while this task waits.
        return self._stopping

    async def _notify(self, endpoint: JanusEndpoint) -> None:
        for listener in list(self._listeners):
            try:
                await listener(endpoint)
            except Exception:
                # One listener's failure must not keep the others from rebuilding.
                log.exception("a Janus restart listener failed")

    # --- Stopping -------------------------------------------------------------------------------

    async def _end_process(self) -> None:
        process, self._process = self._process, None
        self._endpoint = None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(self._stop_grace):
                    await process.wait()
            except TimeoutError:
                log.warning(
                    "Janus did not stop within %g s of SIGTERM; killing it", self._stop_grace
                )
                process.kill()
                await process.wait()
        elif process is not None:
            await process.wait()
        self._close_output()

    def _close_output(self) -> None:
        output, self._output = self._output, None
        if output is not None:
            output.close()


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Janus binds: a port left in TIME_WAIT by the last Janus is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise JanusStartError(
                f"Port {port} on {LOOPBACK} is in use ({error.strerror}), so Janus cannot listen "
                "there. If it is Debian's own Janus, run systemctl disable --now janus; otherwise "
                "set SAFECLASS_JANUS_PORT and SAFECLASS_JANUS_ADMIN_PORT to free ports."
            ) from None


def _start_new_file(path: Path) -> None:
    """Keep the previous run's file as NAME.1 (a crash's log survives one restart), then start
    an empty one, private to this user."""
    if path.exists():
        path.replace(path.with_name(f"{path.name}.1"))
    path.touch(mode=0o600)
    path.chmod(0o600)


def _load_prctl() -> Callable[..., Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., Any] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


# Looked up here, in the parent: the child, between fork and exec, only calls it.
_prctl = _load_prctl()


def _die_with_parent() -> None:
    """Runs in the child before exec: Janus gets SIGKILL if SafeClass dies first."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
