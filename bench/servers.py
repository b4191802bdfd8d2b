"""The two servers `lesson_signalling.py` compares, each run in a process of its own:

    python bench/servers.py safeclass SETUP.json   # the real app, engine, log and database
    python bench/servers.py baseline               # a bare WebSocket broadcast

Both listen on a free port of 127.0.0.1 with the same uvicorn settings, print `listening <port>`
once they are ready, and serve until SIGTERM. `media.py` serves `safeclass_app` with a real media
server behind it from a process of its own, on a `listening_socket` too.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from safeclass.media.server import MediaServer

HOST = "127.0.0.1"


def baseline_app() -> Starlette:
    """The least a broadcast can do: each message in goes out, padded to the size it asks for, to
    every connected client, one after another. No engine, no database, no per-client views."""
    clients: set[WebSocket] = set()

    async def broadcast(websocket: WebSocket) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            while True:
                request = json.loads(await websocket.receive_text())
                text = padded_message(request["seq"], request["size"])
                for client in list(clients):
                    await client.send_text(text)
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(websocket)

    return Starlette(routes=[WebSocketRoute("/broadcast", broadcast)])


def padded_message(seq: int, size: int) -> str:
    """A broadcast message of `size` characters of JSON (or the smallest one, if that is more)."""
    bare = json.dumps({"v": 1, "type": "broadcast", "seq": seq, "pad": ""}, separators=(",", ":"))
    return bare.replace('"pad":""', f'"pad":"{"x" * max(0, size - len(bare))}"')


def safeclass_app(setup_file: Path, media_server: MediaServer | None = None) -> Any:
    """The real app, as `safeclass serve` makes it, with a link reader that knows one token per
    pupil of the benchmark's class (`SETUP.json`: `lesson_signalling.Setup` as a dict), and the
    media server given, if any."""
    # Imported here rather than at the top, so that the baseline's process does not carry
    # SafeClass's modules and its memory is the broadcast's own.
    from sqlalchemy.orm import Session

    from safeclass.config import Config
    from safeclass.domain.lesson.model import Person, Role, Via
    from safeclass.web.app import create_app
    from safeclass.web.join_tokens import Entrant

    setup = json.loads(setup_file.read_text())
    entrants = {
        pupil["token"]: Entrant(
            Person(Role.PUPIL, str(pupil["pupil_id"])),
            Via.PUPIL_LINK,
            f"link:{pupil['pupil_id']}",
        )
        for pupil in setup["pupils"]
    }

    class BenchLinks:
        """Stands in for the personal-link store, as the web tests' `KnownTokens` does."""

        def read(self, session: Session, lesson_id: int, token: str) -> Entrant | None:
            return entrants.get(token)

    config = Config(
        data_dir=Path(setup["data_dir"]),
        database_url=setup["database_url"],
        host=HOST,
        port=0,
        secure_cookies=False,
    )
    return create_app(config, join_tokens=BenchLinks(), media_server=media_server)


def listening_socket() -> socket.socket:
    """A socket bound to a free port of HOST, for uvicorn to serve on."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    return listener


class _AnnouncingServer(uvicorn.Server):
    """Says when it is listening and its app has started."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._announce()


def main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "safeclass":
        app = safeclass_app(Path(rest[0]))
    elif kind == "baseline":
        app = baseline_app()
    else:
        raise SystemExit(f"usage: servers.py safeclass SETUP.json | baseline (not {kind!r})")
    listener = listening_socket()
    port = listener.getsockname()[1]
    # The same settings for both servers: uvicorn's defaults, quiet logs.
    config = uvicorn.Config(app, host=HOST, log_level="warning", timeout_graceful_shutdown=5)
    server = _AnnouncingServer(config, lambda: print(f"listening {port}", flush=True))
    server.run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1:])
