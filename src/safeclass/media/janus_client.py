"""A thin asyncio client for Janus's API and admin API over WebSocket.

One `JanusClient` is one WebSocket to Janus (subprotocol `janus-protocol`). Requests carry a
transaction id and the API secret; each waits for the reply with the same transaction (for a
plugin request Janus may first answer `ack`, then the plugin's `event`), or fails with a typed
error: `JanusError` (Janus said no: its code and reason), `JanusPluginError` (the plugin said no:
its `error_code`), `JanusTimeoutError` (no answer in time) or `JanusConnectionError` (the
connection is closed or was lost: every pending request fails at once, not at its timeout).

Everything else Janus sends is an event: those for a handle (`event` from the plugin, `webrtcup`,
`media`, `slowlink`, `hangup`, `detached`, `trickle`) go to that handle's listeners; a session that
Janus timed out is marked expired. Each session sends a keepalive every 25 s.

The wire names of Janus's JSON stay in this module and in `rooms.py`. Secrets are sent, never
logged: log lines and errors name the request, never its fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

log = logging.getLogger(__name__)

API_PROTOCOL = Subprotocol("janus-protocol")
ADMIN_PROTOCOL = Subprotocol("janus-admin-protocol")
VIDEOROOM = "janus.plugin.videoroom"
REQUEST_TIMEOUT = 10.0
KEEPALIVE_INTERVAL = 25.0  # Janus drops a session after 60 s without one, by default
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

JsonObject = dict[str, Any]


class JanusCode(enum.IntEnum):
    """Janus's own error codes (the core, not a plugin)."""

    UNAUTHORIZED = 403
    UNAUTHORIZED_PLUGIN = 405
    INVALID_JSON = 454
    INVALID_REQUEST_PATH = 457
    SESSION_NOT_FOUND = 458
    HANDLE_NOT_FOUND = 459
    PLUGIN_NOT_FOUND = 460
    PLUGIN_ATTACH = 461
    PLUGIN_MESSAGE = 462
    JSEP_INVALID_SDP = 465
    WEBRTC_STATE = 471
    NOT_ACCEPTING_SESSIONS = 472
    UNKNOWN = 490


class VideoRoomCode(enum.IntEnum):
    """The VideoRoom plugin's `error_code`s."""

    NO_MESSAGE = 421
    INVALID_JSON = 422
    INVALID_REQUEST = 423
    JOIN_FIRST = 424
    ALREADY_JOINED = 425
    NO_SUCH_ROOM = 426
    ROOM_EXISTS = 427
    NO_SUCH_FEED = 428
    MISSING_ELEMENT = 429
    INVALID_ELEMENT = 430
    INVALID_SDP_TYPE = 431
    PUBLISHERS_FULL = 432
    UNAUTHORIZED = 433
    ALREADY_PUBLISHED = 434
    NOT_PUBLISHED = 435
    ID_EXISTS = 436
    INVALID_SDP = 437
    UNKNOWN = 499


class JanusClientError(Exception):
    """The base of every error this client raises."""


class JanusError(JanusClientError):
    """Janus refused a request: its code and reason, and which request it was."""

    def __init__(self, code: int, reason: str, *, request: str) -> None:
        super().__init__(f"Janus refused {request!r}: {code} {reason}")
        self.code = code
        self.reason = reason
        self.request = request


class JanusPluginError(JanusError):
    """A plugin refused a request (`error_code` and `error` in its reply)."""

    def __init__(self, code: int, reason: str, *, request: str, plugin: str) -> None:
        super().__init__(code, reason, request=request)
        self.plugin = plugin


class JanusConnectionError(JanusClientError):
    """No connection to Janus: it could not be made, it was closed, or it was lost."""


class JanusTimeoutError(JanusClientError):
    """Janus did not answer a request in time. The connection may still be usable."""


class JanusProtocolError(JanusClientError):
    """Janus answered something this client does not understand."""


