"""Accessibility checks with axe-core (npm axe-core 4.14.1, which scripts/install --dev puts in
tests/browser/axe/node_modules; never a CDN).

`assert_accessible(page)` runs axe on the page as it is and fails on any serious or critical
violation, listing each with the elements it found. The page's Content-Security-Policy lets it
run scripts from our origin only, so the script is handed to the page at a path of the server's
own origin, answered by the test from the local file (the request never reaches the server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route

AXE_SCRIPT = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/__tests__/axe.min.js"  # answered by the test's route, never by the server
FAILING_IMPACTS = ("serious", "critical")
# WCAG 2.1 A and AA, and axe's best practices (landmarks, one h1, headings in order...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _load_axe(page: Page) -> None:
    if page.evaluate("typeof window.axe === 'object'"):
        return
    if not AXE_SCRIPT.is_file():
        raise FileNotFoundError(
            f"{AXE_SCRIPT} is missing: run scripts/install --dev (it installs axe-core with npm)"
        )
    parts = urlsplit(page.url)
    url = f"{parts.scheme}://{parts.netloc}{AXE_PATH}"

    def answer(route: Route) -> None:
        route.fulfill(path=AXE_SCRIPT, content_type="text/javascript")

    page.route(url, answer)
    try:
        page.add_script_tag(url=url)
    finally:
        page.unroute(url, answer)


# The watermark (static/js/lesson/watermark.js) is the viewer's name drawn faintly over video, to
# deter screenshots: pure decoration, hidden from screen readers. WCAG's contrast rule exempts
# incidental text that is pure decoration, so there colour contrast alone is not checked.
DECORATION = ".watermark"

RUN = """
async ([tags, decoration]) => {
  const options = { runOnly: { type: "tag", values: tags } };
  const page = await axe.run({ exclude: [[decoration]] }, options);
  const found = page.violations;
  if (document.querySelector(decoration) !== null) {
    const decorative = await axe.run(
      { include: [[decoration]] },
      { ...options, rules: { "color-contrast": { enabled: false } } },
    );
    found.push(...decorative.violations);
  }
  return found;
}
"""


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, of every impact."""
    # Asked just after a click that navigates, the new document may have no <head> yet.
    page.wait_for_load_state("load")
    _load_axe(page)
    found: list[dict[str, Any]] = page.evaluate(RUN, [TAGS, DECORATION])
    return found


def assert_accessible(page: Page) -> None:
    """No serious or critical violation on the page as it is now."""
    failing = [found for found in violations(page) if found["impact"] in FAILING_IMPACTS]
    assert not failing, f"axe found on {page.url}:\n" + "\n".join(
        f"- {found['impact']}: {found['id']} ({found['help']}): "
        + "; ".join(" ".join(map(str, node["target"])) for node in found["nodes"][:5])
        for found in failing
    )
