"""Media tests run a real Janus, as root, inside the private network namespace that
scripts/in-test-netns makes (only `lo` and a veth pair with test addresses: no packet leaves it).

A test marked `media` is skipped, with the reason, when that is not where it runs or Janus is not
installed; scripts/test sets SAFECLASS_REQUIRE_MEDIA=1, and then such a test fails instead, so the
suite never passes without them.
"""

from __future__ import annotations

import os

import pytest

from tests.media.helpers import why_media_cannot_run


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("media") is None:
        return
    reason = why_media_cannot_run()
    if reason is None:
        return
    if os.environ.get("SAFECLASS_REQUIRE_MEDIA") == "1":
        pytest.fail(f"media test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)