@dataclass(frozen=True, slots=True)
class HandleEvent:
    """Something Janus said about a handle without being asked.

    `kind` is Janus's name for it: "event" (from the plugin: `data` is the plugin's data, with
    `jsep` when it carries an offer or answer), "webrtcup", "media", "slowlink", "hangup",
    "detached" or "trickle" (`data` is then the whole message)."""

    kind: str
    data: Mapping[str, Any]
    jsep: Mapping[str, Any] | None = None

    @property
    def videoroom(self) -> str | None:
        """The VideoRoom's name for a plugin event ("event", "updated", "destroyed", ...)."""
        value = self.data.get("videoroom") if self.kind == "event" else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class PluginReply:
    """A plugin's answer to a request: its data, and a JSEP offer or answer if it sent one."""

    data: Mapping[str, Any]
    jsep: Mapping[str, Any] | None = None


HandleListener = Callable[[HandleEvent], None]


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[JsonObject]
    ack_is_final: bool


class _Connection:
    """One WebSocket: requests matched to replies by transaction; everything else is handed to
    `on_event`. Shared by the API client and the admin client."""

    def __init__(
        self,
        websocket: ClientConnection,
        *,
        auth_field: str,
        secret: str,
        request_timeout: float,
        on_event: Callable[[JsonObject], None],
    ) -> None:
        self._websocket = websocket
        self._auth_field = auth_field
        self._secret = secret
        self.request_timeout = request_timeout
        self._on_event = on_event
        self._pending: dict[str, _Pending] = {}
        self._closing = False
        self._failure: JanusConnectionError | None = None
        self._reader = asyncio.create_task(self._read(), name="janus-reader")

    @classmethod
    async def open(
        cls,
        url: str,
        protocol: Subprotocol,
        *,
        auth_field: str,
        secret: str,
        request_timeout: float,
        open_timeout: float,
        on_event: Callable[[JsonObject], None],
    ) -> _Connection:
        try:
            websocket = await connect(
                url,
                subprotocols=[protocol],
                open_timeout=open_timeout,
                compression=None,
                proxy=None,
                max_size=MAX_MESSAGE_BYTES,
            )
        except (OSError, InvalidHandshake, TimeoutError) as error:
            raise JanusConnectionError(f"Cannot connect to Janus at {url}: {error}") from error
        if websocket.subprotocol != protocol:
            await websocket.close()
            raise JanusConnectionError(f"The server at {url} does not speak {protocol}.")
        return cls(
            websocket,
            auth_field=auth_field,
            secret=secret,
            request_timeout=request_timeout,
            on_event=on_event,
        )

    @property
    def closed(self) -> bool:
        return self._closing or self._failure is not None

    async def request(
        self, message: JsonObject, *, ack_is_final: bool = False, timeout: float | None = None
    ) -> JsonObject:
        """Send `message` and return Janus's final reply. `ack_is_final`: an `ack` is the whole
        answer (keepalive, trickle); otherwise an `ack` means "the event follows"."""
        kind = str(message.get("janus"))
        if self._failure is not None:
            raise JanusConnectionError(str(self._failure))
        if self._closing:
            raise JanusConnectionError("The connection to Janus is closed.")
        transaction = secrets.token_hex(12)
        future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = _Pending(future, ack_is_final)
        payload = {**message, "transaction": transaction, self._auth_field: self._secret}
        try:
            await self._websocket.send(json.dumps(payload))
            async with asyncio.timeout(self.request_timeout if timeout is None else timeout):
                reply = await future
        except ConnectionClosed as error:
            raise self._lost(error) from None
        except TimeoutError:
            raise JanusTimeoutError(f"Janus did not answer {kind!r} in time.") from None
        finally:
            self._pending.pop(transaction, None)
        if reply.get("janus") == "error":
            error_info = reply.get("error")
            if not isinstance(error_info, dict):
                raise JanusProtocolError(f"Janus answered {kind!r} with an error without details.")
            raise JanusError(
                int(error_info.get("code", JanusCode.UNKNOWN)),
                str(error_info.get("reason", "")),
                request=kind,
            )
        return reply

    async def _read(self) -> None:
        reason = "Janus closed the connection."
        try:
            async for raw in self._websocket:
                try:
                    message = json.loads(raw)
                except ValueError:
                    log.warning("Janus sent a message that is not JSON; ignored")
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except ConnectionClosed as error:
            reason = f"The connection to Janus was lost ({error})."
        self._fail_pending(JanusConnectionError(reason))

    def _dispatch(self, message: JsonObject) -> None:
        transaction = message.get("transaction")
        pending = self._pending.get(transaction) if isinstance(transaction, str) else None
        if pending is not None:
            if message.get("janus") == "ack" and not pending.ack_is_final:
                return  # the plugin's event follows, with the same transaction
            if not pending.future.done():
                pending.future.set_result(message)
            return
        if message.get("janus") == "ack":
            return  # a late ack for a request already answered
        try:
            self._on_event(message)
        except Exception:
            log.exception("a Janus event listener failed")

    def _lost(self, error: ConnectionClosed) -> JanusConnectionError:
        self._fail_pending(JanusConnectionError(f"The connection to Janus was lost ({error})."))
        return JanusConnectionError(f"The connection to Janus was lost ({error}).")

    def _fail_pending(self, failure: JanusConnectionError) -> None:
        if self._failure is None and not self._closing:
            self._failure = failure
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(self._failure or failure)
        self._pending.clear()

    async def wait_closed(self) -> None:
        """Return when the connection has ended, however it ended."""
        await asyncio.shield(self._reader)

    @property
    def lost(self) -> bool:
        """Whether the connection ended without `close()` being called."""
        return self._failure is not None

    async def close(self) -> None:
        """Close the connection; pending requests fail with `JanusConnectionError`. Idempotent."""
        if not self._closing:
            self._closing = True
            self._fail_pending(JanusConnectionError("The connection to Janus is closed."))
            await self._websocket.close()
        await asyncio.shield(self._reader)


