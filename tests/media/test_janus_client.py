"""The asyncio client for Janus's API, against a real Janus (safeclass.media.janus_client)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from safeclass.media.janus_client import (
    HandleEvent,
    JanusAdminClient,
    JanusClient,
    JanusCode,
    JanusConnectionError,
    JanusError,
    JanusPluginError,
    JanusTimeoutError,
    VideoRoomCode,
)
from safeclass.media.janus_process import JanusEndpoint, JanusProcess
from tests.media.helpers import janus_options, running_janus

pytestmark = pytest.mark.media

Scenario = Callable[[JanusProcess, JanusEndpoint], Awaitable[None]]


def run_with_janus(tmp_path: Path, scenario: Scenario, *, session_timeout: int = 60) -> None:
    async def main() -> None:
        options = janus_options(tmp_path / "janus", session_timeout=session_timeout)
        async with running_janus(options) as janus:
            assert janus.endpoint is not None
            await scenario(janus, janus.endpoint)

    asyncio.run(main())


async def connect(endpoint: JanusEndpoint, **options: float) -> JanusClient:
    return await JanusClient.connect(
        endpoint.api_url, api_secret=endpoint.secrets.api_secret, **options
    )


def test_a_wrong_api_secret_is_refused_with_janus_code(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await JanusClient.connect(endpoint.api_url, api_secret="not the secret")
        try:
            with pytest.raises(JanusError) as refused:
                await client.create_session()
            assert refused.value.code == JanusCode.UNAUTHORIZED
            assert "Unauthorized" in refused.value.reason
            assert refused.value.request == "create"
            assert not isinstance(refused.value, JanusPluginError)
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_a_wrong_admin_secret_is_refused_and_the_right_one_sees_sessions(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        intruder = await JanusAdminClient.connect(endpoint.admin_url, admin_secret="guess")
        try:
            with pytest.raises(JanusError) as refused:
                await intruder.list_sessions()
            assert refused.value.code == JanusCode.UNAUTHORIZED
        finally:
            await intruder.close()

        client = await connect(endpoint)
        admin = await JanusAdminClient.connect(
            endpoint.admin_url, admin_secret=endpoint.secrets.admin_secret
        )
        try:
            session = await client.create_session()
            handle = await session.attach()
            assert session.id in await admin.list_sessions()
            assert await admin.list_handles(session.id) == [handle.id]
            info = await admin.handle_info(session.id, handle.id)
            assert info["plugin"] == "janus.plugin.videoroom"
        finally:
            await admin.close()
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_replies_are_matched_to_their_requests_by_transaction(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint)
        try:
            session = await client.create_session()
            handles = await asyncio.gather(*(session.attach() for _ in range(12)))
            assert len({handle.id for handle in handles}) == 12

            # Many requests at once on one connection, synchronous and asynchronous mixed:
            # each caller gets its own answer.
            async def exists(room: int) -> tuple[int, object]:
                reply = await handles[room % 12].send({"request": "exists", "room": room})
                return room, reply.data["room"]

            async def joins_missing_room(room: int) -> tuple[int, object]:
                with pytest.raises(JanusPluginError) as refused:
                    await handles[room % 12].send(
                        {"request": "join", "ptype": "publisher", "room": room}
                    )
                return room, refused.value.code

            results = await asyncio.gather(
                *(exists(room) for room in range(1, 25)),
                *(joins_missing_room(room) for room in range(100, 112)),
            )
            assert results[:24] == [(room, room) for room in range(1, 25)]
            assert results[24:] == [(room, VideoRoomCode.NO_SUCH_ROOM) for room in range(100, 112)]
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_plugin_errors_carry_the_plugins_code(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint)
        try:
            session = await client.create_session()
            handle = await session.attach()
            with pytest.raises(JanusPluginError) as refused:
                await handle.send({"request": "create", "room": 7})  # no admin key
            assert refused.value.code == VideoRoomCode.MISSING_ELEMENT
            assert "admin_key" in refused.value.reason
            assert refused.value.plugin == "janus.plugin.videoroom"
            # Every other plugin is switched off.
            with pytest.raises(JanusError) as missing:
                await session.attach("janus.plugin.echotest")
            assert missing.value.code == JanusCode.PLUGIN_NOT_FOUND
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_events_reach_the_handle_they_are_about(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint)
        try:
            session = await client.create_session()
            control, first, second = [await session.attach() for _ in range(3)]
            secret = "room secret"
            await control.send(
                {
                    "request": "create",
                    "room": 5,
                    "admin_key": endpoint.secrets.admin_key,
                    "secret": secret,
                    "notify_joining": True,
                }
            )
            heard: dict[str, list[HandleEvent]] = {"control": [], "first": [], "second": []}
            for name, handle in (("control", control), ("first", first), ("second", second)):
                handle.add_listener(heard[name].append)

            joined = await first.send({"request": "join", "ptype": "publisher", "room": 5})
            assert joined.data["videoroom"] == "joined"
            joining_wait = asyncio.ensure_future(
                first.wait_for_event(lambda event: "joining" in event.data, timeout=5)
            )
            await asyncio.sleep(0)  # the waiter is listening before the second one joins
            second_joined = await second.send({"request": "join", "ptype": "publisher", "room": 5})
            joining = await joining_wait
            assert joining.kind == "event"
            assert joining.data["joining"]["id"] == second_joined.data["id"]

            kicked_id = joined.data["id"]
            told_kicked = asyncio.ensure_future(
                first.wait_for_event(lambda event: event.data.get("reason") == "kicked", timeout=5)
            )
            told_others = asyncio.ensure_future(
                second.wait_for_event(
                    lambda event: event.data.get("kicked") == kicked_id, timeout=5
                )
            )
            await asyncio.sleep(0)
            await control.send({"request": "kick", "room": 5, "secret": secret, "id": kicked_id})

            assert (await told_kicked).data["leaving"] == "ok"
            assert (await told_others).videoroom == "event"
            # Each event went to the handle it is about, and only there.
            assert heard["control"] == []
            assert not any("kicked" in event.data for event in heard["first"])
            assert not any("joining" in event.data for event in heard["second"])
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_keepalives_keep_a_session_beyond_janus_session_timeout(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint)
        try:
            kept = await client.create_session(keepalive_interval=0.5)
            neglected = await client.create_session(keepalive_interval=3600)
            # Janus times out a session 2 s after it last heard of it, when its watchdog next
            # looks: wait for that to happen to the neglected one, then as long again.
            async with asyncio.timeout(30):
                while not neglected.expired:  # Janus said "timeout" for it
                    await asyncio.sleep(0.1)
            await asyncio.sleep(3)

            assert not kept.expired
            handle = await kept.attach()
            assert handle.id > 0
            with pytest.raises(JanusError) as gone:
                await neglected.attach()
            assert gone.value.code == JanusCode.SESSION_NOT_FOUND
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario, session_timeout=2)


def test_losing_janus_fails_pending_requests_at_once(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint, request_timeout=60)
        try:
            session = await client.create_session()
            os.kill(endpoint.pid, signal.SIGSTOP)  # Janus hears the request but cannot answer
            pending = asyncio.ensure_future(session.attach())
            await asyncio.sleep(0.3)
            assert not pending.done()
            started = time.monotonic()
            os.kill(endpoint.pid, signal.SIGKILL)

            with pytest.raises(JanusConnectionError):
                await pending
            assert time.monotonic() - started < 30  # not the 60 s request timeout
            await asyncio.wait_for(client.wait_closed(), 5)
            assert client.lost
            with pytest.raises(JanusConnectionError):
                await session.attach()  # no waiting: the connection is known to be gone
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_an_unanswered_request_times_out_and_the_client_carries_on(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint)
        try:
            session = await client.create_session()
            os.kill(endpoint.pid, signal.SIGSTOP)
            try:
                with pytest.raises(JanusTimeoutError):
                    await session.request({"janus": "attach", "plugin": "x"}, timeout=0.5)
            finally:
                os.kill(endpoint.pid, signal.SIGCONT)
            handle = await session.attach()
            assert handle.id > 0
            assert not client.closed
        finally:
            await client.close()

    run_with_janus(tmp_path, scenario)


def test_close_is_idempotent_and_refuses_later_requests(tmp_path: Path) -> None:
    async def scenario(janus: JanusProcess, endpoint: JanusEndpoint) -> None:
        client = await connect(endpoint)
        left_open = await client.create_session()
        session = await client.create_session()
        handle = await session.attach()
        await handle.detach()
        await handle.detach()
        await session.destroy()
        await session.destroy()
        await asyncio.gather(client.close(), client.close())
        await client.close()

        assert client.closed
        assert not client.lost
        with pytest.raises(JanusConnectionError):
            await client.create_session()

        # Janus forgot the destroyed session, and the one left open went with the connection.
        admin = await JanusAdminClient.connect(
            endpoint.admin_url, admin_secret=endpoint.secrets.admin_secret
        )
        try:
            listed = await admin.list_sessions()
            assert session.id not in listed
            assert left_open.id not in listed
        finally:
            await admin.close()

    run_with_janus(tmp_path, scenario)
