"""`safeclass serve`'s web app runs its Janus for as long as it runs (safeclass.web.app's lifespan
with a MediaServer), and the command refuses plainly when Janus is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from safeclass.cli import app as cli
from safeclass.config import Config
from safeclass.media.janus_process import JanusProcess
from safeclass.media.server import MediaServer
from safeclass.store.db import make_engine, upgrade
from safeclass.web.app import create_app
from tests.media.helpers import janus_options, process_exists
from tests.web.helpers import TestClient


@pytest.mark.media
def test_the_app_starts_janus_with_it_and_stops_it_on_exit(tmp_path: Path) -> None:
    config = Config(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", "127.0.0.1", 8000, False)
    media = MediaServer(JanusProcess(janus_options(tmp_path / "janus")))
    upgrade(make_engine(config.database_url))

    with TestClient(create_app(config, media_server=media)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert media.available
        pid = media.process.pid
        assert pid is not None
        assert process_exists(pid)

    assert not media.process.running
    assert not process_exists(pid)


def test_serve_without_janus_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFECLASS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SAFECLASS_DATABASE_URL", raising=False)
    monkeypatch.setenv("SAFECLASS_JANUS_BINARY", str(tmp_path / "no-janus-here"))

    result = CliRunner().invoke(cli, ["serve"])

    assert result.exit_code == 1
    assert "Error: The Janus program" in result.output
    assert "SAFECLASS_MEDIA=0" in result.output