class JanusClient:
    """A connection to Janus's API. Make one with `await JanusClient.connect(...)`."""

    def __init__(self) -> None:
        self._connection: _Connection | None = None
        self._sessions: dict[int, JanusSession] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        api_secret: str,
        request_timeout: float = REQUEST_TIMEOUT,
        open_timeout: float = 5.0,
    ) -> JanusClient:
        client = cls()
        client._connection = await _Connection.open(
            url,
            API_PROTOCOL,
            auth_field="apisecret",
            secret=api_secret,
            request_timeout=request_timeout,
            open_timeout=open_timeout,
            on_event=client._on_event,
        )
        return client

    @property
    def _link(self) -> _Connection:
        if self._connection is None:
            raise JanusConnectionError("The client is not connected: use JanusClient.connect.")
        return self._connection

    @property
    def closed(self) -> bool:
        return self._link.closed

    @property
    def lost(self) -> bool:
        """Whether the connection ended without `close()` (Janus died, say)."""
        return self._link.lost

    async def wait_closed(self) -> None:
        """Return when the connection has ended: closed by `close()`, or lost."""
        await self._link.wait_closed()

    async def request(
        self, message: JsonObject, *, ack_is_final: bool = False, timeout: float | None = None
    ) -> JsonObject:
        """Any request of Janus's API: the final reply, or a typed error."""
        return await self._link.request(message, ack_is_final=ack_is_final, timeout=timeout)

    async def info(self) -> JsonObject:
        """Janus's `info`: its version, name, plugins and transports."""
        reply = await self.request({"janus": "info"})
        if reply.get("janus") != "server_info":
            raise JanusProtocolError("Janus answered 'info' with something else.")
        return reply

    async def create_session(
        self, *, keepalive_interval: float = KEEPALIVE_INTERVAL
    ) -> JanusSession:
        reply = await self.request({"janus": "create"})
        session = JanusSession(self, _id_of(reply, "create"), keepalive_interval=keepalive_interval)
        self._sessions[session.id] = session
        return session

    def _forget(self, session: JanusSession) -> None:
        self._sessions.pop(session.id, None)

    def _on_event(self, message: JsonObject) -> None:
        session = self._sessions.get(_int(message.get("session_id")))
        if session is None:
            log.debug("Janus event for an unknown session: %s", message.get("janus"))
            return
        session._on_event(message)

    async def close(self) -> None:
        """Stop every session's keepalive and close the connection. Idempotent. Janus ends the
        sessions made on this connection (and their handles) when it closes: the Janus SafeClass
        runs keeps none for reclaiming (`reclaim_session_timeout = 0`)."""
        for session in list(self._sessions.values()):
            await session._stop_keepalive()
        self._sessions.clear()
        if self._connection is not None:
            await self._connection.close()


