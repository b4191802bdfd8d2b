"""docs/benchmarks.md, where each benchmark's `--write` puts its section.

Each section sits between markers named after its script (`<!-- bench/media.py: start -->` ...
`<!-- bench/media.py: end -->`): writing one replaces that section and leaves the others as they
are; a script whose section is not there yet adds it at the end.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

INTRO = """# Benchmarks

Speed and memory targets for SafeClass, measured by the scripts under `bench/`. Each section below
is written by its script's `--write` option and says the exact command, the date and the machine of
the run it shows. The numbers are what that run measured, nothing else; these machines are noisy,
so every benchmark measures a baseline in the same run and the comparison with it matters more
than the absolute figures. Re-run the command to check them on your own machine.
"""


class SectionError(Exception):
    """The results file has a section's start marker without its end: it is not changed."""


def markers(script: str) -> tuple[str, str]:
    return f"<!-- bench/{script}: start -->", f"<!-- bench/{script}: end -->"


def write_section(script: str, title: str, body: str, *, results: Path = RESULTS) -> None:
    """Put `title` and `body` in `script`'s section of the results file."""
    start, end = markers(script)
    section = f"{start}\n{title}\n{body}{end}\n"
    text = results.read_text() if results.exists() else INTRO
    if start in text:
        head, _, rest = text.partition(start)
        _, found, tail = rest.partition(end)
        if not found:
            raise SectionError(f"{results} has the start of the {script} section but not its end")
        text = head + section + tail.removeprefix("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)