class JanusSession:
    """A Janus session: it owns handles and is kept alive while it lives."""

    def __init__(self, client: JanusClient, session_id: int, *, keepalive_interval: float) -> None:
        self.id = session_id
        self._client = client
        self._handles: dict[int, JanusHandle] = {}
        self._ended = False
        self.expired = False  # Janus timed it out (no keepalive reached it in time)
        self._keepalive = asyncio.create_task(
            self._keep_alive(keepalive_interval), name=f"janus-keepalive-{session_id}"
        )

    @property
    def ended(self) -> bool:
        return self._ended or self.expired or self._client.closed

    async def request(
        self, message: JsonObject, *, ack_is_final: bool = False, timeout: float | None = None
    ) -> JsonObject:
        return await self._client.request(
            {**message, "session_id": self.id}, ack_is_final=ack_is_final, timeout=timeout
        )

    async def attach(self, plugin: str = VIDEOROOM) -> JanusHandle:
        reply = await self.request({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, _id_of(reply, "attach"), plugin)
        self._handles[handle.id] = handle
        return handle

    async def keepalive(self) -> None:
        await self.request({"janus": "keepalive"}, ack_is_final=True)

    async def _keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.keepalive()
            except JanusTimeoutError:
                log.warning("Janus did not answer a keepalive for session %d in time", self.id)
            except JanusError as error:
                # 458: Janus no longer has this session; nothing left to keep alive.
                log.warning("Janus refused a keepalive for session %d: %s", self.id, error)
                self.expired = True
                return
            except JanusConnectionError:
                return  # the client notices and reports the lost connection itself

    async def _stop_keepalive(self) -> None:
        self._keepalive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keepalive

    def _on_event(self, message: JsonObject) -> None:
        kind = message.get("janus")
        if kind == "timeout":
            log.warning("Janus timed out session %d", self.id)
            self.expired = True
            self._keepalive.cancel()
            self._client._forget(self)
            return
        handle = self._handles.get(_int(message.get("sender")))
        if handle is None:
            log.debug("Janus event %s for an unknown handle", kind)
            return
        handle._on_event(message)

    def _forget(self, handle: JanusHandle) -> None:
        self._handles.pop(handle.id, None)

    async def destroy(self) -> None:
        """Destroy the session in Janus (its handles go with it). Idempotent; a session that is
        already gone (expired, or its connection closed) is only forgotten."""
        if self._ended:
            return
        self._ended = True
        await self._stop_keepalive()
        self._client._forget(self)
        if self.expired or self._client.closed:
            return
        try:
            await self.request({"janus": "destroy"})
        except JanusError as error:
            if error.code != JanusCode.SESSION_NOT_FOUND:
                raise


class JanusHandle:
    """A handle attached to a plugin (the VideoRoom, for SafeClass)."""

    def __init__(self, session: JanusSession, handle_id: int, plugin: str) -> None:
        self.id = handle_id
        self.session = session
        self.plugin = plugin
        self.detached = False
        self._listeners: list[HandleListener] = []

    async def request(
        self, message: JsonObject, *, ack_is_final: bool = False, timeout: float | None = None
    ) -> JsonObject:
        return await self.session.request(
            {**message, "handle_id": self.id}, ack_is_final=ack_is_final, timeout=timeout
        )

    async def send(
        self,
        body: Mapping[str, Any],
        *,
        jsep: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> PluginReply:
        """A request to the plugin. Synchronous requests answer at once; asynchronous ones
        (join, publish, start, ...) answer `ack`, then an event: either way, this returns the
        plugin's answer, or raises `JanusPluginError` with its `error_code`."""
        name = str(body.get("request", "message"))
        message: JsonObject = {"janus": "message", "body": dict(body)}
        if jsep is not None:
            message["jsep"] = dict(jsep)
        reply = await self.request(message, timeout=timeout)
        plugin_data = reply.get("plugindata")
        if not isinstance(plugin_data, dict) or not isinstance(plugin_data.get("data"), dict):
            raise JanusProtocolError(f"The plugin answered {name!r} without data.")
        data: JsonObject = plugin_data["data"]
        if "error_code" in data:
            raise JanusPluginError(
                int(data["error_code"]),
                str(data.get("error", "")),
                request=name,
                plugin=str(plugin_data.get("plugin", self.plugin)),
            )
        answer = reply.get("jsep")
        return PluginReply(data, answer if isinstance(answer, dict) else None)

    async def trickle(
        self, candidate: Mapping[str, Any] | None = None, *, completed: bool = False
    ) -> None:
        """Pass on one ICE candidate, or say that there are no more (`completed=True`)."""
        if completed == (candidate is not None):
            raise ValueError("Give a candidate, or completed=True, not both.")
        value = {"completed": True} if completed else dict(candidate or {})
        await self.request({"janus": "trickle", "candidate": value}, ack_is_final=True)

    async def hangup(self) -> None:
        """End the handle's PeerConnection (the handle stays attached)."""
        await self.request({"janus": "hangup"})

    async def detach(self) -> None:
        """Detach from the plugin. Idempotent; a handle already gone is only forgotten."""
        if self.detached:
            return
        self.detached = True
        self.session._forget(self)
        if self.session.ended:
            return
        try:
            await self.request({"janus": "detach"})
        except JanusError as error:
            if error.code != JanusCode.HANDLE_NOT_FOUND:
                raise

    def add_listener(self, listener: HandleListener) -> Callable[[], None]:
        """Call `listener` with each event about this handle (in the order Janus sent them).
        Returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def wait_for_event(
        self, matches: Callable[[HandleEvent], bool], *, timeout: float
    ) -> HandleEvent:
        """The next event about this handle for which `matches` is true."""
        future: asyncio.Future[HandleEvent] = asyncio.get_running_loop().create_future()

        def listener(event: HandleEvent) -> None:
            if not future.done() and matches(event):
                future.set_result(event)

        remove = self.add_listener(listener)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise JanusTimeoutError("Janus sent no such event in time.") from None
        finally:
            remove()

    def _on_event(self, message: JsonObject) -> None:
        kind = str(message.get("janus"))
        if kind == "event":
            plugin_data = message.get("plugindata")
            data = plugin_data.get("data") if isinstance(plugin_data, dict) else None
            jsep = message.get("jsep")
            event = HandleEvent(
                kind,
                data if isinstance(data, dict) else {},
                jsep if isinstance(jsep, dict) else None,
            )
        else:
            event = HandleEvent(kind, message)
        if kind == "detached":
            self.detached = True
            self.session._forget(self)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a listener of Janus handle %d failed", self.id)


class JanusAdminClient:
    """A connection to Janus's admin API (subprotocol `janus-admin-protocol`)."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        admin_secret: str,
        request_timeout: float = REQUEST_TIMEOUT,
        open_timeout: float = 5.0,
    ) -> JanusAdminClient:
        connection = await _Connection.open(
            url,
            ADMIN_PROTOCOL,
            auth_field="admin_secret",
            secret=admin_secret,
            request_timeout=request_timeout,
            open_timeout=open_timeout,
            on_event=lambda message: None,  # the admin API sends no events
        )
        return cls(connection)

    async def request(self, message: JsonObject, *, timeout: float | None = None) -> JsonObject:
        return await self._connection.request(message, timeout=timeout)

    async def list_sessions(self) -> list[int]:
        reply = await self.request({"janus": "list_sessions"})
        return [int(session) for session in reply.get("sessions", [])]

    async def list_handles(self, session_id: int) -> list[int]:
        reply = await self.request({"janus": "list_handles", "session_id": session_id})
        return [int(handle) for handle in reply.get("handles", [])]

    async def handle_info(self, session_id: int, handle_id: int) -> JsonObject:
        """ICE and DTLS state and per-stream counters of one handle."""
        reply = await self.request(
            {"janus": "handle_info", "session_id": session_id, "handle_id": handle_id}
        )
        info = reply.get("info")
        if not isinstance(info, dict):
            raise JanusProtocolError("Janus answered 'handle_info' without info.")
        return info

    async def close(self) -> None:
        await self._connection.close()


def _id_of(reply: JsonObject, request: str) -> int:
    data = reply.get("data")
    if reply.get("janus") != "success" or not isinstance(data, dict) or "id" not in data:
        raise JanusProtocolError(f"Janus answered {request!r} without an id.")
    return int(data["id"])


def _int(value: object) -> int:
    return value if isinstance(value, int) else -1
